"""The router's plain counters, kept by the core and the gateway and read by
``/metrics`` at scrape time (``metrics.py``): cheaper than metric objects
per child.
"""
from __future__ import annotations

from .parents import PATH_NORMAL, PATH_POWERPEG, PATH_RLP


class Stats:
    """Plain counters read by /metrics (cheaper than metric objects per child)."""

    __slots__ = ("parents", "parents_by_path", "parent_qty", "entry_rejections", "children_sent", "cancels_sent",
                 "fills", "filled_qty", "child_rejects", "blocked_children", "halts")

    def __init__(self) -> None:
        self.parents = 0
        self.parents_by_path = {PATH_NORMAL: 0, PATH_RLP: 0, PATH_POWERPEG: 0}
        self.parent_qty = 0  # Σ quantity of the parents accepted: what the fleet was asked to trade
        self.entry_rejections = 0
        self.children_sent = 0
        self.cancels_sent = 0
        self.fills = 0
        self.filled_qty = 0
        self.child_rejects = 0
        self.blocked_children = 0
        self.halts = 0
