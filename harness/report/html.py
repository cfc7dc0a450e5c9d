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


def measurement_section(run: RunRecord) -> str:
    """The run's own measurement floor (harness/measurement.py): the warnings first, then each figure
    and, when one is missing, why."""
    m = run.measurement
    if m is None:
        return ""

    def secs(value: float | None) -> str:
        return _cell(None) if value is None else f"{value:.3g} s"

    def lag_row(name: str, lag: Any) -> tuple[str, ...]:
        if lag.not_measured is not None or lag.p99 is None:
            return (escape(name), _cell(lag.n or None), _cell(None), _cell(None), _cell(None),
                    f'<span class="muted">not measured: {escape(lag.not_measured or "no sample")}</span>')
        return (escape(name), f"{lag.n:,}", secs(lag.p50), secs(lag.p99), secs(lag.max), "")

    out = ["<h2>Measurement floor</h2>"]
    out += [f'<p class="ko">⚠ {escape(w)}</p>' for w in m.warnings]
    out.append(f'<p class="muted">What of TTD and TTK was queueing in powerpeg\'s own parts; a warning when it is '
               f'{m.to_dict()["significant_share"]:.0%} or more of the figure (docs/harness.md).</p>')
    rows = [lag_row("drop-copy lag (exchange TransactTime → monitor receipt)", m.drop_copy_lag_s)]
    rows += [lag_row(f"event-loop lag: {c.component}", c.loop_lag_s) for c in m.loop_lag_s]
    out.append(_table(("figure", "samples", "p50", "p99", "max", ""), rows, ""))
    transit, cpu = m.kill_transit, m.cpu
    facts = [("kill transit (the monitor's decision → the exchange's kill record)",
              secs(transit.transit_s) if transit.transit_s is not None
              else f'<span class="muted">not measured: {escape(transit.not_measured or "")}</span>')]
    if cpu.not_measured is None and cpu.busy_p50 is not None and cpu.busy_max is not None:
        facts.append((f"CPU busy during the method ({cpu.host})",
                      f"p50 {cpu.busy_p50:.0%} · max {cpu.busy_max:.0%} · saturated in "
                      f"{cpu.saturated_share or 0:.0%} of {cpu.samples} samples every {cpu.interval_s:g} s"))
    else:
        facts.append(("CPU busy during the method",
                      f'<span class="muted">not measured: {escape(cpu.not_measured or "")}</span>'))
    for floor in (m.ttd, m.ttk):
        parts = ", ".join(f"{name} {value:.3g} s" for name, value in floor.to_dict()["parts"].items())
        share = floor.share
        facts.append((f"{floor.figure} floor", (f"{secs(floor.seconds)} of {secs(floor.value_s)} "
                                                 f"({share:.0%}): {escape(parts)}") if share is not None
                      else _cell(None)))
    if m.scope == "external":
        facts.append(("the control's part, at most", f"TTD {secs(m.control_ttd_s)} · TTK {secs(m.control_ttk_s)}"))
        facts.append(("measured (venue side)", escape("; ".join(m.measured))))
        facts.append(("not measured (the control's side)", escape("; ".join(m.not_measured))))
    out.append(_table(("", "value"), ((escape(k), v) for k, v in facts), ""))
    return "\n".join(out)


