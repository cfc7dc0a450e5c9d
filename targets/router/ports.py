"""The router's inner seams: what its core, its strategies and its gateway
see of each other, as small Protocols.

The core (``core.Router``) drives every parent through a :class:`Strategy`
(``slicer.Slicer``, or the legacy ``powerpeg.PowerPeg`` in v1); a strategy
acts only through an :class:`OrderPort` (the core, seen narrowly); the FIX
gateway reports the session's ups and downs to a :class:`GatewayOwner` (the
core again). So the strategies and the gateway import this module and
``parents``, never the core that imports them.

A Protocol is matched by shape: ``core.Router`` satisfies both of its ports
without naming them.
"""
from __future__ import annotations

from typing import Protocol

from .parents import Child, Parent


class OrderPort(Protocol):
    """What a strategy may do: send children, end a parent, cancel its working children.

    A strategy reads the parent's own state (``state``, ``working``,
    ``filled_qty``, ...) on the :class:`~powerpeg.targets.router.parents.Parent` it
    is handed; every child it sends passes the pre-trade checks first.
    """

    def can_send(self) -> bool:
        """True while a child may go out now (FIX session up, router not halted)."""

    def send_child(self, parent: Parent, qty: int, price_cents: int | None, ord_type: str, tif: str) -> Child | None:
        """Pass one child through the pre-trade checks and send it; None if refused."""

    def finish(self, parent: Parent, state: str, reason: str | None) -> None:
        """The parent works no more: ``state`` (filled, stopped, rejected, ...) and why."""

    def cancel_working(self, parent: Parent) -> int:
        """Ask the exchange to cancel the parent's working children; how many requests went out."""


class Strategy(Protocol):
    """How one parent's children are produced; the core and the gateway call it on every event."""

    def start(self, parent: Parent) -> None:
        """A new parent, accepted and registered: send its first children."""

    def pump(self, parent: Parent) -> None:
        """Send what may be sent now (the session came back, a lost child was given up, ...)."""

    def on_fill(self, parent: Parent, child: Child) -> None:
        """An execution of a child that still works (already counted on child and parent)."""

    def on_child_end(self, parent: Parent, child: Child, reject: str | None) -> None:
        """A child works no more: filled, cancelled, or rejected by the venue (``reject`` says why)."""


class GatewayOwner(Protocol):
    """What the FIX gateway tells the core, and the one thing it asks."""

    @property
    def halted(self) -> bool:
        """True while the router is halted: a child found still working after a drop is cancelled."""

    def on_fix_up(self) -> None:
        """Logged on (again): parents that waited for the session go on."""

    def on_fix_down(self) -> None:
        """The session dropped: nothing is sent until the next logon."""
