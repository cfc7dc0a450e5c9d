"""What every target service shares: flags, the ready file, the admin HTTP
site, the service lifecycle, signal handling and uvloop. The HTTP edge (the
bearer token, strict bodies and query parameters, the 400 naming the field)
is ``edge.py``.

Each service is started as ``python -m powerpeg.targets.<name> --ready-file F ...``,
binds port 0 (or the port asked for) on 127.0.0.1, and writes the addresses
it really bound to the ready file as JSON once it serves. The launcher waits
for that file and then for ``/health``.

Every service package has the same shape: ``config.py`` (flags → a typed
config, through :func:`parse_config`), ``core.py`` (its state and logic),
``http.py`` (its admin API), ``service.py`` (the wiring: a :class:`Service`
and the ``main`` that ``__main__`` calls, through :func:`serve_main`).

The admin token is read from ``POWERPEG_TOKEN`` (not argv, so it does not
show in ``ps``), or from the file ``POWERPEG_TOKEN_FILE`` names (a Swarm secret).
"""
from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web

from . import log as logsetup
from .looplag import IDENTITY as LOOP_IDENTITY, PATH as LOOP_PATH, LoopLag
# the HTTP edge lives in edge.py; re-exported here for the code that imports it from service
from .edge import (
    BadRequest as BadRequest, bad_request_middleware as bad_request_middleware, json_error as json_error,
    parse_json as parse_json, token_middleware as token_middleware,
)

TOKEN_ENV = "POWERPEG_TOKEN"
TOKEN_FILE_ENV = "POWERPEG_TOKEN_FILE"  # read when POWERPEG_TOKEN is unset (swarm secrets)
IDLE_TIMEOUT_S = 30.0  # an HTTP connection without a complete request for this long is closed (start_http)

C = TypeVar("C")
SC = TypeVar("SC", bound="ServiceConfig")


class ConfigError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


def base_parser(component: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m powerpeg.targets.{component}", description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--admin-port", type=int, default=0, help="HTTP admin port (0 = any free port)")
    parser.add_argument("--instance", default=component, help="instance name used in logs")
    parser.add_argument("--run-id", default=os.environ.get("POWERPEG_RUN_ID", "-"))
    parser.add_argument("--ready-file", type=Path, help="write bound addresses here as JSON once serving")
    return parser


def parse_config(parser: argparse.ArgumentParser, from_args: Callable[[argparse.Namespace], C],
                 argv: list[str] | None = None) -> C:
    """Flags → a service's typed config; a :class:`ConfigError` is a usage error (exit 2)."""
    args = parser.parse_args(argv)
    try:
        return from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
        raise  # pragma: no cover - parser.error exits


def read_token() -> str:
    """The fleet's admin token: ``POWERPEG_TOKEN``, else the file ``POWERPEG_TOKEN_FILE``
    names (a Docker Swarm secret, /run/secrets/<name>: never in the service's environment)."""
    token = os.environ.get(TOKEN_ENV, "")
    token_file = os.environ.get(TOKEN_FILE_ENV, "")
    if not token and token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            sys.exit(f"error: {TOKEN_FILE_ENV}={token_file} cannot be read: {exc}")
    if not token:
        sys.exit(f"error: neither {TOKEN_ENV} nor {TOKEN_FILE_ENV} is set: admin endpoints need a bearer token")
    return token


def write_ready_file(path: Path | None, info: dict[str, Any]) -> None:
    """Atomically publish the bound addresses (write to temp, rename)."""
    if path is None:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


async def start_http(app: web.Application, host: str, port: int, *,
                     idle_timeout_s: float = IDLE_TIMEOUT_S) -> tuple[web.AppRunner, int]:
    """Start an aiohttp app and return its runner and the port really bound.

    A connection that sends no complete request within ``idle_timeout_s`` of
    connecting (or of its last response) is closed: aiohttp's keep-alive
    timer runs from the connection's start and is not reset by a partial
    request, so half a request line held open (a slow client, or one that
    holds connections to exhaust them) is dropped like an idle keep-alive.
    Longer than aiohttp clients' own keep-alive (15 s), so a client never
    reuses a connection the server is closing."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=idle_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    # the runner's only site: its first socket's address is the one bound
    bound: int = runner.addresses[0][1]
    return runner, bound


class AdminSite:
    """A service's admin HTTP API on its port: ``start()`` binds it, and ``port``
    becomes the port really bound (0 asks for any free one); ``stop()`` releases it.

    Every service's site also samples its event loop's lag and serves it as ``GET
    /measurement/loop`` (looplag.py): the harness reads it at the end of a run to state its
    measurement floor, so the one place every service builds its admin API is where it goes."""

    def __init__(self, app: web.Application, host: str, port: int, *, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self._runner: web.AppRunner | None = None
        self.looplag = LoopLag.for_this_process()
        app.router.add_get(LOOP_PATH, self.looplag.handle)

    async def start(self) -> None:
        self._runner, self.port = await start_http(self.app, self.host, self.port, idle_timeout_s=self.idle_timeout_s)
        self.looplag.start()

    async def stop(self) -> None:
        await self.looplag.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Service(Protocol):
    """A target service's lifecycle, as :func:`serve` drives it (each ``targets/<name>/service.py``)."""

    async def start(self) -> None:
        """Bind every listener and start every task; log that it serves."""

    async def stop(self) -> None:
        """Undo ``start`` in reverse order."""

    def ready_info(self) -> dict[str, Any]:
        """What the ready file says: at least ``pid`` and ``admin_port``."""


async def serve(service: Service, ready_file: Path | None, stop: asyncio.Event) -> None:
    """Start ``service``, publish its ready file, serve until ``stop`` is set, then stop it."""
    await service.start()
    # What exists now (modules, the app, the listeners: the exchange's ~50,000 objects) lives as long as
    # the process: kept out of the collector's full passes, each of which walked it all again (in process,
    # 200,000 pipelined orders: their full passes took ~110 ms instead of ~220, of ~3.4 s). Collected
    # first, so no garbage of the start is kept for good.
    gc.collect()
    gc.freeze()
    try:
        write_ready_file(ready_file, service.ready_info())
        await stop.wait()
    finally:
        await service.stop()


class ServiceConfig(Protocol):
    """What :func:`serve_main` reads of a service's typed config (the flags of :func:`base_parser`)."""

    @property
    def instance(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def ready_file(self) -> Path | None: ...


def serve_main(component: str, cfg: SC, make_service: Callable[[SC, str, Any], Service], **bind: Any) -> None:
    """A service's ``main`` once its flags are parsed: the token, the log (with ``bind`` on every
    event), then serve ``make_service(cfg, token, log)`` until SIGTERM/SIGINT."""
    token = read_token()
    log = logsetup.configure(component=component, instance=cfg.instance, run_id=cfg.run_id)
    LOOP_IDENTITY.set((component, cfg.instance))  # what GET /measurement/loop names (the loop inherits it)
    if bind:
        log = log.bind(**bind)
    run(lambda stop: serve(make_service(cfg, token, log), cfg.ready_file, stop))


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop_event)`` on uvloop when present; SIGTERM/SIGINT set the event."""
    # a hard crash (segfault in a C extension) still leaves a Python trace in the log
    faulthandler.enable()
    try:
        import uvloop  # noqa: PLC0415 - optional: asyncio's own loop without it

        runner: Callable = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    runner(wrapper())
