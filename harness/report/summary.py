"""The one-screen terminal summary of a run, and two runs side by side (``make demo``)."""
from __future__ import annotations

from pathlib import Path

from powerpeg.harness.measurement import Lag, Measurement, secs

from .record import RunRecord

FILES = ("report.html", "junit.xml", "journal.json")
COLUMN = 30


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _verdict(run: RunRecord) -> str:
    failed = len(run.failed_assertions())
    if run.status == "error":
        return f"ERROR: {run.error or 'run error'}"
    if run.status == "aborted":
        return f"ABORTED: {run.abort.reason or 'stop condition breached'}"
    if run.status == "failed":
        why = f" — {run.verdict}" if run.verdict else ""
        return f"FAILED: {failed} of {len(run.assertions)} assertion(s) failed{why}"
    if run.status == "inconclusive":
        return f"INCONCLUSIVE: {run.verdict or 'nothing was tested'}"
    return f"PASSED: {len(run.assertions)} assertion(s) hold"


def assertion_mark(passed: bool, untested: bool) -> str:
    """✓ held, ✗ failed, ? not tested."""
    return "?" if untested else "✓" if passed else "✗"


def outage_lines(run: RunRecord) -> list[str]:
    """One line per part that went down: a finding, or down on purpose."""
    return [f"  {'finding' if o.finding else 'planned'}: {o.text(run.t0_ns)}" for o in run.outages]


def evidence_line(run: RunRecord) -> str | None:
    """The sources of evidence that could not be read, or came another way; None when all were read."""
    notes = [f"{s.source} not read ({_short(s.error or '')})" for s in run.sources if not s.ok]
    notes += [f"{s.source} {_short(s.how)}" for s in run.sources if s.ok and s.extra.get("rescued")]
    return "  evidence: " + "; ".join(notes) if notes else None


def _lag(lag: Lag | None) -> str:
    if lag is None or not lag.measured or lag.p50 is None or lag.p99 is None:
        return "not measured"
    return f"p50 {secs(lag.p50)}, p99 {secs(lag.p99)}"


def _loops(m: Measurement) -> str:
    """Each component's loop-lag p99; the routers as their worst one (one line for any fleet)."""
    cells = [f"{c.component} {secs(c.loop_lag_s.p99)}" if c.loop_lag_s.measured and c.loop_lag_s.p99 is not None
             else f"{c.component} not measured" for c in m.loop_lag_s if not c.component.startswith("router-")]
    routers = [c.loop_lag_s for c in m.loop_lag_s if c.component.startswith("router-")]
    worst = max((lag.p99 for lag in routers if lag.measured and lag.p99 is not None), default=None)
    if routers:
        unread = sum(1 for lag in routers if not lag.measured)
        cells.append(f"{len(routers)} routers ≤ {secs(worst)}" + (f" ({unread} not measured)" if unread else "")
                     if worst is not None else f"{len(routers)} routers not measured")
    return ", ".join(cells) or "none read"


def floor_lines(run: RunRecord) -> list[str]:
    """The measurement floor in two lines, then one ``⚠`` line per warning (harness/measurement.py)."""
    m = run.measurement
    if m is None:
        return []
    transit = m.kill_transit
    kill = secs(transit.transit_s) if transit.transit_s is not None else "not measured"
    cpu = m.cpu
    host = (f"CPU p50 {cpu.busy_p50:.0%}, max {cpu.busy_max:.0%}, saturated in {cpu.saturated_share:.0%} of "
            f"{cpu.samples} samples" if cpu.busy_p50 is not None and cpu.busy_max is not None
            and cpu.saturated_share is not None else "CPU not measured")
    venue = "venue " if m.scope == "external" else ""
    lines = [f"  floor: {venue}drop-copy lag {_lag(m.drop_copy_lag_s)} · kill transit {kill} · {host}",
             f"  loop lag p99: {_loops(m)}"]
    if m.scope == "external" and (m.control_ttd_s is not None or m.control_ttk_s is not None):
        lines.append(f"  the control's part, at most: TTD {_s(m.control_ttd_s)} · TTK {_s(m.control_ttk_s)} "
                     f"(the rest is the venue's floor; the control's own receipt times are not visible)")
    lines += [f"  ⚠ {w}" for w in m.warnings]
    return lines


