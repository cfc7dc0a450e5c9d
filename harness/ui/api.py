"""The harness's control API: the actions of the Chaos tab, over HTTP.

Served by the `powerpeg ui` process on 127.0.0.1 (a random port); Locust's
web app forwards ``/chaos/*`` here: with the browser's Authorization header,
or, for a browser logged in on Locust's login page, with the token and the
operator's name (``X-Powerpeg-Operator``), which the action's event records.
Reading the status is open (it is what the Locust tab shows); every action
needs the fleet's admin bearer token, else 401.
"""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from powerpeg.harness.ui.websession import OPERATOR_HEADER, name_from_header


class Controller(Protocol):
    """Every action takes ``operator``: the name of the logged-in person who asked, if known."""

    def status(self) -> dict[str, Any]: ...
    async def inject(self, index: int, *, operator: str | None = None) -> dict[str, Any]: ...
    async def revert(self, index: int, *, operator: str | None = None) -> dict[str, Any]: ...
    async def ack(self, alert_id: str, *, operator: str | None = None) -> dict[str, Any]: ...
    async def kill(self, *, operator: str | None = None) -> dict[str, Any]: ...
    async def reinstate(self, *, operator: str | None = None) -> dict[str, Any]: ...


def authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def make_app(controller: Controller, token: str, *, action_error: type[Exception]) -> web.Application:
    """The routes; ``action_error`` carries the HTTP status of a refused action in ``.status``."""

    def action(fn: Callable[[web.Request, str | None], Awaitable[dict[str, Any]]],
               ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            if not authorized(request, token):
                return web.json_response({"error": "admin bearer token required (or log in on the web UI)"},
                                         status=401)
            # only a request with the token names its operator (Locust's web app, for a logged-in browser)
            operator = name_from_header(request.headers.get(OPERATOR_HEADER))
            try:
                return web.json_response(await fn(request, operator))
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
    app.router.add_post("/chaos/faults/{index}/inject", action(lambda r, o: controller.inject(index(r), operator=o)))
    app.router.add_post("/chaos/faults/{index}/revert", action(lambda r, o: controller.revert(index(r), operator=o)))
    app.router.add_post("/chaos/alerts/{alert_id}/ack",
                        action(lambda r, o: controller.ack(r.match_info["alert_id"], operator=o)))
    app.router.add_post("/chaos/kill", action(lambda _r, o: controller.kill(operator=o)))
    app.router.add_post("/chaos/reinstate", action(lambda _r, o: controller.reinstate(operator=o)))
    return app


async def serve(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, int]:
    """Start on a free loopback port; the runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    # the runner's only site: its first socket's address is the one bound
    port: int = runner.addresses[0][1]
    return runner, port
