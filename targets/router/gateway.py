"""The order gateway: one FIX initiator session to the exchange.

Owns the ClOrdID → child map, sends NewOrderSingle / OrderCancelRequest,
turns ExecutionReports into fills and child ends for the parent's strategy,
and keeps the session up: on a drop it reconnects with backoff and logs on
again *continuing* the sequence numbers (a memory store that lives as long
as the process), so the exchange resends whatever reports the drop lost
(and its cancel-on-disconnect cancels), and the router resends whatever
orders the exchange did not get. The first Logon of a process is a new day
for it (ResetSeqNumFlag=Y), and so is the next Logon after one refused over
sequence numbers (the exchange lost its store, say).

Children that were working when the session dropped are *in doubt*: fills
may have happened whose reports never arrived. They keep counting as
working (so the slicer does not re-send their quantity) until the next
logon's resend brings their reports. Those the resend did not end (the
exchange restarted without its store, a Logon that had to reset, cancel-on-
disconnect off) are asked about, one OrderStatusRequest (35=H) per child,
for the cumulative quantity and whether the order still works: the second
line. Ending them on the drop instead would re-slice quantity that had
already filled: an over-fill.

The child path is the hot path of a runaway (thousands of children a
second), so it does no logging and no validation objects per message.
"""
from __future__ import annotations

import asyncio
from typing import Any

from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag, utc_timestamp
from powerpeg.targets.fix.credentials import logon_fields
from powerpeg.targets.fix.session import FixSession, LogonFailed, connect
from powerpeg.targets.fix.store import MemoryStore

from .config import RouterConfig
from .market import Prices
from .parents import SIDE_FIX, Child, cents_to_str, end_child, record_fill
from .ports import GatewayOwner
from .stats import Stats

# OrdStatus values after which an order no longer works at the exchange.
TERMINAL_STATUS = frozenset({"2", "3", "4", "8", "C"})
EXEC_ORDER_STATUS = "I"
UNKNOWN_ORDER = "5"  # OrdRejReason: the venue never accepted (or forgot) it
# A venue that never answers a status request must not freeze the parents:
# after this long the children still in doubt are given up as lost.
STATUS_TIMEOUT_S = 5.0
KNOWN_TYPES = frozenset({MsgType.ExecutionReport, MsgType.OrderCancelReject})

# The router cannot manage working children while the session is down, so it
# asks the venue to cancel them then (cancel-on-disconnect), whatever the
# venue default; what filled before the cancel it learns after the next logon.
LOGON_FIELDS: list[tuple[int, object]] = [(8013, "Y")]

BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


