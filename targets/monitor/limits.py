"""Risk limits and the checks that compare the book against them.

One small check per limit, each O(1): it looks only at what the current
message could have changed (the symbol it filled, the parent it belongs to,
the running notional totals, the rolling counters), so all of them run on
every drop-copy message without a polling delay.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from .book import EXEC_NEW, EXEC_TRADE, ORDER_EVENTS, Book, Execution

RISK_KINDS = frozenset({
    "gross_notional", "net_notional", "position", "child_rate", "fill_rate", "overfill", "overcommit", "unregistered",
})


@dataclass
class Limits:
    """None switches a limit off; ``overfill_shares`` is always on (default 0)."""

    max_gross_notional: float | None = None
    max_net_notional: float | None = None
    max_position: int | None = None
    max_child_rate: int | None = None
    max_fill_rate: int | None = None
    overfill_shares: int = 0
    unregistered_grace_ms: int | None = 250

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class Violation:
    kind: str
    value: float
    limit: float
    text: str
    router: str | None = None
    parent_id: str | None = None
    symbol: str | None = None
    cl_ord_id: str | None = None
    exec_id: str | None = None


Check = Callable[[Limits, Book, Execution, int], "Violation | None"]


def _usd(cents_or_usd: float) -> str:
    return f"${cents_or_usd:,.0f}"


def _where(ex: Execution) -> str:
    return f"router {ex.router}, parent {ex.parent_id}, {ex.symbol}"


def _violation(kind: str, value: float, limit: float, text: str, ex: Execution) -> Violation:
    return Violation(kind, value, limit, text, router=ex.router, parent_id=ex.parent_id,
                     symbol=ex.symbol, cl_ord_id=ex.cl_ord_id, exec_id=ex.exec_id)


def check_gross_notional(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_gross_notional
    if limit is None or ex.exec_type != EXEC_TRADE or book.gross_usd <= limit:
        return None
    text = f"gross notional {_usd(book.gross_usd)} over limit {_usd(limit)} (last fill: {_where(ex)})"
    return _violation("gross_notional", book.gross_usd, limit, text, ex)


def check_net_notional(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_net_notional
    if limit is None or ex.exec_type != EXEC_TRADE or abs(book.net_usd) <= limit:
        return None
    text = f"net notional {_usd(book.net_usd)} over limit {_usd(limit)} (last fill: {_where(ex)})"
    return _violation("net_notional", book.net_usd, limit, text, ex)


def check_position(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_position
    if limit is None or ex.exec_type != EXEC_TRADE:
        return None
    shares = book.positions[ex.symbol].shares
    if abs(shares) <= limit:
        return None
    text = f"position {shares} shares in {ex.symbol} over limit {limit} (last fill: {_where(ex)})"
    return _violation("position", shares, limit, text, ex)


def check_child_rate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_child_rate
    if limit is None or ex.exec_type not in ORDER_EVENTS:
        return None
    rate = book.child_orders.count(now_ns)
    if rate <= limit:
        return None
    text = f"child order rate {rate}/s over limit {limit}/s (last order: {_where(ex)})"
    return _violation("child_rate", rate, limit, text, ex)


def check_fill_rate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_fill_rate
    if limit is None or ex.exec_type != EXEC_TRADE:
        return None
    rate = book.fills.count(now_ns)
    if rate <= limit:
        return None
    text = f"fill rate {rate}/s over limit {limit}/s (last fill: {_where(ex)})"
    return _violation("fill_rate", rate, limit, text, ex)


def check_overfill(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    if ex.exec_type != EXEC_TRADE:
        return None
    parent = book.parents.get(ex.parent_id)
    if parent is None or parent.executed - parent.qty <= limits.overfill_shares:
        return None
    excess = parent.executed - parent.qty
    text = (f"over-fill: parent {parent.parent_id} ({parent.router}, {parent.symbol} {parent.side} {parent.qty}) "
            f"executed {parent.executed} shares, {excess} beyond its quantity (allowed {limits.overfill_shares}); "
            f"child {ex.cl_ord_id} via {ex.router}")
    return _violation("overfill", excess, limits.overfill_shares, text, ex)


def check_overcommit(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    """Child orders beyond the parent's quantity, filled or not (same tolerance as over-fill)."""
    if ex.exec_type != EXEC_NEW:
        return None
    parent = book.parents.get(ex.parent_id)
    if parent is None or parent.committed - parent.qty <= limits.overfill_shares:
        return None
    excess = parent.committed - parent.qty
    text = (f"over-commit: parent {parent.parent_id} ({parent.router}, {parent.symbol} {parent.side} {parent.qty}) "
            f"has {parent.committed} shares in child orders, {excess} beyond its quantity "
            f"(allowed {limits.overfill_shares}); child {ex.cl_ord_id} via {ex.router}")
    return _violation("overcommit", excess, limits.overfill_shares, text, ex)


def check_unregistered(limits: Limits, book: Book, ex: Execution | None, now_ns: int) -> Violation | None:
    """Executions for a parent nobody registered, still unregistered after the grace period."""
    grace = limits.unregistered_grace_ms
    oldest = book.oldest_unregistered()
    if grace is None or oldest is None:
        return None
    parent_id, shares, first_ns = oldest
    waited_ms = (now_ns - first_ns) / 1e6
    if waited_ms < grace:
        return None
    text = (f"unreconciled executions: {shares} shares for parent {parent_id} never registered "
            f"({waited_ms:.0f} ms, grace {grace} ms); {len(book.unregistered)} unregistered parent(s)")
    return Violation("unregistered", shares, 0, text, parent_id=parent_id)


CHECKS: tuple[Check, ...] = (
    check_overcommit,
    check_overfill,
    check_unregistered,
    check_gross_notional,
    check_net_notional,
    check_position,
    check_child_rate,
    check_fill_rate,
)


def evaluate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> list[Violation]:
    found = []
    for check in CHECKS:
        violation = check(limits, book, ex, now_ns)
        if violation is not None:
            found.append(violation)
    return found
