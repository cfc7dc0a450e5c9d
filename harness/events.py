"""The run's own event log: structlog events written as JSON lines to
``DIR/events.jsonl`` and kept in memory for measurement.

A logger of its own (``structlog.wrap_logger``), not the process-wide
configuration: two runs in one process (tests, game days) keep two logs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO

import structlog


class _Capture:
    """Processor: keep a copy of each event for measurement, then pass it on."""

    def __init__(self, sink: list[dict[str, Any]]) -> None:
        self._sink = sink

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        self._sink.append(dict(event))
        return event


class EventLog:
    """``emit(event, **fields)``: one timestamped event, in memory and on disk."""

    def __init__(self, path: Path | None, *, run_id: str, experiment: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._file: TextIO | None = path.open("w", buffering=1) if path is not None else None
        self.path = path

        def stamp(_l: Any, _n: str, event: dict[str, Any]) -> dict[str, Any]:
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

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        self._log.info(event, **fields)
        return self.events[-1]

    def warning(self, event: str, **fields: Any) -> dict[str, Any]:
        self._log.warning(event, **fields)
        return self.events[-1]

    def first(self, event: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event), None)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
