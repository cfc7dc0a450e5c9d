"""Durations as people write them in experiment files: ``250ms``, ``2s``, ``1m``."""
from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"


def parse_duration(value: Any) -> float:
    """Seconds from ``"250ms"``, ``"2s"``, ``"1.5m"``, ``"1h"``; bare numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"duration must be a string like '250ms', '2s' or '1m', got {value!r}")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"bad duration {value[:40]!r}: use a number with ms, s, m or h, like '250ms', '2s', '1m'")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"duration {value[:40]!r} is too large")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds >= 1e6:  # beyond every maximum: only an error message quotes it
        return f"{seconds / 3600:g}h"
    if seconds < 1 and seconds * 1000 == int(seconds * 1000):
        return f"{int(seconds * 1000)}ms"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


def at_most(limit: float) -> AfterValidator:
    """A duration's maximum: a run, a hold or a threshold of years is a typo, not an experiment.

    JSON Schema cannot bound a duration string, so the fields using it say
    their maximum in their description (``powerpeg schema``)."""

    return AfterValidator(lambda seconds: within(seconds, limit))


def within(seconds: float, limit: float) -> float:
    """``seconds``, or a ValueError saying it is beyond ``limit``."""
    if seconds > limit:
        raise ValueError(f"{format_duration(seconds)} is beyond the maximum of {human(limit)}")
    return seconds


def human(seconds: float) -> str:
    """A limit as people say it: ``1h``, ``1m``, else as :func:`format_duration`."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["250ms", "2s", "1m"]}),
]
