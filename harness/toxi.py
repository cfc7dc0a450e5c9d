"""Toxiproxy: the server process the local fleet runs, and its proxies.

The HTTP API is spoken with aiohttp rather than through toxiproxy-python:
that client keeps the API host/port in class attributes (one process-wide
mutable setting, so two fleets in one process would talk to the same server)
and its calls are blocking ``requests`` calls, which would stall the event
loop while the fleet starts. Port 0 itself is fine for both: the server
binds ``-port 0`` and each proxy listens on ``127.0.0.1:0``; the API answers
with the address it really bound.

The server does not print the API port it bound, so it is read back from
``/proc/<pid>/net/tcp`` (the listening socket whose inode the process holds).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from harness.procs import StartError, tail

BINARY = "toxiproxy-server"


def find_binary() -> str | None:
    """``toxiproxy-server`` from the venv's bin dir first, then PATH."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([venv_bin, os.environ.get("PATH", "")])
    return shutil.which(BINARY, path=path)


def listening_ports(pid: int) -> list[int]:
    """TCP ports the process listens on (IPv4 and IPv6)."""
    inodes: set[str] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except (FileNotFoundError, PermissionError):
        return []
    ports: list[int] = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            cols = line.split()
            listen_state = "0A"
            if cols[3] == listen_state and cols[9] in inodes:
                ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


async def discover_api_port(
    proc: subprocess.Popen, log_path: Path, *, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        ports = listening_ports(proc.pid)
        if ports:
            return ports[0]
        if proc.poll() is not None:
            raise StartError("toxiproxy", f"exited with code {proc.returncode}", tail(log_path))
        if time.monotonic() > deadline:
            raise StartError("toxiproxy", f"API not listening after {timeout:.0f} s", tail(log_path))
        await asyncio.sleep(0.02)


def server_argv(binary: str) -> list[str]:
    return [binary, "-host", "127.0.0.1", "-port", "0"]


class ToxiproxyError(Exception):
    pass


@dataclass
class ToxiproxyClient:
    """The few API calls the harness needs, over one aiohttp session."""

    api: str  # http://127.0.0.1:PORT
    session: aiohttp.ClientSession

    def _url(self, *parts: str) -> str:
        return self.api + "/" + "/".join(quote(p, safe="") for p in parts)

    async def _call(self, method: str, url: str, json: Any = None) -> Any:
        async with self.session.request(method, url, json=json, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            if resp.status >= 400:
                raise ToxiproxyError(f"toxiproxy {method} {url}: HTTP {resp.status}: {(await resp.text()).strip()}")
            if resp.status == 204:
                return None
            return await resp.json(content_type=None)

    async def version(self) -> str:
        body = await self._call("GET", self._url("version"))
        return str(body.get("version", "?")) if isinstance(body, dict) else str(body)

    async def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> str:
        """Create a proxy; the HOST:PORT it really listens on."""
        body = await self._call("POST", self._url("proxies"),
                                {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return body["listen"]

    async def proxies(self) -> dict[str, dict[str, Any]]:
        return await self._call("GET", self._url("proxies"))

    async def delete_proxy(self, name: str) -> None:
        await self._call("DELETE", self._url("proxies", name))

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._call("POST", self._url("reset"))

    async def set_enabled(self, name: str, enabled: bool) -> None:
        await self._call("POST", self._url("proxies", name), {"enabled": enabled})

    async def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", self._url("proxies", proxy, "toxics"), toxic)

    async def remove_toxic(self, proxy: str, toxic: str) -> None:
        await self._call("DELETE", self._url("proxies", proxy, "toxics", toxic))


async def wait_api(client: ToxiproxyClient, proc: subprocess.Popen, log_path: Path, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.version()
        except (aiohttp.ClientError, asyncio.TimeoutError, ToxiproxyError) as exc:
            last = str(exc)
        if proc.poll() is not None:
            raise StartError("toxiproxy", f"exited with code {proc.returncode}", tail(log_path))
        if time.monotonic() > deadline:
            raise StartError("toxiproxy", f"API not answering after {timeout:.0f} s ({last})", tail(log_path))
        await asyncio.sleep(0.02)
