"""The measurement floor: how much of a run's TTD and TTK was queueing in powerpeg's own parts, and the
warning a report gives when that is a significant part of them (docs/harness.md, "The measurement floor").

A TTD of 0.39 s of which 0.32 s was the drop copy's backlog says nothing about the control; the run
must say so. The figures (journal.json ``measurement``):

- ``drop_copy_lag_s``: exchange TransactTime → the monitor's receipt, from the monitor's
  ``GET /measurement/dropcopy``;
- ``loop_lag_s``: how late each component's event loop ran (p50/p99/max), from its
  ``GET /measurement/loop`` (targets/common/looplag.py);
- ``kill_transit``: the monitor's kill decision → the exchange's kill record (the journal);
- ``cpu``: the host's CPU busy fraction during the method (harness/run/floor.py samples /proc/stat).

Pure: :func:`judge` turns what the end of the run read (:class:`Readings`) and the run's metrics and
journal into the :class:`Measurement` every report shows. The reads themselves are harness/run/floor.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from powerpeg.harness.measure import Metrics
from powerpeg.targets.exchange.records import JournalRecord

SIGNIFICANT_SHARE = 0.25
"""The floor is significant when it is at least this share of the TTD (or TTK) it sits in: a quarter
of a time that is not the control's makes the figure a statement about powerpeg, not about the
control. The one place this rule lives (docs/harness.md)."""

SATURATED_BUSY = 0.90  # a CPU sample this busy or more is saturated: runnable work waits for a core
MONITOR_KILLER = "monitor"  # the ``by`` of the monitor's kill (targets/monitor/actions.py: kill_firm)

# the parts of a floor, named as the warning's sentence names them
DROP_COPY = "drop-copy backlog"
BREACH_REPORT = "the drop copy's delay of the report that showed the violation"
MONITOR_LOOP = "the monitor's event loop"
ALERTS_LOOP = "the alert sink's event loop"
EXCHANGE_LOOP = "the exchange's event loop"
KILL_TRANSIT = "kill transit"


class MeasurementError(ValueError):
    """A service's measurement body that is not the contract; the message names the field."""


class _LagBody(BaseModel):
    """``{"n", "p50", "p99", "max"}`` in seconds, as the services serve a lag (a negative one is a
    finding about clocks, the monitor's behind the exchange's: kept as served, not refused)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")
    n: NonNegativeInt
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


class _KillDecisionBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    at_ns: NonNegativeInt
    firm: str
    reason: str = ""


class _BreachBody(BaseModel):
    """The monitor's first risk breach: when, which limit, and the drop-copy lag of the report that raised it
    (null when something other than a drop-copy report raised it)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")
    ts_ns: NonNegativeInt
    kind: str
    report_lag_s: float | None = None


class _LoopBody(BaseModel):
    """``GET /measurement/loop`` of every service."""

    model_config = ConfigDict(strict=True, extra="ignore")
    component: str
    instance: str
    loop_lag_s: _LagBody


class _DropCopyBody(BaseModel):
    """The monitor's ``GET /measurement/dropcopy``."""

    model_config = ConfigDict(strict=True, extra="ignore")
    drop_copy_lag_s: _LagBody
    kill_decisions: list[_KillDecisionBody] = []
    first_risk_breach: _BreachBody | None = None


