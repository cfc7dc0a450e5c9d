"""What the drop copy says the firm has done: positions, notional, rates,
per-router activity and parent-vs-child reconciliation.

Pure state, no I/O: :meth:`Book.apply` takes one ExecutionReport (already
decoded to :class:`Execution`) and updates everything in O(1) amortised, so
the monitor can evaluate its limits on every drop-copy message. Notional is
kept as running integer-cent totals: a fill in one symbol changes only that
symbol's contribution, so no sum over the book is ever needed.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from targets.fix.codec import FixMessage, Tag

WINDOW_NS = 1_000_000_000

# ExecType (150) values the exchange sends.
EXEC_NEW = "0"
EXEC_TRADE = "F"
EXEC_CANCELED = "4"
EXEC_REJECTED = "8"
ORDER_EVENTS = frozenset({EXEC_NEW, EXEC_REJECTED})


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
    last_qty: int = 0
    last_px_cents: int = 0
    cum_qty: int = 0

    @property
    def parent_id(self) -> str:
        return parent_of(self.cl_ord_id)

    @classmethod
    def from_fix(cls, msg: FixMessage) -> Execution:
        fields = msg.fields
        side_txt = fields.get(Tag.Side)
        if side_txt not in ("1", "2"):
            raise BadExecution(f"Side(54) {side_txt!r} is not 1 or 2")
        exec_type = fields.get(Tag.ExecType, "")
        try:
            qty = int(fields.get(Tag.OrderQty) or 0)
            cum_qty = int(fields.get(Tag.CumQty) or 0)
            last_qty = int(fields.get(Tag.LastQty) or 0) if exec_type == EXEC_TRADE else 0
            last_px = price_to_cents(fields[Tag.LastPx]) if exec_type == EXEC_TRADE else 0
        except KeyError as exc:
            raise BadExecution(f"trade without LastPx({exc.args[0]})") from None
        except ValueError as exc:
            raise BadExecution(f"bad quantity or price: {exc}") from None
        if exec_type == EXEC_TRADE and (last_qty <= 0 or last_px <= 0):
            raise BadExecution("trade without positive LastQty(32) and LastPx(31)")
        return cls(
            exec_type=exec_type,
            router=fields.get(115) or fields.get(Tag.SenderCompID, "?"),
            firm=fields.get(Tag.Account, ""),
            cl_ord_id=fields.get(Tag.ClOrdID, ""),
            exec_id=fields.get(Tag.ExecID, ""),
            symbol=fields.get(Tag.Symbol, ""),
            side=1 if side_txt == "1" else -1,
            qty=qty,
            last_qty=last_qty,
            last_px_cents=last_px,
            cum_qty=cum_qty,
        )


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


@dataclass(slots=True)
class RouterActivity:
    orders: int = 0
    fills: int = 0
    rejects: int = 0
    cancels: int = 0
    filled_shares: int = 0
    last_seen_ns: int = 0


class RollingCount:
    """Events in the last second, from a deque of timestamps."""

    __slots__ = ("_times", "window_ns")

    def __init__(self, window_ns: int = WINDOW_NS) -> None:
        self._times: deque[int] = deque()
        self.window_ns = window_ns

    def add(self, now_ns: int) -> None:
        self._times.append(now_ns)

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
    parents: dict[str, Parent] = field(default_factory=dict)
    # Executions seen for parents not (yet) registered: parent_id -> [shares, first_seen_ns].
    unregistered: dict[str, list[int]] = field(default_factory=dict)
    # Child-order commitment of parents not (yet) registered: parent_id -> shares.
    early_committed: dict[str, int] = field(default_factory=dict)
    overfilled: set[str] = field(default_factory=set)
    overcommitted: set[str] = field(default_factory=set)
    messages: int = 0
    executions: int = 0

    # -- drop copy ----------------------------------------------------------
    def apply(self, ex: Execution, now_ns: int) -> None:
        self.messages += 1
        activity = self.routers.get(ex.router)
        if activity is None:
            activity = self.routers[ex.router] = RouterActivity()
        activity.last_seen_ns = now_ns
        kind = ex.exec_type
        if kind in ORDER_EVENTS:
            self.child_orders.add(now_ns)
            activity.orders += 1
            if kind == EXEC_REJECTED:
                activity.rejects += 1
            else:
                self._commit(ex.parent_id, ex.qty)
        elif kind == EXEC_CANCELED:
            activity.cancels += 1
            self._commit(ex.parent_id, -max(0, ex.qty - ex.cum_qty))
        elif kind == EXEC_TRADE:
            self.executions += 1
            self.fills.add(now_ns)
            activity.fills += 1
            activity.filled_shares += ex.last_qty
            self._fill(ex)
            self._reconcile(ex, now_ns)

    def _fill(self, ex: Execution) -> None:
        pos = self.positions.get(ex.symbol)
        if pos is None:
            pos = self.positions[ex.symbol] = Position()
        self.gross_cents -= abs(pos.shares) * pos.last_px_cents
        self.net_cents -= pos.shares * pos.last_px_cents
        pos.fill(ex.side * ex.last_qty, ex.last_px_cents)
        self.gross_cents += abs(pos.shares) * pos.last_px_cents
        self.net_cents += pos.shares * pos.last_px_cents

    def _commit(self, parent_id: str, shares: int) -> None:
        parent = self.parents.get(parent_id)
        if parent is None:
            self.early_committed[parent_id] = self.early_committed.get(parent_id, 0) + shares
            return
        parent.committed += shares
        if parent.committed > parent.qty:
            self.overcommitted.add(parent_id)

    def _reconcile(self, ex: Execution, now_ns: int) -> None:
        parent = self.parents.get(ex.parent_id)
        if parent is not None:
            parent.executed += ex.last_qty
            if parent.executed > parent.qty:
                self.overfilled.add(parent.parent_id)
            return
        seen = self.unregistered.get(ex.parent_id)
        if seen is None:
            self.unregistered[ex.parent_id] = [ex.last_qty, now_ns]
        else:
            seen[0] += ex.last_qty

    # -- order entry ----------------------------------------------------------
    def register(self, parent: Parent) -> Parent:
        """Register a parent; executions that arrived before it are folded in."""
        early = self.unregistered.pop(parent.parent_id, None)
        if early is not None:
            parent.executed += early[0]
        parent.committed += self.early_committed.pop(parent.parent_id, 0)
        self.parents[parent.parent_id] = parent
        if parent.committed > parent.qty:
            self.overcommitted.add(parent.parent_id)
        if parent.executed > parent.qty:
            self.overfilled.add(parent.parent_id)
        return parent

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
                "over_filled": len(self.overfilled),
                "over_filled_ids": sorted(self.overfilled)[:100],
                "over_committed": len(self.overcommitted),
                "unregistered": len(self.unregistered),
            },
            "messages": self.messages,
            "executions": self.executions,
        }


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