def _short(text: str, width: int = 90) -> str:
    """One screen line each: the whole text is in journal.json's evidence."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _why_missing(run: RunRecord, what: str) -> str:
    m = run.metrics
    if m.first_violation_at is None:
        return "no violation"
    if what == "ttd":
        before = m.pages_before_fault
        return f"not detected; {before} page(s) before the first fault, not counted" if before else "not detected"
    if m.contained_by != "control":
        return f"contained by {m.contained_by}"
    return "not detected"


# what a negative figure means (docs/harness.md, Metrics): not an error, an order of events
_NEGATIVE = {
    "ttd": "detected before the first violation",
    "ttk": "contained before the page was delivered: the kill beat the pager",
}


def _timing(run: RunRecord, what: str, value: float | None) -> str:
    if value is None:
        return f"— ({_why_missing(run, what)})"
    return f"{_s(value)} ({_NEGATIVE[what]})" if value < 0 and what in _NEGATIVE else _s(value)


def _blast(run: RunRecord) -> str:
    m = run.metrics
    rate = "" if m.excess_shares_per_s is None else f" ({m.excess_shares_per_s:,.0f}/s)"
    abort = "" if m.time_to_abort_s is None else f" · abort {m.time_to_abort_s:.1f} s after the violation"
    return (f"{m.excess_shares:,} excess shares{rate}{abort} · {m.runaway_child_orders:,} runaway child orders "
            f"({m.runaway_parents} of {m.parents} parents) · loss {_usd(m.loss_usd)} "
            f"· gross {_usd(m.gross_notional_usd)}")


def render(run: RunRecord, out_dir: Path | str | None = None) -> str:
    m = run.metrics
    lines = [
        f"powerpeg · {run.experiment} · {_verdict(run)}",
        f"  backend {run.backend} · seed {run.seed} · {run.duration_s:.1f} s",
    ]
    if run.hypothesis:
        lines.append(f"  hypothesis: {run.hypothesis}")
    if run.expect == "refuted":
        met = {True: "as expected", False: "NOT as expected", None: "no verdict"}[run.as_expected]
        lines.append(f"  expected: refuted (a known weakness kept as a regression guard) · {met}")
    detected = f" (by {m.detected_by})" if m.detected_by else ""
    lines += [
        f"  TTD  time to detect    {_timing(run, 'ttd', m.ttd_s)}{detected if m.ttd_s is not None else ''}",
        f"  TTK  time to kill      {_timing(run, 'ttk', m.ttk_s)}",
        f"  TTC  time to contain   {_timing(run, 'ttc', m.ttc_s)}",
        f"  blast radius: {_blast(run)}",
    ]
    if run.pipeline is not None and run.pipeline.get("summary"):
        lines.append(f"  {run.pipeline['summary']}")
    lines += floor_lines(run)
    if run.faults:
        lines.append("  faults: " + "; ".join(
            f"{f.kind} {f.target}".strip() + (f" (error: {f.error})" if f.error else "") for f in run.faults))
    lines += outage_lines(run)
    evidence = evidence_line(run)
    if evidence:
        lines.append(evidence)
    if run.assertions:
        lines.append("assertions")
        width = max(len(a.name) for a in run.assertions)
        lines += [f"  {assertion_mark(a.passed, a.inconclusive)} {a.name:<{width}}  {a.message}"
                  for a in run.assertions]
    else:
        lines.append("assertions: none in this experiment")
    if out_dir is not None:
        lines.append("reports: " + "  ".join(str(Path(out_dir) / name) for name in FILES))
    return "\n".join(lines)


def _rows(run: RunRecord) -> list[tuple[str, str]]:
    m = run.metrics
    passed = sum(a.passed for a in run.assertions)
    return [
        ("experiment", run.experiment),
        ("verdict", run.status.upper()),
        ("TTD", _timing(run, "ttd", m.ttd_s)),
        ("TTK", _timing(run, "ttk", m.ttk_s)),
        ("TTC", _timing(run, "ttc", m.ttc_s)),
        ("detected by", m.detected_by or "—"),
        ("kill issued by", m.kill_issued_by or "—"),
        ("contained by", m.contained_by or "—"),
        ("excess shares", f"{m.excess_shares:,}"),
        ("excess shares/s", "—" if m.excess_shares_per_s is None else f"{m.excess_shares_per_s:,.0f}"),
        ("time to abort", "—" if m.time_to_abort_s is None else f"{m.time_to_abort_s:.3f} s"),
        ("runaway children", f"{m.runaway_child_orders:,}"),
        ("loss", _usd(m.loss_usd)),
        ("gross notional", _usd(m.gross_notional_usd)),
        ("assertions", f"{passed}/{len(run.assertions)} hold"),
    ]


def _fit(text: str) -> str:
    return text if len(text) <= COLUMN else text[: COLUMN - 1] + "…"


def side_by_side(run_a: RunRecord, run_b: RunRecord,
                 titles: tuple[str, str] = ("without controls", "with controls")) -> str:
    """Two runs of the same faults in two columns: what the controls changed."""
    names = list(dict.fromkeys([a.name for a in run_a.assertions] + [b.name for b in run_b.assertions]))
    label_w = max([17] + [len(n) + 3 for n in names])
    lines = [f"{'':<{label_w}} {_fit(titles[0]):<{COLUMN}} {_fit(titles[1]):<{COLUMN}}",
             f"{'':<{label_w}} {'-' * COLUMN} {'-' * COLUMN}"]
    for (label, a), (_, b) in zip(_rows(run_a), _rows(run_b), strict=True):
        lines.append(f"{label:<{label_w}} {_fit(a):<{COLUMN}} {_fit(b):<{COLUMN}}".rstrip())
    for name in names:
        mark = [next((("✓" if r.passed else "✗") for r in run.assertions if r.name == name), "·")
                for run in (run_a, run_b)]
        lines.append(f"{'  ' + name:<{label_w}} {mark[0]:<{COLUMN}} {mark[1]:<{COLUMN}}".rstrip())
    return "\n".join(lines)
