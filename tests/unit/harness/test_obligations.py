"""The preset assertions (kill_blocks_within, cancel_all_within, alert_within, kill_latched,
max_child_per_parent) judged on synthetic journals, as the exchange writes them."""
from __future__ import annotations

from typing import Any

from powerpeg.harness.experiment.model import Assertions
from powerpeg.harness.measure import Evidence, Metrics
from powerpeg.harness.verdict import NO_KILL, AssertionResult, evaluate

S = 1_000_000_000
T0 = 1_700_000_000 * S
FIRM = "KNIGHT"


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


def order(kind: str, cl: str, t: float, **extra: Any) -> dict[str, Any]:
    return {"ts_ns": at(t), "kind": kind, "session": "R1", "firm": FIRM, "cl_ord_id": cl, "order_id": cl,
            "symbol": "AAPL", "side": "buy", "qty": 100, "price": 10.0, "status": "new", **extra}


def venue(kind: str, t: float, **extra: Any) -> dict[str, Any]:
    return {"ts_ns": at(t), "kind": kind, "session": None, "firm": None, "cl_ord_id": None, "order_id": None,
            "symbol": None, "side": None, "qty": None, "price": None, "status": None, **extra}


KILL = venue("kill", 2.0, scope="firm", id=FIRM, by="monitor")


def judge(journal: list[dict[str, Any]], *, kill_at: float | None = 2.0, violation: float | None = 1.0,
          alerts: list[dict[str, Any]] | None = None, **assertions: Any) -> AssertionResult:
    metrics = Metrics(first_violation_at=None if violation is None else at(violation),
                      kill_issued_at=None if kill_at is None else at(kill_at))
    evidence = Evidence(journal=journal, parents=[{"parent_id": "P1", "qty": 100}, {"parent_id": "P2", "qty": 100}],
                        alerts=alerts or [], events=[], marks={}, firm=FIRM)
    [result] = evaluate(Assertions(**assertions), metrics, [], evidence)
    return result


def test_kill_blocks_within_fails_naming_orders_accepted_after_the_bound() -> None:
    """An order the venue accepted 1.5 s after the kill breaks a 1 s bound, and the message says so."""
    journal = [order("accepted", "P1.1", 1.0), KILL, order("accepted", "P1.2", 3.5)]
    result = judge(journal, kill_blocks_within="1s")
    assert (False, 1.5) == (result.passed, result.actual)
    assert "1 order(s) accepted more than 1.000s after the kill" in result.message


def test_kill_blocks_within_passes_when_orders_after_the_kill_are_refused() -> None:
    """Refusals after the kill are the switch working; the message counts them."""
    journal = [order("accepted", "P1.1", 1.0), KILL, order("rejected", "P1.2", 2.1, text="kill switch active")]
    result = judge(journal, kill_blocks_within="1s")
    assert (True, "1 order(s) refused after the kill, none accepted past 1.000s") == (result.passed, result.message)


def test_kill_blocks_within_says_when_blocking_was_not_exercised() -> None:
    """No order reached the venue after the kill: a pass that says it tested nothing."""
    result = judge([order("accepted", "P1.1", 1.0), KILL], kill_blocks_within="1s")
    assert result.passed and "not exercised" in result.message


def test_presets_on_a_kill_fail_when_no_kill_was_issued() -> None:
    """Without a kill, kill_blocks_within, cancel_all_within and kill_latched fail with that reason."""
    journal = [order("accepted", "P1.1", 1.0)]
    results = [judge(journal, kill_at=None, **{name: value}) for name, value in
               (("kill_blocks_within", "1s"), ("cancel_all_within", "1s"), ("kill_latched", True))]
    assert [(False, NO_KILL)] * 3 == [(r.passed, r.message) for r in results]


