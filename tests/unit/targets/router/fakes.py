"""Fakes shared by the router unit tests (this module holds no tests).

``FakeExchange`` is a real FIX acceptor on loopback (``FixSession``,
acceptor role) with a configurable, scripted matching behaviour; ``FakeWorld``
is one aiohttp server standing in for the exchange admin (``/symbols``), the
alert sink (``/alerts``) and the monitor (``/parents``).
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any
from collections.abc import Callable

import aiohttp
import pytest
import structlog
from aiohttp import web

from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag
from powerpeg.targets.fix.session import FixSession
from powerpeg.targets.fix.store import MemoryStores
from powerpeg.targets.router.config import RouterConfig
from powerpeg.targets.router.service import RouterService

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SYMBOLS = [{"symbol": "AAA", "ref_price": 10.0}, {"symbol": "BBB", "ref_price": 50.0}]


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            return predicate()
        await asyncio.sleep(0.005)
    return True


class FakeExchange:
    """Acks every order, then fills it according to ``fill``.

    ``fill(order_qty) -> qty`` decides the execution at arrival: the rest of
    an IOC is canceled, the rest of a DAY order rests. ``reject_text`` set →
    every new order is rejected with that text (e.g. a kill switch). Like
    the real exchange it keeps a message store per CompID pair across
    connections (a reconnect continues the sequence and is answered by
    resend), cancels resting orders when a session ends (cancel-on-disconnect:
    the reports go into the store) and answers OrderStatusRequest from what it
    remembers in ``known``. ``lose_store()`` is a restart that lost the store.
    """

    def __init__(self, comp_id: str = "EXCHANGE") -> None:
        self.comp_id = comp_id
        self.fill: Callable[[int], int] = lambda qty: qty
        self.fill_px = "10.00"
        self.reject_text: str | None = None
        self.silent = False  # record orders but answer nothing (a venue that hangs)
        self.orders: list[FixMessage] = []
        self.cancels: list[FixMessage] = []
        self.logons: list[FixMessage] = []
        self.logouts = 0
        self.sessions: list[FixSession] = []
        self.resting: dict[str, tuple[FixMessage, int]] = {}
        self.known: dict[str, tuple[FixMessage, int, str]] = {}  # ClOrdID → (order, cum, OrdStatus)
        self.status_requests: list[FixMessage] = []
        self.answer_status = True
        self.cod = True  # cancel-on-disconnect
        self._ids = itertools.count(1)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.stores = MemoryStores()

    async def start(self, port: int = 0) -> FakeExchange:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: FixSession(self, comp_id=self.comp_id, role="acceptor", stores=self.stores),
            "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for session in self.sessions:
            session.abort()
        if self.server is not None:
            self.server.close()

    def drop_sessions(self) -> None:
        """Cut every connection without Logout, as a network fault would."""
        for session in self.sessions:
            if not session.closed:
                session.abort()
                session.connection_lost(None)

    def lose_store(self) -> None:
        """As after a restart without its store: the next Logon meets sequence numbers from 1."""
        self.stores = MemoryStores()

    def unsee_last_order(self) -> None:
        """The last NewOrderSingle never arrived (lost in flight): forgotten, and its MsgSeqNum expected again."""
        order = self.orders.pop()
        self.forget(order[Tag.ClOrdID])
        self.sessions[-1].in_seq = order.seq

    def fill_while_cut(self) -> None:
        """The connection is cut, then every resting order fills in full: the fill reports go into the
        store only (the client gets them by resend after its next Logon); then the drop is noticed."""
        session = self.sessions[-1]
        session.abort()
        self.fill_resting()
        self.drop_sessions()

    # -- SessionApp ----------------------------------------------------------
    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        self.logons.append(msg)
        self.sessions.append(session)
        return None

    def on_close(self, session: FixSession, graceful: bool) -> None:
        if session.logout_received:
            self.logouts += 1
        if self.cod and session in self.sessions:  # cancel-on-disconnect (the router asks for it)
            for cl_ord_id, (order, filled) in list(self.resting.items()):
                self.known[cl_ord_id] = (order, filled, "4")
                self._report(session, order, "4", "4", cum=filled, text="canceled: disconnect")
            self.resting.clear()

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type == MsgType.NewOrderSingle:
            self._new(session, msg)
        elif msg.msg_type == MsgType.OrderCancelRequest:
            self._cancel(session, msg)
        elif msg.msg_type == MsgType.OrderStatusRequest:
            self._status(session, msg)

    def _status(self, session: FixSession, req: FixMessage) -> None:
        self.status_requests.append(req)
        if not self.answer_status:
            return
        known = self.known.get(req[Tag.ClOrdID])
        if known is None:
            session.send(MsgType.ExecutionReport, [
                (Tag.OrderID, "NONE"), (Tag.ExecID, next(self._ids)), (Tag.ClOrdID, req[Tag.ClOrdID]),
                (Tag.Symbol, req[Tag.Symbol]), (Tag.Side, req[Tag.Side]), (Tag.ExecType, "I"), (Tag.OrdStatus, "8"),
                (Tag.OrdRejReason, "5"), (Tag.CumQty, 0), (Tag.LeavesQty, 0), (Tag.Text, "unknown order")])
            return
        order, cum, status = known
        leaves = int(order[Tag.OrderQty]) - cum if status in ("0", "1") else 0
        self._report(session, order, "I", status, cum=cum, leaves=leaves)

    def fill_silently(self) -> None:
        """Fill every resting order in full without a report, in no store: with ``lose_store`` the venue
        knows the fills but can resend nothing (only OrderStatusRequest finds them)."""
        for cl_ord_id, (order, _) in list(self.resting.items()):
            self.known[cl_ord_id] = (order, int(order[Tag.OrderQty]), "2")
        self.resting.clear()

    def forget(self, cl_ord_id: str) -> None:
        """As if the order never arrived (lost in flight)."""
        self.resting.pop(cl_ord_id, None)
        self.known.pop(cl_ord_id, None)

    def _report(self, session: FixSession, order: FixMessage, exec_type: str, status: str, *,
                cl_ord_id: str | None = None, last_qty: int = 0, cum: int = 0, leaves: int = 0,
                text: str | None = None, orig: str | None = None) -> None:
        session.send(MsgType.ExecutionReport, [
            (Tag.OrderID, order[Tag.ClOrdID]), (Tag.ExecID, next(self._ids)),
            (Tag.ClOrdID, cl_ord_id or order[Tag.ClOrdID]), (Tag.OrigClOrdID, orig),
            (Tag.Account, order.get(Tag.Account)), (Tag.Symbol, order[Tag.Symbol]), (Tag.Side, order[Tag.Side]),
            (Tag.OrderQty, order[Tag.OrderQty]), (Tag.ExecType, exec_type), (Tag.OrdStatus, status),
            (Tag.LastQty, last_qty if exec_type == "F" else None),
            (Tag.LastPx, self.fill_px if exec_type == "F" else None),
            (Tag.CumQty, cum), (Tag.LeavesQty, leaves), (Tag.AvgPx, self.fill_px), (Tag.Text, text),
        ])

    def _new(self, session: FixSession, order: FixMessage) -> None:
        self.orders.append(order)
        if self.silent:
            return
        qty = int(order[Tag.OrderQty])
        if self.reject_text is not None:
            self._report(session, order, "8", "8", text=self.reject_text)
            return
        self._report(session, order, "0", "0", leaves=qty)
        filled = min(qty, self.fill(qty))
        cl_ord_id = order[Tag.ClOrdID]
        self.known[cl_ord_id] = (order, filled, "2" if filled == qty else "1" if filled else "0")
        if filled:
            status = "2" if filled == qty else "1"
            self._report(session, order, "F", status, last_qty=filled, cum=filled, leaves=qty - filled)
        if filled < qty:
            if order.get(Tag.TimeInForce) == "3":
                self.known[cl_ord_id] = (order, filled, "4")
                self._report(session, order, "4", "4", cum=filled, text="ioc remainder canceled")
            else:
                self.resting[cl_ord_id] = (order, filled)

    def _cancel(self, session: FixSession, req: FixMessage) -> None:
        self.cancels.append(req)
        resting = self.resting.pop(req[Tag.OrigClOrdID], None)
        if resting is None:
            session.send(MsgType.OrderCancelReject, [
                (Tag.OrderID, "NONE"), (Tag.ClOrdID, req[Tag.ClOrdID]), (Tag.OrigClOrdID, req[Tag.OrigClOrdID]),
                (Tag.OrdStatus, "8"), (Tag.CxlRejResponseTo, "1"), (Tag.Text, "unknown order")])
            return
        order, filled = resting
        self.known[req[Tag.OrigClOrdID]] = (order, filled, "4")
        self._report(session, order, "4", "4", cl_ord_id=req[Tag.ClOrdID], orig=req[Tag.OrigClOrdID],
                     cum=filled, text="canceled by user")

    def fill_resting(self, session_index: int = -1) -> None:
        """Fill every resting order in full (the market came to them)."""
        session = self.sessions[session_index]
        for cl_ord_id, (order, filled) in list(self.resting.items()):
            qty = int(order[Tag.OrderQty])
            self._report(session, order, "F", "2", last_qty=qty - filled, cum=qty, leaves=0)
            self.known[cl_ord_id] = (order, qty, "2")
            del self.resting[cl_ord_id]


class FakeWorld:
    """Exchange admin ``/symbols``, alert sink ``/alerts``, monitor ``/parents``."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.parents: list[dict[str, Any]] = []
        self.batches: list[int] = []  # parents per POST /parents/batch
        self.auth_headers: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FakeWorld:
        app = web.Application()
        app.router.add_get("/symbols", self._symbols)
        app.router.add_post("/alerts", self._record(self.alerts))
        app.router.add_post("/parents", self._record(self.parents))
        app.router.add_post("/parents/batch", self._record_batch)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _symbols(self, request: web.Request) -> web.Response:
        return web.json_response(SYMBOLS)

    def _record(self, into: list[dict[str, Any]]):
        async def handler(request: web.Request) -> web.Response:
            self.auth_headers.append(request.headers.get("Authorization", ""))
            into.append(await request.json())
            return web.json_response({"id": len(into)}, status=201)
        return handler

    async def _record_batch(self, request: web.Request) -> web.Response:
        self.auth_headers.append(request.headers.get("Authorization", ""))
        batch = (await request.json())["parents"]
        self.parents += batch
        self.batches.append(len(batch))
        return web.json_response({"registered": [p["parent_id"] for p in batch], "duplicates": []})

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def router_config(exchange: FakeExchange, world: FakeWorld, **overrides: Any) -> RouterConfig:
    cfg = RouterConfig(
        id="router-1", version="v2", exchange_host="127.0.0.1", exchange_port=exchange.port,
        exchange_comp_id=exchange.comp_id, exchange_admin=world.url, fix_heartbeat_s=30,
    )
    return dataclasses.replace(cfg, **overrides)


