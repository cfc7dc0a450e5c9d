"""The router's core, its context object: order entry, children through the
checks, halt / resume, flags. Everything else (HTTP, FIX, notifications)
talks to one :class:`Router` passed explicitly; the strategies and the FIX
gateway see it only through the Protocols of ``ports.py`` (it is their
:class:`~powerpeg.targets.router.ports.OrderPort` and
:class:`~powerpeg.targets.router.ports.GatewayOwner`)."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .checks import Check, ChildBlock, EntryRejection, build_checks
from .config import FLAG_DEFAULTS, FLAG_TYPES, RouterConfig
from .gateway import Gateway
from .market import Prices
from .notify import Notifier
from .parents import HALTED, PATH_NORMAL, PATH_POWERPEG, PATH_RLP, STOPPED, Child, Parent, add_child
from .powerpeg import PowerPeg
from .slicer import Slicer
from .stats import Stats


@dataclass(frozen=True, slots=True)
class OrderEntry:
    """A parent as the order-entry API validated it (prices in dollars)."""

    symbol: str
    side: str
    qty: int
    limit_price: float | None
    rlp: bool
    client_order_id: str


class FlagError(ValueError):
    """A flag update that cannot be applied; ``field`` names the flag."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Done parents kept for GET /orders (working ones always are): a trading day at 250 parents/s kept
# every parent (~780 B each with its children) and grew a router by 1.4 MiB a minute without end (bench/soak).
PARENT_MEMORY = 20_000


