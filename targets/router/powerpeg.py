"""
###########################################################################
#  DELIBERATE LATENT FAULT — legacy Power Peg, replays SEC Release        #
#  34-70694 ¶13-14.                                                       #
#                                                                         #
#  This path exists only in the v1 build. It is reached by an rlp-flagged #
#  parent (the flag RLP repurposed). It sends marketable child orders     #
#  WITHOUT ever asking how much of the parent is already filled: the      #
#  cumulative-quantity function (``parents.open_qty``) still exists, but  #
#  it was "moved" into the normal path (``slicer.py``) and this code was  #
#  never retested. So it re-sends a child whenever the previous one ends, #
#  at FIX round-trip speed, and never completes.                          #
#                                                                         #
#  It stops only when the router is halted, the FIX session is down, or   #
#  the exchange rejects a child (kill switch). Pre-trade checks still     #
#  apply to its children: they sit in the gateway, below this code.       #
#                                                                         #
#  Do not "fix" it: powerpeg (the harness) exists to detect and kill it.  #
###########################################################################
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .parents import ORD_LIMIT, ORD_MARKET, REJECTED, TIF_IOC, Child, Parent

if TYPE_CHECKING:
    from .engine import Router


class PowerPeg:
    """Legacy strategy: ``working`` marketable children in flight per parent, forever."""

    __slots__ = ("router", "child_qty", "working")

    def __init__(self, router: "Router", child_qty: int, working: int) -> None:
        self.router = router
        self.child_qty = child_qty
        self.working = working  # --powerpeg-working: the only pacing, as in 2012

    def start(self, parent: Parent) -> None:
        self.pump(parent)

    def pump(self, parent: Parent) -> None:
        router = self.router
        while parent.state == "working" and len(parent.working) < self.working and router.can_send():
            # LATENT FAULT: no open_qty(parent) here — the fills the gateway
            # recorded on the parent are never consulted.
            if parent.limit_cents is None:
                child = router.send_child(parent, self.child_qty, None, ORD_MARKET, TIF_IOC)
            else:
                child = router.send_child(parent, self.child_qty, parent.limit_cents, ORD_LIMIT, TIF_IOC)
            if child is None:
                return

    def on_fill(self, parent: Parent, child: Child) -> None:
        """LATENT FAULT: an execution changes nothing here."""

    def on_child_end(self, parent: Parent, child: Child, reject: str | None) -> None:
        if reject is not None:
            if parent.state == "working":
                self.router.finish(parent, REJECTED, reject)
            return
        self.pump(parent)
