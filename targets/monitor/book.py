"""What the drop copy says the firm has done: positions, notional, rates,
per-router activity and parent-vs-child reconciliation.

Pure state, no I/O: :meth:`Book.apply` takes one ExecutionReport (already
decoded to :class:`Execution`) and updates everything in O(1) amortised, so
the monitor can evaluate its limits on every drop-copy message. Notional is
kept as running integer-cent totals: a fill in one symbol changes only that
symbol's contribution, so no sum over the book is ever needed.

Bounded for a whole trading day (issue 11): a parent with no child shares
working and no drop-copy activity for ``retain_ns`` (default 60 s) is retired
(forgotten; counted in ``retired``). A child of a parent retired that long ago
is then an unregistered execution, which pages after its grace: still caught,
by another check. Parents that never saw a child, executions waiting for a
registration and the sets of flagged parents are capped, the oldest dropped
and counted. Retirement is a rotating sweep of a few parents per message
(``SWEEP_EVERY``), so no message pays for a scan of the book.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from powerpeg.targets.fix.codec import FixMessage, Tag

WINDOW_NS = 1_000_000_000

# ExecType (150) values the exchange sends.
EXEC_NEW = "0"
EXEC_TRADE = "F"
EXEC_CANCELED = "4"
EXEC_REJECTED = "8"
ORDER_EVENTS = frozenset({EXEC_NEW, EXEC_REJECTED})

RETAIN_NS = 60 * WINDOW_NS  # an idle parent with nothing working is forgotten after this
SWEEP_EVERY = 1024  # messages between two retirement sweeps
SWEEP_BUDGET = 1024  # parents one sweep looks at: one per message, so it keeps up (a parent has one report or more)
MAX_PARENTS = 200_000  # registered parents kept at most (the oldest idle ones dropped beyond)
MAX_PENDING = 50_000  # parents with executions or child orders but no registration, kept at most
MAX_FLAGGED = 10_000  # over-filled / over-committed parent ids kept (all are counted)


class BadExecution(ValueError):
    """An ExecutionReport the monitor cannot account for (names the tag)."""


def price_to_cents(text: str) -> int:
    return round(float(text) * 100)


def parent_of(cl_ord_id: str) -> str:
    return cl_ord_id.rsplit(".", 1)[0]


@dataclass(slots=True)
class Execution:
    """The part of an ExecutionReport the monitor reasons about."""

    exec_type: str
    router: str
    firm: str
    cl_ord_id: str
    exec_id: str
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: int
    last_qty: int
    last_px_cents: int
    cum_qty: int
    parent_id: str  # the ClOrdID up to its last '.': computed once, read by every check

    @classmethod
    def from_fix(cls, msg: FixMessage) -> Execution:
        """Decode one drop-copy ER (the hot path: positional arguments, one dict lookup per tag)."""
        get = msg.fields.get
        side_txt = get(54)  # Side
        if side_txt == "1":
            side = 1
        elif side_txt == "2":
            side = -1
        else:
            raise BadExecution(f"Side(54) {side_txt!r} is not 1 or 2")
        exec_type = get(150, "")  # ExecType
        try:
            qty = int(get(38) or 0)  # OrderQty
            cum_qty = int(get(14) or 0)  # CumQty
            if exec_type == EXEC_TRADE:
                last_qty = int(get(32) or 0)  # LastQty
                px = get(31)  # LastPx
                if px is None:
                    raise BadExecution(f"trade without LastPx({Tag.LastPx})")
                last_px = price_to_cents(px)
                if last_qty <= 0 or last_px <= 0:
                    raise BadExecution("trade without positive LastQty(32) and LastPx(31)")
            else:
                last_qty = last_px = 0
        except ValueError as exc:
            if isinstance(exc, BadExecution):
                raise
            raise BadExecution(f"bad quantity or price: {exc}") from None
        cl_ord_id = get(11, "")  # ClOrdID
        return cls(exec_type, get(115) or get(49, "?"), get(1, ""), cl_ord_id, get(17, ""), get(55, ""),
                   side, qty, last_qty, last_px, cum_qty, cl_ord_id.rsplit(".", 1)[0])


@dataclass(slots=True)
class Position:
    shares: int = 0
    avg_cost_cents: float = 0.0
    last_px_cents: int = 0
    bought: int = 0
    sold: int = 0

    def fill(self, signed_qty: int, px_cents: int) -> None:
        """Average cost follows the open position: adds average in, reductions keep it, flips restart it."""
        old = self.shares
        new = old + signed_qty
        if old == 0 or (old > 0) == (signed_qty > 0):
            self.avg_cost_cents = (self.avg_cost_cents * abs(old) + px_cents * abs(signed_qty)) / abs(new)
        elif new == 0:
            self.avg_cost_cents = 0.0
        elif (new > 0) != (old > 0):
            self.avg_cost_cents = float(px_cents)
        self.shares = new
        self.last_px_cents = px_cents
        if signed_qty > 0:
            self.bought += signed_qty
        else:
            self.sold -= signed_qty


OVERFILLED = 1
OVERCOMMITTED = 2


@dataclass(slots=True)
class Parent:
    parent_id: str
    router: str
    symbol: str
    side: str
    qty: int
    registered_ns: int
    executed: int = 0
    # shares in child orders: accepted child qty less what cancels gave back.
    # Above the parent's qty the router has asked for more than it was given,
    # whether or not it has filled yet: the earliest sign of a runaway.
    committed: int = 0
    last_ns: int = -1  # monitor time of its last drop-copy report; -1: none yet
    flags: int = 0  # OVERFILLED | OVERCOMMITTED, each counted once per parent


@dataclass(slots=True)
class RouterActivity:
    orders: int = 0
    fills: int = 0
    rejects: int = 0
    cancels: int = 0
    filled_shares: int = 0
    last_seen_ns: int = 0


class RollingCount:
    """Events in the last second, from a deque of timestamps.

    Trimmed as events are added, not only when counted: with its limit off
    nobody counts, and a deque trimmed only by a read (a /metrics scrape)
    grew with every report of the day (issue 11's 3 MiB/min)."""

    __slots__ = ("_times", "window_ns")

    def __init__(self, window_ns: int = WINDOW_NS) -> None:
        self._times: deque[int] = deque()
        self.window_ns = window_ns

    def add(self, now_ns: int) -> None:
        times = self._times
        times.append(now_ns)
        horizon = now_ns - self.window_ns
        while times[0] <= horizon:
            times.popleft()

    def count(self, now_ns: int) -> int:
        times, horizon = self._times, now_ns - self.window_ns
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)


