"""The exchange's admin HTTP API (aiohttp): views, kill switch, clock, journal.

Handlers are module-level functions that find the exchange's parts in the
app (``EXCHANGE_KEY``); ``build_app`` wires them to their routes.

The kill switch has two doors: ``POST /kill`` (the venue's own body) and
``POST /kill/alertmanager``, an Alertmanager webhook receiver, so a firm's
alerting rule can pull the switch itself: each firing alert of the group
kills the firm its ``firm`` label names.
"""
from __future__ import annotations

import time
from typing import Any, Protocol

import pydantic
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from powerpeg.targets.common.alertmanager import Notification
from powerpeg.targets.common.edge import (
    BadRequest, StrictBody, bad_request_middleware, json_error, parse_json, query_flag, query_int, token_middleware,
)
from powerpeg.targets.fix.store import StoredSender

from .clock import MarketClock
from .config import ExchangeConfig
from .core import MM_FIRM, Engine
from .journal import Journal, locate, segment_path
from .records import KillScope

JOURNAL_CHUNK = 1 << 16


class ExchangeParts(Protocol):
    """What the admin API reads and drives (``service.ExchangeService`` has it all)."""

    config: ExchangeConfig
    engine: Engine
    clock: MarketClock
    journal: Journal
    log: Any
    stopping: bool  # set at shutdown: ends the journal's follow streams


EXCHANGE_KEY = web.AppKey("exchange", ExchangeParts)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


class ScopeBody(StrictBody):
    """``{"firm": F}`` or ``{"session": COMP_ID}``, exactly one."""

    firm: str | None = pydantic.Field(default=None, min_length=1, max_length=64)
    session: str | None = pydantic.Field(default=None, min_length=1, max_length=64)
    # who pulled the switch (monitor, operator, powerpeg-abort): journaled so
    # measurement can tell the firm's controls from the harness's safety net
    by: str | None = pydantic.Field(default=None, min_length=1, max_length=64)


class ClockBody(StrictBody):
    open_in_s: float = pydantic.Field(ge=0, le=7 * 24 * 3600)


