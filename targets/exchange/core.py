"""The exchange's core, the matching engine: orders, sessions, kill switch,
positions, reports.

Glues the books, the journal, the clock and the report fan-out (owner
session plus the firm's drop copies). Knows nothing about sockets: a session
is anything with ``send(msg_type, fields)``; FIX parsing lives in
``fixgate``, the admin API in ``http``, the wiring in ``service``.
Everything runs on the event loop thread, so there are no locks.

Per-order work is deliberately plain (no logging, no pydantic, counters in
lists) because a runaway router sends tens of thousands of orders a second.
"""
from __future__ import annotations

import time
from collections import deque
from itertools import islice
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from powerpeg.targets.fix.codec import utc_timestamp

from .book import BUY, IOC, MARKET, Book, Order
from .clordids import ClOrdIds
from .journal import Journal
from .records import CancelReason, KillScope
from .reports import (
    EXEC_CANCELED, EXEC_NEW, EXEC_REJECTED, EXEC_REPLACED, EXEC_TRADE, STATUS_CANCELED, STATUS_FILLED, STATUS_NAMES,
    STATUS_NEW, STATUS_PARTIAL, STATUS_REJECTED, accepted_record, canceled_record, exec_report_body, fill_record,
    kill_record, mass_cancel_record, open_record, rejected_record, reinstate_record, replaced_record,
)
from .symbols import Symbol

MM_FIRM = "MM"
ER = "8"
EXEC_ORDER_STATUS = "I"
# Orders remembered per session by ClOrdID for OrderStatusRequest (a client that
# lost its connection learns what filled while it was away: the router asks about
# the children it sent last) and for the "too late" answer to a cancel of a done
# order. Working orders are always found (``SessionState.working``); past this
# many, the oldest tenth of the remembered ones is forgotten. About 300 bytes an
# order kept alive: 200,000 (as it was) held 60 MB per busy session for hours, a
# fleet's steady climb of RSS (issue 11); this many fill within minutes of a
# session's start and then stay flat. The market makers' own orders are not
# remembered at all (nobody asks about them).
ORDER_MEMORY = 4096
# ClOrdIDs are unique per session per trading day (the exchange process's life:
# its orders do not outlive it either): every one an order was accepted or
# replaced under is kept, and a NewOrderSingle or a replace reusing one is
# refused, also once its order is done (reused, a filled order's ClOrdID
# could be filled twice). Kept as 64-bit hashes, about 9 bytes each
# (``clordids.py``); past this many in one session's day (about 90 MB) its new
# orders are refused rather than the oldest forgotten (a forgotten one could be
# reused). The market makers' ClOrdIDs come from a counter: never checked.
CLORDID_MEMORY = 10_000_000
# distinct Account(1) values a day: each gets counters and positions; an open venue (no credentials) would
# otherwise keep one for every value a client cares to send
MAX_ACCOUNTS = 10_000
# CxlRejReason (102) of an OrderCancelReject.
CXL_TOO_LATE = "0"
CXL_UNKNOWN = "1"
CXL_DUPLICATE = "6"
CXL_OTHER = "99"
# MassCancelRejectReason (532) of an OrderMassCancelReport.
MASS_NOT_SUPPORTED = "0"
MASS_UNKNOWN_SECURITY = "1"
MASS_OTHER = "99"
MASS_CANCEL_TYPES = {1: "symbol", 7: "all"}  # MassCancelRequestType (530) values supported


class Refusal(NamedTuple):
    """Why a cancel or a replace was refused: what its OrderCancelReject (35=9) says."""

    reason: str  # CxlRejReason (102)
    status: str  # the order's OrdStatus (39) now; 8 when there is no such order
    order_id: str  # OrderID (37); NONE when there is no such order
    text: str


def ord_type_name(order: Order) -> str:
    return "market" if order.ord_type == MARKET else "limit"


def _entry_order(order: Order) -> int:
    return int(order.order_id)


class Sender(Protocol):
    """A FIX session as the engine needs it (see ``fixgate.ExchangeSession``)."""

    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None: ...


