"""``index.html`` of a game day: one self-contained page over every run of the suite."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from powerpeg.harness.report import RunRecord
from powerpeg.harness.report.html import BADGE, CSS
from powerpeg.harness.report.svg import timeline
from powerpeg.harness.ui.attribution import attribution

from .suite import Suite

# who woke up first: a person acknowledging, or a channel the system paged on its own
DETECTION = {"operator": "human", "page": "automated", "phone": "automated"}


@dataclass(frozen=True)
class SuiteRun:
    """One run of the game day and the subdirectory holding its reports."""

    record: RunRecord
    subdir: str
    # the run's event log: an operator_kill event there makes the kill human
    events: list[dict[str, Any]] = field(default_factory=list)


def detection(record: RunRecord) -> str:
    by = record.metrics.detected_by
    if by:
        return f"{DETECTION.get(by, by)} ({by})"
    return "not detected" if record.metrics.first_violation_at is not None else "— (no violation)"


def kill(run: SuiteRun) -> str:
    """Who issued the kill that counts: ``human`` (an operator's KILL), ``automated`` (a control), or none."""
    who = attribution(run.record.metrics, run.events)["ttk"]
    return who or "— (no kill)"


def who(run: SuiteRun) -> str:
    """The human/automated cell: who made TTD, who made TTK."""
    return f"TTD {detection(run.record)} · TTK {kill(run)}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def _from(ts_ns: int, t0_ns: int | None) -> str:
    return f"from +{(ts_ns - t0_ns) / 1e9:.1f} s" if t0_ns is not None else ""


def floor_cell(record: RunRecord) -> str:
    """The run's measurement floor at a glance: ⚠ and the share of TTD/TTK that was powerpeg's own
    queueing when significant, else the shares, else why it was not measured."""
    m = record.measurement
    if m is None:
        return '<span class="muted">not measured</span>'
    shares = [f"{f.figure} {f.share:.0%}" for f in (m.ttd, m.ttk) if f.share is not None]
    text = escape(" · ".join(shares) or "—")
    if m.warnings:
        return f'<span class="ko" title="{escape(" / ".join(m.warnings))}">⚠ {text}</span>'
    return text


def row_cells(run: SuiteRun) -> list[str]:
    r, m = run.record, run.record.metrics
    badge = f'<span class="badge" style="background:{BADGE[r.status]}">{escape(r.status)}</span>'
    # a part that went down by itself is named beside the verdict it changes
    badge += "".join(f'<br><span class="ko">{escape(o.part)} down {escape(_from(o.down_at, r.t0_ns))}</span>'
                     for o in r.findings())
    expected = r.expect if r.as_expected is not False else f"{r.expect} (NOT met)"
    return [f'<a href="#{escape(run.subdir)}">{escape(r.experiment)}</a>', badge, escape(expected), _s(m.ttd_s),
            _s(m.ttk_s),
            _s(m.ttc_s), floor_cell(r), f"{m.excess_shares:,}", f"${m.loss_usd:,.2f}", escape(who(run)),
            f'<a href="{escape(run.subdir)}/report.html">report</a>']


def render(suite: Suite, runs: list[SuiteRun], *, started: str, backend: str) -> str:
    passed = sum(run.record.status == "passed" for run in runs)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>powerpeg game day · {escape(suite.title)}</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{escape(suite.title)}</h1>",
             f'<p class="muted">game day {escape(started)} · backend {escape(backend)} · '
             f"{passed} of {len(runs)} run(s) passed</p>"]
    if suite.participants:
        parts.append(f"<p>participants: {escape(', '.join(suite.participants))}</p>")
    if suite.notes:
        parts.append(f'<h2>Notes</h2><p style="white-space:pre-wrap">{escape(suite.notes)}</p>')
    headers = ("experiment", "verdict", "expected", "TTD", "TTK", "TTC", "floor", "excess shares", "loss",
               "human / automated", "")
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row_cells(run)) + "</tr>" for run in runs)
    parts.append(f'<h2>Runs</h2><table class="runs"><tr>{head}</tr>{body}</table>')
    for run in runs:
        r = run.record
        parts.append(f'<h2 id="{escape(run.subdir)}">{escape(r.experiment)} · {escape(r.status)}</h2>')
        if r.hypothesis:
            parts.append(f"<p>{escape(r.hypothesis)}</p>")
        if r.error:
            parts.append(f'<div class="err">{escape(r.error)}</div>')
        if r.verdict:
            parts.append(f'<p class="ko">{escape(r.status.upper())}: {escape(r.verdict)}</p>')
        if r.outages:
            parts.append("<ul>" + "".join(
                f'<li class="{"ko" if o.finding else "muted"}">{"finding" if o.finding else "planned"}: '
                f"{escape(o.text(r.t0_ns))}</li>" for o in r.outages) + "</ul>")
        if r.floor_warnings():  # the measurement floor: where TTD or TTK is powerpeg's own queueing
            parts.append("<ul>" + "".join(f'<li class="ko">⚠ {escape(w)}</li>' for w in r.floor_warnings()) + "</ul>")
        failed = r.failed_assertions() + r.untested_assertions()
        if failed:
            parts.append("<ul>" + "".join(f'<li class="ko">{escape(a.name)}{" (not tested)" if a.inconclusive else ""}'
                                          f": {escape(a.message)}</li>" for a in failed) + "</ul>")
        parts.append(timeline(r.series, r.metrics.marks, title=f"{r.experiment} timeline"))
        parts.append(f'<p><a href="{escape(run.subdir)}/report.html">full report</a></p>')
    parts.append('<p class="muted">generated by powerpeg gameday</p></body></html>')
    return "\n".join(parts)


def write(path: Path, suite: Suite, runs: list[SuiteRun], *, started: str, backend: str) -> Path:
    path.write_text(render(suite, runs, started=started, backend=backend), encoding="utf-8")
    return path
