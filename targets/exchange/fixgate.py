"""The FIX doors of the exchange: order entry and drop copy.

Each is a :class:`powerpeg.targets.fix.session.SessionApp`. The session layer has
already checked framing, CheckSum, MsgSeqNum, CompIDs and the presence of
the required tags; here the values are checked (a bad one gets a session
Reject 373=5 naming the tag) and turned into engine calls. Every FIX 4.4
application message reaches ``on_message``: those the venue does not take
get a BusinessMessageReject (35=j, 380=3); a MsgType FIX does not define is
the session's to reject (35=3, 373=11).
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from powerpeg.targets.fix.codec import FIX44_APP_TYPES, FixMessage, MsgType, Tag, utc_timestamp
from powerpeg.targets.fix.credentials import Credentials
from powerpeg.targets.fix.session import REJECT_REQUIRED_TAG_MISSING, REJECT_VALUE_INCORRECT, FixSession
from powerpeg.targets.fix.store import StoredSender

from .book import BUY, DAY, IOC, LIMIT, MARKET, SELL
from .core import ER, EXEC_ORDER_STATUS, MM_FIRM, Engine, Refusal
from .reports import parse_cents

# The session hands every FIX 4.4 application message to the door (known_types):
# the door answers those it does not take with a BusinessMessageReject.
ORDER_ENTRY_TYPES = FIX44_APP_TYPES
DROPCOPY_TYPES = FIX44_APP_TYPES  # a drop copy only listens: every one gets 35=j
BUSINESS_REJECT_UNSUPPORTED_TYPE = 3  # BusinessRejectReason (380)
CXL_REJ_TO_CANCEL = "1"  # CxlRejResponseTo (434)
CXL_REJ_TO_REPLACE = "2"
MASS_REJECTED = "0"  # MassCancelResponse (531)
COD_TAG = 8013
MAX_QTY = 100_000_000
MAX_ID_LEN = 64
MAX_SESSIONS = 10_000  # order-entry CompIDs a day (each keeps its state; the market makers' among them)
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
    """Order-entry sessions: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest,
    OrderStatusRequest and OrderMassCancelRequest."""

    def __init__(
        self, engine: Engine, *, allow: frozenset[str] = frozenset(), cod_default: bool = True, log: Any = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.engine = engine
        self.allow = allow
        self.credentials = credentials  # its ``accounts``: which firms each CompID may trade for
        self.cod_default = cod_default
        self.log = log
        self._cents: dict[str, int | None] = {}
        self._mass_seq = 0
        self.stopping = False  # the venue is shutting down: its own Logouts cancel nothing

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        comp_id = msg.fields[Tag.SenderCompID]
        if self.allow and comp_id not in self.allow:
            return f"SenderCompID {comp_id} is not allowed"
        if comp_id == MM_FIRM:
            return f"SenderCompID {MM_FIRM} is reserved for the exchange's market makers"
        current = self.engine.sessions.get(comp_id)
        if current is not None and current.sender is not None:
            return f"session {comp_id} is already logged on"
        if current is None and len(self.engine.sessions) >= MAX_SESSIONS:
            # each CompID keeps its state for the day: an open venue must not keep one per name tried
            return f"too many order-entry sessions today ({MAX_SESSIONS:,}): SenderCompID {comp_id} refused"
        cod_flag = msg.fields.get(COD_TAG)
        if cod_flag is None:
            cod = self.cod_default
        elif cod_flag in ("Y", "N"):
            cod = cod_flag == "Y"
        else:
            return f"CancelOnDisconnect({COD_TAG}) must be Y or N, got {cod_flag!r}"
        st = self.engine.attach(comp_id, session, cod=cod, peer=session.peer,
                                new_day=msg.fields.get(Tag.ResetSeqNumFlag) == "Y")
        st.accounts = None if self.credentials is None else self.credentials.accounts_of(comp_id)
        session.attrs["state"] = st
        if self.log is not None:
            self.log.info("fix_logon", kind="order-entry", session=comp_id, peer=session.peer, cod=cod)
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        mtype = msg.msg_type
        if mtype == MsgType.NewOrderSingle:
            self._new_order(session, msg)
        elif mtype == MsgType.OrderCancelRequest:
            self._cancel(session, msg)
        elif mtype == MsgType.OrderCancelReplaceRequest:
            self._replace(session, msg)
        elif mtype == MsgType.OrderStatusRequest:
            self._status(session, msg)
        elif mtype == MsgType.OrderMassCancelRequest:
            self._mass_cancel(session, msg)
        elif mtype == MsgType.BusinessMessageReject:
            # the client refused one of ours: nothing to answer (a 35=j to a 35=j could loop)
            if self.log is not None:
                self.log.warning("fix_business_reject_received", session=session.peer_comp_id,
                                 ref_msg_type=msg.get(Tag.RefMsgType), text=msg.get(Tag.Text))
        else:
            business_reject(session, msg, f"MsgType {mtype} is not supported by this venue's order entry")

    def on_close(self, session: FixSession, graceful: bool) -> None:
        """Cancel-on-disconnect: any end of the session, a Logout as much as a dropped connection,
        cancels its working orders when COD is on (Eurex's rule for its non-persistent orders; CME's
        iLink 2 spares a Logout: why powerpeg does not, docs/targets.md).

        The cancels run while the session is still the orders' sender, so their ExecutionReports
        go into the session's store (the connection is gone): the client gets them by resend
        after its next Logon. Only then is the session detached."""
        st = session.attrs.get("state")
        if st is None or st.sender is not session:
            return
        cancelled = 0
        if st.cod and not self.stopping:
            for order in list(st.working.values()):
                if self.engine.cancel_order(order, "disconnect") > 0:
                    cancelled += 1
        self.engine.detach(st, graceful=True)  # unhooks the sender; nothing is left to cancel
        if session.store is not None:
            # what the venue says to the session while it is away (a resting order's fill with
            # cancel-on-disconnect off, a kill) is kept for the resend after its next Logon
            st.parked = StoredSender(session.store, session.comp_id, st.comp_id)
        if self.log is not None:
            self.log.info("fix_session_closed", kind="order-entry", session=st.comp_id, graceful=graceful,
                          cancelled=cancelled)

    def _new_order(self, session: FixSession, msg: FixMessage) -> None:
        f = msg.fields
        st = session.attrs["state"]
        firm = f.get(Tag.Account) or st.comp_id
        terms = self._terms(session, msg, firm)
        if terms is None:
            return None
        side, ord_type, qty, price = terms
        tif = TIFS.get(f.get(Tag.TimeInForce) or "0")
        if tif is None:
            return self._refuse(session, msg, firm, Tag.TimeInForce,
                                f"TimeInForce(59) must be 0 (day) or 3 (IOC), got {f[Tag.TimeInForce]!r}")
        cl_ord_id = f[Tag.ClOrdID]
        symbol = f[Tag.Symbol]
        # Echoed back in reports and the journal: keep them short (one test for the usual case, then
        # find which one is wrong). ASCII they are: the parser flags any other byte (Reject 373=6).
        if max(len(cl_ord_id), len(firm), len(symbol)) > MAX_ID_LEN:
            for tag, value in ((Tag.ClOrdID, cl_ord_id), (Tag.Account, firm), (Tag.Symbol, symbol)):
                if len(value) > MAX_ID_LEN or not value.isascii():
                    return self._refuse(session, msg, st.comp_id, tag,
                                        f"tag {tag} must be ASCII of at most {MAX_ID_LEN} characters")
        self.engine.new_order(st, cl_ord_id, firm, symbol, side, qty, price, ord_type, tif)
        return None

    def _terms(self, session: FixSession, msg: FixMessage, firm: str) -> tuple[int, int, int, int | None] | None:
        """Side, OrdType, OrderQty and the limit in cents of a 35=D or a 35=G; None once refused (repeated
        prices come from a bounded cache: this is the hot path of a runaway)."""
        f = msg.fields
        side = SIDES.get(f[Tag.Side])
        if side is None:
            self._refuse(session, msg, firm, Tag.Side,
                         f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
            return None
        ord_type = ORD_TYPES.get(f[Tag.OrdType])
        if ord_type is None:
            self._refuse(session, msg, firm, Tag.OrdType,
                         f"OrdType(40) must be 1 (market) or 2 (limit), got {f[Tag.OrdType]!r}")
            return None
        qty_txt = f[Tag.OrderQty]
        qty = int(qty_txt) if qty_txt.isdigit() and len(qty_txt) < 12 else 0
        if not 0 < qty <= MAX_QTY:
            self._refuse(session, msg, firm, Tag.OrderQty,
                         f"OrderQty(38) must be a whole number 1..{MAX_QTY}, got {qty_txt[:20]!r}")
            return None
        price = None
        if ord_type == LIMIT:
            price_txt = f.get(Tag.Price)
            if not price_txt:
                self.engine.count_reject(firm)
                session.reject(msg, REJECT_REQUIRED_TAG_MISSING,
                               "Required tag missing: 44 (Price for a limit order)", Tag.Price)
                return None
            price = self._cents.get(price_txt, 0)
            if price == 0:
                price = parse_cents(price_txt) if len(price_txt) < 16 else None
                if len(self._cents) >= PRICE_CACHE_SIZE:
                    self._cents.clear()
                self._cents[price_txt] = price
            if not price:
                self._refuse(session, msg, firm, Tag.Price,
                             f"Price(44) must be > 0 on a 0.01 tick, got {price_txt[:20]!r}")
                return None
        return side, ord_type, qty, price

    def _cancel(self, session: FixSession, msg: FixMessage) -> None:
        f = msg.fields
        st = session.attrs["state"]
        side = SIDES.get(f[Tag.Side])
        if side is None:
            return self._refuse(session, msg, st.firm, Tag.Side,
                                f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
        if self._bad_ids(session, msg, st.firm, Tag.ClOrdID, Tag.OrigClOrdID):
            return None
        refusal = self.engine.cancel_request(st, f[Tag.OrigClOrdID], f[Tag.ClOrdID], f[Tag.Symbol], side)
        if refusal is not None:
            cancel_reject(session, msg, CXL_REJ_TO_CANCEL, refusal)
        return None

    def _replace(self, session: FixSession, msg: FixMessage) -> None:
        """OrderCancelReplaceRequest: a new quantity and/or price; ExecutionReport 150=5, or 35=9."""
        f = msg.fields
        st = session.attrs["state"]
        firm = st.firm
        terms = self._terms(session, msg, firm)
        if terms is None:
            return None
        side, ord_type, qty, price = terms
        if self._bad_ids(session, msg, firm, Tag.ClOrdID, Tag.OrigClOrdID, Tag.Account):
            return None
        refusal = self.engine.replace_request(st, f[Tag.OrigClOrdID], f[Tag.ClOrdID], f[Tag.Symbol], side, qty, price,
                                              ord_type, f.get(Tag.Account))
        if refusal is not None:
            cancel_reject(session, msg, CXL_REJ_TO_REPLACE, refusal)
        return None

    def _mass_cancel(self, session: FixSession, msg: FixMessage) -> None:
        """OrderMassCancelRequest: 530=1 one symbol, 7 all; the session's orders, or its firm's with
        Account(1). One cancel ExecutionReport per order, then an OrderMassCancelReport (35=r)."""
        f = msg.fields
        st = session.attrs["state"]
        kind_txt = f[Tag.MassCancelRequestType]
        if kind_txt not in ("1", "2", "3", "4", "5", "6", "7"):
            return self._refuse(session, msg, st.firm, Tag.MassCancelRequestType,
                                f"MassCancelRequestType(530) must be 1..7, got {kind_txt[:20]!r}")
        side = None
        if Tag.Side in f:
            side = SIDES.get(f[Tag.Side])
            if side is None:
                return self._refuse(session, msg, st.firm, Tag.Side,
                                    f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
        if self._bad_ids(session, msg, st.firm, Tag.ClOrdID, Tag.Account, Tag.Symbol):
            return None
        kind = int(kind_txt)
        symbol, firm = f.get(Tag.Symbol), f.get(Tag.Account)
        self._mass_seq += 1
        answer: list[tuple[int, object]] = [
            (Tag.ClOrdID, f[Tag.ClOrdID]), (Tag.OrderID, f"MC{self._mass_seq}"), (Tag.MassCancelRequestType, kind_txt)]
        refusal = self.engine.mass_cancel_refusal(st, kind, symbol, firm)
        if refusal is not None:
            answer += [(Tag.MassCancelResponse, MASS_REJECTED), (Tag.MassCancelRejectReason, refusal[0])]
        else:
            cancelled = self.engine.mass_cancel(st, f[Tag.ClOrdID], kind, symbol, side, firm)
            answer += [(Tag.MassCancelResponse, kind_txt), (Tag.TotalAffectedOrders, cancelled)]
        # no Account(1) back: FIX 4.4 does not define it on a 35=r, and a validating engine would reject it
        answer += [(Tag.Symbol, symbol), (Tag.Side, f.get(Tag.Side)),
                   (Tag.TransactTime, utc_timestamp()), (Tag.Text, refusal[1] if refusal is not None else None)]
        session.send(MsgType.OrderMassCancelReport, answer)
        return None

    def _status(self, session: FixSession, msg: FixMessage) -> None:
        """OrderStatusRequest: the order's state now (150=I); unknown → 39=8 with 103=5."""
        f = msg.fields
        st = session.attrs["state"]
        if len(f[Tag.ClOrdID]) > MAX_ID_LEN or not f[Tag.ClOrdID].isascii():
            return self._refuse(session, msg, st.firm, Tag.ClOrdID,
                                f"tag 11 must be ASCII of at most {MAX_ID_LEN} characters")
        if f[Tag.Side] not in SIDES:
            return self._refuse(session, msg, st.firm, Tag.Side,
                                f"Side(54) must be 1 (buy) or 2 (sell), got {f[Tag.Side]!r}")
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

    def _bad_ids(self, session: FixSession, msg: FixMessage, firm: str, *tags: int) -> bool:
        """Refuse (and say so) when one of these tags, echoed back in answers, is not short ASCII."""
        for tag in tags:
            value = msg.fields.get(tag)
            if value is not None and (len(value) > MAX_ID_LEN or not value.isascii()):
                self._refuse(session, msg, firm, tag, f"tag {tag} must be ASCII of at most {MAX_ID_LEN} characters")
                return True
        return False


