"""What every target service shares: flags, bearer-token auth, JSON errors,
the ready file, signal handling and uvloop.

Each service is started as ``python -m targets.<name> --ready-file F ...``,
binds port 0 (or the port asked for) on 127.0.0.1, and writes the addresses
it really bound to the ready file as JSON once it serves. The launcher waits
for that file and then for ``/health``.

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
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import pydantic
from aiohttp import web

TOKEN_ENV = "POWERPEG_TOKEN"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

M = TypeVar("M", bound=pydantic.BaseModel)


def base_parser(component: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m targets.{component}", description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--admin-port", type=int, default=0, help="HTTP admin port (0 = any free port)")
    parser.add_argument("--instance", default=component, help="instance name used in logs")
    parser.add_argument("--run-id", default=os.environ.get("POWERPEG_RUN_ID", "-"))
    parser.add_argument("--ready-file", type=Path, help="write bound addresses here as JSON once serving")
    return parser


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
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    return runner, sock.getsockname()[1]


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop_event)`` on uvloop when present; SIGTERM/SIGINT set the event."""
    # a hard crash (segfault in a C extension) still leaves a Python trace in the log
    faulthandler.enable()
    try:
        import uvloop  # noqa: PLC0415

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
