"""verdict.evaluate: each assertion set in the experiment, checked against the metrics."""
from __future__ import annotations

from powerpeg.harness.experiment.model import Assertions
from powerpeg.harness.measure import Evidence, Metrics
from powerpeg.harness.outages import Outage
from powerpeg.harness.verdict import (
    CONTROL_NOT_RUNNING,
    EXCHANGE_DOWN,
    MARKET_NEVER_OPENED,
    NOT_DETECTED,
    NOTHING_TO_MEASURE,
    AssertionResult,
    evaluate,
    outcome,
)

T0 = 1_700_000_000 * 10**9
S = 10**9


def runaway(**overrides) -> Metrics:
    base = dict(first_violation_at=T0, detected_at=T0 + S, detected_by="page", kill_issued_at=T0 + 2 * S,
                contained_at=T0 + 2 * S, contained_by="control", ttd_s=1.0, ttk_s=1.0, ttc_s=2.0,
                excess_shares=500, loss_usd=1234.5)
    base.update(overrides)
    return Metrics(**base)


def only(results: list[AssertionResult]) -> AssertionResult:
    assert 1 == len(results)
    return results[0]


def test_only_assertions_set_are_evaluated():
    """An experiment asserting ttd and excess gets exactly those two results, in order."""
    results = evaluate(Assertions(ttd_max="2s", excess_shares_max=1000), runaway(), [])
    assert ["ttd_max", "excess_shares_max"] == [r.name for r in results]


def test_ttd_within_bound_passes():
    """ttd 1 s against a 2 s bound holds."""
    result = only(evaluate(Assertions(ttd_max="2s"), runaway(), []))
    assert (True, 2.0, 1.0) == (result.passed, result.expected, result.actual)


def test_ttd_over_bound_fails():
    """ttd 1 s against a 500 ms bound fails."""
    assert only(evaluate(Assertions(ttd_max="500ms"), runaway(), [])).passed is False


def test_not_detected_fails_ttd_with_the_reason():
    """A runaway nobody paged about fails ttd_max saying detected_at is null."""
    result = only(evaluate(Assertions(ttd_max="5s"), runaway(detected_at=None, ttd_s=None, ttk_s=None), []))
    assert (False, None, "not detected: no page reached the pager (detected_at is null)") == (
        result.passed, result.actual, result.message)


def test_negative_ttd_passes_as_a_finding():
    """Detection before the violation passes a ttd bound and says it came first."""
    result = only(evaluate(Assertions(ttd_max="1s"), runaway(ttd_s=-3.0), []))
    assert (True, True) == (result.passed, "detected before the first violation" in result.message)


def test_ttk_fails_when_contained_by_abort():
    """A runaway stopped by the harness's abort is not killed by a control."""
    metrics = runaway(contained_by="abort", kill_issued_at=None, ttk_s=None, ttc_s=None)
    result = only(evaluate(Assertions(ttk_max="10s"), metrics, []))
    assert (False, "not killed by a control: contained by abort") == (result.passed, result.message)


def test_ttc_fails_when_still_running_at_the_end():
    """A runaway still running when the run ended fails ttc_max."""
    metrics = runaway(contained_by="end", kill_issued_at=None, ttk_s=None, ttc_s=None)
    result = only(evaluate(Assertions(ttc_max="10s"), metrics, []))
    assert (False, "not killed by a control: contained by end") == (result.passed, result.message)


def test_ttk_fails_when_killed_but_never_detected():
    """Killed by a control with no detection: time-to-kill is undefined and fails."""
    result = only(evaluate(Assertions(ttk_max="10s"), runaway(detected_at=None, ttd_s=None, ttk_s=None), []))
    assert (False, f"killed by a control but {NOT_DETECTED}") == (result.passed, result.message)


def test_ttk_and_ttc_within_bounds_pass():
    """ttk 1 s and ttc 2 s hold against 1 s and 3 s."""
    results = evaluate(Assertions(ttk_max="1s", ttc_max="3s"), runaway(), [])
    assert [("ttk_max", True, 1.0), ("ttc_max", True, 2.0)] == [(r.name, r.passed, r.actual) for r in results]


def test_no_violation_leaves_timing_assertions_untested():
    """With no violation there is nothing to detect or kill: never a pass, not a failure either."""
    results = evaluate(Assertions(ttd_max="1s", ttk_max="1s", ttc_max="1s"), Metrics(), [])
    assert [(False, True, NOTHING_TO_MEASURE)] * 3 == [(r.passed, r.inconclusive, r.cause) for r in results]


def test_excess_shares_over_bound_fails():
    """500 excess shares against a bound of 100 fails."""
    result = only(evaluate(Assertions(excess_shares_max=100), runaway(), []))
    assert (False, 100, 500) == (result.passed, result.expected, result.actual)


