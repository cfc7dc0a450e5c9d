"""Reports of a run: ``journal.json``, ``junit.xml``, ``report.html`` and the terminal summary."""
from __future__ import annotations

from pathlib import Path

import structlog

from . import html, journal, junit
from .record import AbortRecord, FaultRecord, LoadFigures, ProbeRecord, RunRecord, RunStatus, SourceRecord, iso_utc

__all__ = ["AbortRecord", "FaultRecord", "LoadFigures", "ProbeRecord", "RunRecord", "RunStatus", "SourceRecord",
           "iso_utc", "write_all"]


def write_all(out_dir: Path | str, run: RunRecord) -> dict[str, Path]:
    """Write every report into ``out_dir`` (created); returns their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "journal.json": journal.write(out / "journal.json", run),
        "junit.xml": junit.write(out / "junit.xml", run),
        "report.html": html.write(out / "report.html", run),
    }
    structlog.get_logger().info("reports_written", experiment=run.experiment, status=run.status, out_dir=str(out))
    return paths