async def _wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class Gateway:
    """The FIX session of one router; ``owner`` (the core) hears when it goes up and down."""

    def __init__(self, cfg: RouterConfig, owner: GatewayOwner, prices: Prices, stats: Stats, log: Any) -> None:
        self.cfg = cfg
        self.owner = owner
        self.prices = prices
        self.stats = stats
        self.log = log
        self.session: FixSession | None = None
        self.up = False
        self.children: dict[str, Child] = {}  # ClOrdID (and cancel ClOrdID) → child
        self.logons = 0
        self.unknown_reports = 0
        self.cancel_rejects = 0
        self.stopping = False
        self.in_doubt: dict[str, Child] = {}  # working when the session dropped; settled by the resend, or asked
        self.status_asked = 0
        # The FIX sequence numbers and what was sent, across reconnects (not across processes).
        self.store = MemoryStore()
        self.reset_next = True  # the next Logon starts a new day (ResetSeqNumFlag=Y)

    # -- sending (hot path) --------------------------------------------------
    def send_new(self, child: Child) -> None:
        parent = child.parent
        price = child.price_cents
        self.session.send(  # type: ignore[union-attr]  # callers check can_send()
            MsgType.NewOrderSingle,
            [
                (Tag.ClOrdID, child.cl_ord_id), (Tag.Account, self.cfg.firm), (Tag.Symbol, parent.symbol),
                (Tag.Side, SIDE_FIX[parent.side]), (Tag.OrderQty, child.qty), (Tag.OrdType, child.ord_type),
                (Tag.Price, None if price is None else cents_to_str(price)), (Tag.TimeInForce, child.tif),
                (Tag.TransactTime, utc_timestamp()),
            ],
        )
        self.children[child.cl_ord_id] = child

    def send_cancel(self, child: Child) -> bool:
        """Ask the exchange to cancel a working child (once); False if it cannot be sent."""
        if not self.up or child.done or child.cancel_id is not None:
            return False
        parent = child.parent
        cancel_id = parent.next_cl_ord_id()
        child.cancel_id = cancel_id
        self.children[cancel_id] = child
        self.session.send(  # type: ignore[union-attr]
            MsgType.OrderCancelRequest,
            [
                (Tag.OrigClOrdID, child.cl_ord_id), (Tag.ClOrdID, cancel_id), (Tag.Account, self.cfg.firm),
                (Tag.Symbol, parent.symbol), (Tag.Side, SIDE_FIX[parent.side]), (Tag.OrderQty, child.qty),
                (Tag.TransactTime, utc_timestamp()),
            ],
        )
        return True

    # -- SessionApp ----------------------------------------------------------
    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type == MsgType.ExecutionReport:
            self._execution(msg.fields)
        else:  # OrderCancelReject: the child already ended; its final report settles it
            self.cancel_rejects += 1

    def _execution(self, f: dict[int, str]) -> None:
        children = self.children
        child = children.get(f.get(Tag.ClOrdID, ""))
        if child is None:
            child = children.get(f.get(Tag.OrigClOrdID, ""))
        if child is None or child.done:
            self.unknown_reports += 1
            return
        exec_type = f[Tag.ExecType]
        if exec_type == EXEC_ORDER_STATUS:
            self._status(child, f)
            return
        parent = child.parent
        filled = exec_type == "F"
        if filled:
            qty = int(f[Tag.LastQty])
            if qty > 0:
                record_fill(child, qty)
                stats = self.stats
                stats.fills += 1
                stats.filled_qty += qty
                px = f.get(Tag.LastPx)
                if px:
                    self.prices.last[parent.symbol] = int(round(float(px) * 100))
        status = f[Tag.OrdStatus]
        if status in TERMINAL_STATUS:
            children.pop(child.cl_ord_id, None)
            if child.cancel_id is not None:
                children.pop(child.cancel_id, None)
            end_child(child)
            reject = None
            if status == "8":
                reject = f.get(Tag.Text) or "rejected by exchange"
                self.stats.child_rejects += 1
            parent.strategy.on_child_end(parent, child, reject)
        elif filled:
            parent.strategy.on_fill(parent, child)

    def _status(self, child: Child, f: dict[int, str]) -> None:
        """An answer to our OrderStatusRequest: catch up on fills, end the child if it ended."""
        self.in_doubt.pop(child.cl_ord_id, None)
        parent = child.parent
        status = f[Tag.OrdStatus]
        missed = int(f.get(Tag.CumQty) or 0) - child.filled
        if missed > 0:
            record_fill(child, missed)
            stats = self.stats
            stats.fills += 1
            stats.filled_qty += missed
            self.log.warning("fills_recovered", cl_ord_id=child.cl_ord_id, qty=missed, status=status)
        if status in TERMINAL_STATUS:
            self.children.pop(child.cl_ord_id, None)
            end_child(child)
            # Unknown at the venue: it never arrived, so nothing was rejected.
            unknown = status == "8" and f.get(Tag.OrdRejReason) == UNKNOWN_ORDER
            reject = None if unknown or status != "8" else (f.get(Tag.Text) or "rejected by exchange")
            if unknown and parent.active:
                parent.strategy.pump(parent)
            else:
                parent.strategy.on_child_end(parent, child, reject)
            return
        child.leaves = int(f.get(Tag.LeavesQty) or child.leaves)
        if not parent.active or self.owner.halted:
            self.send_cancel(child)  # halted while we were away
        elif missed > 0:
            parent.strategy.on_fill(parent, child)

    def _ask_status(self) -> None:
        """After a logon and its resend: one OrderStatusRequest per child still in doubt."""
        session = self.session
        for cl_ord_id in [k for k, child in self.in_doubt.items() if child.done]:
            del self.in_doubt[cl_ord_id]
        if session is None or not self.in_doubt:
            return
        for child in self.in_doubt.values():
            parent = child.parent
            self.children[child.cl_ord_id] = child
            session.send(MsgType.OrderStatusRequest, [
                (Tag.ClOrdID, child.cl_ord_id), (Tag.Symbol, parent.symbol), (Tag.Side, SIDE_FIX[parent.side]),
            ])
        self.status_asked += len(self.in_doubt)
        self.log.info("status_requested", children=len(self.in_doubt))
        asyncio.get_running_loop().call_later(STATUS_TIMEOUT_S, self._give_up_doubt, session)

    def _give_up_doubt(self, session: FixSession) -> None:
        if session is not self.session or not self.in_doubt:
            return
        lost = list(self.in_doubt.values())
        self.in_doubt.clear()
        self.log.warning("status_unanswered", children=len(lost), timeout_s=STATUS_TIMEOUT_S)
        for child in lost:
            self.children.pop(child.cl_ord_id, None)
            end_child(child)
            if child.parent.active:
                child.parent.strategy.pump(child.parent)

    def _cancel_unwanted(self) -> None:
        """After a logon: cancel what works on for a parent that ended, or for a router halted while the
        session was down (the cancels it wanted then could not be sent)."""
        for child in {id(c): c for c in self.children.values()}.values():
            if not child.done and (not child.parent.active or self.owner.halted):
                self.send_cancel(child)

    def _new_day(self) -> None:
        """A Logon with ResetSeqNumFlag=Y: nothing of the old sequence comes back by resend, a cancel
        in flight at the drop included (sent again if still needed)."""
        for child in self.in_doubt.values():
            if child.cancel_id is not None:
                self.children.pop(child.cancel_id, None)
                child.cancel_id = None

    def on_close(self, session: FixSession, graceful: bool) -> None:
        if session is not self.session:
            return  # a session that never became ours (failed logon)
        self.session = None
        self.up = False
        # The children stay mapped: their reports come by resend after the next Logon.
        for child in self.children.values():
            if not child.done:
                self.in_doubt[child.cl_ord_id] = child
        if not self.stopping:
            self.log.warning("fix_down", graceful=graceful, in_doubt=len(self.in_doubt))
        self.owner.on_fix_down()

    # -- connection management ----------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Keep one logged-on session until ``stop`` is set."""
        cfg = self.cfg
        backoff = BACKOFF_FIRST_S
        failures = 0
        while not stop.is_set():
            reset = self.reset_next
            try:
                session = await connect(
                    self, cfg.exchange_host, cfg.exchange_port, comp_id=cfg.comp_id,
                    target_comp_id=cfg.exchange_comp_id, heartbeat_s=cfg.fix_heartbeat_s,
                    logon_fields=LOGON_FIELDS + logon_fields(cfg.comp_id, cfg.fix_password), timeout=5.0,
                    log=self.log, known_types=KNOWN_TYPES,
                    store=self.store, reset=reset,
                )
            except (OSError, TimeoutError) as exc:
                if isinstance(exc, LogonFailed) and exc.sequence:
                    self.reset_next = True  # the sequences disagree: only a new day gets back in
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    self.log.warning("fix_connect_failed", exchange=f"{cfg.exchange_host}:{cfg.exchange_port}",
                                     error=str(exc) or type(exc).__name__, attempts=failures)
                await _wait_any(stop, timeout=backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if session.closed:
                continue
            failures = 0
            backoff = BACKOFF_FIRST_S
            self.reset_next = False
            self.session = session
            self.logons += 1
            if reset:
                self._new_day()
            self.log.info("fix_logged_on", exchange=f"{cfg.exchange_host}:{cfg.exchange_port}",
                          comp_id=cfg.comp_id, logons=self.logons, reset=reset, in_doubt=len(self.in_doubt))
            # The resend first (what the drop lost), then new children: the router's view is whole again.
            await _wait_any(session.in_sync_event, session.closed_event, stop, timeout=STATUS_TIMEOUT_S)
            if session.closed or stop.is_set():
                continue
            if not session.in_sync_event.is_set():
                self.log.warning("fix_resend_incomplete", timeout_s=STATUS_TIMEOUT_S)
            self.up = True
            self._ask_status()
            self._cancel_unwanted()
            self.owner.on_fix_up()
            await _wait_any(session.closed_event, stop)
        await self.close()

    async def close(self) -> None:
        """Log out (SIGTERM path) and wait briefly for the session to end."""
        self.stopping = True
        session = self.session
        if session is not None and not session.closed:
            session.logout("router stopping")
            await _wait_any(session.closed_event, timeout=1.0)
