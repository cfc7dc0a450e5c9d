"""verdict.evaluate: each assertion set in the experiment, checked against the metrics."""
from __future__ import annotations

from harness.experiment.model import Assertions
from harness.measure import Metrics
from harness.verdict import NOT_DETECTED, AssertionResult, evaluate

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


def test_clean_run_passes_timing_assertions():
    """With no violation there is nothing to detect or kill."""
    results = evaluate(Assertions(ttd_max="1s", ttk_max="1s", ttc_max="1s"), Metrics(), [])
    assert [True, True, True] == [r.passed for r in results]


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