def pipeline_section(run: RunRecord) -> str:
    """Where the detection time went, for a bundled control (``record.pipeline``, harness/controls/pipeline.py):
    a waterfall on one time axis from the first violation (0 s) to the page, one horizontal bar per stage
    (scrape, rule evaluation, Alertmanager, delivery) from where the previous one ended, then the stages'
    table. A stage can be negative (a rule on a precursor, such as child orders per parent, held before
    any parent was overfilled): its bar then runs left of 0. Empty without a pipeline."""
    p = run.pipeline
    if not p:
        return ""
    stages = (("scrape", "scrape", "#1f77b4", "the rule's expression first held on the scraped data"),
              ("rule", "rule evaluation", "#9467bd", "the alert fired (Prometheus activeAt + the rule's for)"),
              ("alertmanager", "Alertmanager", "#ff7f0e", "the alert sink received the notification"),
              ("delivery", "delivery", "#2ca02c", "the page was delivered"))
    seconds = p.get("stages_s") or {}
    bars: list[tuple[str, str, float, float]] = []  # label, color, start, end (seconds from the violation)
    at = 0.0
    for key, label, color, _ in stages:
        if seconds.get(key) is None:
            break  # not reached: the stages after it have no start
        bars.append((label, color, at, at + float(seconds[key])))
        at += float(seconds[key])
    projected = (p.get("projection") or {}).get("after_violation_s")
    # not delivered by the end: the page Alertmanager's settings made due, drawn dashed
    due = float(projected) if projected is not None and p.get("delivered_at") is None else None
    due = due if due is not None and due > at else None
    out = ["<h2>Alert pipeline</h2>"]
    if p.get("summary"):
        out.append(f"<p>{escape(p['summary'])}</p>")
    lo, hi = min([0.0, *(b[2] for b in bars), *(b[3] for b in bars)]), max(0.0, at, due or 0.0)
    if bars and hi > lo:
        width, left, right, row_h, top = 960, 190, 70, 22, 20
        rows = len(bars) + (1 if due is not None else 0)

        def x(t: float) -> float:
            return left + (t - lo) / (hi - lo) * (width - left - right)

        height = top + rows * row_h + 24
        svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
               'aria-label="alert pipeline stages">',
               "<style>.pa{font:11px sans-serif;fill:#333}</style>"]
        for n, (label, color, start, end) in enumerate(bars):
            y = top + n * row_h
            text = f"{label} {end - start:.2f} s" + (" (before the violation)" if end < start else "")
            svg.append(f'<text class="pa" x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(text)}</text>')
            w = max(x(max(start, end)) - x(min(start, end)), 1.0)  # a 0 s stage still shows as a tick
            svg.append(f'<rect x="{x(min(start, end)):.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                       f'fill="{color}"><title>{escape(text)}</title></rect>')
        if due is not None:
            y = top + len(bars) * row_h
            text = f"page due +{due:.2f} s, not delivered by the end"
            svg.append(f'<text class="pa" x="{left - 8}" y="{y + 14}" text-anchor="end">page due</text>')
            svg.append(f'<rect x="{x(at):.1f}" y="{y + 3}" width="{x(due) - x(at):.1f}" height="{row_h - 6}" '
                       f'fill="none" stroke="#6e7781" stroke-dasharray="4 3"><title>{escape(text)}</title></rect>')
        base = top + rows * row_h
        end_t = due if due is not None else at
        end_label = ("page delivered" if p.get("delivered_at") is not None
                     else "page due" if due is not None else "last stage seen")
        # the violation's label above the bars, the page's below: apart however close the two are
        for t, label, y in ((0.0, "0 s first violation", top - 6), (end_t, f"{end_t:+.2f} s {end_label}", base + 17)):
            svg.append(f'<line x1="{x(t):.1f}" y1="{top - 2}" x2="{x(t):.1f}" y2="{base + 4}" stroke="#6e7781" '
                       'stroke-dasharray="2 2"/>')
            anchor = "end" if x(t) > width / 2 else "start"
            svg.append(f'<text class="pa" x="{x(t):.1f}" y="{y}" text-anchor="{anchor}">{escape(label)}</text>')
        out.append("".join(svg) + "</svg>")
    positive = all(float(v) >= 0 for v in seconds.values() if v is not None)
    total = sum(float(v) for v in seconds.values() if v is not None)
    rows_html = []
    for key, label, color, ends in stages:
        stage_s = seconds.get(key)
        share = f"{stage_s / total:.0%}" if stage_s is not None and positive and total > 0 else ""
        rows_html.append((f'<span style="color:{color}">■</span> {escape(label)}',
                          _cell(None) if stage_s is None else f"{stage_s:.3f} s", _cell(share), escape(ends)))
    out.append(_table(("stage", "seconds", "share", "ends when"), rows_html, ""))
    facts = [("reached", _cell(p.get("reached")))]
    alert = p.get("alert") or {}
    if alert:
        facts.append(("alert", escape(", ".join(f"{k}={v}" for k, v in sorted(alert.items())))))
    kill = p.get("kill") or {}
    if kill:
        after = kill.get("after_fired_s")
        facts.append(("kill", escape(f"by {kill.get('by')}" + (f", {after:.3f} s after the alert fired"
                                                                  if after is not None else ""))))
    if p.get("projection"):
        facts.append(("projection", escape(str(p["projection"].get("basis", "")))))
    settings = p.get("settings") or {}
    if settings:
        facts.append(("settings", escape(" · ".join(f"{k.removesuffix('_s')} {v:g} s" if isinstance(v, float | int)
                                                     and not isinstance(v, bool) else f"{k} {v}"
                                                     for k, v in settings.items()))))
    facts += [("error", f'<span class="ko">{escape(str(e))}</span>') for e in p.get("errors") or []]
    out.append(_table(("", "value"), ((escape(k), v) for k, v in facts), ""))
    return "\n".join(out)


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
    parts.append(pipeline_section(run))
    parts.append("<h2>Assertions</h2>")
    parts.append(_table(
        ("", "assertion", "expected", "actual", "message"),
        ((_assertion_mark(a.passed, a.inconclusive), escape(a.name),
          _cell(a.expected), _cell(a.actual), escape(a.message)) for a in run.assertions),
        "no assertions in this experiment"))
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(("metric", "value"),
                        ((escape(label), _metric(metrics[key], unit, t0)) for key, label, unit in METRIC_ROWS), ""))
    parts.append(measurement_section(run))
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
