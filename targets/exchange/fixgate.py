"""The FIX doors of the exchange: order entry and drop copy.

Each is a :class:`targets.fix.session.SessionApp`. The session layer has
already checked framing, CheckSum, MsgSeqNum, CompIDs and the presence of
the required tags; here the values are checked (a bad one gets a session
Reject 373=5 naming the tag) and turned into engine calls.
"""
from __future__ import annotations

import asyncio
from typing import Any

from targets.fix.codec import FixMessage, MsgType, Tag
from targets.fix.session import REJECT_REQUIRED_TAG_MISSING, REJECT_VALUE_INCORRECT, FixSession

from .book import BUY, DAY, IOC, LIMIT, MARKET, SELL
from .core import ER, EXEC_ORDER_STATUS, MM_FIRM, Engine
from .reports import parse_cents

ORDER_ENTRY_TYPES = frozenset({MsgType.NewOrderSingle, MsgType.OrderCancelRequest, MsgType.OrderStatusRequest})
DROPCOPY_TYPES: frozenset[str] = frozenset()  # a drop copy only listens
COD_TAG = 8013
MAX_QTY = 100_000_000
MAX_ID_LEN = 64
SIDES = {"1": BUY, "2": SELL}
ORD_TYPES = {"1": MARKET, "2": LIMIT}
TIFS = {"0": DAY, "3": IOC}
# Price text → cents, for the prices seen lately: a runaway repeats a handful of
# prices thousands of times, and a dict hit is a tenth of parse_cents.
# Cleared when full, so it stays bounded whatever a client sends.
PRICE_CACHE_SIZE = 4096