async def start_router(exchange: FakeExchange, world: FakeWorld, **overrides: Any) -> RouterService:
    log = structlog.get_logger().bind(component="router-test")
    service = RouterService(router_config(exchange, world, **overrides), TOKEN, log, symbols_deadline_s=2.0)
    await service.start()
    return service


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"symbol": "AAA", "side": "buy", "qty": 100, "limit_price": 10.0,
                            "client_order_id": f"c-{next(_client_ids)}"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


_client_ids = itertools.count(1)


async def post_order(http: aiohttp.ClientSession, rr: RouterService, **overrides: Any) -> tuple[int, dict]:
    async with http.post(f"{rr.base_url}/orders", json=order_body(**overrides), headers=AUTH) as resp:
        return resp.status, await resp.json()


async def get_json(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as resp:
        return await resp.json()


@pytest.fixture
async def exchange():
    ex = await FakeExchange().start()
    yield ex
    await ex.close()


@pytest.fixture
async def world():
    w = await FakeWorld().start()
    yield w
    await w.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def launch(exchange, world):
    """Start routers against the fakes; every one is stopped after the test."""
    started: list[RouterService] = []

    async def _launch(**overrides: Any) -> RouterService:
        rr = await start_router(exchange, world, **overrides)
        started.append(rr)
        return rr

    yield _launch
    for rr in started:
        await rr.stop()
