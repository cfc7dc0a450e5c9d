"""Risk limits and the checks that compare the book against them.

One small check per limit, each O(1): it looks only at what the current
message could have changed (the symbol it filled, the parent it belongs to,
the running notional totals, the rolling counters), so all of them run on
every drop-copy message without a polling delay.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .book import EXEC_NEW, EXEC_REJECTED, EXEC_TRADE, ORDER_EVENTS, Book, Execution

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

    def __setattr__(self, name: str, value: Any) -> None:
        # a limit changed (PUT /limits): the plan of checks is made again on the next message
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_plan", None)

    def plan(self) -> dict[str, tuple[tuple[Check, ...], tuple[Check, ...]]]:
        """Per ExecType, the checks of the limits that are on (see ``evaluate``), made once per change."""
        plan: dict[str, tuple[tuple[Check, ...], tuple[Check, ...]]] | None = self.__dict__.get("_plan")
        if plan is None:
            plan = {exec_type: (tuple(c for c in before if _is_on(self, c)), tuple(c for c in after if _is_on(self, c)))
                    for exec_type, (before, after) in _BY_EXEC_TYPE.items()}
            object.__setattr__(self, "_plan", plan)
        return plan


class Violation:
    """One limit broken by one message. The text is made when first read: in a runaway every
    fill breaches again, and all but one per re-page interval are only counted (``Monitor.
    raise_breach``), so formatting each would be the costliest part of evaluating it."""

    __slots__ = ("_args", "_text", "cl_ord_id", "exec_id", "kind", "limit", "parent_id", "router", "symbol", "value")

    def __init__(self, kind: str, value: float, limit: float, text: str, router: str | None = None,
                 parent_id: str | None = None, symbol: str | None = None, cl_ord_id: str | None = None,
                 exec_id: str | None = None, *, args: tuple[Any, ...] | None = None) -> None:
        """``text`` is the text, or with ``args`` a ``str.format`` template for them."""
        self.kind = kind
        self.value = value
        self.limit = limit
        self._text = text
        self._args = args
        self.router = router
        self.parent_id = parent_id
        self.symbol = symbol
        self.cl_ord_id = cl_ord_id
        self.exec_id = exec_id

    @property
    def text(self) -> str:
        if self._args is not None:
            self._text = self._text.format(*self._args)
            self._args = None
        return self._text

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "limit": self.limit, "text": self.text,
                "router": self.router, "parent_id": self.parent_id, "symbol": self.symbol,
                "cl_ord_id": self.cl_ord_id, "exec_id": self.exec_id}

    def __repr__(self) -> str:
        return f"Violation({self.kind!r}, {self.value!r}, {self.limit!r}, {self.text!r})"


Check = Callable[[Limits, Book, Execution, int], "Violation | None"]

_WHERE = "router {}, parent {}, {}"


def _violation(kind: str, value: float, limit: float, template: str, args: tuple[Any, ...],
               ex: Execution) -> Violation:
    return Violation(kind, value, limit, template, ex.router, ex.parent_id, ex.symbol, ex.cl_ord_id, ex.exec_id,
                     args=args)


def check_gross_notional(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_gross_notional
    if limit is None or ex.exec_type != EXEC_TRADE or book.gross_usd <= limit:
        return None
    gross = book.gross_usd
    return _violation("gross_notional", gross, limit,
                      "gross notional ${:,.0f} over limit ${:,.0f} (last fill: " + _WHERE + ")",
                      (gross, limit, ex.router, ex.parent_id, ex.symbol), ex)


def check_net_notional(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_net_notional
    if limit is None or ex.exec_type != EXEC_TRADE or abs(book.net_usd) <= limit:
        return None
    net = book.net_usd
    return _violation("net_notional", net, limit,
                      "net notional ${:,.0f} over limit ${:,.0f} (last fill: " + _WHERE + ")",
                      (net, limit, ex.router, ex.parent_id, ex.symbol), ex)


def check_position(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_position
    if limit is None or ex.exec_type != EXEC_TRADE:
        return None
    shares = book.positions[ex.symbol].shares
    if abs(shares) <= limit:
        return None
    return _violation("position", shares, limit,
                      "position {} shares in {} over limit {} (last fill: " + _WHERE + ")",
                      (shares, ex.symbol, limit, ex.router, ex.parent_id, ex.symbol), ex)


def check_child_rate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_child_rate
    if limit is None or ex.exec_type not in ORDER_EVENTS:
        return None
    rate = book.child_orders.count(now_ns)
    if rate <= limit:
        return None
    return _violation("child_rate", rate, limit,
                      "child order rate {}/s over limit {}/s (last order: " + _WHERE + ")",
                      (rate, limit, ex.router, ex.parent_id, ex.symbol), ex)


def check_fill_rate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    limit = limits.max_fill_rate
    if limit is None or ex.exec_type != EXEC_TRADE:
        return None
    rate = book.fills.count(now_ns)
    if rate <= limit:
        return None
    return _violation("fill_rate", rate, limit, "fill rate {}/s over limit {}/s (last fill: " + _WHERE + ")",
                      (rate, limit, ex.router, ex.parent_id, ex.symbol), ex)


def check_overfill(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    if ex.exec_type != EXEC_TRADE:
        return None
    parent = book.parents.get(ex.parent_id)
    if parent is None or parent.executed - parent.qty <= limits.overfill_shares:
        return None
    excess = parent.executed - parent.qty
    return _violation(
        "overfill", excess, limits.overfill_shares,
        "over-fill: parent {} ({}, {} {} {}) executed {} shares, {} beyond its quantity (allowed {}); "
        "child {} via {}",
        (parent.parent_id, parent.router, parent.symbol, parent.side, parent.qty, parent.executed, excess,
         limits.overfill_shares, ex.cl_ord_id, ex.router), ex)


def check_overcommit(limits: Limits, book: Book, ex: Execution, now_ns: int) -> Violation | None:
    """Child orders beyond the parent's quantity, filled or not (same tolerance as over-fill)."""
    if ex.exec_type != EXEC_NEW:
        return None
    parent = book.parents.get(ex.parent_id)
    if parent is None or parent.committed - parent.qty <= limits.overfill_shares:
        return None
    excess = parent.committed - parent.qty
    return _violation(
        "overcommit", excess, limits.overfill_shares,
        "over-commit: parent {} ({}, {} {} {}) has {} shares in child orders, {} beyond its quantity "
        "(allowed {}); child {} via {}",
        (parent.parent_id, parent.router, parent.symbol, parent.side, parent.qty, parent.committed, excess,
         limits.overfill_shares, ex.cl_ord_id, ex.router), ex)


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
    return Violation("unregistered", shares, 0,
                     "unreconciled executions: {} shares for parent {} never registered "
                     "({:.0f} ms, grace {} ms); {} unregistered parent(s)", parent_id=parent_id,
                     args=(shares, parent_id, waited_ms, grace, len(book.unregistered)))


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

