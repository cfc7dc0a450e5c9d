"""structlog set-up, done once per process at its entry point.

Services log JSON lines (one object per line) with ``component``,
``instance``, ``run_id``, ``ts_ns`` and ``event``; when a person is at a
terminal the same events are rendered for reading instead.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger


def add_ns_timestamp(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Stamp every event with host wall time in ns: the one clock of DESIGN.md."""
    event.setdefault("ts_ns", time.time_ns())
    return event


class BindIdentity:
    """Processor that puts the process identity on every event."""

    def __init__(self, *, component: str, instance: str, run_id: str) -> None:
        self._identity = {"component": component, "instance": instance, "run_id": run_id}

    def __call__(self, _logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
        for key, value in self._identity.items():
            event.setdefault(key, value)
        return event


def configure(
    *,
    component: str,
    instance: str | None = None,
    run_id: str | None = None,
    stream: TextIO | None = None,
    json: bool | None = None,
    level: str | None = None,
) -> structlog.stdlib.BoundLogger:
    """Configure structlog for this process and return its root logger.

    ``json=None`` picks JSON unless the stream is a terminal.
    """
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty() or os.environ.get("POWERPEG_LOG_JSON") == "1"
    run_id = run_id or os.environ.get("POWERPEG_RUN_ID", "-")
    level_name = (level or os.environ.get("POWERPEG_LOG_LEVEL", "info")).upper()
    renderer: Any
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_ns_timestamp,
            BindIdentity(component=component, instance=instance or component, run_id=run_id),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    return structlog.get_logger()
