"""harness/measurement.py: the measurement floor of TTD and TTK, the kill's transit from the journal,
the services' bodies read strictly, and the warning a significant floor gets."""
from __future__ import annotations

from typing import Any

import pytest

from powerpeg.harness.measure import Metrics
from powerpeg.harness.measurement import (
    SIGNIFICANT_SHARE, ComponentLag, CpuSaturation, KillDecision, Lag, MeasurementError, Readings, busy_summary,
    dropcopy_reading, judge, kill_transit, loop_reading,
)

T = 1_700_000_000 * 10**9
MS = 10**6
FIRM = "KNIGHT"


def lag(p50: float, *, n: int = 1000) -> Lag:
    """A lag whose median (what a floor counts) is ``p50``; its tail four times that."""
    return Lag(n=n, p50=p50, p99=p50 * 4, max=p50 * 5)


def loops(**p50: float) -> list[ComponentLag]:
    return [ComponentLag(name.replace("_", "-"), lag(v)) for name, v in p50.items()]


def kill(ts: int, *, by: str | None = "monitor", firm: str = FIRM) -> dict[str, Any]:
    return {"ts_ns": ts, "kind": "kill", "session": None, "firm": firm, "cl_ord_id": None, "order_id": None,
            "symbol": None, "side": None, "qty": None, "price": None, "status": None, "scope": "firm", "id": firm,
            "by": by}


def readings(**overrides: Any) -> Readings:
    base: dict[str, Any] = dict(loop=loops(exchange=0.001, monitor=0.002, alerts=0.0, router_1=0.003),
                                drop_copy_lag_s=lag(0.32), kill_decisions=[], kill_note=None,
                                cpu=CpuSaturation(samples=40, interval_s=0.25, busy_p50=0.5, busy_max=0.8,
                                                  saturated_share=0.0, cores=2))
    base.update(overrides)
    return Readings(**base)


def test_a_drop_copy_backlog_that_is_most_of_the_ttd_is_said_in_one_sentence() -> None:
    """The issue's sentence: TTD 0.39 s includes 0.32 s of drop-copy backlog (and what share that is)."""
    m = judge(readings(), Metrics(ttd_s=0.39), [])
    assert ["TTD 0.39 s includes 0.32 s of drop-copy backlog (82%: powerpeg's own queueing, not the control)"] == \
        m.warnings


def test_the_lag_of_the_report_that_showed_the_violation_is_the_ttd_floor_when_known() -> None:
    """The monitor said how late the very report came (30 ms): that, not the run's median (320 ms), is the
    drop copy's part of this TTD."""
    m = judge(readings(breach_report_lag_s=0.03), Metrics(ttd_s=0.1), [])
    [part] = [p for p in m.ttd.parts if p.seconds > 0]
    assert ("the drop copy's delay of the report that showed the violation", 0.03, True) == (
        part.name, part.seconds, m.ttd.significant)


def test_a_floor_below_the_significant_share_gives_no_warning() -> None:
    """A floor just under the share is reported as figures only."""
    m = judge(readings(drop_copy_lag_s=lag(0.24)), Metrics(ttd_s=1.0), [])
    assert ([], 0.24, False) == (m.warnings, m.ttd.share, m.ttd.significant)


def test_the_significant_share_is_inclusive() -> None:
    """Exactly SIGNIFICANT_SHARE of the TTD is significant."""
    m = judge(readings(drop_copy_lag_s=lag(SIGNIFICANT_SHARE)), Metrics(ttd_s=1.0), [])
    assert (True, 1) == (m.ttd.significant, len(m.warnings))


def test_a_floor_longer_than_the_figure_says_the_run_cannot_tell() -> None:
    """A typical drop-copy lag beyond the TTD itself: the share is all of it, and the sentence says so."""
    m = judge(readings(drop_copy_lag_s=lag(0.5)), Metrics(ttd_s=0.1), [])
    assert 1.0 == m.ttd.share
    assert m.warnings[0].startswith("TTD 0.1 s is no more than powerpeg's own queueing (drop-copy backlog: 0.5 s)")