class ExchangeSession(FixSession):
    """The acceptor session, registered with the exchange while connected."""

    def __init__(self, registry: set[FixSession], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(exc)


class OrderEntry:
    """Order-entry sessions: NewOrderSingle, OrderCancelRequest and OrderStatusRequest."""

    def __init__(self, engine: Engine, *, allow: frozenset[str] = frozenset(), cod_default: bool = True, log: Any = None) -> None:
        self.engine = engine
        self.allow = allow
        self.cod_default = cod_default
        self.log = log
        self._cents: dict[str, int | None] = {}

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        comp_id = msg.fields[Tag.SenderCompID]
        if self.allow and comp_id not in self.allow:
            return f"SenderCompID {comp_id} is not allowed"
        if comp_id == MM_FIRM:
            return f"SenderCompID {MM_FIRM} is reserved for the exchange's market makers"
        current = self.engine.sessions.get(comp_id)
        if current is not None and current.sender is not None:
            return f"session {comp_id} is already logged on"
        cod_flag = msg.fields.get(COD_TAG)
        if cod_flag is None:
            cod = self.cod_default
        elif cod_flag in ("Y", "N"):
            cod = cod_flag == "Y"
        else:
            return f"CancelOnDisconnect({COD_TAG}) must be Y or N, got {cod_flag!r}"
        session.attrs["state"] = self.engine.attach(comp_id, session, cod=cod, peer=session.peer)
        if self.log is not None:
            self.log.info("fix_logon", kind="order-entry", session=comp_id, peer=session.peer, cod=cod)
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        mtype = msg.msg_type
        if mtype == MsgType.NewOrderSingle:
            self._new_order(session, msg)
        elif mtype == MsgType.OrderCancelRequest:
            self._cancel(session, msg)
        else:
            self._status(session, msg)

    def on_close(self, session: FixSession, graceful: bool) -> None:
        st = session.attrs.get("state")
        if st is None or st.sender is not session:
            return
        cancelled = self.engine.detach(st, graceful=graceful)
        if self.log is not None:
            self.log.info("fix_session_closed", kind="order-entry", session=st.comp_id, graceful=graceful, cancelled=cancelled)

    def _new_order(self, session: FixSession, msg: FixMessage) -> None:
        f = msg.fields
        st = session.attrs["state"]
        firm = f.get(Tag.Account) or st.comp_id
        side = SIDES.get(f[Tag.Side])
        if side is None:
            return self._refuse(session, msg, firm, Tag.Side, f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
        ord_type = ORD_TYPES.get(f[Tag.OrdType])
        if ord_type is None:
            return self._refuse(session, msg, firm, Tag.OrdType, f"OrdType(40) must be 1 (market) or 2 (limit), got {f[Tag.OrdType]!r}")
        tif = TIFS.get(f.get(Tag.TimeInForce) or "0")
        if tif is None:
            return self._refuse(session, msg, firm, Tag.TimeInForce, f"TimeInForce(59) must be 0 (day) or 3 (IOC), got {f[Tag.TimeInForce]!r}")
        qty_txt = f[Tag.OrderQty]
        qty = int(qty_txt) if qty_txt.isdigit() and len(qty_txt) < 12 else 0
        if not 0 < qty <= MAX_QTY:
            return self._refuse(session, msg, firm, Tag.OrderQty, f"OrderQty(38) must be a whole number 1..{MAX_QTY}, got {qty_txt[:20]!r}")
        price = None
        if ord_type == LIMIT:
            price_txt = f.get(Tag.Price)
            if not price_txt:
                self.engine.count_reject(firm)
                session.reject(msg, REJECT_REQUIRED_TAG_MISSING, "Required tag missing: 44 (Price for a limit order)", Tag.Price)
                return None
            price = self._cents.get(price_txt, 0)
            if price == 0:
                price = parse_cents(price_txt) if len(price_txt) < 16 else None
                if len(self._cents) >= PRICE_CACHE_SIZE:
                    self._cents.clear()
                self._cents[price_txt] = price
            if not price:
                return self._refuse(session, msg, firm, Tag.Price, f"Price(44) must be > 0 on a 0.01 tick, got {price_txt[:20]!r}")
        cl_ord_id = f[Tag.ClOrdID]
        symbol = f[Tag.Symbol]
        # Echoed back in reports and the journal: keep them short and ASCII
        # (one test for the usual case, then find which one is wrong).
        if max(len(cl_ord_id), len(firm), len(symbol)) > MAX_ID_LEN or not (cl_ord_id + firm + symbol).isascii():
            for tag, value in ((Tag.ClOrdID, cl_ord_id), (Tag.Account, firm), (Tag.Symbol, symbol)):
                if len(value) > MAX_ID_LEN or not value.isascii():
                    return self._refuse(session, msg, st.comp_id, tag, f"tag {tag} must be ASCII of at most {MAX_ID_LEN} characters")
        self.engine.new_order(st, cl_ord_id, firm, symbol, side, qty, price, ord_type, tif)
        return None

    def _cancel(self, session: FixSession, msg: FixMessage) -> None:
        f = msg.fields
        st = session.attrs["state"]
        side = SIDES.get(f[Tag.Side])
        if side is None:
            return self._refuse(session, msg, st.firm, Tag.Side, f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
        if len(f[Tag.ClOrdID]) > MAX_ID_LEN or not f[Tag.ClOrdID].isascii():
            return self._refuse(session, msg, st.firm, Tag.ClOrdID, f"tag 11 must be ASCII of at most {MAX_ID_LEN} characters")
        refusal = self.engine.cancel_request(st, f[Tag.OrigClOrdID], f[Tag.ClOrdID], f[Tag.Symbol], side)
        if refusal is not None:
            session.send(MsgType.OrderCancelReject, [
                (Tag.OrderID, "NONE"),
                (Tag.ClOrdID, f[Tag.ClOrdID]),
                (Tag.OrigClOrdID, f[Tag.OrigClOrdID]),
                (Tag.OrdStatus, "8"),
                (Tag.CxlRejResponseTo, "1"),
                (Tag.CxlRejReason, "1"),  # unknown order
                (Tag.Text, refusal),
            ])
        return None

    def _status(self, session: FixSession, msg: FixMessage) -> None:
        """OrderStatusRequest: the order's state now (150=I); unknown → 39=8 with 103=5."""
        f = msg.fields
        st = session.attrs["state"]
        if len(f[Tag.ClOrdID]) > MAX_ID_LEN or not f[Tag.ClOrdID].isascii():
            return self._refuse(session, msg, st.firm, Tag.ClOrdID, f"tag 11 must be ASCII of at most {MAX_ID_LEN} characters")
        if f[Tag.Side] not in SIDES:
            return self._refuse(session, msg, st.firm, Tag.Side, f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
        found = self.engine.order_status(st, f[Tag.ClOrdID])
        if found is not None:
            session.send_body(ER, self.engine.status_report_body(*found))
            return
        session.send(MsgType.ExecutionReport, [
            (Tag.OrderID, "NONE"), (Tag.ExecID, "NONE"), (Tag.ClOrdID, f[Tag.ClOrdID]),
            (Tag.Symbol, f[Tag.Symbol]), (Tag.Side, f[Tag.Side]), (Tag.ExecType, EXEC_ORDER_STATUS),
            (Tag.OrdStatus, "8"), (Tag.OrdRejReason, "5"), (Tag.CumQty, 0), (Tag.LeavesQty, 0),
            (Tag.AvgPx, "0"), (Tag.Text, f"unknown order {f[Tag.ClOrdID]}"),
        ])

    def _refuse(self, session: FixSession, msg: FixMessage, firm: str, tag: int, text: str) -> None:
        self.engine.count_reject(firm)
        session.reject(msg, REJECT_VALUE_INCORRECT, text, tag)


class DropCopy:
    """Drop-copy sessions: SenderCompID is the firm whose reports it receives."""

    def __init__(self, engine: Engine, *, log: Any = None) -> None:
        self.engine = engine
        self.log = log
        self._cents: dict[str, int | None] = {}

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        firm = msg.fields[Tag.SenderCompID]
        session.attrs["firm"] = firm
        self.engine.add_dropcopy(firm, session)
        if self.log is not None:
            self.log.info("fix_logon", kind="drop-copy", firm=firm, peer=session.peer)
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:  # pragma: no cover - known_types is empty
        session.reject(msg, REJECT_VALUE_INCORRECT, "a drop-copy session accepts no application messages", Tag.MsgType)

    def on_close(self, session: FixSession, graceful: bool) -> None:
        firm = session.attrs.get("firm")
        if firm is None:
            return
        self.engine.remove_dropcopy(firm, session)
        if self.log is not None:
            self.log.info("fix_session_closed", kind="drop-copy", firm=firm, graceful=graceful)