def _validated(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"]) or "body"
        raise MeasurementError(f"{where}: {path}: {err['msg']}") from None


@dataclass(frozen=True)
class Lag:
    """One lag's distribution in seconds; ``not_measured`` says why there is none."""

    n: int = 0
    p50: float | None = None
    p99: float | None = None
    max: float | None = None
    not_measured: str | None = None

    @property
    def measured(self) -> bool:
        return self.not_measured is None and self.n > 0 and self.p99 is not None

    @classmethod
    def missing(cls, why: str) -> Lag:
        return cls(not_measured=why)

    @classmethod
    def of(cls, body: _LagBody, *, empty: str) -> Lag:
        """From a service's body; ``empty`` is what a lag of no samples means."""
        if body.n == 0 or body.p99 is None:
            return cls(n=body.n, not_measured=empty)
        return cls(n=body.n, p50=body.p50, p99=body.p99, max=body.max)


@dataclass(frozen=True)
class ComponentLag:
    """One component's event-loop lag: ``component`` as the harness names it (``router-3``)."""

    component: str
    loop_lag_s: Lag
    instance: str | None = None  # as the service names itself


@dataclass(frozen=True)
class KillDecision:
    """The monitor decided to pull the kill switch: when, for which firm, why."""

    at_ns: int
    firm: str
    reason: str = ""


@dataclass(frozen=True)
class KillTransit:
    """The monitor's first kill decision → the exchange's kill record of it."""

    transit_s: float | None = None
    decided_ns: int | None = None
    at_exchange_ns: int | None = None
    firm: str | None = None
    reason: str | None = None
    decisions: int = 0
    not_measured: str | None = None


@dataclass(frozen=True)
class CpuSaturation:
    """The host's CPU busy fraction (0-1, all cores) in samples over the method."""

    samples: int = 0
    interval_s: float | None = None
    busy_p50: float | None = None
    busy_max: float | None = None
    saturated_share: float | None = None  # of the samples, those at or above SATURATED_BUSY
    cores: int | None = None
    host: str = "the harness's host"
    not_measured: str | None = None


@dataclass(frozen=True)
class Readings:
    """What the end of the run read from the fleet and the host, before any judgement."""

    loop: list[ComponentLag] = field(default_factory=list)
    drop_copy_lag_s: Lag = field(default_factory=lambda: Lag.missing("not read"))
    kill_decisions: list[KillDecision] | None = None  # None: not read (``kill_note`` says why)
    kill_note: str | None = "not read"
    cpu: CpuSaturation = field(default_factory=lambda: CpuSaturation(not_measured="not sampled"))
    external: bool = False  # controls.external: the control under test is the firm's own
    # the drop-copy lag of the report on which the monitor saw its first risk breach (None: not known)
    breach_report_lag_s: float | None = None

    @classmethod
    def unread(cls, why: str, *, external: bool = False) -> Readings:
        """Nothing could be read (the fleet never came up, or the read itself broke)."""
        return cls(drop_copy_lag_s=Lag.missing(why), kill_note=why,
                   cpu=CpuSaturation(not_measured=why), external=external)


def loop_reading(component: str, data: Any) -> ComponentLag:
    """A service's ``GET /measurement/loop`` body; :class:`MeasurementError` naming the field otherwise."""
    body: _LoopBody = _validated(_LoopBody, data, f"{component} GET /measurement/loop")
    return ComponentLag(component, Lag.of(body.loop_lag_s, empty="no sample yet"), body.instance)


def dropcopy_reading(data: Any) -> tuple[Lag, list[KillDecision], float | None]:
    """The monitor's ``GET /measurement/dropcopy`` body: its drop-copy lag, its kill decisions, and the lag of
    the report that raised its first risk breach (None when unknown)."""
    body: _DropCopyBody = _validated(_DropCopyBody, data, "monitor GET /measurement/dropcopy")
    lag = Lag.of(body.drop_copy_lag_s, empty="the monitor received no drop-copy report")
    breach = body.first_risk_breach
    return (lag, [KillDecision(d.at_ns, d.firm, d.reason) for d in body.kill_decisions],
            None if breach is None or breach.report_lag_s is None else max(0.0, breach.report_lag_s))


@dataclass(frozen=True)
class FloorPart:
    """One queue a TTD or TTK went through: its name and the seconds it is held to have cost."""

    name: str
    seconds: float


@dataclass(frozen=True)
class Floor:
    """How much of one figure (TTD or TTK) the measured queues account for."""

    figure: str  # "TTD" | "TTK"
    value_s: float | None  # the figure itself (None: not measured in this run)
    parts: tuple[FloorPart, ...] = ()

    @property
    def seconds(self) -> float | None:
        return sum(p.seconds for p in self.parts) if self.parts else None

    @property
    def share(self) -> float | None:
        """The floor over the figure, capped at 1 (a floor longer than the figure: all of it)."""
        if self.value_s is None or self.seconds is None or self.value_s <= 0:
            return None
        return min(1.0, self.seconds / self.value_s)

    @property
    def significant(self) -> bool:
        return self.share is not None and self.share >= SIGNIFICANT_SHARE

    def to_dict(self) -> dict[str, Any]:
        return {"value_s": self.value_s, "floor_s": _round(self.seconds), "share": _round(self.share, 3),
                "significant": self.significant, "parts": {p.name: _round(p.seconds) for p in self.parts}}


@dataclass(frozen=True)
class Measurement:
    """journal.json's ``measurement``: the figures, the floors of TTD and TTK, and the warnings."""

    scope: str  # "bundled" (powerpeg's monitor is the control) | "external" (the firm's own)
    drop_copy_lag_s: Lag
    loop_lag_s: list[ComponentLag]
    kill_transit: KillTransit
    cpu: CpuSaturation
    ttd: Floor
    ttk: Floor
    warnings: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)  # what the figures above cover (external: venue side)
    not_measured: list[str] = field(default_factory=list)  # what the harness cannot see
    control_ttd_s: float | None = None  # external: TTD less the venue's floor (the control's part, at most)
    control_ttk_s: float | None = None

    def loop(self, component: str) -> Lag | None:
        return next((c.loop_lag_s for c in self.loop_lag_s if c.component == component), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "significant_share": SIGNIFICANT_SHARE,
            "drop_copy_lag_s": asdict(self.drop_copy_lag_s),
            "loop_lag_s": {c.component: {"instance": c.instance, **asdict(c.loop_lag_s)} for c in self.loop_lag_s},
            "kill_transit": asdict(self.kill_transit),
            "cpu": asdict(self.cpu),
            "floor": {"ttd": self.ttd.to_dict(), "ttk": self.ttk.to_dict()},
            "measured": self.measured,
            "not_measured": self.not_measured,
            "control_ttd_s": self.control_ttd_s,
            "control_ttk_s": self.control_ttk_s,
            "warnings": self.warnings,
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def secs(value: float) -> str:
    """Three significant digits: ``0.39 s``, ``0.00312 s``, ``2.6 s``."""
    return f"{value:.3g} s"


def kill_transit(decisions: list[KillDecision] | None, journal: Iterable[JournalRecord], *,
                 note: str | None = None) -> KillTransit:
    """The first decision that reached the exchange → its kill record (the monitor's ``by``, the
    decision's firm, at or after the decision); :class:`KillTransit` ``not_measured`` says why not."""
    if decisions is None:
        return KillTransit(not_measured=note or "the monitor's kill decisions were not read")
    if not decisions:
        return KillTransit(not_measured="the monitor decided no kill")
    kills = [(rec["ts_ns"], rec.get("id") or rec.get("firm")) for rec in journal
             if rec["kind"] == "kill" and rec.get("by") == MONITOR_KILLER and rec.get("scope") == "firm"]
    for decision in sorted(decisions, key=lambda d: d.at_ns):
        landed = next((ts for ts, firm in sorted(kills) if firm == decision.firm and ts >= decision.at_ns), None)
        if landed is not None:
            return KillTransit(transit_s=round((landed - decision.at_ns) / 1e9, 6), decided_ns=decision.at_ns,
                               at_exchange_ns=landed, firm=decision.firm, reason=decision.reason,
                               decisions=len(decisions))
    first = min(decisions, key=lambda d: d.at_ns)
    return KillTransit(decided_ns=first.at_ns, firm=first.firm, reason=first.reason, decisions=len(decisions),
                       not_measured=f"no kill of {first.firm} by the monitor in the exchange journal after its "
                                    f"decision (the kill failed, or the firm was killed already)")


def _typical(lag: Lag | None) -> float | None:
    """A lag as a floor's part: its median, the wait a typical report (or, loop lags being corrected for
    coordinated omission, a typical event arriving at any moment) went through. The p99 is the tail, a
    bound for the worst moments, not what a detection typically paid; the reports show both. A negative
    median (clocks apart) costs nothing."""
    return max(0.0, lag.p50) if lag is not None and lag.measured and lag.p50 is not None else None


def _parts(*candidates: tuple[str, float | None]) -> tuple[FloorPart, ...]:
    return tuple(FloorPart(name, s) for name, s in candidates if s is not None)


def _phrase(parts: Sequence[FloorPart]) -> str:
    """The parts that cost anything, by name; with their seconds when there are several."""
    parts = [p for p in parts if p.seconds > 0] or list(parts[:1])
    if len(parts) == 1:
        return parts[0].name
    named = [f"{p.name} ({secs(p.seconds)})" for p in parts]
    return ", ".join(named[:-1]) + " and " + named[-1]


def warning(floor: Floor, *, whose: str = "powerpeg's own queueing") -> str | None:
    """The sentence a significant floor gets: ``TTD 0.39 s includes 0.32 s of drop-copy backlog``."""
    if not floor.significant or floor.value_s is None or floor.seconds is None or floor.share is None:
        return None
    what = _phrase(floor.parts)
    if floor.share >= 1.0:
        return (f"{floor.figure} {secs(floor.value_s)} is no more than {whose} ({what}: {secs(floor.seconds)}): "
                f"this run cannot tell the control's {floor.figure} from it")
    return (f"{floor.figure} {secs(floor.value_s)} includes {secs(floor.seconds)} of {what} "
            f"({floor.share:.0%}: {whose}, not the control)")


def cpu_warning(cpu: CpuSaturation) -> str | None:
    if cpu.saturated_share is None or cpu.saturated_share < SIGNIFICANT_SHARE:
        return None
    peak = f", peak {cpu.busy_max:.0%}" if cpu.busy_max is not None else ""
    return (f"the host's CPU was {SATURATED_BUSY:.0%}+ busy in {cpu.saturated_share:.0%} of the method's samples"
            f"{peak}: every time in this run includes waiting for a core")


def judge(readings: Readings, metrics: Metrics, journal: Iterable[JournalRecord]) -> Measurement:
    """The floors of TTD and TTK from what was read, and the warnings (pure).

    Each lag counts at its median (:func:`_typical`). Bundled (powerpeg's monitor is the control): TTD's
    floor is the drop-copy lag (else, not served, the monitor's loop lag as a lower bound) plus the alert
    sink's loop lag (the page's delivery is stamped on its loop); TTK's floor is the kill's transit,
    measured for this very kill (else the exchange's loop lag). External: the harness sees only the
    venue, so the floors are the venue's (the drop-copy lag as powerpeg's monitor saw it on the same
    drop copy when it reads one, else the exchange's loop lag; and the alert sink's), and what is left
    of TTD and TTK is at most the control's.
    """
    loops = {c.component: c.loop_lag_s for c in readings.loop}
    exchange, monitor, alerts = (_typical(loops.get(name)) for name in ("exchange", "monitor", "alerts"))
    dropcopy = _typical(readings.drop_copy_lag_s)
    measured: list[str] = []
    not_measured: list[str] = []
    if readings.external:
        transit = KillTransit(not_measured="the control's kill decisions are not visible to the harness: its kill "
                                           "is timed from the exchange journal alone")
        venue_dc = (f"the venue's {DROP_COPY} (as powerpeg's monitor read the same drop copy)", dropcopy)
        ttd = Floor("TTD", metrics.ttd_s, _parts(venue_dc if dropcopy is not None else ("the venue's event loop",
                                                                                        exchange),
                                                 (ALERTS_LOOP, alerts)))
        ttk = Floor("TTK", metrics.ttk_s, _parts(("the venue's event loop", exchange)))
        measured = ["venue: the exchange's event-loop lag", "the alert sink's event-loop lag (delivery stamps)",
                    "the host's CPU during the method"]
        if dropcopy is not None:
            measured.append("venue: drop-copy lag to powerpeg's own monitor on the same drop copy")
        not_measured = ["the control's receipt of the drop copy (its own clock)", "the control's evaluation and "
                        "alerting path", "the control's kill decision (so no kill transit)"]
        whose = "the venue's and the harness's own lag"
    else:
        transit = kill_transit(readings.kill_decisions, journal, note=readings.kill_note)
        # the very report that showed the violation, when the monitor says how late it came: the run's
        # typical lag (its median) overstates a quiet moment and understates a burst
        carried = ((BREACH_REPORT, readings.breach_report_lag_s) if readings.breach_report_lag_s is not None else
                   (DROP_COPY, dropcopy) if dropcopy is not None else (MONITOR_LOOP, monitor))
        ttd = Floor("TTD", metrics.ttd_s, _parts(carried, (ALERTS_LOOP, alerts)))
        ttk = Floor("TTK", metrics.ttk_s, _parts((KILL_TRANSIT, transit.transit_s) if transit.transit_s is not None
                                                 else (EXCHANGE_LOOP, exchange)))
        whose = "powerpeg's own queueing"
    warnings = [w for w in (warning(ttd, whose=whose), warning(ttk, whose=whose), cpu_warning(readings.cpu)) if w]
    control_ttd = control_ttk = None
    if readings.external:
        if ttd.value_s is not None:
            control_ttd = round(max(0.0, ttd.value_s - (ttd.seconds or 0.0)), 6)
        if ttk.value_s is not None:
            control_ttk = round(max(0.0, ttk.value_s - (ttk.seconds or 0.0)), 6)
    return Measurement(scope="external" if readings.external else "bundled", drop_copy_lag_s=readings.drop_copy_lag_s,
                       loop_lag_s=list(readings.loop), kill_transit=transit, cpu=readings.cpu, ttd=ttd, ttk=ttk,
                       warnings=warnings, measured=measured, not_measured=not_measured, control_ttd_s=control_ttd,
                       control_ttk_s=control_ttk)


def busy_summary(busy: Sequence[float], *, interval_s: float, cores: int | None,
                 host: str = "the harness's host") -> CpuSaturation:
    """CPU samples (busy fractions 0-1) → p50, max and the saturated share."""
    if not busy:
        return CpuSaturation(interval_s=interval_s, cores=cores, host=host,
                             not_measured="no CPU sample: the method ended within one sampling interval")
    ordered = sorted(busy)
    p50 = ordered[(len(ordered) - 1) // 2]
    saturated = sum(1 for b in busy if b >= SATURATED_BUSY) / len(busy)
    return CpuSaturation(samples=len(busy), interval_s=interval_s, busy_p50=round(p50, 4),
                         busy_max=round(ordered[-1], 4), saturated_share=round(saturated, 4), cores=cores, host=host)
