"""The run's own event log: structlog events written as JSON lines to
``DIR/events.jsonl`` and kept in memory for measurement, and the declared
list of those events (:class:`RunEvent`).

A logger of its own (``structlog.wrap_logger``), not the process-wide
configuration: two runs in one process (tests, game days) keep two logs.

Every event is emitted and matched through :class:`RunEvent` (the way
Locust declares its hooks in one file): a name written in one module and
matched as a literal in another is how a renamed event silently stops being
measured. Every event carries ``event``, ``ts_ns`` (wall clock, ns),
``level``, ``component``, ``instance``, ``run_id`` and ``experiment``; the
docstrings below list the fields each one adds.
"""
from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

ABORT_KILLER = "powerpeg-abort"
"""The ``by`` of the kill the harness's own stop conditions issue (journaled by the exchange)."""


class RunEvent(StrEnum):
    """The events of a run's event log (``events.jsonl``); values are the names written."""

    FLEET_UP = "fleet_up"
    """The fleet answered its health checks. ``routers``: how many; ``run``: the fleet's run id."""

    CONTROLS_STARTED = "controls_started"
    """The bundled controls (controls.external.bundled) answer. ``endpoints``: name → URL."""

    CONTROLS_WAIT = "controls_wait"
    """The run waits for the external controls to be ready, before the load and the open.
    ``timeout_s``, ``dropcopy``, ``http``, ``bundled``: what is waited for (`powerpeg env` has the endpoints)."""

    CONTROLS_READY = "controls_ready"
    """Every external control is ready. ``waited_s``."""

    LOAD_START = "load_start"
    """Locust is running. ``users``, ``workers``; ``where``: ``processes`` or ``containers``;
    ``web_port`` when the web UI is served (game days)."""

    LOAD_STOP = "load_stop"
    """Locust has stopped (its parents logs are final)."""

    METHOD_START = "method_start"
    """Time zero of the method. ``steps``: faults in the method; ``mode``: ``scheduled`` or ``ui``.
    Measurement counts from the earliest one."""

    MARKET_OPEN = "market_open"
    """The exchange opened. ``planned_ns``: when the timeline meant it to; ``held_s``: how long
    steps due before the open held it."""

    MARKET_OPEN_HELD = "market_open_held"
    """Warning: the open waited ``held_s`` for steps due before it; ``reason``."""

    METHOD_EXTENDED = "method_extended"
    """Warning: the method's planned end came while ``steps`` were still being injected (a redeploy on
    containers takes seconds); the method waits for them, stop conditions watched, up to
    ``abort.max_duration``; ``reason``."""

    STEADY_STATE = "steady_state"
    """One probe's result. ``probe``, ``phase`` (before/during/after), ``ok``, ``value``, ``message``."""

    FAULT_INJECTED = "fault_injected"
    """A fault took effect. ``step``, ``kind``, ``target``; ``started_ns``: when its inject began
    (a fault counts from then); ``by``/``operator`` when a person pressed Inject; ``node``/``task``
    where a container fault acted on a swarm (Backend.placement)."""

    FAULT_FAILED = "fault_failed"
    """Warning: an inject failed. ``step``, ``kind``, ``error``."""

    FAULT_REVERTED = "fault_reverted"
    """A fault was undone. ``step``, ``kind``, ``target``; ``by``/``operator`` for a person's Revert."""

    FAULT_REVERT_FAILED = "fault_revert_failed"
    """Warning: a revert failed. ``step``, ``kind``, ``error``."""

    WATCH_READ_FAILED = "watch_read_failed"
    """Warning: the live view could not read one part. ``part`` (``exchange``, ``alerts``, ``monitor``),
    ``error``. Written while the part is not yet declared down (``part_down`` says the rest)."""

    PART_DOWN = "part_down"
    """Warning: a part the run depends on — ``part``: ``exchange``, ``monitor`` or ``alerts`` — died or
    stopped answering. ``since_ns``: its first failed read (when it went down); ``reason``: ``exited``
    (the backend says its process is not running) or ``not answering (<error>)``; ``planned``: a fault
    took it down on purpose (``fault``: which, e.g. ``kill monitor``); ``control``: the part is a
    control under test (the alert sink; the monitor unless passive); ``meaning``: what it meant for
    the run ("nothing was watching"). Unplanned, it is a finding (harness/outages.py)."""

    PART_UP = "part_up"
    """A part declared down answers again. ``part``; ``down_s``: how long it was down."""

    METHOD_ENDED_EARLY = "method_ended_early"
    """Warning: the method stopped before its end because the exchange was down and no fault meant it:
    nothing more can trade or be watched. ``part``, ``reason``."""

    ABORT_TRIGGERED = "abort_triggered"
    """Warning: a stop condition fired. ``reason``. Measurement's ``abort_at``."""

    ABORT_KILL = "abort_kill"
    """Warning: the abort's kill switch and halts were sent. ``results``: HTTP status or error per call."""

    OPERATOR_ACK = "operator_ack"
    """A person acknowledged an alert on the Chaos tab. ``alert``; ``operator``. A human detection."""

    OPERATOR_KILL = "operator_kill"
    """Warning: a person pressed KILL. ``firm``; ``operator``. A human kill."""

    OPERATOR_KILL_DONE = "operator_kill_done"
    """The operator's kill was carried out. ``exchange``: its answer; ``routers``: halt status per router."""

    OPERATOR_REINSTATE = "operator_reinstate"
    """A person reinstated the firm. ``routers``: resume status per router; ``operator``."""

    RUN_INTERRUPTED = "run_interrupted"
    """Warning: Ctrl-C or SIGTERM; the run rolled back and tore down."""

    RUN_ERROR = "run_error"
    """Warning: the run failed for an infrastructure reason. ``error``; ``traceback`` when unexpected."""

    EVIDENCE_READ_FAILED = "evidence_read_failed"
    """Warning: one source of evidence could not be read at the end; the others are read on their own.
    ``source`` (``marks``, ``alerts``, ``logs``, ``parents``), ``error``."""

    JOURNAL_RESCUED = "journal_rescued"
    """Warning: the exchange did not serve its journal, so the backend copied the file itself (the
    ground truth survives a dead exchange). ``how``; ``error``: why the download failed."""

    JOURNAL_READ_FAILED = "journal_read_failed"
    """Warning: the exchange journal could be neither downloaded nor copied: no measurement. ``error``."""

    TORN_DOWN = "torn_down"
    """The fleet was torn down. ``outcomes``: one ``"<what>: <outcome>"`` line per thing stopped or
    removed, as `powerpeg down` prints them; a swarm powerpeg initialised and kept (something else
    still runs in it) says so here."""

    TEARDOWN_FAILED = "teardown_failed"
    """Warning: tearing the fleet down failed (``powerpeg cleanup`` removes the rest). ``error``."""


