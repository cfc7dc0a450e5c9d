"""Parent and child order state, and the cumulative-quantity function.

Pure data: no I/O. The gateway records every execution here for every path
(``record_fill``); whether anything *consults* the cumulative quantity before
sending more is the strategy's business — the normal slicer does, the legacy
Power Peg does not (see ``powerpeg.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKING = "working"
FILLED = "filled"
REJECTED = "rejected"  # the exchange rejected a child (kill switch, unknown symbol...)
STOPPED = "stopped"    # a pre-trade check refused a child, or the market had no liquidity
HALTED = "halted"      # the router was halted while the parent worked

PATH_NORMAL = "normal"
PATH_RLP = "rlp"
PATH_POWERPEG = "powerpeg"

SIDE_FIX = {"buy": "1", "sell": "2"}

ORD_MARKET = "1"
ORD_LIMIT = "2"
TIF_DAY = "0"
TIF_IOC = "3"


def cents_to_str(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(slots=True, eq=False)
class Child:
    cl_ord_id: str
    parent: Parent
    qty: int
    price_cents: int | None  # None: market order
    ord_type: str
    tif: str
    leaves: int = 0
    filled: int = 0
    done: bool = False
    cancel_id: str | None = None

    def __post_init__(self) -> None:
        self.leaves = self.qty


@dataclass(slots=True, eq=False)
class Parent:
    parent_id: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: int
    limit_cents: int | None
    rlp: bool
    client_order_id: str
    path: str = PATH_NORMAL
    created_ns: int = 0
    state: str = WORKING
    reason: str | None = None
    sent_qty: int = 0
    filled_qty: int = 0
    children: int = 0
    next_k: int = 1
    working: dict[str, Child] = field(default_factory=dict)
    strategy: Any = None  # the ports.Strategy driving it: the Slicer, or PowerPeg

    @property
    def active(self) -> bool:
        return self.state == WORKING

    def next_cl_ord_id(self) -> str:
        k = self.next_k
        self.next_k = k + 1
        return f"{self.parent_id}.{k}"

    def summary(self) -> dict[str, Any]:
        return {
            "parent_id": self.parent_id, "symbol": self.symbol, "side": self.side, "qty": self.qty,
            "sent_qty": self.sent_qty, "filled_qty": self.filled_qty, "state": self.state, "path": self.path,
        }

    def view(self) -> dict[str, Any]:
        out = self.summary()
        out.update(
            children=self.children, working_children=len(self.working), rlp=self.rlp,
            limit_price=None if self.limit_cents is None else self.limit_cents / 100,
            client_order_id=self.client_order_id, reason=self.reason, created_ns=self.created_ns,
        )
        return out


def open_qty(parent: Parent) -> int:
    """The cumulative-quantity function: shares the parent may still send.

    Quantity minus what is filled minus what is still working at the
    exchange. In SEC 34-70694 ¶14 this is the check that was moved in 2005;
    here only the normal path calls it.
    """
    working = 0
    for child in parent.working.values():
        working += child.leaves
    return parent.qty - parent.filled_qty - working


def add_child(parent: Parent, child: Child) -> None:
    parent.working[child.cl_ord_id] = child
    parent.sent_qty += child.qty
    parent.children += 1


def record_fill(child: Child, qty: int) -> None:
    """Count an execution against the child and its parent (every path)."""
    child.filled += qty
    child.leaves = max(0, child.leaves - qty)
    child.parent.filled_qty += qty


def end_child(child: Child) -> None:
    """The child is no longer working (filled, canceled, rejected or lost)."""
    child.done = True
    child.leaves = 0
    child.parent.working.pop(child.cl_ord_id, None)
