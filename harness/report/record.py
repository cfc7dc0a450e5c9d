"""What a finished run hands to the reports: one typed record.

The runner may pass the parts as plain dicts (as collected); they are parsed
into the typed records below when the :class:`RunRecord` is built, so no
report writer sees a loose dict.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from powerpeg.harness.measure import Metrics, Series
from powerpeg.harness.measurement import Measurement
from powerpeg.harness.outages import Outage
from powerpeg.harness.verdict import AssertionResult



class RunStatus(StrEnum):
    """How a run ended; the value is what journal.json, junit.xml and the exit code read."""

    PASSED = "passed"
    """Every assertion held."""
    FAILED = "failed"
    """At least one assertion failed."""
    ABORTED = "aborted"
    """A stop condition fired: the harness's own kill switch ended the method."""
    ERROR = "error"
    """Infrastructure: the run could not measure (fleet, fault or evidence failure, or interrupted)."""
    INCONCLUSIVE = "inconclusive"
    """Nothing failed, but the run did not test what it asserts: the market never opened, no violation
    happened while a TTD-type bound was asserted, or the exchange died by itself mid-run. Never a pass
    (harness/verdict.py ``outcome`` says why)."""

    @property
    def exit_code(self) -> int:
        """0 every assertion holds, 1 one fails (or the run aborted), 3 infrastructure error,
        4 inconclusive (nothing failed, nothing was tested: a CI job must not go green on it)."""
        return {RunStatus.PASSED: 0, RunStatus.FAILED: 1, RunStatus.ABORTED: 1,
                RunStatus.INCONCLUSIVE: 4}.get(self, 3)


def iso_utc(ts_ns: int | None) -> str | None:
    """ISO 8601 UTC with nanoseconds, e.g. ``2024-05-01T13:30:00.123456789Z``."""
    if ts_ns is None:
        return None
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


@dataclass(frozen=True)
class FaultRecord:
    kind: str
    target: str = ""
    step: int | str | None = None
    name: str | None = None
    at: str | float | None = None
    injected_at: int | None = None
    reverted_at: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    ALIASES: ClassVar[dict[str, str]] = {"index": "step", "injected_ns": "injected_at", "reverted_ns": "reverted_at"}


@dataclass(frozen=True)
class ProbeRecord:
    probe: str
    phase: str
    ok: bool
    value: Any = None
    message: str = ""
    kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    ALIASES: ClassVar[dict[str, str]] = {}


@dataclass(frozen=True)
class AbortRecord:
    triggered: bool = False
    reason: str | None = None
    at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    ALIASES: ClassVar[dict[str, str]] = {"ts_ns": "at"}


@dataclass(frozen=True)
class LoadFigures:
    """Locust's totals for the run (latencies in milliseconds)."""

    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other Locust figure, shown as given

    ALIASES: ClassVar[dict[str, str]] = {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms",
                                         "requests_per_s": "rps", "num_requests": "requests",
                                         "num_failures": "failures"}


@dataclass(frozen=True)
class SourceRecord:
    """One source of evidence as the end of the run read it: each is read on its own, so a dead alert
    sink costs the alerts and nothing else (the marks, the journal)."""

    source: str  # journal, marks, alerts, logs, parents
    ok: bool
    how: str = ""  # "GET /positions", "copied from ... (the exchange did not serve it)"
    count: int | None = None  # records, symbols, alerts read
    error: str | None = None
    file: str | None = None  # where it is in the report directory
    extra: dict[str, Any] = field(default_factory=dict)

    ALIASES: ClassVar[dict[str, str]] = {}


Part = TypeVar("Part", FaultRecord, ProbeRecord, AbortRecord, LoadFigures, SourceRecord)
"""The parts of a run record that are parsed from what the runner collected."""


def from_dict(kind: type[Part], data: Mapping[str, Any]) -> Part:
    """Known names (or their aliases) become fields; anything else is kept in ``extra``, never lost."""
    names = {f.name for f in fields(kind)} - {"extra"}
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = dict(data.get("extra") or {})
    for key, value in data.items():
        name = kind.ALIASES.get(key, key)
        if name in names:
            kwargs[name] = value
        elif key != "extra":
            extra[key] = value
    return kind(**kwargs, extra=extra)


