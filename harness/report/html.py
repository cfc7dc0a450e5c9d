"""``report.html``: one self-contained page (inline CSS and SVG, no script, no URL)."""
from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from .record import RunRecord, iso_utc
from .svg import human, timeline

BADGE = {"passed": "#1a7f37", "failed": "#cf222e", "aborted": "#bc4c00", "error": "#6e7781", "inconclusive": "#9a6700"}

CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #d0d7de}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;
text-transform:uppercase;font-size:12px}
table{border-collapse:collapse;width:100%}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.ok{color:#1a7f37;font-weight:600}.ko{color:#cf222e;font-weight:600}
.muted{color:#656d76}.err{background:#ffebe9;border:1px solid #ff8182;padding:8px;white-space:pre-wrap}
"""

METRIC_ROWS = (
    ("first_violation_at", "first violation", "time"), ("detected_at", "detected", "time"),
    ("detected_by", "detected by", "text"), ("kill_issued_at", "kill issued", "time"),
    ("kill_issued_by", "kill issued by", "text"),
    ("contained_at", "contained", "time"), ("contained_by", "contained by", "text"),
    ("flat_at", "flat", "time"), ("ttd_s", "time to detect", "s"), ("ttk_s", "time to kill", "s"),
    ("ttc_s", "time to contain", "s"), ("excess_shares", "excess shares", "n"),
    ("excess_shares_per_s", "excess shares per second", "n"), ("time_to_abort_s", "time to the abort", "s"),
    ("runaway_child_orders", "runaway child orders", "n"), ("runaway_parents", "runaway parents", "n"),
    ("parents", "parents", "n"), ("unattributed_child_orders", "unattributed child orders", "n"),
    ("gross_notional_usd", "gross notional", "usd"), ("net_position_usd", "net position", "usd"),
    ("loss_usd", "loss", "usd"),
)


def _cell(value: Any) -> str:
    return '<span class="muted">—</span>' if value is None or value == "" else escape(str(value))


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], empty: str) -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _since(ts_ns: int | None, t0_ns: int | None) -> str:
    if ts_ns is None:
        return _cell(None)
    if t0_ns is None:
        return escape(iso_utc(ts_ns) or "")
    return f"{(ts_ns - t0_ns) / 1e9:+.3f}s <span class=\"muted\">{escape(iso_utc(ts_ns) or '')}</span>"


def _metric(value: Any, unit: str, t0_ns: int | None) -> str:
    if value is None:
        return _cell(None)
    if unit == "time":
        return _since(value, t0_ns)
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "n":
        return f"{value:,}"
    return _cell(value)


def _assertion_mark(passed: bool, untested: bool) -> str:
    if untested:
        return '<span class="muted" title="not tested">?</span>'
    return '<span class="ok">✓</span>' if passed else '<span class="ko">✗</span>'


def outage_table(run: RunRecord) -> str:
    """The parts that went down: which, when, why, and whether it is a finding or a fault's doing."""
    t0 = run.t0_ns
    return _table(
        ("part", "down", "up", "why", "", "what it meant"),
        ((escape(o.part), _since(o.down_at, t0), _since(o.up_at, t0), _cell(o.reason),
          '<span class="ko">finding</span>' if o.finding else escape(f"on purpose ({o.fault or 'a fault'})"),
          _cell(o.meaning) if o.finding else _cell(None)) for o in run.outages), "")


def render(run: RunRecord) -> str:
    metrics = run.metrics.to_dict()
    t0 = run.series.t0_ns if run.series is not None else None
    badge = f'<span class="badge" style="background:{BADGE[run.status]}">{escape(run.status)}</span>'
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>powerpeg · {escape(run.experiment)} · {escape(run.status)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(run.experiment)} {badge}</h1>",
        f'<p class="muted">backend {escape(run.backend)} · seed {run.seed} · '
        f"{escape(iso_utc(run.started_ns) or '')} → {escape(iso_utc(run.ended_ns) or '')} "
        f"({run.duration_s:.1f} s)</p>",
    ]
    if run.description:
        parts.append(f"<p>{escape(run.description)}</p>")
    parts.append(f"<h2>Hypothesis</h2><p>{escape(run.hypothesis) if run.hypothesis else _cell(None)}</p>")
    if run.expect == "refuted":
        met = {True: "as expected", False: "NOT as expected", None: "no verdict"}[run.as_expected]
        parts.append(f"<p>expected: <b>refuted</b> (a known weakness kept as a regression guard) · "
                     f"actual: <b>{escape(run.status)}</b> · {met}</p>")
    if run.error:
        parts.append(f'<h2>Error</h2><div class="err">{escape(run.error)}</div>')
    if run.verdict:
        parts.append(f'<h2>Verdict</h2><p class="ko">{escape(run.status.upper())}: {escape(run.verdict)}</p>')
    if run.outages:
        parts.append("<h2>Parts down</h2>")
        parts.append(outage_table(run))
    if run.abort.triggered:
        parts.append(f'<p class="ko">Aborted by the harness: {escape(run.abort.reason or "")} '
                     f"({_since(run.abort.at, t0)})</p>")
    parts.append("<h2>Timeline</h2>")
    parts.append(timeline(run.series, run.metrics.marks, title=f"{run.experiment} timeline"))
    parts.append("<h2>Assertions</h2>")
    parts.append(_table(
        ("", "assertion", "expected", "actual", "message"),
        ((_assertion_mark(a.passed, a.inconclusive), escape(a.name),
          _cell(a.expected), _cell(a.actual), escape(a.message)) for a in run.assertions),
        "no assertions in this experiment"))
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(("metric", "value"),
                        ((escape(label), _metric(metrics[key], unit, t0)) for key, label, unit in METRIC_ROWS), ""))
    parts.append("<h2>Faults</h2>")
    parts.append(_table(
        ("step", "kind", "target", "at", "injected", "reverted", "error"),
        ((_cell(f.step), escape(f.kind), _cell(f.target), _cell(f.at), _since(f.injected_at, t0),
          _since(f.reverted_at, t0), _cell(f.error)) for f in run.faults),
        "no faults injected"))
    if run.sources:
        parts.append("<h2>Evidence</h2>")
        parts.append(_table(
            ("", "source", "how", "records", "error"),
            ((('<span class="ok">✓</span>' if s.ok else '<span class="ko">✗</span>'), escape(s.source),
              _cell(s.how), _cell(s.count), _cell(s.error)) for s in run.sources), ""))
    parts.append("<h2>Marks</h2>")
    parts.append(_table(("when", "what"), ((_since(m.ts_ns, t0), escape(m.label)) for m in run.metrics.marks),
                        "nothing happened worth marking"))
    load = run.load
    parts.append("<h2>Load</h2>")
    parts.append(_table(
        ("requests", "failures", "req/s", "p50", "p95", "p99"),
        [(f"{load.requests:,}", f"{load.failures:,}", f"{load.rps:.1f}",
          *(_cell(None) if v is None else f"{v:g} ms" for v in (load.p50_ms, load.p95_ms, load.p99_ms)))],
        ""))
    if load.extra:
        parts.append(_table(("figure", "value"), ((escape(k), _cell(v)) for k, v in sorted(load.extra.items())), ""))
    parts.append("<h2>Steady state</h2>")
    parts.append(_table(
        ("", "probe", "phase", "value", "message"),
        ((('<span class="ok">✓</span>' if p.ok else '<span class="ko">✗</span>'), escape(p.probe), escape(p.phase),
          _cell(p.value), _cell(p.message)) for p in run.steady_state),
        "no steady-state probes"))
    parts.append(f'<p class="muted">gross exposure peak {escape(human(max(run.series.exposure_usd, default=0.0), "$"))}'
                 if run.series is not None else "<p>")
    parts.append(" · generated by powerpeg</p></body></html>")
    return "\n".join(parts)


def write(path: Path, run: RunRecord) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