def test_loss_within_bound_passes():
    """A 1234.50 USD loss holds against 2000 USD."""
    assert only(evaluate(Assertions(loss_usd_max=2000), runaway(), [])).passed is True


def test_lost_orders_fail_naming_them():
    """Lost parents fail no_lost_orders, with their count and ids."""
    result = only(evaluate(Assertions(no_lost_orders=True), Metrics(), ["router-1-000003", "router-2-000004"]))
    assert (False, 2, True) == (result.passed, result.actual, "router-2-000004" in result.message)


def test_no_lost_orders_passes_when_none_lost():
    """No lost parents: no_lost_orders holds."""
    assert only(evaluate(Assertions(no_lost_orders=True), Metrics(), [])).passed is True


def undetected(**overrides) -> Metrics:
    """A runaway from T0 nobody paged about, stopped by the abort."""
    return runaway(**{"detected_at": None, "ttd_s": None, "ttk_s": None, "ttc_s": None, "contained_by": "abort",
                      **overrides})


def down(part: str, at_s: float, **fields) -> Outage:
    return Outage(part=part, down_at=T0 + int(at_s * S), reason="exited", control=part != "exchange", **fields)


def test_a_clean_run_with_a_timing_bound_is_inconclusive_saying_why():
    """No violation while ttd_max is asserted: the outcome is inconclusive and names the untested bound."""
    results = evaluate(Assertions(ttd_max="1s", excess_shares_max=0), Metrics(), [])
    assert ("inconclusive", "ttd_max: no violation happened: nothing to detect, so ttd_max was not tested") == \
        outcome(results)


def test_alert_within_with_no_violation_is_untested():
    """alert_within is TTD-type: with no violation it is not tested, not passed."""
    nothing = Evidence(journal=[], parents=[], alerts=[], events=[], marks={}, firm="KNIGHT")
    result = only(evaluate(Assertions(alert_within="1s"), Metrics(), [], nothing))
    assert (False, NOTHING_TO_MEASURE) == (result.passed, result.cause)


def test_market_that_never_opened_tests_nothing():
    """The market never opened: every assertion, even a quantity that holds, is untested, and so is the run."""
    results = evaluate(Assertions(excess_shares_max=0), Metrics(), [], opened=False)
    assert ([(False, MARKET_NEVER_OPENED)], ("inconclusive", MARKET_NEVER_OPENED)) == (
        [(r.passed, r.message) for r in results], outcome(results, opened=False))


def test_a_run_without_assertions_whose_market_never_opened_is_inconclusive():
    """No assertion to mark untested: the outcome itself says the market never opened."""
    assert ("inconclusive", MARKET_NEVER_OPENED) == outcome([], opened=False)


def test_passing_results_with_nothing_down_pass():
    """Every assertion held and no part went down: passed, nothing more to say."""
    assert ("passed", None) == outcome(evaluate(Assertions(ttd_max="2s"), runaway(), []))


def test_not_detected_while_the_monitor_was_dead_says_the_control_was_not_running():
    """The monitor exited before the violation's bound, by itself: the failure is a control not running."""
    result = only(evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=[down("monitor", -2.0)],
                           t0_ns=T0 - 4 * S))
    assert (False, CONTROL_NOT_RUNNING) == (result.passed, result.cause)
    assert result.message.endswith("the control was not running: monitor down from +2.0 s (exited): "
                                   "nothing was watching"), result.message


def test_the_verdict_names_the_control_that_was_not_running():
    """outcome: failed, and why is the dead control with when it died."""
    outages = [down("alerts", 0.5, meaning="no alert could reach anyone")]
    results = evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=outages, t0_ns=T0)
    assert ("failed", "the control was not running: alerts down from +0.5 s (exited): no alert could reach anyone") \
        == outcome(results, outages, t0_ns=T0)


def test_a_control_down_after_the_bound_is_a_plain_failure():
    """The monitor died 5 s after a 1 s bound had already been missed: the control failed, it was running."""
    result = only(evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=[down("monitor", 5.0)]))
    assert (False, None, NOT_DETECTED) == (result.passed, result.cause, result.message)


def test_a_control_back_up_before_the_violation_is_a_plain_failure():
    """Down and up again before the violation: it was running when needed."""
    outage = down("monitor", -3.0, up_at=T0 - S)
    assert only(evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=[outage])).cause is None


def test_a_control_a_fault_took_down_is_named_but_not_a_finding():
    """The experiment killed the monitor on purpose: the failure is the experiment's, and the message says so."""
    outage = down("monitor", 0.0, planned=True, fault="kill monitor")
    result = only(evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=[outage], t0_ns=T0))
    assert (False, None, True) == (result.passed, result.cause, "on purpose (kill monitor)" in result.message)


