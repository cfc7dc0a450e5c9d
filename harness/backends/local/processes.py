"""The local backend's processes: waiting until one is ready, ports
reserved before a service binds them, and the client of the fork server
(launcher.py) that starts the Python services.

What every harness process shares (spawning, identity, stopping) is
:mod:`powerpeg.harness.procs`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.procs import ProcIdentity, Started, StartError, exit_reason, tail

HOST = "127.0.0.1"
LAUNCHER = Path(__file__).with_name("launcher.py")
# Run by path, not `-m powerpeg.harness.backends.local.launcher`: -m would first import
# the packages above it (the backends, the experiment model, the load runner),
# a tenth of a second more per `up` and modules every forked service inherits.
LAUNCH = f"import runpy; runpy.run_path({str(LAUNCHER)!r}, run_name='__main__')"


def reserve_port(host: str = HOST) -> socket.socket:
    """Hold a free port until a child binds it.

    Needed where two services must know each other's address before either
    starts (routers ↔ monitor). The socket is bound with SO_REUSEADDR but never
    listens, so Linux lets the child (which also sets SO_REUSEADDR) bind and
    listen on it while no one else is handed that port by bind(0).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


async def wait_ready_file(
    component: str, proc: Started, ready_file: Path, log_path: Path, *, timeout: float
) -> dict[str, Any]:
    """The ready file's JSON once written; StartError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.exists():
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(ready_file.read_text())
        code = proc.poll()
        if code is not None:
            raise StartError(component, f"{exit_reason(code)} before it was ready", tail(log_path))
        if time.monotonic() > deadline:
            raise StartError(component, f"no ready file after {timeout:.0f} s", tail(log_path))
        await asyncio.sleep(0.02)


async def wait_health(
    component: str,
    url: str,
    session: aiohttp.ClientSession,
    *,
    timeout: float,
    proc: Started | None = None,
    log_path: Path | None = None,
) -> dict[str, Any]:
    """GET ``url`` until it answers 200; its JSON body (or {})."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                if resp.status == 200:
                    with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
                        return await resp.json()
                    return {}
                last = f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        code = proc.poll() if proc is not None else None
        if code is not None:
            raise StartError(component, f"{exit_reason(code)} before /health answered",
                             tail(log_path) if log_path else "")
        if time.monotonic() > deadline:
            raise StartError(component, f"{url} not healthy after {timeout:.0f} s ({last})",
                             tail(log_path) if log_path else "")
        await asyncio.sleep(0.03)


class ForkedProc:
    """A process forked by the launcher: Popen-like ``pid``/``poll()`` without
    being our child (its exit code comes from the file the launcher's child
    wrapper writes on its way out)."""

    def __init__(self, pid: int, exit_file: Path) -> None:
        self.pid = pid
        self.exit_file = exit_file
        self.ident = ProcIdentity.of(pid) or ProcIdentity(pid, 0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not self.ident.alive():
            try:
                self.returncode = int(self.exit_file.read_text().strip())
            except (FileNotFoundError, ValueError):
                self.returncode = -1  # killed by a signal: no exit file was written
        return self.returncode


class ForkServer:
    """Client of the launcher (launcher.py, next to this module)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, *, python: str, env: dict[str, str], log_path: Path, timeout: float) -> ForkServer:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                python, "-c", LAUNCH, env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True,
            )
        server = cls(proc)
        try:
            hello = await server._read(timeout)
        except BaseException:
            await server.close()
            raise
        if not hello.get("ready"):
            await server.close()
            raise StartError("launcher", f"unexpected greeting {hello!r}", tail(log_path))
        return server

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        except TimeoutError:
            raise StartError("launcher", f"no answer after {timeout:.0f} s") from None
        if not line:
            raise StartError("launcher", f"exited with code {await self._proc.wait()}")
        return json.loads(line)

    async def spawn(self, module: str, argv: list[str], *, log_path: Path, exit_file: Path,
                    timeout: float = 10.0) -> ForkedProc:
        assert self._proc.stdin is not None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        exit_file.unlink(missing_ok=True)
        request = {"module": module, "argv": argv, "log": str(log_path), "exit_file": str(exit_file)}
        async with self._lock:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            await self._proc.stdin.drain()
            reply = await self._read(timeout)
        if "pid" not in reply:
            raise StartError(module, f"launcher could not fork: {reply.get('error')}")
        return ForkedProc(int(reply["pid"]), exit_file)

    async def close(self) -> None:
        """Let the launcher exit (its children keep running)."""
        if self._proc.returncode is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
