"""``journal.json``: the machine-readable record of a run."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .record import RunRecord, iso_utc


def to_json(run: RunRecord) -> dict[str, Any]:
    """The journal's content: times as ISO 8601 UTC plus their ns integers."""
    return {
        "experiment": run.experiment,
        "description": run.description,
        "hypothesis": run.hypothesis,
        "status": run.status,
        "expect": run.expect,
        "as_expected": run.as_expected,
        "backend": run.backend,
        "seed": run.seed,
        "started_at": iso_utc(run.started_ns),
        "started_ns": run.started_ns,
        "ended_at": iso_utc(run.ended_ns),
        "ended_ns": run.ended_ns,
        "duration_s": run.duration_s,
        "metrics": run.metrics.to_dict(),
        "assertions": [a.to_dict() for a in run.assertions],
        "faults": [asdict(f) for f in run.faults],
        "load": asdict(run.load),
        "steady_state": [asdict(p) for p in run.steady_state],
        "abort": asdict(run.abort),
        "error": run.error,
        "verdict": run.verdict,
        # parts that went down: which, when (ns and seconds from the method's start), planned or a finding, and
        # what it meant ("text": "monitor down from +4.5 s (exited): nothing was watching")
        "outages": [o.to_dict(run.t0_ns) for o in run.outages],
        "evidence": {s.source: asdict(s) for s in run.sources},
        "marks": [asdict(m) for m in run.metrics.marks],
        # a bundled control's stages (scrape, rule, alertmanager, delivery): where the TTD went
        "pipeline": run.pipeline,
        # the run's own floor: drop-copy lag, each component's loop lag, the kill's transit, the host's CPU,
        # and the warnings when it is a significant part of TTD or TTK (harness/measurement.py)
        "measurement": run.measurement.to_dict() if run.measurement is not None else None,
    }


def write(path: Path, run: RunRecord) -> Path:
    path.write_text(json.dumps(to_json(run), indent=2, default=str) + "\n", encoding="utf-8")
    return path
