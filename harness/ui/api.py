"""The harness's control API: the actions of the Chaos tab, over HTTP.

Served by the `powerpeg ui` process on 127.0.0.1 (a random port); Locust's
web app forwards ``/chaos/*`` here with the browser's Authorization header.
Reading the status is open (it is what the Locust tab shows); every action
needs the fleet's admin bearer token, else 401.
"""
from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web


class Controller(Protocol):
    def status(self) -> dict[str, Any]: ...
    async def inject(self, index: int) -> dict[str, Any]: ...
    async def revert(self, index: int) -> dict[str, Any]: ...
    async def ack(self, alert_id: str) -> dict[str, Any]: ...
    async def kill(self) -> dict[str, Any]: ...
    async def reinstate(self) -> dict[str, Any]: ...


def authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def make_app(controller: Controller, token: str, *, action_error: type[Exception]) -> web.Application:
    """The routes; ``action_error`` carries the HTTP status of a refused action in ``.status``."""

    def action(fn: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            if not authorized(request, token):
                return web.json_response({"error": "admin bearer token required"}, status=401)
            try:
                return web.json_response(await fn(request))
            except action_error as exc:
                return web.json_response({"error": str(exc)}, status=getattr(exc, "status", 500))
        return handler

    def index(request: web.Request) -> int:
        try:
            return int(request.match_info["index"])
        except ValueError:
            raise web.HTTPNotFound(text="fault index must be a number") from None

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(controller.status())

    app = web.Application()
    app.router.add_get("/chaos/status", status)
    app.router.add_post("/chaos/faults/{index}/inject", action(lambda r: controller.inject(index(r))))
    app.router.add_post("/chaos/faults/{index}/revert", action(lambda r: controller.revert(index(r))))
    app.router.add_post("/chaos/alerts/{alert_id}/ack", action(lambda r: controller.ack(r.match_info["alert_id"])))
    app.router.add_post("/chaos/kill", action(lambda _r: controller.kill()))
    app.router.add_post("/chaos/reinstate", action(lambda _r: controller.reinstate()))
    return app


async def serve(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    """Start on a free loopback port; the runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp exposes the bound port only here
    return runner, port
