"""In-test stand-ins for the monitor's neighbours (no tests here).

``FakeNeighbours`` is one aiohttp app playing the alert sink, the exchange
admin and a fleet of routers on one loopback port; it records every request.
``er`` builds drop-copy ExecutionReports the way the exchange sends them.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag
from powerpeg.targets.monitor.actions import Actions
from powerpeg.targets.monitor.book import Execution
from powerpeg.targets.monitor.config import MonitorConfig
from powerpeg.targets.monitor.core import Monitor
from powerpeg.targets.monitor.limits import Limits

TOKEN = "secret"
_exec_ids = itertools.count(1)


def er_fields(exec_type: str, cl_ord_id: str, *, symbol: str = "AAA", side: str = "buy", qty: int = 100,
              last_qty: int = 0, last_px: str = "10.00", router: str = "ROUTER-1", firm: str = "KNIGHT",
              cum_qty: int | None = None) -> list[tuple[int, object]]:
    status = {"0": "0", "F": "2", "4": "4", "8": "8"}[exec_type]
    fields: list[tuple[int, object]] = [
        (Tag.OrderID, f"O{cl_ord_id}"), (Tag.ExecID, f"E{next(_exec_ids)}"), (Tag.ClOrdID, cl_ord_id),
        (115, router), (Tag.Account, firm), (Tag.Symbol, symbol), (Tag.Side, "1" if side == "buy" else "2"),
        (Tag.OrderQty, qty), (Tag.OrdType, 1), (Tag.ExecType, exec_type), (Tag.OrdStatus, status),
    ]
    if exec_type == "F":
        fields += [(Tag.LastQty, last_qty), (Tag.LastPx, last_px)]
    if cum_qty is not None:
        fields.append((Tag.CumQty, cum_qty))
    return fields


def er(exec_type: str, cl_ord_id: str, **kw: Any) -> Execution:
    """An ExecutionReport decoded as the monitor decodes drop-copy messages."""
    fields = {t: str(v) for t, v in er_fields(exec_type, cl_ord_id, **kw)}
    return Execution.from_fix(FixMessage(MsgType.ExecutionReport, fields))


def fill(cl_ord_id: str, qty: int, px: str = "10.00", **kw: Any) -> Execution:
    return er("F", cl_ord_id, qty=qty, last_qty=qty, last_px=px, **kw)


class FakeNeighbours:
    """Alert sink + exchange admin + routers, recording (path, body, ns)."""

    def __init__(self, versions: dict[str, str] | None = None) -> None:
        self.requests: list[tuple[str, Any, int]] = []
        self.versions = versions or {}
        self.heartbeat_status = 200
        self.exchange_probes = 0
        self.arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/alerts", self._alerts)
        app.router.add_post("/heartbeat", self._heartbeat)
        app.router.add_post("/kill", self._ok)
        app.router.add_post("/{router}/halt", self._ok)
        app.router.add_get("/{router}/health", self._health)
        app.router.add_get("/health", self._exchange_health)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        self.monitors: list[Monitor] = []

    def monitor(self, **kw: Any) -> Monitor:
        """A monitor whose every neighbour is this fake; closed on exit."""
        monitor = make_monitor(self.url, **kw)
        self.monitors.append(monitor)
        return monitor

    async def __aenter__(self) -> FakeNeighbours:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for monitor in self.monitors:
            await monitor.drain()
            await monitor.actions.close()
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def _record(self, request: web.Request) -> Any:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.path, body, time.time_ns()))
        self.arrived.set()
        return body

    async def _alerts(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"id": f"a-{len(self.requests)}"}, status=201)

    async def _heartbeat(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if self.heartbeat_status != 200:
            return web.json_response({"ack": None, "reason": "page channel is off"}, status=self.heartbeat_status)
        return web.json_response({"ack": body["seq"]})

    async def _ok(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"ok": True})

    async def _health(self, request: web.Request) -> web.Response:
        rid = request.match_info["router"]
        return web.json_response({"status": "ok", "id": rid, "version": self.versions.get(rid, "v2"), "halted": False})

    async def _exchange_health(self, request: web.Request) -> web.Response:
        self.exchange_probes += 1
        return web.json_response({"status": "ok", "comp_id": "EXCHANGE"})

    def posts(self, path: str) -> list[Any]:
        return [body for p, body, _ in self.requests if p == path]

    def router_urls(self, n: int) -> list[str]:
        return [f"{self.url}/router-{i}" for i in range(1, n + 1)]


def make_monitor(url: str | None, *, routers: list[str] | None = None, auto_kill: bool = False,
                 limits: Limits | None = None, repage_s: float = 5.0, **cfg: Any) -> Monitor:
    config = MonitorConfig(alerts=url, exchange_admin=url, routers=routers or [], auto_kill=auto_kill,
                           limits=limits or Limits(), repage_s=repage_s, **cfg)
    actions = Actions(token=TOKEN, source="monitor", alerts=url, exchange_admin=url, routers=config.routers,
                      timeout_s=1.0)
    return Monitor(config, actions=actions, log=structlog.get_logger())
