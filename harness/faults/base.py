"""What every fault kind is: typed parameters, ``inject`` and ``revert``.

A fault kind is one module under ``harness/faults/`` holding one subclass of
:class:`Fault`, listed by name in ``registry.py`` (explicitly: no
registration as an import side effect). Timing, target selection across the
timeline and rollback policy belong to the runner, never to a fault; a
fault only knows how to apply itself and how to undo what it applied.

``revert`` is idempotent and safe mid-run: it undoes exactly what ``inject``
recorded it did (``self.applied``), and does nothing when nothing was
applied or it already ran. A failing inject or revert raises
:class:`FaultError` — a chaos harness must fail loudly, not log and go on.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from powerpeg.harness.topology import Topology
from powerpeg.harness.experiment.model import FleetShape


class FaultError(Exception):
    """An inject or revert that could not be carried out (the message says why)."""


class Params(BaseModel):
    """Base of every fault's parameters: unknown keys are errors, Infinity and NaN no numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        """Semantic checks against the experiment's topology section.

        Returns ``(path inside args, message)`` pairs, e.g.
        ``("miss[0]", "no router 'router-9' in a fleet of 8")``.
        ``topology`` is the experiment's :class:`powerpeg.harness.experiment.model.FleetShape`.
        """
        return []


class LoadControl(Protocol):
    """The running load's knobs (implemented by powerpeg.harness.load)."""

    def rlp_share(self) -> float: ...

    def override(self) -> float | None: ...

    def set_rlp_share(self, share: float | None) -> None: ...


@dataclass
class FaultContext:
    """Everything a fault may act through; passed explicitly by the runner."""

    backend: Any  # powerpeg.harness.backends.base.Backend
    topology: Topology
    http: aiohttp.ClientSession  # sends the fleet's bearer token
    log: Any
    load: LoadControl | None = None
    extras: dict[str, Any] = field(default_factory=dict)


P = TypeVar("P", bound=Params)


class Fault(abc.ABC, Generic[P]):
    """One injected fault. Instances are made by the runner from a timeline step.

    Generic in its parameters' class, so ``self.params`` has the kind's own
    fields (``class Kill(Fault[process.Params])``)."""

    kind: ClassVar[str]
    Params: ClassVar[type[Params]]
    # capabilities the fleet must offer, checked when the experiment loads
    # (e.g. "toxiproxy": the toxiproxy-server binary must be installed)
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, params: P) -> None:
        self.params = params
        self.applied: Any = None  # what inject changed, for revert

    def target(self) -> str:
        """A short human label of what it acts on (reports, progress lines)."""
        return ""

    @abc.abstractmethod
    async def inject(self, ctx: FaultContext) -> None:
        """Apply the fault; record in ``self.applied`` what revert must undo."""

    @abc.abstractmethod
    async def revert(self, ctx: FaultContext) -> None:
        """Undo what inject applied; idempotent."""
