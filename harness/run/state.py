"""What a run is while it runs: its inputs and outcome (:class:`Run`), the faults
on its timeline (:class:`ScheduledFault`), its terminal progress, and the live
run (:class:`LiveRun`) that exists once the fleet is up.

:class:`LiveRun` is made right after ``backend.up()`` answered, so its
topology and HTTP session are never None: the parts of the runner that act on
the fleet take it and need no ``assert ... is not None``.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.backends.base import Backend
from powerpeg.harness.controls.external import ExternalControlsRun
from powerpeg.harness.events import EventLog, RunEvent
from powerpeg.harness.experiment.model import Experiment, Step
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError
from powerpeg.harness.faults.registry import FAULTS
from powerpeg.harness.load.control import LoadControl
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness import probes
from powerpeg.harness.report import AbortRecord, FaultRecord, SourceRecord
from powerpeg.harness.report.record import RunStatus
from powerpeg.harness.run.parts import Parts
from powerpeg.harness.topology import Topology
from powerpeg.harness.watch import Watch


@dataclass
class ScheduledFault:
    """One step of the method, its fault made, and what became of it."""

    index: int
    step: Step
    fault: Fault
    at_s: float
    injected_ns: int | None = None
    reverted_ns: int | None = None
    error: str | None = None
    injecting: bool = False  # its inject is under way: what it takes down is down on purpose already

    @property
    def active(self) -> bool:
        """Injected and not reverted."""
        return self.injected_ns is not None and self.reverted_ns is None

    def to_dict(self) -> dict[str, Any]:
        """The Chaos page's view of the step (its JSON field names)."""
        return {"index": self.index, "kind": self.step.fault, "name": self.step.name, "target": self.fault.target(),
                "at": self.at_s, "injected_at": self.injected_ns, "reverted_at": self.reverted_ns, "error": self.error}

    def to_record(self) -> FaultRecord:
        return FaultRecord(kind=self.step.fault, target=self.fault.target(), step=self.index, name=self.step.name,
                           at=self.at_s, injected_at=self.injected_ns, reverted_at=self.reverted_ns, error=self.error)


