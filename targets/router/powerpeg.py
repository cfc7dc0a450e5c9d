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
#  never retested. So it re-sends a child whenever the previous one ends  #
#  (paced by --powerpeg-interval-ms per parent) and never completes.      #
#                                                                         #
#  It stops only when the router is halted, the FIX session is down, or   #
#  the exchange rejects a child (kill switch). Pre-trade checks still     #
#  apply to its children: they sit in the gateway, below this code.       #
#                                                                         #
#  Do not "fix" it: powerpeg (the harness) exists to detect and kill it.  #
###########################################################################
"""
from __future__ import annotations

import asyncio
import time

from .parents import ORD_LIMIT, ORD_MARKET, REJECTED, TIF_IOC, Child, Parent
from .ports import OrderPort


class PowerPeg:
    """Legacy strategy: ``working`` marketable children in flight per parent, forever.

    Each parent sends at most one child per ``interval_s``. In 2012 each of
    the 212 parents ran at a few executions a second and the damage came from
    their number; pacing per parent keeps that shape here (more runaway
    parents, more damage) instead of one parent saturating the CPU.

    A :class:`~powerpeg.targets.router.ports.Strategy`, acting through an
    :class:`~powerpeg.targets.router.ports.OrderPort` (the router's core).
    """

    __slots__ = ("port", "child_qty", "working", "interval_s", "_next_due", "_waking")

    def __init__(self, port: OrderPort, child_qty: int, working: int, interval_s: float = 0.0) -> None:
        self.port = port
        self.child_qty = child_qty
        self.working = working  # --powerpeg-working
        self.interval_s = interval_s  # --powerpeg-interval-ms
        self._next_due: dict[str, float] = {}
        self._waking: set[str] = set()

    def start(self, parent: Parent) -> None:
        self.pump(parent)

    def _wake(self, parent: Parent) -> None:
        self._waking.discard(parent.parent_id)
        self.pump(parent)

    def _paced(self, parent: Parent) -> bool:
        """True when this parent must wait before its next child (a wake-up is then scheduled)."""
        if self.interval_s <= 0:
            return False
        pid = parent.parent_id
        delay = self._next_due.get(pid, 0.0) - time.monotonic()
        if delay <= 0:
            return False
        if pid not in self._waking:
            self._waking.add(pid)
            asyncio.get_running_loop().call_later(delay, self._wake, parent)
        return True

    def pump(self, parent: Parent) -> None:
        port = self.port
        if parent.state != "working":
            self._next_due.pop(parent.parent_id, None)
            return
        while parent.state == "working" and len(parent.working) < self.working and port.can_send():
            if self._paced(parent):
                return
            # LATENT FAULT: no open_qty(parent) here — the fills the gateway
            # recorded on the parent are never consulted.
            if parent.limit_cents is None:
                child = port.send_child(parent, self.child_qty, None, ORD_MARKET, TIF_IOC)
            else:
                child = port.send_child(parent, self.child_qty, parent.limit_cents, ORD_LIMIT, TIF_IOC)
            if child is None:
                return
            if self.interval_s > 0:
                self._next_due[parent.parent_id] = time.monotonic() + self.interval_s

    def on_fill(self, parent: Parent, child: Child) -> None:
        """LATENT FAULT: an execution changes nothing here."""

    def on_child_end(self, parent: Parent, child: Child, reject: str | None) -> None:
        if reject is not None:
            if parent.state == "working":
                self.port.finish(parent, REJECTED, reject)
            return
        self.pump(parent)