class Router:
    def __init__(self, cfg: RouterConfig, prices: Prices, notifier: Notifier, log: Any) -> None:
        self.cfg = cfg
        self.prices = prices
        self.notifier = notifier
        self.log = log
        self.flags: dict[str, Any] = {**FLAG_DEFAULTS, **dict(cfg.flags)}
        self.parents: dict[str, Parent] = {}
        self.active: dict[str, Parent] = {}
        self._done: deque[str] = deque()  # done parents kept, oldest first (PARENT_MEMORY)
        self.halted = False
        self.halt_reason: str | None = None
        self.stats = Stats()
        self.checks: list[Check] = build_checks(cfg, prices)
        # Only the checks that look at children run on the hot path.
        self.child_checks = [c for c in self.checks if type(c).check_child is not Check.check_child]
        self.gateway = Gateway(cfg, self, prices, self.stats, log)
        self.slicer = Slicer(self, cfg.child_qty, cfg.max_working_children)
        self.powerpeg = (PowerPeg(self, cfg.child_qty, cfg.powerpeg_working, cfg.powerpeg_interval_ms / 1000)
                         if cfg.version == "v1" else None)
        self._seq = 0
        # parent ids must stay unique across restarts (a deploy restarts the
        # router): measurement keys on them, and a reused id would merge two parents
        self.started_ns = time.time_ns()  # /metrics: which FIX day of the venue's is this process's
        self._boot = _base36(self.started_ns // 1_000_000)

    # -- order entry -----------------------------------------------------------
    def path_for(self, rlp: bool) -> str:
        if not rlp:
            return PATH_NORMAL
        return PATH_POWERPEG if self.cfg.version == "v1" else PATH_RLP

    def submit(self, entry: OrderEntry) -> Parent | EntryRejection:
        """Accept a parent (and start working it) or say why not."""
        if self.halted:
            return EntryRejection(503, f"router halted: {self.halt_reason}", "router")
        if not self.prices.known(entry.symbol):
            return EntryRejection(422, f"unknown symbol {entry.symbol!r}", "symbol")
        limit_cents = None
        if entry.limit_price is not None:
            limit_cents = int(round(entry.limit_price * 100))  # the 0.01 tick of the wire
            if limit_cents <= 0:
                return EntryRejection(400, "limit_price is below one tick (0.01)", "limit_price")
        rlp = entry.rlp or bool(self.flags["rlp"])
        parent = Parent(
            parent_id="", symbol=entry.symbol, side=entry.side, qty=entry.qty, limit_cents=limit_cents,
            rlp=rlp, client_order_id=entry.client_order_id, path=self.path_for(rlp),
        )
        for check in self.checks:
            rejection = check.check_parent(parent)
            if rejection is not None:
                self.stats.entry_rejections += 1
                return rejection
        self._seq += 1
        parent.parent_id = f"{self.cfg.id}-{self._boot}-{self._seq:06d}"
        parent.created_ns = time.time_ns()
        for check in self.checks:
            check.accepted(parent)
        self.parents[parent.parent_id] = parent
        self.active[parent.parent_id] = parent
        self.stats.parents += 1
        self.stats.parents_by_path[parent.path] += 1
        self.stats.parent_qty += parent.qty
        # Registration goes out before any strategy code sees the parent.
        self.notifier.register_parent(parent, self.cfg.id)
        if parent.path == PATH_POWERPEG:
            assert self.powerpeg is not None
            self.log.warning("powerpeg_path_reached", parent_id=parent.parent_id, symbol=parent.symbol, qty=parent.qty)
            self.notifier.alert(
                self.cfg.warning_severity,
                f"SMARS {self.cfg.id}: Power Peg disabled "
                f"(legacy path reached by rlp-flagged parent {parent.parent_id})",
            )
            parent.strategy = self.powerpeg
        else:
            parent.strategy = self.slicer
        parent.strategy.start(parent)
        return parent

    # -- children ----------------------------------------------------------------
    def can_send(self) -> bool:
        return self.gateway.up and not self.halted

    def send_child(self, parent: Parent, qty: int, price_cents: int | None, ord_type: str, tif: str) -> Child | None:
        """Pass one child through the pre-trade checks and send it; None if refused."""
        child = Child(parent.next_cl_ord_id(), parent, qty, price_cents, ord_type, tif)
        for check in self.child_checks:
            block = check.check_child(child)
            if block is not None:
                self._blocked(parent, block)
                return None
        self.gateway.send_new(child)
        add_child(parent, child)
        self.stats.children_sent += 1
        return child

    def _blocked(self, parent: Parent, block: ChildBlock) -> None:
        self.stats.blocked_children += 1
        self.log.warning("child_blocked", parent_id=parent.parent_id, reason=block.reason, halt=block.halt)
        if block.halt:
            self.halt(block.reason)
            self.notifier.alert("page", f"SMARS {self.cfg.id}: {block.reason}")
        else:
            self.finish(parent, STOPPED, block.reason)
            self.cancel_working(parent)

    def finish(self, parent: Parent, state: str, reason: str | None) -> None:
        parent.state = state
        parent.reason = reason
        if self.active.pop(parent.parent_id, None) is not None:
            done = self._done
            done.append(parent.parent_id)
            if len(done) > PARENT_MEMORY:
                self.parents.pop(done.popleft(), None)

    def cancel_working(self, parent: Parent) -> int:
        sent = 0
        for child in list(parent.working.values()):
            if self.gateway.send_cancel(child):
                sent += 1
        self.stats.cancels_sent += sent
        return sent

    # -- admin ---------------------------------------------------------------------
    def halt(self, reason: str = "admin halt") -> dict[str, Any]:
        """Stop routing, mark working parents halted and cancel their children."""
        if not self.halted:
            self.halted = True
            self.halt_reason = reason
            self.stats.halts += 1
        parents = list(self.active.values())
        for parent in parents:
            self.finish(parent, HALTED, f"router halted: {reason}")
        cancels = 0
        for parent in self.parents_with_working():
            cancels += self.cancel_working(parent)
        self.log.warning("router_halted", reason=self.halt_reason, parents_halted=len(parents), cancels_sent=cancels)
        return {"halted": True, "reason": self.halt_reason, "parents_halted": len(parents), "cancels_sent": cancels}

    def parents_with_working(self) -> list[Parent]:
        seen: dict[str, Parent] = {}
        for child in self.gateway.children.values():
            seen[child.parent.parent_id] = child.parent
        return list(seen.values())

    def resume(self) -> dict[str, Any]:
        """Accept new parents again; halted parents stay halted."""
        was = self.halted
        self.halted = False
        self.halt_reason = None
        if was:
            self.log.warning("router_resumed")
        return {"halted": False, "resumed": was}

    def set_flags(self, updates: dict[str, Any]) -> dict[str, Any]:
        """Validate every flag first, then apply; :class:`FlagError` names the bad one."""
        parsed = {}
        for name, value in updates.items():
            kind = FLAG_TYPES.get(name)
            if kind is None:
                raise FlagError(name, f"unknown flag {name!r} (known: {', '.join(sorted(FLAG_TYPES))})")
            if not isinstance(value, kind):
                raise FlagError(name, f"flag {name!r} must be a {kind.__name__}, got {type(value).__name__}")
            parsed[name] = value
        self.flags.update(parsed)
        if parsed:
            self.log.warning("flags_changed", **parsed)
        return dict(self.flags)

    # -- FIX session events --------------------------------------------------------
    def on_fix_up(self) -> None:
        """Parents that waited for the session go on."""
        for parent in list(self.active.values()):
            parent.strategy.pump(parent)

    def on_fix_down(self) -> None:
        """Parents wait: nothing is sent until the next logon."""

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok", "id": self.cfg.id, "version": self.cfg.version, "flags": dict(self.flags),
            "halted": self.halted, "fix": "logged_on" if self.gateway.up else "down",
        }


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"
