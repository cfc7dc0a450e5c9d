"""The monitor's HTTP API (docs/targets.md, "monitor")."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import ConfigDict, Field

from powerpeg.targets.common.edge import StrictBody, bad_request_middleware, json_error, parse_json, token_middleware

from .book import Parent
from .core import Monitor

MONITOR_KEY = web.AppKey("monitor", Monitor)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


class ParentIn(StrictBody):
    model_config = ConfigDict(extra="ignore")  # what routers add later is ignored, not refused
    parent_id: str = Field(min_length=1, max_length=200)
    router: str = Field(min_length=1, max_length=200)
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    qty: int = Field(gt=0, le=1_000_000_000)
    ts_ns: int | None = Field(default=None, ge=0)


# A router posts what accumulated while its previous batch was in flight: one request for many parents
# in a burst (one request per parent cost the monitor's loop, which also reads the drop copy, an HTTP
# request's worth of CPU each: ~1,700 a second while an opening queue builds).
MAX_BATCH = 1_000


class ParentsIn(StrictBody):
    parents: list[ParentIn] = Field(min_length=1, max_length=MAX_BATCH)


class LimitsIn(StrictBody):
    max_gross_notional: float | None = Field(default=None, ge=0, le=1e15)
    max_net_notional: float | None = Field(default=None, ge=0, le=1e15)
    max_position: int | None = Field(default=None, ge=0)
    max_child_rate: int | None = Field(default=None, ge=0)
    max_fill_rate: int | None = Field(default=None, ge=0)
    overfill_shares: int | None = Field(default=None, ge=0)
    unregistered_grace_ms: int | None = Field(default=None, ge=0)


class AutoKillIn(StrictBody):
    enabled: bool


def _monitor(request: web.Request) -> Monitor:
    return request.app[MONITOR_KEY]


def _register_new(monitor: Monitor, body: ParentIn) -> Parent | None:
    """Register the parent; None when it is registered already (then nothing changes)."""
    if body.parent_id in monitor.book.parents:
        return None
    return monitor.register_parent(Parent(
        parent_id=body.parent_id, router=body.router, symbol=body.symbol, side=body.side, qty=body.qty,
        registered_ns=body.ts_ns or time.time_ns(),
    ))


async def post_parent(request: web.Request) -> web.Response:
    body = await parse_json(request, ParentIn)
    parent = _register_new(_monitor(request), body)
    if parent is None:
        return json_error(409, f"parent {body.parent_id} is already registered", field="parent_id")
    return web.json_response({"parent_id": parent.parent_id, "executed": parent.executed}, status=201)


async def post_parents_batch(request: web.Request) -> web.Response:
    """Many parents at once: all-or-nothing validation (a 400 names ``parents.<i>.<field>``), then each
    registered in order; one already registered is listed in ``duplicates``, not registered again."""
    body = await parse_json(request, ParentsIn)
    monitor = _monitor(request)
    registered: list[str] = []
    duplicates: list[str] = []
    for item in body.parents:
        (duplicates if _register_new(monitor, item) is None else registered).append(item.parent_id)
    return web.json_response({"registered": registered, "duplicates": duplicates})


async def put_limits(request: web.Request) -> web.Response:
    body = await parse_json(request, LimitsIn)
    monitor = _monitor(request)
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    if "overfill_shares" in changes and changes["overfill_shares"] is None:
        return json_error(400, "overfill_shares cannot be switched off (use a large number)", field="overfill_shares")
    for key, value in changes.items():
        setattr(monitor.limits, key, value)
    monitor.log.warning("limits_changed", changes=changes, limits=monitor.limits.as_dict())
    return web.json_response(monitor.limits.as_dict())


async def post_auto_kill(request: web.Request) -> web.Response:
    body = await parse_json(request, AutoKillIn)
    monitor = _monitor(request)
    monitor.auto_kill = body.enabled
    monitor.log.warning("auto_kill_changed", enabled=body.enabled)
    return web.json_response({"auto_kill": monitor.auto_kill, "killed": monitor.kill is not None})


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(_monitor(request).state())


async def get_breaches(request: web.Request) -> web.Response:
    monitor = _monitor(request)
    return web.json_response({"breaches": monitor.breaches, "kill": monitor.kill})


async def health(request: web.Request) -> web.Response:
    monitor = _monitor(request)
    book = monitor.book
    return web.json_response({
        "status": "ok", "firm": monitor.cfg.firm, "dropcopy": monitor.dropcopy,
        "pipeline": "down" if monitor.pipeline_down else "up",
        "auto_kill": monitor.auto_kill, "killed": monitor.kill is not None,
        # what the bounds let go of: a day's worth of state is not kept, and says so
        "bounded": {"parents": len(book.parents), "parents_retired": book.retired,
                    "dropped": {**book.dropped, "breaches": monitor.breaches_dropped}},
    })


async def get_measurement_dropcopy(request: web.Request) -> web.Response:
    """The run's floor (issue 13): drop-copy lag p50/p99/max and every kill decision's time."""
    return web.json_response(_monitor(request).measurement())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class MonitorCollector:
    """Reads the monitor's state at scrape time: no second copy to keep in sync."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        m, book, now = self.monitor, self.monitor.book, time.time_ns()
        messages = CounterMetricFamily("powerpeg_monitor_messages", "Drop-copy ExecutionReports applied")
        messages.add_metric([], book.messages)
        notional = GaugeMetricFamily("powerpeg_monitor_notional_usd", "Notional marked at last fill", labels=["kind"])
        notional.add_metric(["gross"], book.gross_usd)
        notional.add_metric(["net"], book.net_usd)
        rates = GaugeMetricFamily("powerpeg_monitor_rate_per_s", "Rolling 1 s rates", labels=["kind"])
        rates.add_metric(["child_orders"], book.child_orders.count(now))
        rates.add_metric(["fills"], book.fills.count(now))
        position = GaugeMetricFamily("powerpeg_monitor_position_shares", "Net shares per symbol", labels=["symbol"])
        for sym, pos in book.positions.items():
            position.add_metric([sym], pos.shares)
        parents = GaugeMetricFamily("powerpeg_monitor_parents", "Parents by reconciliation state", labels=["state"])
        parents.add_metric(["registered"], len(book.parents))
        parents.add_metric(["over_filled"], book.overfilled_count)
        parents.add_metric(["unregistered"], len(book.unregistered))
        breaches = CounterMetricFamily("powerpeg_monitor_breaches", "Limit violations seen", labels=["kind"])
        for kind, count in m.breach_counts.items():
            breaches.add_metric([kind], count)
        flags = GaugeMetricFamily("powerpeg_monitor_up", "1 when the named thing is up/on", labels=["what"])
        flags.add_metric(["dropcopy"], 1 if m.dropcopy == "logged_on" else 0)
        flags.add_metric(["pipeline"], 0 if m.pipeline_down else 1)
        flags.add_metric(["auto_kill"], 1 if m.auto_kill else 0)
        flags.add_metric(["killed"], 1 if m.kill is not None else 0)
        lag = m.dropcopy_lag.metric("powerpeg_monitor_dropcopy_lag_seconds",
                                    "ExecutionReport TransactTime(60) to monitor receipt")
        yield from (messages, notional, rates, position, parents, breaches, flags, lag)


def build_app(monitor: Monitor, token: str) -> web.Application:
    app = web.Application(middlewares=[token_middleware(token), bad_request_middleware])
    app[MONITOR_KEY] = monitor
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor))
    app[REGISTRY_KEY] = registry
    app.router.add_post("/parents", post_parent)
    app.router.add_post("/parents/batch", post_parents_batch)
    app.router.add_put("/limits", put_limits)
    app.router.add_post("/auto-kill", post_auto_kill)
    app.router.add_get("/state", get_state)
    app.router.add_get("/breaches", get_breaches)
    app.router.add_get("/health", health)
    app.router.add_get("/measurement/dropcopy", get_measurement_dropcopy)
    app.router.add_get("/metrics", metrics)
    return app