def _parse(kind: type[Part], value: Any) -> Part:
    """A record of ``kind`` from itself, a dict, or another dataclass / object with ``to_json``/``to_dict``."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, dict):
        if is_dataclass(value) and not isinstance(value, type):
            value = asdict(value)
        elif hasattr(value, "to_json"):
            value = value.to_json()
        elif hasattr(value, "to_dict"):
            value = value.to_dict()
    if isinstance(value, dict):
        return from_dict(kind, value)
    raise TypeError(f"expected {kind.__name__} or dict, got {type(value).__name__}")


@dataclass
class RunRecord:
    """Everything the reports show about one run."""

    experiment: str
    status: RunStatus
    backend: str
    seed: int
    started_ns: int
    ended_ns: int
    metrics: Metrics  # all empty (Metrics()) when the run never got as far as measuring
    description: str = ""
    hypothesis: str = ""
    assertions: list[AssertionResult] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    load: LoadFigures = field(default_factory=LoadFigures)
    steady_state: list[ProbeRecord] = field(default_factory=list)
    abort: AbortRecord = field(default_factory=AbortRecord)
    error: str | None = None
    expect: str = "confirmed"  # the experiment's `expect:`: "refuted" keeps a known weakness as a regression guard
    series: Series | None = None
    outages: list[Outage] = field(default_factory=list)  # parts that went down (harness/outages.py)
    sources: list[SourceRecord] = field(default_factory=list)  # the evidence, source by source
    verdict: str | None = None  # why the status is what it is, when the assertions alone do not say it
    # a bundled control's own account of where the detection time went (harness/controls/pipeline.py)
    pipeline: dict[str, Any] | None = None
    # the run's own measurement floor and its warnings (harness/measurement.py); None: the fleet never came up
    measurement: Measurement | None = None

    def __post_init__(self) -> None:
        # what the fields say is what they hold from here on; the parts may come in as
        # given (a status string, dicts, or None for metrics not measured)
        try:
            self.status = RunStatus(self.status)
        except ValueError:
            raise ValueError(f"status must be one of {[s.value for s in RunStatus]}, not {self.status!r}") from None
        if self.metrics is None:
            self.metrics = Metrics()
        self.assertions = [a if isinstance(a, AssertionResult) else AssertionResult(**a) for a in self.assertions]
        self.faults = [_parse(FaultRecord, f) for f in self.faults]
        self.load = _parse(LoadFigures, self.load) if self.load is not None else LoadFigures()
        self.steady_state = [_parse(ProbeRecord, p) for p in self.steady_state]
        self.abort = _parse(AbortRecord, self.abort) if self.abort is not None else AbortRecord()
        if self.series is None:
            self.series = self.metrics.series
        self.outages = [o if isinstance(o, Outage) else Outage.from_dict(o) for o in self.outages]
        self.sources = [_parse(SourceRecord, s) for s in self.sources]

    @property
    def duration_s(self) -> float:
        return max(0, self.ended_ns - self.started_ns) / 1e9

    @property
    def as_expected(self) -> bool | None:
        """Did the verdict come out as the experiment expects (None: an error, no verdict)?"""
        if self.status == RunStatus.PASSED:
            return self.expect == "confirmed"
        if self.status in (RunStatus.FAILED, RunStatus.ABORTED):
            return self.expect == "refuted"
        return None

    def failed_assertions(self) -> list[AssertionResult]:
        """The assertions that failed (not those that could not be tested: :meth:`untested_assertions`)."""
        return [a for a in self.assertions if not a.passed and not a.inconclusive]

    def untested_assertions(self) -> list[AssertionResult]:
        """The assertions the run had nothing to test with (they never pass)."""
        return [a for a in self.assertions if a.inconclusive]

    @property
    def t0_ns(self) -> int | None:
        """The method's start: what "+4.5 s" counts from."""
        return self.series.t0_ns if self.series is not None else None

    def findings(self) -> list[Outage]:
        """The parts that went down with nothing meaning it."""
        return [o for o in self.outages if o.finding]

    def floor_warnings(self) -> list[str]:
        """The measurement floor's warnings: where powerpeg's own queueing is a significant part of TTD or TTK."""
        return list(self.measurement.warnings) if self.measurement is not None else []