def cancel_reject(session: FixSession, msg: FixMessage, response_to: str, refusal: Refusal) -> None:
    """OrderCancelReject (35=9) for a refused cancel (434=1) or replace (434=2)."""
    session.send(MsgType.OrderCancelReject, [
        (Tag.OrderID, refusal.order_id),
        (Tag.ClOrdID, msg.fields[Tag.ClOrdID]),
        (Tag.OrigClOrdID, msg.fields[Tag.OrigClOrdID]),
        (Tag.OrdStatus, refusal.status),
        (Tag.CxlRejResponseTo, response_to),
        (Tag.CxlRejReason, refusal.reason),
        (Tag.Text, refusal.text),
    ])


def business_reject(session: FixSession, msg: FixMessage, text: str) -> None:
    """BusinessMessageReject (35=j, 380=3): a valid FIX application message this door does not take."""
    session.send(MsgType.BusinessMessageReject, [
        (Tag.RefSeqNum, msg.fields.get(Tag.MsgSeqNum)),
        (Tag.RefMsgType, msg.msg_type),
        (Tag.BusinessRejectReason, BUSINESS_REJECT_UNSUPPORTED_TYPE),
        (Tag.Text, text),
    ])


class DropCopy:
    """Drop-copy sessions. Without credentials SenderCompID is the firm whose reports it receives;
    with them (the session has checked the password), the firm whose subscribers list the CompID,
    and a CompID no firm lists is refused."""

    def __init__(self, engine: Engine, *, credentials: Credentials | None = None, log: Any = None) -> None:
        self.engine = engine
        self.credentials = credentials
        self.log = log
        self._cents: dict[str, int | None] = {}

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        comp_id = msg.fields[Tag.SenderCompID]
        firm = comp_id if self.credentials is None else self.credentials.firm_of(comp_id)
        if firm is None:
            if self.log is not None:
                self.log.warning("fix_logon_refused", kind="drop-copy", comp_id=comp_id, peer=session.peer,
                                 reason="no firm lists it as a drop-copy subscriber")
            return f"SenderCompID {comp_id} is not allowed a drop copy"
        session.attrs["firm"] = firm
        session.attrs["logon_ns"] = time.time_ns()  # GET /sessions: since when a firm's listener is on
        self.engine.add_dropcopy(firm, session)
        if self.log is not None:
            self.log.info("fix_logon", kind="drop-copy", firm=firm, peer=session.peer)
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type != MsgType.BusinessMessageReject:
            business_reject(session, msg, "a drop-copy session accepts no application messages")

    def on_close(self, session: FixSession, graceful: bool) -> None:
        firm = session.attrs.get("firm")
        if firm is None:
            return
        self.engine.remove_dropcopy(firm, session)
        store = session.store
        if store is not None and store.holder is session:
            # the pair's own listener is away: the firm's reports go on into its store, and its
            # next Logon gets them by resend (one parked sender per pair)
            copies = self.engine.dropcopies.get(firm, [])
            if not any(isinstance(s, StoredSender) and s.store is store for s in copies):
                self.engine.add_dropcopy(firm, StoredSender(store, session.comp_id, firm))
        if self.log is not None:
            self.log.info("fix_session_closed", kind="drop-copy", firm=firm, graceful=graceful)
