"""What the load did: Locust's request statistics and the parents log.

Locust writes ``<prefix>_stats.csv`` once a second during a headless run;
its ``Aggregated`` row is the whole load so far. It is not rewritten on
SIGTERM, so the locustfile also writes the final numbers as JSON when it
quits; once that file is there it is the answer. The
parents logs are the harness's own record of every parent a router accepted
(one JSON-lines file per Locust process that runs users).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARENT_KEYS = ("parent_id", "router", "symbol", "side", "qty", "rlp", "ts_ns")


class StatsError(Exception):
    """The stats file is there but not what Locust writes."""


def _number(row: dict[str, str], column: str) -> float:
    value = row.get(column)
    if value is None:
        raise StatsError(f"column {column!r} missing from the Locust stats")
    # Locust writes N/A for percentiles of a name that had no request yet
    if value in ("", "N/A"):
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise StatsError(f"column {column!r}: not a number: {value!r}") from None


@dataclass(frozen=True)
class LoadStats:
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "failures": self.failures, "rps": self.rps,
                "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
                "failure_ratio": self.failure_ratio}

    @classmethod
    def from_csv(cls, text: str) -> LoadStats:
        """The ``Aggregated`` row of a ``_stats.csv``."""
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("Name") == "Aggregated":
                return cls(
                    requests=int(_number(row, "Request Count")),
                    failures=int(_number(row, "Failure Count")),
                    rps=_number(row, "Requests/s"),
                    p50_ms=_number(row, "50%"),
                    p95_ms=_number(row, "95%"),
                    p99_ms=_number(row, "99%"),
                )
        raise StatsError("no Aggregated row in the Locust stats")

    @classmethod
    def from_final(cls, text: str) -> LoadStats:
        """The locustfile's final JSON (same keys as :meth:`to_json`)."""
        data = json.loads(text)
        try:
            return cls(requests=int(data["requests"]), failures=int(data["failures"]), rps=float(data["rps"]),
                       p50_ms=float(data["p50_ms"]), p95_ms=float(data["p95_ms"]), p99_ms=float(data["p99_ms"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StatsError(f"bad final stats {text!r}: {exc}") from None

    @classmethod
    def from_files(cls, csv_path: Path, final_path: Path) -> LoadStats:
        """The final numbers once Locust quit, else the live CSV, else zero (nothing written yet)."""
        try:
            return cls.from_final(final_path.read_text())
        except FileNotFoundError:
            pass
        try:
            return cls.from_csv(csv_path.read_text())
        except FileNotFoundError:
            return cls()


def _parse_parent(line: str) -> dict[str, Any]:
    record = json.loads(line)
    if not isinstance(record, dict) or set(record) != set(PARENT_KEYS):
        raise ValueError(f"not a parents-log record: {line!r}")
    return record


def read_parents(parents_dir: Path) -> list[dict[str, Any]]:
    """Every accepted parent, oldest first.

    A Locust process killed mid-write leaves a torn last line; that line is
    dropped (its parent is not recorded), any other bad line is an error.
    """
    records: list[dict[str, Any]] = []
    for path in sorted(Path(parents_dir).glob("parents-*.jsonl")):
        # every record ends in a newline: text after the last one is a write that never finished
        complete = path.read_text().split("\n")[:-1]
        for number, line in enumerate(complete, 1):
            if line.strip():
                try:
                    records.append(_parse_parent(line))
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
    records.sort(key=lambda r: r["ts_ns"])
    return records
