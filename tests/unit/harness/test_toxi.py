"""Toxiproxy: finding the binary, its API port, and the proxy calls."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from powerpeg.harness import toxi
from powerpeg.harness.backends.local.toxiproxy import (discover_api_port, find_binary, listening_ports, server_argv,
                                                       wait_api)


def test_listening_ports_finds_a_socket_this_process_listens_on():
    """A port we listen on shows up from /proc."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert sock.getsockname()[1] in listening_ports(os.getpid())


def test_listening_ports_ignores_a_bound_but_not_listening_socket():
    """Only listening sockets count (a reserved port is not an API)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[1] not in listening_ports(os.getpid())


def test_binary_is_found_in_the_venv_first():
    """The venv's bin dir is searched before PATH."""
    assert str(Path(sys.executable).parent / "toxiproxy-server") == find_binary()


@pytest.fixture
async def toxiproxy(tmp_path):
    log = tmp_path / "toxiproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(server_argv(find_binary()), stdout=out, stderr=subprocess.STDOUT)
    try:
        port = await discover_api_port(proc, log, timeout=10)
        async with aiohttp.ClientSession() as session:
            client = toxi.ToxiproxyClient(f"http://127.0.0.1:{port}", session)
            await wait_api(client, proc, log, timeout=10)
            yield client
    finally:
        proc.terminate()
        proc.wait()


async def test_proxy_on_port_zero_reports_the_port_it_bound(toxiproxy):
    """create_proxy on 127.0.0.1:0 returns a real listening address."""
    listen = await toxiproxy.create_proxy("router-1->exchange", "127.0.0.1:9")
    host, port = listen.rsplit(":", 1)
    assert ("127.0.0.1", True) == (host, int(port) > 0)


async def test_proxy_names_with_arrows_round_trip(toxiproxy):
    """Names like '->alerts' are quoted in URLs and can be deleted again."""
    await toxiproxy.create_proxy("->alerts", "127.0.0.1:9")
    await toxiproxy.delete_proxy("->alerts")
    assert {} == await toxiproxy.proxies()


async def test_api_error_names_the_call(toxiproxy):
    """Deleting an unknown proxy raises with the method and status."""
    with pytest.raises(toxi.ToxiproxyError, match="DELETE .* HTTP 404"):
        await toxiproxy.delete_proxy("nope")