class EngineCollector:
    """Renders the engine's plain counters at scrape time (nothing per order)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> list[Metric]:
        engine = self.engine
        orders = CounterMetricFamily("powerpeg_exchange_orders", "NewOrderSingles received", labels=["firm"])
        fills = CounterMetricFamily("powerpeg_exchange_fills", "Fills (one per side)", labels=["firm"])
        rejects = CounterMetricFamily("powerpeg_exchange_rejects", "Orders rejected", labels=["firm"])
        for firm, (n_orders, n_fills, n_rejects) in engine.stats.items():
            orders.add_metric([firm], n_orders)
            fills.add_metric([firm], n_fills)
            rejects.add_metric([firm], n_rejects)
        shares = GaugeMetricFamily("powerpeg_exchange_position_shares", "Net position in shares", labels=["firm"])
        notional = GaugeMetricFamily("powerpeg_exchange_notional_usd", "Position value at the marks",
                                     labels=["firm", "kind"])
        view = engine.positions_view()["firms"]
        for firm, per_symbol in engine.positions.items():
            shares.add_metric([firm], sum(p[0] for p in per_symbol.values()))
            notional.add_metric([firm, "gross"], view[firm]["gross_notional_usd"])
            notional.add_metric([firm, "net"], view[firm]["net_position_usd"])
        working = GaugeMetricFamily("powerpeg_exchange_working_orders", "Working orders")
        working.add_metric([], engine.working_count())
        return [orders, fills, rejects, shares, notional, working, *self.member_sessions()]

    def member_sessions(self) -> list[Metric]:
        """The venue's view of each member session, for a firm's own alert rules: NewOrderSingles
        received and shares executed on the session's current FIX day (since its last Logon with
        141=Y, the day a restarted router's own counters start with), and the firm's drop-copy
        listeners logged on now."""
        engine = self.engine
        labels = ["session", "firm"]
        orders = CounterMetricFamily("powerpeg_exchange_session_orders",
                                     "NewOrderSingles received on the session's current FIX day", labels=labels)
        executed = CounterMetricFamily("powerpeg_exchange_session_executed_shares",
                                       "Shares executed on the session's current FIX day", labels=labels)
        day = GaugeMetricFamily("powerpeg_exchange_session_day_start_time_seconds",
                                "when the session's current FIX day began (Unix time)", labels=labels)
        for st in engine.sessions.values():
            if st.comp_id == MM_FIRM:
                continue
            orders.add_metric([st.comp_id, st.firm], st.day_orders)
            executed.add_metric([st.comp_id, st.firm], st.day_executed)
            day.add_metric([st.comp_id, st.firm], st.day_started_ns / 1e9)
        listeners = GaugeMetricFamily("powerpeg_exchange_dropcopy_sessions",
                                      "Drop-copy sessions logged on, per firm", labels=["firm"])
        for firm, senders in engine.dropcopies.items():
            listeners.add_metric([firm], sum(1 for s in senders if not isinstance(s, StoredSender)))
        return [orders, executed, day, listeners]


def _scope(body: ScopeBody) -> tuple[KillScope, str]:
    if body.firm is not None and body.session is not None:
        raise BadRequest(json_error(400, "session: give a firm or a session, not both", field="session"))
    if body.firm is not None:
        return "firm", body.firm
    if body.session is not None:
        return "session", body.session
    raise BadRequest(json_error(400, "firm: give a firm or a session", field="firm"))


def _exchange(request: web.Request) -> ExchangeParts:
    return request.app[EXCHANGE_KEY]


async def health(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    live = sum(1 for st in exchange.engine.sessions.values() if st.sender is not None)
    return web.json_response({"status": "ok", "comp_id": exchange.config.comp_id, "phase": exchange.clock.phase,
                              "sessions": live})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[REGISTRY_KEY]), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def symbols(request: web.Request) -> web.Response:
    return web.json_response([{"symbol": s, "ref_price": p / 100} for s, p in _exchange(request).engine.ref.items()])


async def book(request: web.Request) -> web.Response:
    engine = _exchange(request).engine
    symbol = request.match_info["symbol"]
    b = engine.books.get(symbol)
    if b is None:
        return json_error(404, f"unknown symbol {symbol}", field="symbol")
    bids, asks = b.depth(query_int(request, "depth", default=10, lo=1, hi=1000))
    return web.json_response({
        "symbol": symbol,
        "bids": [[p / 100, q] for p, q in bids],
        "asks": [[p / 100, q] for p, q in asks],
        "last": None if b.last is None else b.last / 100,
        "fair": engine.mark(symbol),
    })


async def positions(request: web.Request) -> web.Response:
    return web.json_response(_exchange(request).engine.positions_view())


async def clock_get(request: web.Request) -> web.Response:
    return web.json_response(_exchange(request).clock.snapshot())


async def clock_post(request: web.Request) -> web.Response:
    body = await parse_json(request, ClockBody)
    clock = _exchange(request).clock
    if clock.is_open:
        return json_error(409, "market already open", field="open_in_s")
    clock.reschedule(body.open_in_s)
    return web.json_response(clock.snapshot())


async def kill(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    body = await parse_json(request, ScopeBody)
    scope, ident = _scope(body)
    cancelled = exchange.engine.kill(scope, ident, by=body.by)
    exchange.log.warning("kill_switch", scope=scope, id=ident, cancelled=cancelled, by=body.by)
    return web.json_response({"scope": scope, "id": ident, "cancelled": cancelled, "ts_ns": time.time_ns()})


FIRM_LABEL = "firm"
MAX_FIRM = 64  # as ScopeBody.firm


def _firms_to_kill(notification: Notification) -> list[str]:
    """The firms a firing notification names, in the order of its alerts; a 400 naming the first
    firing alert without a usable ``firm`` label (nothing is killed then)."""
    firms: list[str] = []
    for i, alert in enumerate(notification.alerts):
        if alert.status != "firing":
            continue
        firm = alert.labels.get(FIRM_LABEL, "")
        field = f"alerts.{i}.labels.{FIRM_LABEL}"
        if not firm or len(firm) > MAX_FIRM:
            raise BadRequest(json_error(400, f"{field}: a firing alert must name the firm to kill "
                                             f"(label {FIRM_LABEL!r}, 1..{MAX_FIRM} characters)", field=field))
        if firm not in firms:
            firms.append(firm)
    if not firms:
        raise BadRequest(json_error(400, "alerts: status is firing but no alert of the group is", field="alerts"))
    return firms


async def kill_alertmanager(request: web.Request) -> web.Response:
    """An Alertmanager webhook notification pulls the kill switch of every firm its firing alerts name.

    A resolved notification kills nothing (reinstating stays a person's call, ``POST /reinstate``); a firm
    already killed is not killed again, so Alertmanager's repeats of a firing group journal one kill."""
    exchange = _exchange(request)
    notification = await parse_json(request, Notification)
    by = f"alertmanager:{notification.receiver}"
    answer: dict[str, Any] = {"status": notification.status, "by": by, "group_key": notification.group_key,
                              "killed": [], "already_killed": []}
    if notification.status == "resolved":
        return web.json_response(answer)
    for firm in _firms_to_kill(notification):
        if firm in exchange.engine.killed_firms:
            answer["already_killed"].append(firm)
            continue
        cancelled = exchange.engine.kill("firm", firm, by=by)
        exchange.log.warning("kill_switch", scope="firm", id=firm, cancelled=cancelled, by=by,
                             group_key=notification.group_key)
        answer["killed"].append({"scope": "firm", "id": firm, "cancelled": cancelled, "ts_ns": time.time_ns()})
    return web.json_response(answer)


async def reinstate(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    scope, ident = _scope(await parse_json(request, ScopeBody))
    was_active = exchange.engine.reinstate(scope, ident)
    exchange.log.warning("kill_switch_reinstated", scope=scope, id=ident, was_active=was_active)
    return web.json_response({"scope": scope, "id": ident, "was_active": was_active, "ts_ns": time.time_ns()})


async def sessions(request: web.Request) -> web.Response:
    engine = _exchange(request).engine
    out: list[dict[str, Any]] = []
    for st in engine.sessions.values():
        out.append({
            "comp_id": st.comp_id, "firm": st.firm, "kind": "internal" if st.comp_id == "MM" else "order-entry",
            "connected": st.sender is not None, "peer": st.peer, "cod": st.cod,
            "working_orders": len(st.working), "killed": engine.is_killed(st.firm, st.comp_id),
        })
    for firm, senders in engine.dropcopies.items():
        for s in senders:
            # a StoredSender keeps an absent listener's store going: listed, but not logged on
            attrs = getattr(s, "attrs", {})
            out.append({"comp_id": firm, "firm": firm, "kind": "drop-copy",
                        "connected": not isinstance(s, StoredSender), "peer": getattr(s, "peer", ""),
                        "logged_on_ns": attrs.get("logon_ns"), "working_orders": 0,
                        "killed": firm in engine.killed_firms})
    return web.json_response(out)


async def journal(request: web.Request) -> web.StreamResponse:
    exchange = _exchange(request)
    follow = query_flag(request, "follow")
    offset = query_int(request, "offset", default=0)  # a byte offset
    jr = exchange.journal
    if not jr.closed:
        jr.flush()
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    # The segments as one stream: readers that poll (the harness, every 100 ms) ask only for what
    # is new, by an offset that runs on across segments (journal.locate).
    index, pos = locate(jr.path, offset)
    while True:
        with open(segment_path(jr.path, index), "rb") as fh:
            fh.seek(pos)
            while True:
                chunk = fh.read(JOURNAL_CHUNK)
                if chunk:
                    await resp.write(chunk)
                    continue
                # at the end of this segment: no await from here to the check, so a next segment
                # seen now means this one is complete (the writer rotates after a whole flush)
                if segment_path(jr.path, index + 1).is_file():
                    break
                if not follow or jr.closed or exchange.stopping:
                    await resp.write_eof()
                    return resp
                await jr.wait_flushed(1.0)
        index, pos = index + 1, 0


def build_app(exchange: ExchangeParts, token: str) -> web.Application:
    app = web.Application(middlewares=[token_middleware(token), bad_request_middleware])
    app[EXCHANGE_KEY] = exchange
    registry = CollectorRegistry()
    registry.register(EngineCollector(exchange.engine))
    app[REGISTRY_KEY] = registry
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/symbols", symbols)
    app.router.add_get("/book/{symbol}", book)
    app.router.add_get("/positions", positions)
    app.router.add_get("/clock", clock_get)
    app.router.add_post("/clock", clock_post)
    app.router.add_post("/kill", kill)
    app.router.add_post("/kill/alertmanager", kill_alertmanager)
    app.router.add_post("/reinstate", reinstate)
    app.router.add_get("/sessions", sessions)
    app.router.add_get("/journal", journal)
    return app