@dataclass
class Book:
    positions: dict[str, Position] = field(default_factory=dict)
    gross_cents: int = 0
    net_cents: int = 0
    child_orders: RollingCount = field(default_factory=RollingCount)
    fills: RollingCount = field(default_factory=RollingCount)
    routers: dict[str, RouterActivity] = field(default_factory=dict)
    # registration order, rotated by the retirement sweep (O(1) at both ends)
    parents: OrderedDict[str, Parent] = field(default_factory=OrderedDict)
    # Executions seen for parents not (yet) registered: parent_id -> [shares, first_seen_ns].
    unregistered: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)
    # Child-order commitment of parents not (yet) registered: parent_id -> shares.
    early_committed: OrderedDict[str, int] = field(default_factory=OrderedDict)
    overfilled: set[str] = field(default_factory=set)  # the first MAX_FLAGGED ids
    overcommitted: set[str] = field(default_factory=set)
    overfilled_count: int = 0
    overcommitted_count: int = 0
    messages: int = 0
    executions: int = 0
    retain_ns: int = RETAIN_NS
    retired: int = 0  # parents forgotten after retain_ns idle with nothing working
    dropped: dict[str, int] = field(default_factory=lambda: {"parents": 0, "unregistered": 0, "early_committed": 0})

    # -- drop copy ----------------------------------------------------------
    def apply(self, ex: Execution, now_ns: int) -> None:
        self.messages += 1
        activity = self.routers.get(ex.router)
        if activity is None:
            activity = self.routers[ex.router] = RouterActivity()
        activity.last_seen_ns = now_ns
        kind = ex.exec_type
        if kind == EXEC_TRADE:
            self.executions += 1
            self.fills.add(now_ns)
            activity.fills += 1
            activity.filled_shares += ex.last_qty
            self._fill(ex)
            self._reconcile(ex, now_ns)
        elif kind in ORDER_EVENTS:
            self.child_orders.add(now_ns)
            activity.orders += 1
            if kind == EXEC_REJECTED:
                activity.rejects += 1
                parent = self.parents.get(ex.parent_id)
                if parent is not None:
                    parent.last_ns = now_ns
            else:
                self._commit(ex.parent_id, ex.qty, now_ns)
        elif kind == EXEC_CANCELED:
            activity.cancels += 1
            self._commit(ex.parent_id, -max(0, ex.qty - ex.cum_qty), now_ns)
        if not self.messages % SWEEP_EVERY:
            self.sweep(now_ns, SWEEP_BUDGET)

    def _fill(self, ex: Execution) -> None:
        pos = self.positions.get(ex.symbol)
        if pos is None:
            pos = self.positions[ex.symbol] = Position()
        self.gross_cents -= abs(pos.shares) * pos.last_px_cents
        self.net_cents -= pos.shares * pos.last_px_cents
        pos.fill(ex.side * ex.last_qty, ex.last_px_cents)
        self.gross_cents += abs(pos.shares) * pos.last_px_cents
        self.net_cents += pos.shares * pos.last_px_cents

    def _commit(self, parent_id: str, shares: int, now_ns: int) -> None:
        parent = self.parents.get(parent_id)
        if parent is None:
            early = self.early_committed
            if parent_id not in early and len(early) >= MAX_PENDING:
                early.popitem(last=False)
                self.dropped["early_committed"] += 1
            early[parent_id] = early.get(parent_id, 0) + shares
            return
        parent.last_ns = now_ns
        parent.committed += shares
        if parent.committed > parent.qty:
            self._flag_overcommitted(parent)

    def _reconcile(self, ex: Execution, now_ns: int) -> None:
        parent = self.parents.get(ex.parent_id)
        if parent is not None:
            parent.last_ns = now_ns
            parent.executed += ex.last_qty
            if parent.executed > parent.qty:
                self._flag_overfilled(parent)
            return
        seen = self.unregistered.get(ex.parent_id)
        if seen is None:
            if len(self.unregistered) >= MAX_PENDING:
                # the oldest goes; it has had its grace (and its page) long since
                self.unregistered.popitem(last=False)
                self.dropped["unregistered"] += 1
            self.unregistered[ex.parent_id] = [ex.last_qty, now_ns]
        else:
            seen[0] += ex.last_qty

    def _flag_overfilled(self, parent: Parent) -> None:
        if not parent.flags & OVERFILLED:
            parent.flags |= OVERFILLED
            self.overfilled_count += 1
            if len(self.overfilled) < MAX_FLAGGED:
                self.overfilled.add(parent.parent_id)

    def _flag_overcommitted(self, parent: Parent) -> None:
        if not parent.flags & OVERCOMMITTED:
            parent.flags |= OVERCOMMITTED
            self.overcommitted_count += 1
            if len(self.overcommitted) < MAX_FLAGGED:
                self.overcommitted.add(parent.parent_id)

    # -- order entry ----------------------------------------------------------
    def register(self, parent: Parent) -> Parent:
        """Register a parent; executions that arrived before it are folded in."""
        early = self.unregistered.pop(parent.parent_id, None)
        if early is not None:
            parent.executed += early[0]
            parent.last_ns = early[1]  # active since: its retention runs from there
        parent.committed += self.early_committed.pop(parent.parent_id, 0)
        parents = self.parents
        if len(parents) >= MAX_PARENTS:
            self._drop_oldest_parent()
        parents[parent.parent_id] = parent
        if parent.committed > parent.qty:
            self._flag_overcommitted(parent)
        if parent.executed > parent.qty:
            self._flag_overfilled(parent)
        return parent

    # -- bounded memory -------------------------------------------------------
    def retirable(self, parent: Parent, horizon_ns: int) -> bool:
        """Nothing working (child shares all filled or given back) and quiet since ``horizon_ns``."""
        return 0 <= parent.last_ns <= horizon_ns and parent.committed <= parent.executed

    def sweep(self, now_ns: int, budget: int) -> int:
        """Look at up to ``budget`` parents from the oldest: retire the retirable, send the others
        to the back (a second chance after the rest). Returns how many were retired."""
        parents = self.parents
        horizon = now_ns - self.retain_ns
        retired = 0
        for _ in range(min(budget, len(parents))):
            parent_id, parent = parents.popitem(last=False)
            if self.retirable(parent, horizon):
                retired += 1
            else:
                parents[parent_id] = parent
        self.retired += retired
        return retired

    def _drop_oldest_parent(self) -> None:
        """Over MAX_PARENTS: the oldest parent with nothing working goes (else the oldest)."""
        parents = self.parents
        for _ in range(min(64, len(parents))):
            parent_id, parent = parents.popitem(last=False)
            if parent.committed <= parent.executed:
                self.dropped["parents"] += 1
                return
            parents[parent_id] = parent
        parents.popitem(last=False)
        self.dropped["parents"] += 1

    # -- reading ----------------------------------------------------------------
    def excess(self, parent_id: str) -> int:
        parent = self.parents.get(parent_id)
        return 0 if parent is None else parent.executed - parent.qty

    def oldest_unregistered(self) -> tuple[str, int, int] | None:
        """(parent_id, shares, first_seen_ns) of the longest-waiting unregistered parent."""
        for parent_id, (shares, first_ns) in self.unregistered.items():
            return parent_id, shares, first_ns
        return None

    @property
    def gross_usd(self) -> float:
        return self.gross_cents / 100

    @property
    def net_usd(self) -> float:
        return self.net_cents / 100

    def snapshot(self, now_ns: int) -> dict[str, Any]:
        return {
            "positions": {
                sym: {
                    "position": p.shares, "avg_cost": round(p.avg_cost_cents / 100, 4),
                    "last_px": p.last_px_cents / 100, "bought": p.bought, "sold": p.sold,
                }
                for sym, p in self.positions.items()
            },
            "notional": {"gross_usd": self.gross_usd, "net_usd": self.net_usd},
            "rates": {"child_orders_per_s": self.child_orders.count(now_ns), "fills_per_s": self.fills.count(now_ns)},
            "routers": {name: vars_of(a) for name, a in self.routers.items()},
            "parents": {
                "registered": len(self.parents),
                "over_filled": self.overfilled_count,
                "over_filled_ids": sorted(self.overfilled)[:100],
                "over_committed": self.overcommitted_count,
                "unregistered": len(self.unregistered),
                "retired": self.retired,
                "dropped": dict(self.dropped),
            },
            "messages": self.messages,
            "executions": self.executions,
        }


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