def test_the_alert_sinks_loop_lag_is_part_of_the_ttd_floor() -> None:
    """The page's delivery is stamped on the sink's loop: its lag adds to the drop copy's, both named."""
    m = judge(readings(loop=loops(alerts=0.05), drop_copy_lag_s=lag(0.1)), Metrics(ttd_s=0.4), [])
    assert {"drop-copy backlog": 0.1, "the alert sink's event loop": 0.05} == m.ttd.to_dict()["parts"]
    assert "of drop-copy backlog (0.1 s) and the alert sink's event loop (0.05 s)" in m.warnings[0]


def test_without_the_drop_copy_figure_the_monitors_loop_lag_stands_in() -> None:
    """An older monitor (no /measurement/dropcopy): its loop lag is the TTD floor's lower bound."""
    m = judge(readings(drop_copy_lag_s=Lag.missing("HTTP 404")), Metrics(ttd_s=0.01), [])
    assert {"the monitor's event loop": 0.002, "the alert sink's event loop": 0.0} == m.ttd.to_dict()["parts"]


def test_the_kill_transit_is_decision_to_the_exchanges_kill_record() -> None:
    """The first decision → the monitor's kill of that firm at or after it, from the journal."""
    decisions = [KillDecision(T, FIRM, "overfill"), KillDecision(T + 50 * MS, FIRM, "overfill again")]
    journal = [kill(T - 10 * MS), kill(T + 100 * MS, by="powerpeg-abort"), kill(T + 235 * MS, firm="OTHER"),
               kill(T + 235 * MS)]
    transit = kill_transit(decisions, journal)  # type: ignore[arg-type]
    assert (0.235, T, T + 235 * MS, 2, "overfill", None) == (
        transit.transit_s, transit.decided_ns, transit.at_exchange_ns, transit.decisions, transit.reason,
        transit.not_measured)


def test_a_decision_that_never_reached_the_exchange_is_not_measured_with_the_reason() -> None:
    transit = kill_transit([KillDecision(T, FIRM, "overfill")], [kill(T + MS, by="powerpeg-abort")])  # type: ignore[list-item]
    assert (None, True) == (transit.transit_s, "no kill of KNIGHT by the monitor" in (transit.not_measured or ""))


def test_kill_decisions_not_read_say_why() -> None:
    transit = kill_transit(None, [], note="the monitor did not answer")
    assert "the monitor did not answer" == transit.not_measured


def test_a_significant_kill_transit_warns_about_the_ttk() -> None:
    """TTK 0.25 s with a 0.235 s transit: most of the TTK was the kill's own way to the exchange."""
    m = judge(readings(drop_copy_lag_s=lag(0.001), kill_decisions=[KillDecision(T, FIRM, "overfill")]),
              Metrics(ttd_s=0.1, ttk_s=0.25), [kill(T + 235 * MS)])  # type: ignore[list-item]
    assert ["TTK 0.25 s includes 0.235 s of kill transit (94%: powerpeg's own queueing, not the control)"] == \
        m.warnings


def test_without_a_kill_transit_the_exchanges_loop_lag_is_the_ttk_floor() -> None:
    m = judge(readings(kill_decisions=None, kill_note="HTTP 404"), Metrics(ttd_s=1.0, ttk_s=0.004), [])
    assert ({"the exchange's event loop": 0.001}, "HTTP 404") == (m.ttk.to_dict()["parts"],
                                                                    m.kill_transit.not_measured)


def test_no_ttd_means_no_share_and_no_warning() -> None:
    """Not detected: the floor's figures stand, the share is null and nothing is claimed."""
    m = judge(readings(), Metrics(), [])
    assert (None, None, []) == (m.ttd.share, m.ttk.share, m.warnings)


def test_a_saturated_host_warns() -> None:
    """The CPU at 90 %+ in a quarter or more of the samples: every time includes waiting for a core."""
    cpu = busy_summary([0.95, 0.99, 0.5, 0.4], interval_s=0.25, cores=2)
    m = judge(readings(cpu=cpu), Metrics(), [])
    assert (0.5, 0.99, 0.5, 4) == (cpu.saturated_share, cpu.busy_max, cpu.busy_p50, cpu.samples)
    assert ["the host's CPU was 90%+ busy in 50% of the method's samples, peak 99%: every time in this run "
            "includes waiting for a core"] == m.warnings


def test_no_cpu_sample_is_not_measured() -> None:
    assert "no CPU sample" in (busy_summary([], interval_s=0.25, cores=2).not_measured or "")


