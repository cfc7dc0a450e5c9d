"""The order gateway: one FIX initiator session to the exchange.

Owns the ClOrdID → child map, sends NewOrderSingle / OrderCancelRequest,
turns ExecutionReports into fills and child ends for the parent's strategy,
and keeps the session up: on a drop it reconnects with backoff as a new
session (sequence numbers reset, 141=Y on Logon).

The child path is the hot path of a runaway (thousands of children a
second), so it does no logging and no validation objects per message.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from targets.fix.codec import FixMessage, MsgType, Tag, utc_timestamp
from targets.fix.session import FixSession, connect

from .config import RouterConfig
from .parents import SIDE_FIX, Child, cents_to_str, end_child, record_fill

if TYPE_CHECKING:
    from .engine import Router

# OrdStatus values after which an order no longer works at the exchange.
TERMINAL_STATUS = frozenset({"2", "3", "4", "8", "C"})
KNOWN_TYPES = frozenset({MsgType.ExecutionReport, MsgType.OrderCancelReject})

# The router forgets working children when the session drops, so it asks the
# venue to cancel them then (cancel-on-disconnect), whatever the venue default.
LOGON_FIELDS: list[tuple[int, object]] = [(Tag.ResetSeqNumFlag, "Y"), (8013, "Y")]

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
    def __init__(self, cfg: RouterConfig, router: "Router", log: Any) -> None:
        self.cfg = cfg
        self.router = router
        self.log = log
        self.session: FixSession | None = None
        self.up = False
        self.children: dict[str, Child] = {}  # ClOrdID (and cancel ClOrdID) → child
        self.logons = 0
        self.unknown_reports = 0
        self.cancel_rejects = 0
        self.stopping = False

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
        parent = child.parent
        filled = f[Tag.ExecType] == "F"
        if filled:
            qty = int(f[Tag.LastQty])
            if qty > 0:
                record_fill(child, qty)
                stats = self.router.stats
                stats.fills += 1
                stats.filled_qty += qty
                px = f.get(Tag.LastPx)
                if px:
                    self.router.prices.last[parent.symbol] = int(round(float(px) * 100))
        status = f[Tag.OrdStatus]
        if status in TERMINAL_STATUS:
            children.pop(child.cl_ord_id, None)
            if child.cancel_id is not None:
                children.pop(child.cancel_id, None)
            end_child(child)
            reject = None
            if status == "8":
                reject = f.get(Tag.Text) or "rejected by exchange"
                self.router.stats.child_rejects += 1
            parent.strategy.on_child_end(parent, child, reject)
        elif filled:
            parent.strategy.on_fill(parent, child)

    def on_close(self, session: FixSession, graceful: bool) -> None:
        if session is not self.session:
            return  # a session that never became ours (failed logon)
        self.session = None
        self.up = False
        lost = {id(c): c for c in self.children.values()}
        self.children.clear()
        for child in lost.values():
            end_child(child)  # cancel-on-disconnect took them off the book
        if not self.stopping:
            self.log.warning("fix_down", graceful=graceful, lost_children=len(lost))
        self.router.on_fix_down()

    # -- connection management ----------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Keep one logged-on session until ``stop`` is set."""
        cfg = self.cfg
        backoff = BACKOFF_FIRST_S
        failures = 0
        while not stop.is_set():
            try:
                session = await connect(
                    self, cfg.exchange_host, cfg.exchange_port, comp_id=cfg.comp_id,
                    target_comp_id=cfg.exchange_comp_id, heartbeat_s=cfg.fix_heartbeat_s,
                    logon_fields=LOGON_FIELDS, timeout=5.0, log=self.log, known_types=KNOWN_TYPES,
                )
            except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
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
            self.session = session
            self.up = True
            self.logons += 1
            self.log.info("fix_logged_on", exchange=f"{cfg.exchange_host}:{cfg.exchange_port}",
                          comp_id=cfg.comp_id, logons=self.logons)
            self.router.on_fix_up()
            await _wait_any(session.closed_event, stop)
        await self.close()

    async def close(self) -> None:
        """Log out (SIGTERM path) and wait briefly for the session to end."""
        self.stopping = True
        session = self.session
        if session is not None and not session.closed:
            session.logout("router stopping")
            await _wait_any(session.closed_event, timeout=1.0)
