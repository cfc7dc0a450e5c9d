"""The router's one HTTP port: order entry and admin.

Every state-changing request needs the bearer token (``token_middleware``);
bodies are validated with pydantic at this edge only, never per child.
"""
from __future__ import annotations

from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from pydantic import Field

from powerpeg.targets.common.edge import (StrictBody, bad_request_middleware, json_error, parse_json, read_json,
                                          token_middleware)

from .checks import EntryRejection
from .core import PARENT_MEMORY, FlagError, OrderEntry, Router
from .metrics import make_registry, render

ROUTER_KEY: web.AppKey[Router] = web.AppKey("router", Router)
REGISTRY_KEY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)


class OrderRequest(StrictBody):
    symbol: str = Field(min_length=1, max_length=16)
    side: Literal["buy", "sell"]
    qty: int = Field(gt=0, le=1_000_000_000)
    limit_price: float | None = Field(default=None, gt=0, le=1_000_000)
    rlp: bool = False
    client_order_id: str = Field(min_length=1, max_length=128)


async def post_order(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    if router.halted:  # before parsing: a halted router takes nothing
        return json_error(503, f"router halted: {router.halt_reason}")
    req = await parse_json(request, OrderRequest)
    result = router.submit(OrderEntry(req.symbol, req.side, req.qty, req.limit_price, req.rlp, req.client_order_id))
    if isinstance(result, EntryRejection):
        if result.status == 503:
            return json_error(503, result.error)
        return json_error(result.status, result.error, field=result.field)
    return web.json_response({"parent_id": result.parent_id}, status=202)


async def get_order(request: web.Request) -> web.Response:
    parent = request.app[ROUTER_KEY].parents.get(request.match_info["parent_id"])
    if parent is None:
        return json_error(404, f"unknown parent {request.match_info['parent_id']!r} (or done and forgotten: a router "
                               f"keeps the last {PARENT_MEMORY:,} done parents)", field="parent_id")
    return web.json_response(parent.view())


async def list_orders(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    state = request.query.get("state")
    parents = [p.summary() for p in router.parents.values() if state is None or p.state == state]
    return web.json_response({"count": len(parents), "parents": parents})


async def health(request: web.Request) -> web.Response:
    return web.json_response(request.app[ROUTER_KEY].health())


async def metrics(request: web.Request) -> web.Response:
    body = render(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def halt(request: web.Request) -> web.Response:
    return web.json_response(request.app[ROUTER_KEY].halt("admin halt"))


async def resume(request: web.Request) -> web.Response:
    return web.json_response(request.app[ROUTER_KEY].resume())


async def get_flags(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[ROUTER_KEY].flags))


async def put_flags(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object of flags", field="body")
    try:
        flags = request.app[ROUTER_KEY].set_flags(body)
    except FlagError as exc:
        return json_error(400, str(exc), field=exc.field)
    return web.json_response(flags)


def build_app(router: Router, token: str) -> web.Application:
    app = web.Application(middlewares=[token_middleware(token), bad_request_middleware], client_max_size=64 * 1024)
    app[ROUTER_KEY] = router
    app[REGISTRY_KEY] = make_registry(router)
    app.router.add_post("/orders", post_order)
    app.router.add_get("/orders", list_orders)
    app.router.add_get("/orders/{parent_id}", get_order)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/halt", halt)
    app.router.add_post("/resume", resume)
    app.router.add_get("/flags", get_flags)
    app.router.add_put("/flags", put_flags)
    return app