class _Capture:
    """Processor: keep a copy of each event for measurement, then pass it on."""

    def __init__(self, sink: list[dict[str, Any]]) -> None:
        self._sink = sink

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        self._sink.append(dict(event))
        return event


class EventLog:
    """``emit(event, **fields)``: one timestamped event, in memory and on disk."""

    def __init__(self, path: Path | None, *, run_id: str, experiment: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._file: TextIO | None = path.open("w", buffering=1) if path is not None else None
        self.path = path

        def stamp(_l: WrappedLogger, _n: str, event: EventDict) -> EventDict:
            event.setdefault("ts_ns", time.time_ns())
            return event

        self._log = structlog.wrap_logger(
            structlog.PrintLogger(file=self._file) if self._file else structlog.ReturnLogger(),
            processors=[
                structlog.processors.add_log_level,
                stamp,
                _Capture(self.events),
                structlog.processors.JSONRenderer(serializer=lambda obj, **kw: json.dumps(obj, default=str)),
            ],
            # not the process-wide wrapper: its level filter (warning for the CLI)
            # must not drop the run's own record
            wrapper_class=structlog.BoundLogger,
        ).bind(component="harness", instance="runner", run_id=run_id, experiment=experiment)

    @property
    def logger(self) -> Any:
        """A structlog logger into this event log (faults log through it)."""
        return self._log

    def emit(self, event: RunEvent, **fields: Any) -> dict[str, Any]:
        self._log.info(str(event), **fields)
        return self.events[-1]

    def warning(self, event: RunEvent, **fields: Any) -> dict[str, Any]:
        self._log.warning(str(event), **fields)
        return self.events[-1]

    def first(self, event: RunEvent) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event), None)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