@dataclass
class Progress:
    """Terminal progress: phase and the live numbers, one line at a time."""

    write: Callable[[str], None]
    every_s: float = 1.0
    _last: float = 0.0

    def phase(self, text: str) -> None:
        self.write(f"[powerpeg] {text}")

    def tick(self, elapsed: float, phase: str, live: Any, rate: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        self.write(f"  t={elapsed:5.1f}s  {phase:<8} child orders/s {rate:7.0f}  exposure ${live.gross_usd:>13,.0f}"
                   f"  loss ${live.loss_usd:>12,.0f}  excess {live.excess_shares:>9,} sh"
                   f"  alerts {live.alerts} (pages {live.pages})")


@dataclass
class Run:
    """One run's inputs and outcome; the runner fills the outcome in as it goes."""

    experiment: Experiment
    backend: Backend
    out_dir: Path
    events: EventLog
    progress: Progress
    log: Any = None  # the harness's structlog logger (component logs, not the event log)
    load_workers: int | None = None
    status: RunStatus = RunStatus.ERROR
    error: str | None = None
    faults: list[ScheduledFault] = field(default_factory=list)
    steady: list[probes.ProbeResult] = field(default_factory=list)
    abort: AbortRecord = field(default_factory=AbortRecord)
    load: LoadRunner | None = None
    control: LoadControl | None = None
    method_start_ns: int | None = None
    open_at_ns: int | None = None
    started_ns: int = field(default_factory=time.time_ns)
    external: ExternalControlsRun | None = None  # controls.external: the firm's own controls, once started
    pipeline_raw: list[dict[str, Any]] = field(default_factory=list)  # bundled controls' own account, at the end
    sources: list[SourceRecord] = field(default_factory=list)  # the evidence as collected, source by source

    def fail(self, error: str) -> None:
        """An infrastructure error: the run measures nothing (the first error is kept)."""
        self.status = RunStatus.ERROR
        self.error = self.error or error


@dataclass
class LiveRun:
    """The run with its fleet up: the topology and the harness's HTTP session to it."""

    run: Run
    topology: Topology
    http: aiohttp.ClientSession
    watch: Watch
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the sink's alerts, as last read
    parts: Parts = field(init=False)  # the exchange, monitor and alert sink: up or down

    def __post_init__(self) -> None:
        self.parts = Parts(self.run.events, fault_on=self.fault_on, probe=self.run.backend.process_state,
                           monitor_control=self.run.experiment.controls.monitor.enabled)

    @classmethod
    def open(cls, run: Run, topology: Topology, *, keep_journal: bool = False) -> LiveRun:
        http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {topology.token}"},
                                     timeout=aiohttp.ClientTimeout(total=5))
        watch = Watch(topology.firm, f"{topology.exchange.admin}/journal", run.out_dir / "load" / "parents",
                      keep=keep_journal)
        return cls(run, topology, http, watch)

    @property
    def experiment(self) -> Experiment:
        return self.run.experiment

    def fault_ctx(self) -> FaultContext:
        return FaultContext(backend=self.run.backend, topology=self.topology, http=self.http,
                            log=self.run.events.logger, load=self.run.control)

    def backend_placement(self, target: str) -> dict[str, str]:
        """Where the backend ran a container fault (swarm: task and node); a test's fake backend may have none."""
        placement = getattr(self.run.backend, "placement", None)
        return placement(target) if callable(placement) else {}

    async def inject(self, sf: ScheduledFault, **who: Any) -> None:
        """Inject one fault; ``who`` (an operator) goes into its events. A failure is recorded and raised."""
        started_ns = time.time_ns()
        sf.injecting = True
        try:
            await sf.fault.inject(self.fault_ctx())
        except FaultError as exc:
            sf.error = str(exc)
            self.run.events.warning(RunEvent.FAULT_FAILED, step=sf.index, kind=sf.step.fault, error=str(exc), **who)
            raise
        except asyncio.CancelledError:
            # never a silent "not injected": part of it may have happened (some routers redeployed)
            sf.error = "cut short: the run ended or was interrupted while this was being injected"
            self.run.events.warning(RunEvent.FAULT_FAILED, step=sf.index, kind=sf.step.fault, error=sf.error, **who)
            raise
        finally:
            sf.injecting = False
        sf.error, sf.reverted_ns = None, None
        where = self.backend_placement(sf.fault.target())
        sf.injected_ns = self.run.events.emit(RunEvent.FAULT_INJECTED, step=sf.index, kind=sf.step.fault,
                                              target=sf.fault.target(), started_ns=started_ns, **where,
                                              **who)["ts_ns"]

    async def revert(self, sf: ScheduledFault, **who: Any) -> None:
        """Revert one injected fault; a failure is recorded on it, not raised (the rollback goes on)."""
        if not sf.active:
            return
        try:
            await sf.fault.revert(self.fault_ctx())
        except FaultError as exc:
            sf.error = f"revert failed: {exc}"
            self.run.events.warning(RunEvent.FAULT_REVERT_FAILED, step=sf.index, kind=sf.step.fault, error=str(exc),
                                    **who)
            return
        sf.reverted_ns = self.run.events.emit(RunEvent.FAULT_REVERTED, step=sf.index, kind=sf.step.fault,
                                              target=sf.fault.target(), **who)["ts_ns"]

    def faulted(self, components: set[str]) -> bool:
        """Is one of these components the target of a fault injected and not reverted?"""
        return any(sf.active and any(c in sf.fault.target() for c in components) for sf in self.run.faults)

    def fault_on(self, part: str) -> str | None:
        """The fault that has ``part`` down on purpose — injected (or being injected) and not reverted,
        targeting it — as "kind target", or None."""
        for sf in self.run.faults:
            if (sf.active or sf.injecting) and part in re.split(r"[\s,]+", sf.fault.target()):
                return f"{sf.step.fault} {sf.fault.target()}"
        return None


def schedule(exp: Experiment) -> list[ScheduledFault]:
    """The method's steps as faults, each with its time on the timeline."""
    out = []
    for i, step in enumerate(exp.method):
        cls = FAULTS[step.fault]
        fault = cls(cls.Params.model_validate(step.args))
        at_s = exp.market.open_at if step.at == "open" else float(step.at)
        out.append(ScheduledFault(i, step, fault, at_s))
    return out
