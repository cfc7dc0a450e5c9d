"""The correct path: slice a parent into child orders and stop at its quantity.

Used by v2 for every parent and by v1 for parents without the rlp flag.
Before every child it asks the cumulative-quantity function
(:func:`parents.open_qty`) how much may still go out, so the parent
completes exactly at its quantity.

A :class:`~powerpeg.targets.router.ports.Strategy`; it acts through an
:class:`~powerpeg.targets.router.ports.OrderPort` (the router's core).
"""
from __future__ import annotations

from .parents import FILLED, ORD_LIMIT, ORD_MARKET, REJECTED, STOPPED, TIF_DAY, TIF_IOC, Child, Parent, open_qty
from .ports import OrderPort


class Slicer:
    """Limit parents → DAY limit children at the limit; market parents → IOC market children."""

    __slots__ = ("port", "child_qty", "max_working")

    def __init__(self, port: OrderPort, child_qty: int, max_working: int) -> None:
        self.port = port
        self.child_qty = child_qty
        self.max_working = max_working

    def start(self, parent: Parent) -> None:
        self.pump(parent)

    def pump(self, parent: Parent) -> None:
        """Send children until the working limit or the open quantity is reached."""
        port = self.port
        while parent.state == "working" and len(parent.working) < self.max_working and port.can_send():
            remaining = open_qty(parent)
            if remaining <= 0:
                return
            qty = self.child_qty if self.child_qty < remaining else remaining
            if parent.limit_cents is None:
                child = port.send_child(parent, qty, None, ORD_MARKET, TIF_IOC)
            else:
                child = port.send_child(parent, qty, parent.limit_cents, ORD_LIMIT, TIF_DAY)
            if child is None:
                return

    def on_fill(self, parent: Parent, child: Child) -> None:
        """Fills are already counted; completion is decided when a child ends."""

    def on_child_end(self, parent: Parent, child: Child, reject: str | None) -> None:
        if parent.state != "working":
            return
        port = self.port
        if reject is not None:
            # A venue reject (kill switch, unknown symbol) would repeat for
            # every retry: stop here rather than loop on it.
            port.finish(parent, REJECTED, reject)
            port.cancel_working(parent)
        elif parent.filled_qty >= parent.qty:
            port.finish(parent, FILLED, None)
        elif child.tif == TIF_IOC and child.filled == 0:
            # Re-sending at once would spin at FIX round-trip speed against an
            # empty book; a real desk would stop and look.
            port.finish(parent, STOPPED, f"no liquidity: marketable child {child.cl_ord_id} canceled unfilled")
            port.cancel_working(parent)
        else:
            self.pump(parent)
