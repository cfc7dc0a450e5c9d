"""What every bundled control is: typed parameters, ``start``, ``ready`` and what it
says of itself at the end.

A bundled control is a real piece of a firm's stack that powerpeg starts for
a run (``controls.external.bundled`` in the experiment file): one module
under ``harness/controls/`` holding one subclass of :class:`Control`, listed
by name in ``registry.py``, as fault kinds are. It is measured exactly like
a firm's own control: TTD from the alert sink's delivery, TTK from the
exchange's kill record (harness/measure.py); what the control reports of
itself (:meth:`Control.pipeline`) only says where the time went, never what
the time was.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from powerpeg.harness.topology import Topology


class ControlError(Exception):
    """A bundled control that could not be started or read (the message says why)."""


class ControlNotReady(ControlError):
    """The readiness wait ran out before every control was ready (the run ends, exit 3)."""


class Params(BaseModel):
    """Base of every control's parameters: unknown keys are errors, Infinity and NaN no numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


@dataclass
class ControlContext:
    """What a control acts through, passed explicitly by the runner."""

    backend: Any  # powerpeg.harness.backends.base.Backend: starts and records the control's processes
    topology: Topology
    http: aiohttp.ClientSession  # sends the fleet's bearer token
    directory: Path  # the control's own files (configs, data), under the run's state directory
    log: Any
    method_start_ns: int | None = None


P = TypeVar("P", bound=Params)


class Control(abc.ABC, Generic[P]):
    """One bundled control of a run. Instances are made by the runner from the file's entry."""

    kind: ClassVar[str]
    Params: ClassVar[type[Params]]
    # what this machine must offer, checked when the experiment loads: capability → the binaries
    # that provide it (any one of them), e.g. {"prometheus": ("prometheus",)}
    requires: ClassVar[dict[str, tuple[str, ...]]] = {}
    # backends that can run it (the compose backend has no image for every control)
    backends: ClassVar[frozenset[str]] = frozenset({"local"})

    @classmethod
    def unavailable(cls, backend: str) -> str | None:
        """Why this machine cannot run it on ``backend`` now, though the backend can in general (an
        image not built), or None. Asked before the fleet starts (harness/controls/external.py)."""
        return None

    def __init__(self, params: P) -> None:
        self.params = params
        self.endpoints: dict[str, str] = {}  # name → URL, published in `status --json` and `powerpeg env`

    @abc.abstractmethod
    async def start(self, ctx: ControlContext) -> None:
        """Write its configuration and start it (through ``ctx.backend``, which stops it on every
        exit path); fill :attr:`endpoints`."""

    @abc.abstractmethod
    async def ready(self, ctx: ControlContext) -> str | None:
        """None once ready to detect; else what it still waits for, in words."""

    async def observe(self, ctx: ControlContext) -> None:
        """Called about every 250 ms while the method runs: note what its own APIs say before it
        changes (a first-seen time). Never raises."""

    async def pipeline(self, ctx: ControlContext) -> dict[str, Any]:
        """At the end, with the fleet still up: what its own APIs say of when it saw what (raw;
        :mod:`powerpeg.harness.controls.pipeline` turns it into stages)."""
        return {}