def test_a_passive_monitor_down_is_not_a_control_not_running():
    """A passive monitor (no control under test) dying does not excuse or explain a missed detection."""
    outage = Outage(part="monitor", down_at=T0, reason="exited", control=False)
    assert only(evaluate(Assertions(ttd_max="1s"), undetected(), [], outages=[outage])).cause is None


def test_killed_but_not_detected_with_the_sink_dead_is_the_sink():
    """The monitor killed, but the dead alert sink delivered no page: ttk_max names the sink, not slowness."""
    metrics = runaway(detected_at=None, ttd_s=None, ttk_s=None)
    result = only(evaluate(Assertions(ttk_max="1s"), metrics, [], outages=[down("alerts", -1.0)]))
    assert (False, CONTROL_NOT_RUNNING) == (result.passed, result.cause)


def test_the_exchange_dying_in_the_window_leaves_detection_untested():
    """The venue died 0.2 s after the violation: the missed ttd is not the control's failure, it is untested."""
    outages = [down("exchange", 0.2, meaning="the venue was gone")]
    results = evaluate(Assertions(ttd_max="1s"), undetected(contained_by="end"), [], outages=outages, t0_ns=T0)
    assert ([(False, EXCHANGE_DOWN)], "inconclusive") == (
        [(r.passed, r.cause) for r in results], outcome(results, outages, t0_ns=T0)[0])


def test_the_exchange_dying_by_itself_makes_a_passing_run_inconclusive():
    """Every assertion held on what was measured, but the venue died mid-run: inconclusive, saying so."""
    outages = [down("exchange", 3.0)]
    results = evaluate(Assertions(excess_shares_max=1000), runaway(), [], outages=outages, t0_ns=T0)
    status, why = outcome(results, outages, t0_ns=T0)
    assert ("inconclusive", True) == (status, why is not None and why.startswith("exchange down from +3.0 s"))


def test_a_real_failure_stays_failed_when_the_exchange_also_died():
    """500 excess shares above a 100 bound happened, whatever came after: failed."""
    results = evaluate(Assertions(excess_shares_max=100), runaway(), [], outages=[down("exchange", 3.0)])
    assert ("failed", None) == outcome(results, [down("exchange", 3.0)])


def test_a_planned_exchange_outage_is_not_a_reason_for_inconclusive():
    """The experiment killed the exchange on purpose: the run is judged as usual."""
    outages = [down("exchange", 3.0, planned=True, fault="kill exchange")]
    assert ("passed", None) == outcome(evaluate(Assertions(ttd_max="2s"), runaway(), [], outages=outages), outages)


def test_pages_before_the_first_fault_are_named_not_hidden():
    """Not detected after the fault, but 3 pages came before it: the message says so instead of "no page"."""
    result = only(evaluate(Assertions(ttd_max="1s"), undetected(pages_before_fault=3), []))
    assert "not detected: no page after the first fault; 3 pages before it (not counted as detection)" == \
        result.message


def _fault_at(at_s: float) -> Evidence:
    return Evidence(journal=[], parents=[], alerts=[], firm="KNIGHT", marks={},
                    events=[{"event": "fault_injected", "ts_ns": T0 + int(at_s * S), "kind": "partial_deploy"}])


def test_a_kill_after_the_fault_and_before_any_violation_is_a_prevention_that_passes():
    """The control pulled the kill 1.5 s after the fault began and no parent was ever over-committed: TTD,
    TTK and alert_within pass, saying it was prevented, and the run passes (it is not "nothing to measure")."""
    killed = Metrics(kill_issued_at=T0 + int(1.5 * S), kill_issued_by="alertmanager:venue-kill")
    results = evaluate(Assertions(ttd_max="5s", ttk_max="1s", alert_within="5s"), killed, [], _fault_at(0))
    assert ([True] * 3, ["prevented: alertmanager:venue-kill pulled the kill switch 1.500s after the first fault"] * 3,
            ("passed", None)) == ([r.passed for r in results],
                                  [r.message.split(",")[0] for r in results], outcome(results))


def test_a_kill_before_the_first_fault_is_no_prevention():
    """A kill in steady state, before any fault (a false alarm), does not make a run without a violation pass."""
    killed = Metrics(kill_issued_at=T0, kill_issued_by="monitor")
    results = evaluate(Assertions(ttd_max="5s"), killed, [], _fault_at(2))
    assert ("inconclusive", "ttd_max: no violation happened: nothing to detect, so ttd_max was not tested") == \
        outcome(results)


def test_a_violation_is_judged_as_ever_even_with_an_early_kill():
    """Prevention is only for runs without a violation: with one, TTD is timed from it as always."""
    results = evaluate(Assertions(ttd_max="1s"), runaway(), [], _fault_at(0))
    assert (True, False) == (results[0].passed, results[0].message.startswith("prevented"))