def test_cancel_all_within_measures_to_the_last_order_working_at_the_kill() -> None:
    """Two orders working at the kill, cancelled 0.1 s and 0.4 s after it: 0.4 s against the bound."""
    journal = [order("accepted", "P1.1", 1.0), order("accepted", "P2.1", 1.5), KILL,
               order("canceled", "P1.1", 2.1, reason="kill"), order("canceled", "P2.1", 2.4, reason="kill")]
    passed, failed = judge(journal, cancel_all_within="0.5s"), judge(journal, cancel_all_within="0.3s")
    assert (True, False, 0.4) == (passed.passed, failed.passed, round(passed.actual, 3))


def test_cancel_all_within_fails_when_an_order_outlives_the_run() -> None:
    """An order working at the kill and never cancelled fails, whatever the bound."""
    journal = [order("accepted", "P1.1", 1.0), order("accepted", "P2.1", 1.5), KILL,
               order("canceled", "P1.1", 2.1, reason="kill")]
    result = judge(journal, cancel_all_within="60s")
    assert (False, "1 of the 2 order(s) working at the kill were never cancelled") == (result.passed, result.message)


def test_an_order_filled_before_the_kill_is_not_working_at_it() -> None:
    """A child filled in full before the kill is not counted among the orders the kill had to cancel."""
    journal = [order("accepted", "P1.1", 1.0), order("fill", "P1.1", 1.2, leaves_qty=0, exec_qty=100), KILL]
    result = judge(journal, cancel_all_within="0.1s")
    assert (True, "no order of the firm was working at the kill") == (result.passed, result.message)


def test_alert_within_counts_the_first_alert_of_any_channel_after_the_violation() -> None:
    """An email 2 s after the violation meets a 5 s bound; an alert before the violation does not count."""
    alerts = [{"channel": "page", "delivered_ns": at(0.5)}, {"channel": "email", "delivered_ns": at(3.0)},
              {"channel": "page", "delivered_ns": at(7.0)}]
    result = judge([], kill_at=None, alerts=alerts, alert_within="5s")
    assert (True, 2.0, "first alert (email) 2.000s after the violation (<= 5.000s)") == (
        result.passed, result.actual, result.message)


def test_alert_within_fails_when_nothing_was_delivered() -> None:
    """An alert received but never delivered (a blackout) is no alert."""
    result = judge([], kill_at=None, alerts=[{"channel": "page", "delivered_ns": None}], alert_within="5s")
    assert (False, "no alert was delivered on any channel after the violation") == (result.passed, result.message)


def test_kill_latched_fails_when_the_venue_accepts_again_without_a_reinstate() -> None:
    """The kill lets an order through with no reinstate: not latched."""
    journal = [order("accepted", "P1.1", 1.0), KILL, order("accepted", "P1.2", 2.5)]
    assert not judge(journal, kill_latched=True).passed


def test_kill_latched_holds_until_an_explicit_reinstate() -> None:
    """Orders accepted after a reinstate of the firm do not break the latch."""
    journal = [order("accepted", "P1.1", 1.0), KILL, venue("reinstate", 3.0, scope="firm", id=FIRM),
               order("accepted", "P1.2", 3.5)]
    result = judge(journal, kill_latched=True)
    assert (True, "the kill held until the reinstate") == (result.passed, result.message)


def test_max_child_per_parent_names_the_worst_parent() -> None:
    """Three children of P2 against a bound of two: fails naming P2; children of unknown parents are not counted."""
    journal = [order("accepted", f"P2.{i}", 1.0 + i / 10) for i in range(3)] + [order("accepted", "P1.1", 1.0)]
    journal += [order("accepted", f"X.{i}", 1.0) for i in range(5)]
    result = judge(journal, kill_at=None, max_child_per_parent=2)
    assert (False, 3, "3 child orders for parent P2 (> 2)") == (result.passed, result.actual, result.message)


def test_a_preset_without_evidence_fails_rather_than_passing_on_nothing() -> None:
    """Presets are judged on the journal; with none, the result says so and fails."""
    results = evaluate(Assertions(kill_latched=True), Metrics(), [], None)
    assert [("presets", False)] == [(r.name, r.passed) for r in results]
