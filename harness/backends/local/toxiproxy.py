"""The local fleet's toxiproxy-server: finding the binary, starting it on
port 0, and learning which port its API bound.

Port 0 is fine for the server and for every proxy: the server binds
``-port 0`` and each proxy listens on ``127.0.0.1:0``; the API answers with
the address it really bound. The server does not print the API port it
bound, so it is read back from ``/proc/<pid>/net/tcp`` (the listening socket
whose inode the process holds).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from powerpeg.harness.procs import Started, StartError, tail
from powerpeg.harness.toxi import ToxiproxyClient, ToxiproxyError

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


async def wait_api(client: ToxiproxyClient, proc: Started, log_path: Path, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.version()
        except (TimeoutError, aiohttp.ClientError, ToxiproxyError) as exc:
            last = str(exc)
        if proc.poll() is not None:
            raise StartError("toxiproxy", f"exited with code {proc.returncode}", tail(log_path))
        if time.monotonic() > deadline:
            raise StartError("toxiproxy", f"API not answering after {timeout:.0f} s ({last})", tail(log_path))
        await asyncio.sleep(0.02)