# The checks a message of each ExecType can trip, in CHECKS order less check_unregistered
# (run only while some execution waits for its parent): a fill is not tested against the
# child-order rate, an ack not against notional; a limit that is off is not tested at all.
# Same answers as running every check on every message, a fraction of the calls.
_BY_EXEC_TYPE: dict[str, tuple[tuple[Check, ...], tuple[Check, ...]]] = {
    EXEC_TRADE: ((check_overfill,), (check_gross_notional, check_net_notional, check_position, check_fill_rate)),
    EXEC_NEW: ((check_overcommit,), (check_child_rate,)),
    EXEC_REJECTED: ((), (check_child_rate,)),
}
_LIMIT_OF: dict[Check, str] = {
    check_gross_notional: "max_gross_notional", check_net_notional: "max_net_notional",
    check_position: "max_position", check_child_rate: "max_child_rate", check_fill_rate: "max_fill_rate",
}
_NONE: tuple[tuple[Check, ...], tuple[Check, ...]] = ((), ())


def _is_on(limits: Limits, check: Check) -> bool:
    name = _LIMIT_OF.get(check)
    return name is None or getattr(limits, name) is not None  # over-fill and over-commit: always on


def evaluate(limits: Limits, book: Book, ex: Execution, now_ns: int) -> list[Violation]:
    """Every limit ``ex`` breaks, in CHECKS order."""
    before, after = limits.plan().get(ex.exec_type, _NONE)
    found = []
    for check in before:
        violation = check(limits, book, ex, now_ns)
        if violation is not None:
            found.append(violation)
    if book.unregistered and limits.unregistered_grace_ms is not None:
        violation = check_unregistered(limits, book, ex, now_ns)
        if violation is not None:
            found.append(violation)
    for check in after:
        violation = check(limits, book, ex, now_ns)
        if violation is not None:
            found.append(violation)
    return found
