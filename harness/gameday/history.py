"""The game-day history: one JSON line per run, and the trend across game days.

Lines are parsed into :class:`HistoryEntry` at the edge; a line that does not
parse is reported (file:line) rather than silently skipped.
"""
from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from powerpeg.harness.context import powerpeg_home
from powerpeg.harness.report import RunRecord

FILE_NAME = "gameday-history.jsonl"


class HistoryError(Exception):
    """The history file cannot be read or holds a line that is not a history entry."""


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer writers may add fields; old readers keep working

    date: str  # ISO 8601 UTC of the game day's start: every run of one game day shares it
    gameday: str  # the game day's directory name, e.g. 2024-05-01-060000-nightly
    suite: str
    experiment: str
    status: str
    ttd_s: float | None = None
    ttk_s: float | None = None
    ttc_s: float | None = None
    excess_shares: int = 0
    loss_usd: float = 0.0
    detected_by: str | None = None
    report: str
    # where the run's TTD or TTK was mostly powerpeg's own queueing (harness/measurement.py): a trend that
    # moves with these moved with the harness, not the controls
    floor_warnings: list[str] = []

    @classmethod
    def of(cls, record: RunRecord, *, date: str, gameday: str, suite: str, report: Path) -> HistoryEntry:
        m = record.metrics
        return cls(date=date, gameday=gameday, suite=suite, experiment=record.experiment, status=record.status,
                   ttd_s=m.ttd_s, ttk_s=m.ttk_s, ttc_s=m.ttc_s, excess_shares=m.excess_shares, loss_usd=m.loss_usd,
                   detected_by=m.detected_by, report=str(report), floor_warnings=record.floor_warnings())


def default_path() -> Path:
    return powerpeg_home() / FILE_NAME


def append(path: Path, entry: HistoryEntry) -> None:
    """One line per run, written as soon as the run ends: an interrupted game day keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(entry.model_dump_json() + "\n")


def read(path: Path) -> list[HistoryEntry]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise HistoryError(f"{path}: no history yet (run `powerpeg gameday SUITE.yaml` first)") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc}") from None
    entries: list[HistoryEntry] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(HistoryEntry.model_validate_json(line))
        except ValidationError as exc:
            raise HistoryError(f"{path}:{number}: not a history entry: {exc.errors()[0]['msg']}") from None
    return entries


def by_experiment(entries: list[HistoryEntry]) -> dict[str, list[HistoryEntry]]:
    """Entries per experiment, oldest game day first."""
    groups: dict[str, list[HistoryEntry]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: (e.date, e.gameday)):
        groups[entry.experiment].append(entry)
    return dict(sorted(groups.items()))


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def trend_table(entries: list[HistoryEntry]) -> str:
    """The terminal view: per experiment, one row per game day, with the change in TTD since the previous one."""
    if not entries:
        return "no runs in the history"
    header = (f"{'game day':<19} {'status':<8} {'TTD s':>8} {'TTK s':>8} {'TTC s':>8} {'excess':>10} "
              f"{'loss USD':>14}  by")
    lines: list[str] = []
    for experiment, rows in by_experiment(entries).items():
        lines += ["", experiment, "  " + header]
        for e in rows:
            lines.append(f"  {e.date[:19]:<19} {e.status:<8} {_s(e.ttd_s):>8} {_s(e.ttk_s):>8} {_s(e.ttc_s):>8} "
                         f"{e.excess_shares:>10,} {e.loss_usd:>14,.2f}  {e.detected_by or '—'}"
                         + ("  ⚠ floor" if e.floor_warnings else ""))
    return "\n".join(lines[1:])


# --- the picture -------------------------------------------------------------------------------

W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 180, 64, 16, 24, 40
SERIES = (("ttd_s", "TTD", "#ff7f0e"), ("ttk_s", "TTK", "#111111"), ("ttc_s", "TTC", "#1f77b4"))


def _chart(title: str, labels: list[str], lines: list[tuple[str, str, list[float | None]]], unit: str) -> str:
    """One line chart: x = game days in order, y = the values; a missing value breaks the line."""
    values = [v for _, _, vs in lines for v in vs if v is not None]
    peak = max(values, default=0.0)
    low = min(values + [0.0])
    span = (peak - low) or 1.0
    n = len(labels)

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * (W - LEFT - RIGHT) / max(n, 1)

    def y(v: float) -> float:
        return TOP + (peak - v) / span * (H - TOP - BOTTOM) if peak != low else (H - BOTTOM + TOP) / 2

    out = [f'<svg class="trend" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{escape(title)}">',
           "<style>.t{font:12px sans-serif;fill:#333}.a{font:10px sans-serif;fill:#555}</style>",
           f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
           'fill="#fafafa" stroke="#ccc"/>',
           f'<text x="{LEFT}" y="14" class="t">{escape(title)}</text>',
           f'<text x="{LEFT - 4}" y="{TOP + 8}" class="a" text-anchor="end">{peak:.3g}{unit}</text>',
           f'<text x="{LEFT - 4}" y="{H - BOTTOM}" class="a" text-anchor="end">{low:.3g}{unit}</text>']
    for i, label in enumerate(labels):
        out.append(f'<text x="{x(i):.1f}" y="{H - BOTTOM + 14}" class="a" text-anchor="middle">{escape(label)}</text>')
    legend_x = W - RIGHT - 4
    for name, color, vs in reversed(lines):
        out.append(f'<text x="{legend_x}" y="14" class="a" fill="{color}" text-anchor="end">{escape(name)}</text>')
        legend_x -= 8 + 7 * len(name)
        segment: list[str] = []
        for i, v in enumerate(vs + [None]):
            if v is not None and math.isfinite(v):
                segment.append(f"{x(i):.1f},{y(v):.1f}")
                out.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                           f"<title>{escape(labels[i])}: {v:.3f}{unit}</title></circle>")
            elif segment:
                out.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
                segment = []
    out.append("</svg>")
    return "\n".join(out)


def trend_html(entries: list[HistoryEntry], source: Path) -> str:
    """A self-contained page: per experiment, TTD/TTK/TTC and excess shares across game days."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>powerpeg · game-day trend</title>",
             "<style>body{font:14px/1.45 sans-serif;margin:24px auto;max-width:760px;color:#1f2328}"
             "h2{font-size:16px;border-bottom:1px solid #d0d7de}.muted{color:#656d76}</style></head><body>",
             "<h1>Game-day trend</h1>",
             f'<p class="muted">{len(entries)} run(s) from {escape(str(source))}</p>']
    for experiment, rows in by_experiment(entries).items():
        labels = [e.date[:10] if i == 0 or e.date[:10] != rows[i - 1].date[:10] else e.date[11:16]
                  for i, e in enumerate(rows)]
        parts.append(f"<h2>{escape(experiment)}</h2>")
        parts.append(_chart("time to detect / kill / contain", labels,
                            [(name, color, [getattr(e, key) for e in rows]) for key, name, color in SERIES], "s"))
        parts.append(_chart("blast radius: excess shares", labels,
                            [("excess", "#d62728", [float(e.excess_shares) for e in rows])], ""))
    if not entries:
        parts.append('<p class="muted">no runs in the history</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