class LiquidityHook(Protocol):
    def on_trade(self, symbol: str, net_qty: int) -> None: ...

    def fair(self, symbol: str) -> float | None: ...

    def settled(self, symbol: str) -> float | None: ...


@dataclass(eq=False)
class SessionState:
    """An order-entry CompID; outlives its TCP connections (reconnects)."""

    comp_id: str
    firm: str
    cod: bool
    sender: Sender | None = None
    parked: Sender | None = None  # keeps the session's reports in its store while it is away
    working: dict[str, Order] = field(default_factory=dict)  # by ClOrdID
    orders: dict[str, Order] = field(default_factory=dict)  # accepted, recent first-in, by ClOrdID
    peer: str = ""
    used: ClOrdIds = field(default_factory=ClOrdIds)  # every ClOrdID of the day (CLORDID_MEMORY)
    internal: bool = False  # the exchange's own market makers: their ClOrdIDs and orders are not kept
    accounts: frozenset[str] | None = None  # the firms this CompID may trade for (credentials); None: any
    # the session's current FIX day (since its last Logon with 141=Y), for /metrics: NewOrderSingles
    # received and shares executed — the venue's view of each member session
    day_orders: int = 0
    day_executed: int = 0
    day_started_ns: int = 0


class Engine:
    def __init__(self, symbols: list[Symbol], journal: Journal, *, now: Callable[[], int] = time.time_ns) -> None:
        self.books: dict[str, Book] = {s.symbol: Book(s.symbol) for s in symbols}
        self.ref: dict[str, int] = {s.symbol: s.ref_price for s in symbols}
        self.journal = journal
        self.now = now
        self.is_open = True
        self.preopen_reject = False
        self.liquidity: LiquidityHook | None = None
        self.sessions: dict[str, SessionState] = {}
        self.dropcopies: dict[str, list[Sender]] = {}
        self.killed_firms: set[str] = set()
        self.killed_sessions: set[str] = set()
        self.queue: deque[Order] = deque()  # accepted before the open, in arrival order
        # Open, but the pre-open queue is still being released slice by slice (:meth:`release`):
        # arrivals meanwhile join the queue's back, so time priority holds across the open.
        self.releasing = False
        # firm -> symbol -> [position, bought, sold, cash_cents]
        self.positions: dict[str, dict[str, list[int]]] = {}
        # firm -> [orders, fills, rejects]
        self.stats: dict[str, list[int]] = {}
        self._order_seq = 0
        self._exec_seq = 0
        self._match_seq = 0

    # -- sessions ------------------------------------------------------------------
    def session(self, comp_id: str, *, cod: bool = True) -> SessionState:
        """The state of ``comp_id`` (created on first use)."""
        st = self.sessions.get(comp_id)
        if st is None:
            st = self.sessions[comp_id] = SessionState(comp_id, comp_id, cod, internal=comp_id == MM_FIRM)
        return st

    def attach(self, comp_id: str, sender: Sender, *, cod: bool, peer: str = "", new_day: bool = False) -> SessionState:
        """``new_day``: the Logon reset the sequence numbers (141=Y), which starts the session's day
        counters over, as the client's own (a restarted router) start over."""
        st = self.session(comp_id, cod=cod)
        st.sender, st.cod, st.peer = sender, cod, peer
        if new_day or not st.day_started_ns:
            st.day_orders = st.day_executed = 0
            st.day_started_ns = self.now()
        return st

    def detach(self, st: SessionState, *, graceful: bool) -> int:
        """The connection ended; cancel its working orders unless it logged out."""
        st.sender = None
        if graceful or not st.cod:
            return 0
        return self._cancel_all(list(st.working.values()), "disconnect")

    def add_dropcopy(self, firm: str, sender: Sender) -> None:
        self.dropcopies.setdefault(firm, []).append(sender)

    def remove_dropcopy(self, firm: str, sender: Sender) -> None:
        senders = self.dropcopies.get(firm, [])
        if sender in senders:
            senders.remove(sender)
        if not senders:
            self.dropcopies.pop(firm, None)

    # -- orders ---------------------------------------------------------------------
    def new_order(
        self, st: SessionState, cl_ord_id: str, firm: str, symbol: str, side: int, qty: int,
        price: int | None, ord_type: int, tif: int,
    ) -> Order:
        """Accept, queue or reject one order; reports and journals every outcome."""
        self._order_seq += 1
        # Every order of a session names the same firm and one of a few symbols, each parsed into a
        # string of its own: the order keeps the session's and the book's instead (about 100 bytes
        # less per order alive).
        if firm == st.firm:
            firm = st.firm
        else:
            st.firm = firm
        book = self.books.get(symbol)
        if book is not None:
            symbol = book.symbol
        order = Order(str(self._order_seq), cl_ord_id, st.comp_id, firm, symbol, side, qty,
                      None if ord_type == MARKET else price, ord_type, tif)
        st.day_orders += 1
        text = None
        if (st.accounts is not None and firm not in st.accounts) or (
                firm not in self.stats and len(self.stats) >= MAX_ACCOUNTS):
            # refused on the account itself: the reject is the session's (journaled and counted under its
            # CompID, never copied to the firm it named, never a new firm's counters)
            text = (f"Account(1) {firm} is not an account session {st.comp_id} may trade for"
                    if st.accounts is not None and firm not in st.accounts else
                    f"too many accounts today ({MAX_ACCOUNTS:,}): a new Account(1) {firm} is refused")
            firm = order.firm = st.comp_id
        stats = self.stats.get(firm) or self.stats.setdefault(firm, [0, 0, 0])
        stats[0] += 1
        if text is not None:
            pass
        elif book is None:
            text = f"unknown symbol {symbol}"
        elif self.killed_firms and firm in self.killed_firms:
            text = f"kill switch active for firm {firm}"
        elif self.killed_sessions and st.comp_id in self.killed_sessions:
            text = f"kill switch active for session {st.comp_id}"
        elif not self.is_open and self.preopen_reject:
            text = "market closed (pre-open)"
        elif not st.internal:
            # the last check: a ClOrdID is used (kept) only by an order that is accepted
            if st.used.count >= CLORDID_MEMORY:
                text = (f"duplicate ClOrdID {cl_ord_id}" if cl_ord_id in st.used else
                        f"ClOrdID limit reached: {CLORDID_MEMORY} orders today by session {st.comp_id}")
            elif not st.used.add(cl_ord_id):
                text = f"duplicate ClOrdID {cl_ord_id}"
        if text is not None:
            stats[2] += 1
            order.leaves = 0
            order.done = True
            ts = self.now()
            self.journal.append(rejected_record(order, ts, text))
            self._report(order, EXEC_REJECTED, STATUS_REJECTED, 0, None, text, ts)
            return order
        ts = self.now()
        self.journal.append(accepted_record(order, ts))
        st.working[cl_ord_id] = order
        if not st.internal:
            orders = st.orders  # _remember, inline: the hot path
            orders[cl_ord_id] = order
            if len(orders) > ORDER_MEMORY:
                for old in list(islice(orders, ORDER_MEMORY // 10)):
                    del orders[old]
        self._report(order, EXEC_NEW, STATUS_NEW, 0, None, None, ts)
        if not self.is_open or self.releasing:
            order.queued = True
            self.queue.append(order)
        else:
            self._execute(order, book)  # type: ignore[arg-type]
        return order

    def cancel_request(
        self, st: SessionState, orig_cl_ord_id: str, cl_ord_id: str, symbol: str, side: int,
    ) -> Refusal | None:
        """Cancel a working order of this session; returns the refusal, if any."""
        found = self._amendable(st, orig_cl_ord_id, symbol, side)
        if isinstance(found, Refusal):
            return found
        self.cancel_order(found, "user", cl_ord_id=cl_ord_id, orig_cl_ord_id=orig_cl_ord_id)
        return None

    def replace_request(
        self, st: SessionState, orig_cl_ord_id: str, cl_ord_id: str, symbol: str, side: int, qty: int,
        price: int | None, ord_type: int, account: str | None,
    ) -> Refusal | None:
        """Cancel/replace a working order of this session (quantity and/or price); returns the refusal, if any.

        A quantity decrease at the same price keeps the order's time priority;
        a price change or a quantity increase loses it (the order goes to the
        back of its level, or trades at once if the new price crosses). A
        quantity no more than what already executed ends the order (FIX: the
        rest is cancelled and Filled outranks Canceled).
        """
        found = self._amendable(st, orig_cl_ord_id, symbol, side)
        if isinstance(found, Refusal):
            return found
        order = found
        if ord_type != order.ord_type:
            return Refusal(CXL_OTHER, self._status(order), order.order_id,
                           f"OrdType(40) cannot change on a replace: order {orig_cl_ord_id} is {ord_type_name(order)}")
        if account is not None and account != order.firm:
            return Refusal(CXL_OTHER, self._status(order), order.order_id,
                           f"Account(1) {account} is not the firm of order {orig_cl_ord_id} ({order.firm})")
        if cl_ord_id in st.used:
            return Refusal(CXL_DUPLICATE, self._status(order), order.order_id,
                           f"duplicate ClOrdID {cl_ord_id}")
        if len(st.used) >= CLORDID_MEMORY:
            return Refusal(CXL_OTHER, self._status(order), order.order_id,
                           f"ClOrdID limit reached: {CLORDID_MEMORY} today by session {st.comp_id}")
        st.used.add(cl_ord_id)  # from here the replace is carried out
        self._replace(st, order, orig_cl_ord_id, cl_ord_id, qty, None if ord_type == MARKET else price)
        return None

    def order_status(self, st: SessionState, cl_ord_id: str) -> tuple[Order, str] | None:
        """A session's order by ClOrdID and its OrdStatus now; None when unknown (or forgotten)."""
        order = st.working.get(cl_ord_id) or st.orders.get(cl_ord_id)
        if order is None:
            return None
        return order, self._status(order)

    def status_report_body(self, order: Order, status: str) -> str:
        """An ExecutionReport (150=I) answering an OrderStatusRequest: never journaled or copied."""
        self._exec_seq += 1
        return exec_report_body(order, f"E{self._exec_seq}", EXEC_ORDER_STATUS, status, 0, None, None,
                                None, None, utc_timestamp())

    def cancel_order(
        self, order: Order, reason: CancelReason, *, cl_ord_id: str | None = None, orig_cl_ord_id: str | None = None,
        in_book: bool = True,
    ) -> int:
        """Cancel what is left of ``order``; returns the quantity cancelled."""
        if order.done:
            return 0
        if order.queued or not in_book:
            order.queued = False
            cancelled = order.leaves
            order.leaves = 0
        else:
            cancelled = self.books[order.symbol].remove(order)
        self._finish(order)
        ts = self.now()
        self.journal.append(canceled_record(order, ts, reason, cancelled))
        self._report(order, EXEC_CANCELED, STATUS_CANCELED, 0, None, f"canceled: {reason}", ts, cl_ord_id,
                     orig_cl_ord_id)
        return cancelled

    def count_reject(self, firm: str) -> None:
        """A message refused before it became an order (session-level Reject)."""
        (self.stats.get(firm) or self.stats.setdefault(firm, [0, 0, 0]))[2] += 1

    # -- mass cancel ----------------------------------------------------------------
    def mass_cancel_refusal(
        self, st: SessionState, request_type: int, symbol: str | None, firm: str | None,
    ) -> tuple[str, str] | None:
        """Why an OrderMassCancelRequest cannot be carried out: (MassCancelRejectReason, text), or None."""
        if request_type not in MASS_CANCEL_TYPES:
            return MASS_NOT_SUPPORTED, f"MassCancelRequestType(530) {request_type} is not supported (1 symbol, 7 all)"
        if request_type == 1 and symbol not in self.books:
            return MASS_UNKNOWN_SECURITY, f"unknown symbol {symbol}" if symbol else "Symbol(55) is required with 530=1"
        if firm is not None and firm != st.comp_id and firm != st.firm:
            return MASS_OTHER, f"session {st.comp_id} may not cancel the orders of firm {firm}"
        return None

    def mass_cancel(
        self, st: SessionState, cl_ord_id: str, request_type: int, symbol: str | None, side: int | None,
        firm: str | None,
    ) -> int:
        """Cancel the session's (or, ``firm`` given, the firm's) working orders, of ``symbol`` when the
        request type is 1, of ``side`` when given, in order of entry; returns how many.

        Checked by :meth:`mass_cancel_refusal` first. Blocks nothing: unlike the
        kill switch, new orders are still accepted.
        """
        if firm is None:
            scope: KillScope = "session"
            ident, orders = st.comp_id, list(st.working.values())
        else:
            scope, ident = "firm", firm
            orders = self._working_in("firm", firm)
        if request_type != 1:
            symbol = None
        orders = [o for o in orders if (symbol is None or o.symbol == symbol) and (side is None or o.side == side)]
        orders.sort(key=_entry_order)
        self.journal.append(mass_cancel_record(self.now(), st.comp_id, firm or st.firm, cl_ord_id, scope, ident,
                                               request_type, symbol, side, len(orders)))
        return self._cancel_all(orders, "mass")

    # -- market clock -------------------------------------------------------------------
    def open_market(self, start_liquidity: Callable[[], None] | None = None, *, release: bool = True) -> None:
        """The open: journal it, let market makers quote, then run the queue in order.

        With ``release`` False the queue is left to :meth:`release`, slice by slice: at a busy open
        thousands of orders wait, and running them in one go would hold the event loop (and with it a
        kill, a drop copy, the sessions' heartbeats) for as long as they take to match."""
        self.is_open = True
        self.journal.append(open_record(self.now()))
        if start_liquidity is not None:
            start_liquidity()
        self.releasing = bool(self.queue)
        if release:
            while self.release(len(self.queue) + 1):
                pass

    def release(self, limit: int, *, until: float | None = None) -> bool:
        """Run up to ``limit`` orders from the front of the pre-open queue, and none after ``until``
        (``time.perf_counter()``) once one has run; True while some remain."""
        queue = self.queue
        for _ in range(min(limit, len(queue))):
            order = queue.popleft()
            if order.queued and not order.done:
                order.queued = False
                self._execute(order, self.books[order.symbol])
                if until is not None and time.perf_counter() >= until:
                    break
        self.releasing = bool(queue)
        return self.releasing

    # -- kill switch ------------------------------------------------------------------
    def kill(self, scope: KillScope, ident: str, *, by: str | None = None) -> int:
        """Block new orders of a firm or session and cancel its working orders."""
        (self.killed_firms if scope == "firm" else self.killed_sessions).add(ident)
        orders = self._working_in(scope, ident)
        self.journal.append(kill_record(self.now(), scope, ident, len(orders), by))
        return self._cancel_all(orders, "kill")

    def reinstate(self, scope: KillScope, ident: str) -> bool:
        killed = self.killed_firms if scope == "firm" else self.killed_sessions
        was_active = ident in killed
        killed.discard(ident)
        self.journal.append(reinstate_record(self.now(), scope, ident, was_active))
        return was_active

    def is_killed(self, firm: str, comp_id: str) -> bool:
        return firm in self.killed_firms or comp_id in self.killed_sessions

    # -- views --------------------------------------------------------------------------
    def mark(self, symbol: str) -> float:
        """Marks for positions and P&L: the settled fair price (impact decayed)."""
        fair = self.liquidity.settled(symbol) if self.liquidity is not None else None
        if fair is not None:
            return fair
        last = self.books[symbol].last
        return (last if last is not None else self.ref[symbol]) / 100

    def positions_view(self) -> dict[str, Any]:
        marks: dict[str, float] = {}
        firms: dict[str, Any] = {}
        for firm, per_symbol in self.positions.items():
            symbols, net, gross, pnl = {}, 0.0, 0.0, 0.0
            for sym, (pos, bought, sold, cash) in per_symbol.items():
                mark = marks.get(sym)
                if mark is None:
                    mark = marks[sym] = round(self.mark(sym), 4)
                symbols[sym] = {"position": pos, "bought": bought, "sold": sold, "cash": cash / 100}
                net += pos * mark
                gross += abs(pos * mark)
                pnl += cash / 100 + pos * mark
            firms[firm] = {
                "symbols": symbols, "net_position_usd": round(net, 2),
                "gross_notional_usd": round(gross, 2), "pnl_usd": round(pnl, 2),
            }
        return {"firms": firms, "marks": marks}

    def working_count(self) -> int:
        return sum(len(st.working) for st in self.sessions.values())

    # -- internals --------------------------------------------------------------------
    @staticmethod
    def _status(order: Order) -> str:
        """OrdStatus (39) now: working new or partially filled, or done filled or canceled."""
        if not order.done:
            return STATUS_PARTIAL if order.cum_qty else STATUS_NEW
        return STATUS_FILLED if order.cum_qty >= order.qty else STATUS_CANCELED

    def _amendable(self, st: SessionState, orig: str, symbol: str, side: int) -> Order | Refusal:
        """The working order a cancel or replace names (by its ClOrdID now, within the session), or why not."""
        order = st.working.get(orig)
        if order is None:
            known = st.orders.get(orig)
            if known is None:
                return Refusal(CXL_UNKNOWN, STATUS_REJECTED, "NONE", f"unknown order {orig}")
            status = self._status(known)
            if known.done:
                return Refusal(CXL_TOO_LATE, status, known.order_id,
                               f"too late: order {orig} is {STATUS_NAMES[status]}")
            return Refusal(CXL_UNKNOWN, status, known.order_id,
                           f"order {orig} was replaced: its ClOrdID is {known.cl_ord_id}")
        if order.symbol != symbol or order.side != side:
            return Refusal(CXL_OTHER, self._status(order), order.order_id,
                           f"order {orig} is {order.symbol} side {order.side}, not {symbol} side {side}")
        return order

    def _replace(self, st: SessionState, order: Order, orig: str, cl_ord_id: str, qty: int, price: int | None) -> None:
        prev_qty, prev_price = order.qty, order.price
        requeue = False
        if qty <= order.cum_qty:
            self._pull(order)
            order.qty, order.price = order.cum_qty, price
            self._finish(order)
        elif price == prev_price and qty <= prev_qty:
            if qty < prev_qty:
                if order.queued:
                    order.leaves -= prev_qty - qty
                else:
                    self.books[order.symbol].reduce(order, prev_qty - qty)
            order.qty = qty
        else:
            requeue = True
            self._pull(order)
            order.qty, order.price, order.leaves = qty, price, qty - order.cum_qty
        if not order.done:
            del st.working[orig]
            st.working[cl_ord_id] = order
        order.cl_ord_id = cl_ord_id
        self._remember(st, order)
        ts = self.now()
        self.journal.append(replaced_record(order, ts, orig, prev_qty, prev_price, requeue))
        self._report(order, EXEC_REPLACED, self._status(order), 0, None, None, ts, cl_ord_id, orig)
        if requeue:
            if order.queued:
                self.queue.append(order)
            else:
                self._execute(order, self.books[order.symbol])

    def _pull(self, order: Order) -> None:
        """Out of the pre-open queue or the book for good, leaves 0 (the order stays working)."""
        if order.queued:
            self.queue.remove(order)
            order.leaves = 0
        else:
            self.books[order.symbol].pull(order)

    @staticmethod
    def _remember(st: SessionState, order: Order) -> None:
        """For OrderStatusRequest (and too-late refusals) by ClOrdID; bounded, the oldest tenth forgotten."""
        if st.internal:
            return
        orders = st.orders
        orders[order.cl_ord_id] = order
        if len(orders) > ORDER_MEMORY:
            for old in list(islice(orders, ORDER_MEMORY // 10)):
                del orders[old]

    def _execute(self, order: Order, book: Book) -> None:
        fills = book.match(order)
        net = 0
        for maker, qty, px in fills:
            self._fill(order, maker, qty, px)
            net += qty
        if not order.done:  # a maker callback (e.g. a kill) may have finished it
            if order.leaves == 0:
                self._finish(order)
            elif order.ord_type == MARKET:
                self.cancel_order(order, "market", in_book=False)
            elif order.tif == IOC:
                self.cancel_order(order, "ioc", in_book=False)
            else:
                book.rest(order)
        # Only after the taker rested: new quotes must see it, or they could cross it.
        if net and self.liquidity is not None and order.firm != MM_FIRM:
            self.liquidity.on_trade(order.symbol, net if order.side == BUY else -net)

    def _fill(self, taker: Order, maker: Order, qty: int, px: int) -> None:
        """One match, both sides: journal, positions and a report each, maker first.

        The book has already counted it on the maker; the taker counts it
        here, one fill at a time, so that its report and record of this
        fill carry CumQty, LeavesQty, AvgPx and OrdStatus as they stand
        after it (a sweep of several makers reports each step).
        """
        self._match_seq += 1
        match_id = f"M{self._match_seq}"
        ts = self.now()
        taker.leaves -= qty
        taker.cum_qty += qty
        taker.notional += qty * px
        for order, liquidity in ((maker, "maker"), (taker, "taker")):
            status = STATUS_FILLED if order.leaves == 0 else STATUS_PARTIAL
            self.journal.append(fill_record(order, ts, qty, px, match_id, liquidity))
            per_symbol = self.positions.get(order.firm) or self.positions.setdefault(order.firm, {})
            pos = per_symbol.get(order.symbol) or per_symbol.setdefault(order.symbol, [0, 0, 0, 0])
            if order.side == BUY:
                pos[0] += qty
                pos[1] += qty
                pos[3] -= qty * px
            else:
                pos[0] -= qty
                pos[2] += qty
                pos[3] += qty * px
            (self.stats.get(order.firm) or self.stats.setdefault(order.firm, [0, 0, 0]))[1] += 1
            owner = self.sessions.get(order.session)
            if owner is not None:
                owner.day_executed += qty
            if order is maker and order.leaves == 0:
                self._finish(order)
            self._report(order, EXEC_TRADE, status, qty, px, None, ts)

    def _finish(self, order: Order) -> None:
        order.done = True
        st = self.sessions.get(order.session)
        if st is not None and st.working.get(order.cl_ord_id) is order:
            del st.working[order.cl_ord_id]

    def _working_in(self, scope: str, ident: str) -> list[Order]:
        if scope == "session":
            st = self.sessions.get(ident)
            return list(st.working.values()) if st else []
        return [o for st in self.sessions.values() for o in st.working.values() if o.firm == ident]

    def _cancel_all(self, orders: list[Order], reason: CancelReason) -> int:
        return sum(1 for o in orders if self.cancel_order(o, reason) > 0)

    def _report(
        self, order: Order, exec_type: str, status: str, last_qty: int, last_px: int | None,
        text: str | None, ts_ns: int, cl_ord_id: str | None = None, orig: str | None = None,
    ) -> None:
        st = self.sessions.get(order.session)
        owner = (st.sender or st.parked) if st is not None else None
        copies = self.dropcopies.get(order.firm)
        if owner is None and not copies:
            return
        self._exec_seq += 1
        now = utc_timestamp()
        body = exec_report_body(order, f"E{self._exec_seq}", exec_type, status, last_qty, last_px, text, cl_ord_id,
                                orig, now)
        if owner is not None:
            owner.send_body(ER, body, now)
        if copies:
            body += f"115={order.session}\x01"
            for copy in copies:
                copy.send_body(ER, body, now)
