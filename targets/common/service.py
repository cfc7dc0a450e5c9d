"""What every target service shares: flags, bearer-token auth, JSON errors,
the ready file, the service lifecycle, signal handling and uvloop.

Each service is started as ``python -m targets.<name> --ready-file F ...``,
binds port 0 (or the port asked for) on 127.0.0.1, and writes the addresses
it really bound to the ready file as JSON once it serves. The launcher waits
for that file and then for ``/health``.

Every service package has the same shape: ``config.py`` (flags → a typed
config, through :func:`parse_config`), ``core.py`` (its state and logic),
``http.py`` (its admin API), ``service.py`` (the wiring: a :class:`Service`
and the ``main`` that ``__main__`` calls, through :func:`serve_main`).

The admin token is read from ``POWERPEG_TOKEN`` (not argv, so it does not
show in ``ps``).
"""
from __future__ import annotations

import argparse
import asyncio
import faulthandler
import hmac
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pydantic
from aiohttp import web

from . import log as logsetup

TOKEN_ENV = "POWERPEG_TOKEN"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

M = TypeVar("M", bound=pydantic.BaseModel)
C = TypeVar("C")
SC = TypeVar("SC", bound="ServiceConfig")


class ConfigError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


def base_parser(component: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m targets.{component}", description=description)
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
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        sys.exit(f"error: {TOKEN_ENV} is not set: admin endpoints need a bearer token")
    return token


def token_middleware(token: str, *, protect_reads: frozenset[str] = frozenset()) -> Callable:
    """401 for state-changing requests (and ``protect_reads`` paths) without the token."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if request.method in MUTATING or request.path in protect_reads:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "unauthorized", "detail": "Authorization: Bearer <token> required"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    return middleware


def json_error(status: int, error: str, *, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return web.json_response(body, status=status)


class BadRequest(Exception):
    """Raised by :func:`parse_json` with a ready 400 response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


async def parse_json(request: web.Request, model: type[M]) -> M:
    """Parse the body into ``model``; a 400 naming the first bad field otherwise."""
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest(json_error(400, "body is not valid JSON", field="body")) from None
    if not isinstance(raw, dict):
        raise BadRequest(json_error(400, "body must be a JSON object", field="body"))
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "error": err["msg"]}
            for err in exc.errors()
        ]
        first = errors[0]
        raise BadRequest(
            json_error(400, f"{first['field']}: {first['error']}", field=first["field"], errors=errors)
        ) from None


@web.middleware
async def bad_request_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return exc.response


def write_ready_file(path: Path | None, info: dict[str, Any]) -> None:
    """Atomically publish the bound addresses (write to temp, rename)."""
    if path is None:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


async def start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start an aiohttp app and return its runner and the port really bound."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    # the runner's only site: its first socket's address is the one bound
    bound: int = runner.addresses[0][1]
    return runner, bound


class AdminSite:
    """A service's admin HTTP API on its port: ``start()`` binds it, and ``port``
    becomes the port really bound (0 asks for any free one); ``stop()`` releases it."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner, self.port = await start_http(self.app, self.host, self.port)

    async def stop(self) -> None:
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
