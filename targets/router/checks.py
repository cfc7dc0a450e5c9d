"""Pre-trade risk checks (SEC 15c3-5 style), each off unless its flag is given.

They sit at the order gateway, below the strategy code: every child passes
through ``check_child`` whichever path produced it — Power Peg included.
Some also screen the parent at entry (``check_parent``).

A check answers ``None`` (pass) or a verdict saying why not.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from .config import RouterConfig
from .market import Prices
from .parents import Child, Parent, cents_to_str


@dataclass(frozen=True, slots=True)
class EntryRejection:
    """Refuse a parent at entry: HTTP status, message and the field to blame."""

    status: int
    error: str
    field: str


@dataclass(frozen=True, slots=True)
class ChildBlock:
    """Refuse a child; ``halt`` asks the router to halt (throttle breach)."""

    reason: str
    halt: bool = False


class Check:
    """Common interface; a check overrides what it needs."""

    name = "check"

    def check_parent(self, parent: Parent) -> EntryRejection | None:
        return None

    def accepted(self, parent: Parent) -> None:
        """The parent passed every entry check and was registered."""

    def check_child(self, child: Child) -> ChildBlock | None:
        return None


class MaxChildQty(Check):
    name = "max_child_qty"

    def __init__(self, limit: int, child_qty: int) -> None:
        self.limit = limit
        self.child_qty = child_qty

    def check_parent(self, parent: Parent) -> EntryRejection | None:
        size = min(self.child_qty, parent.qty)
        if size > self.limit:
            return EntryRejection(422, f"child size {size} would exceed max child qty {self.limit}", "qty")
        return None

    def check_child(self, child: Child) -> ChildBlock | None:
        if child.qty > self.limit:
            return ChildBlock(f"child qty {child.qty} exceeds max child qty {self.limit}")
        return None


class PriceCollar(Check):
    name = "price_collar"

    def __init__(self, pct: float, prices: Prices) -> None:
        self.pct = pct
        self.prices = prices

    def check_child(self, child: Child) -> ChildBlock | None:
        price = child.price_cents
        if price is None:  # a market child has no price to collar
            return None
        mark = self.prices.mark(child.parent.symbol)
        if not mark:
            return ChildBlock(f"price collar: no reference price for {child.parent.symbol}")
        away = abs(price - mark) * 100.0 / mark
        if away > self.pct:
            return ChildBlock(
                f"price collar: limit {cents_to_str(price)} is {away:.2f}% from last {cents_to_str(mark)}"
                f" (max {self.pct:g}%)"
            )
        return None


class MaxParentNotional(Check):
    name = "max_parent_notional"

    def __init__(self, limit_usd: float, prices: Prices) -> None:
        self.limit_usd = limit_usd
        self.prices = prices

    def check_parent(self, parent: Parent) -> EntryRejection | None:
        price = parent.limit_cents if parent.limit_cents is not None else self.prices.mark(parent.symbol)
        notional = parent.qty * (price or 0) / 100.0
        if notional > self.limit_usd:
            blame = "limit_price" if parent.limit_cents is not None else "qty"
            return EntryRejection(
                422, f"parent notional ${notional:,.2f} exceeds max parent notional ${self.limit_usd:,.2f}", blame
            )
        return None


class RejectDuplicates(Check):
    name = "reject_duplicates"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def check_parent(self, parent: Parent) -> EntryRejection | None:
        if parent.client_order_id in self.seen:
            return EntryRejection(409, f"duplicate client_order_id {parent.client_order_id!r}", "client_order_id")
        return None

    def accepted(self, parent: Parent) -> None:
        self.seen.add(parent.client_order_id)


class MaxChildRate(Check):
    """At most ``limit`` child messages in any rolling second; the one over halts."""

    name = "max_child_rate"

    def __init__(self, limit: int, clock: Callable[[], float] = monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.sent: deque[float] = deque()

    def check_child(self, child: Child) -> ChildBlock | None:
        now = self.clock()
        sent = self.sent
        horizon = now - 1.0
        while sent and sent[0] <= horizon:
            sent.popleft()
        if len(sent) >= self.limit:
            return ChildBlock(f"child message rate over {self.limit}/s: router halted", halt=True)
        sent.append(now)
        return None


def build_checks(cfg: RouterConfig, prices: Prices) -> list[Check]:
    """The checks switched on by ``cfg``, entry-only ones (duplicates) last."""
    checks: list[Check] = []
    if cfg.max_child_qty is not None:
        checks.append(MaxChildQty(cfg.max_child_qty, cfg.child_qty))
    if cfg.price_collar_pct is not None:
        checks.append(PriceCollar(cfg.price_collar_pct, prices))
    if cfg.max_parent_notional is not None:
        checks.append(MaxParentNotional(cfg.max_parent_notional, prices))
    if cfg.max_child_rate is not None:
        checks.append(MaxChildRate(cfg.max_child_rate))
    if cfg.reject_duplicates:
        checks.append(RejectDuplicates())
    return checks