def test_an_external_control_is_split_into_the_venues_floor_and_the_controls_part() -> None:
    """External: no kill transit (the control's decision is invisible); the venue's floor comes off TTD
    and TTK, what is left is at most the control's; what is and is not measured is listed."""
    r = readings(external=True, drop_copy_lag_s=Lag.missing("passive monitor"), kill_decisions=None,
                 loop=loops(exchange=0.2, alerts=0.1))
    m = judge(r, Metrics(ttd_s=2.6, ttk_s=0.5), [])
    assert ("external", None, 2.3, 0.3) == (m.scope, m.kill_transit.transit_s, m.control_ttd_s, m.control_ttk_s)
    assert {"the venue's event loop": 0.2, "the alert sink's event loop": 0.1} == m.ttd.to_dict()["parts"]
    assert any("kill decision" in x for x in m.not_measured) and any("exchange" in x for x in m.measured)
    assert ["TTK 0.5 s includes 0.2 s of the venue's event loop (40%: the venue's and the harness's own lag, "
            "not the control)"] == m.warnings


def test_the_monitors_body_is_read_to_the_contract() -> None:
    """GET /measurement/dropcopy: the lag and the kill decisions, typed."""
    lag_, decisions, breach = dropcopy_reading({
        "drop_copy_lag_s": {"n": 3, "p50": 0.001, "p99": 0.004, "max": 0.005},
        "kill_decisions": [{"at_ns": T, "firm": FIRM, "reason": "overfill", "report_lag_s": 0.03}],
        "first_risk_breach": {"ts_ns": T, "kind": "overfill", "report_lag_s": 0.03}})
    assert (Lag(3, 0.001, 0.004, 0.005), [KillDecision(T, FIRM, "overfill")], 0.03) == (lag_, decisions, breach)


def test_a_monitor_that_saw_no_report_is_not_measured() -> None:
    lag_, _, _ = dropcopy_reading({"drop_copy_lag_s": {"n": 0, "p50": None, "p99": None, "max": None},
                                   "kill_decisions": []})
    assert (False, "the monitor received no drop-copy report") == (lag_.measured, lag_.not_measured)


@pytest.mark.parametrize(("body", "field"), [
    ({"drop_copy_lag_s": {"n": "3"}}, "drop_copy_lag_s.n"),
    ({"drop_copy_lag_s": {"n": 3, "p99": "fast"}}, "drop_copy_lag_s.p99"),
    ({"drop_copy_lag_s": {"n": 1}, "kill_decisions": [{"at_ns": T}]}, "kill_decisions.0.firm"),
    ([], "body"),
])
def test_a_body_off_the_contract_is_an_error_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(MeasurementError, match=f"monitor GET /measurement/dropcopy: {field}"):
        dropcopy_reading(body)


def test_a_loop_body_is_read_with_the_harness_name_of_the_component() -> None:
    got = loop_reading("router-3", {"component": "router", "instance": "router-3",
                                    "loop_lag_s": {"n": 10, "p50": 0.0001, "p99": 0.002, "max": 0.003}})
    assert ComponentLag("router-3", Lag(10, 0.0001, 0.002, 0.003), "router-3") == got


def test_journal_view_has_every_figure() -> None:
    """journal.json's section: the figures, the floors, the rule and the warnings."""
    doc = judge(readings(), Metrics(ttd_s=0.39), []).to_dict()
    assert {"scope", "significant_share", "drop_copy_lag_s", "loop_lag_s", "kill_transit", "cpu", "floor",
            "measured", "not_measured", "control_ttd_s", "control_ttk_s", "warnings"} == set(doc)
    assert ({"exchange", "monitor", "alerts", "router-1"}, 0.32, 0.821) == (
        set(doc["loop_lag_s"]), doc["drop_copy_lag_s"]["p50"], doc["floor"]["ttd"]["share"])


def test_a_lag_counts_at_its_median_not_its_tail() -> None:
    """A rare stall (p99) is shown, but the floor is what a typical report waited: the median."""
    m = judge(readings(drop_copy_lag_s=Lag(1000, 0.002, 0.3, 0.5), loop=[]), Metrics(ttd_s=0.1), [])
    assert ({"drop-copy backlog": 0.002}, []) == (m.ttd.to_dict()["parts"], m.warnings)
