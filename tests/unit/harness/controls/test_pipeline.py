"""Where the detection time went: stages from a bundled control's own account, the metrics and the sink."""
from __future__ import annotations

from powerpeg.harness.controls.pipeline import stages
from powerpeg.harness.controls.timestamps import rfc3339_ns
from powerpeg.harness.measure import Metrics

S = 1_000_000_000
V = 1_000 * S  # the first violation
LABELS = {"alertname": "KnightExecutedAboveParents", "session": "ROUTER-8", "firm": "KNIGHT"}


def raw(**alert: int | None) -> dict:
    return {"control": "prometheus", "settings": {"group_wait_s": 30.0},
            "alerts": [{"alertname": LABELS["alertname"], "labels": LABELS, **alert}]}


def page(received: int, delivered: int) -> dict:
    return {"source": "alertmanager:trading-pager", "channel": "page", "labels": LABELS,
            "received_ns": received, "delivered_ns": delivered}


def test_the_four_stages_add_up_to_the_ttd() -> None:
    """scrape, rule, alertmanager, delivery: from the violation to the page, each ending where a party recorded it."""
    metrics = Metrics(first_violation_at=V, detected_at=V + 63 * S, kill_issued_at=V + 62 * S,
                      kill_issued_by="alertmanager:venue-kill")
    p = stages(raw(expr_true_at_ns=V + 20 * S, active_at_ns=V + 32 * S, fired_at_ns=V + 32 * S,
                   alertmanager_at_ns=V + 32 * S + 10_000_000),
               metrics, [page(V + 62 * S, V + 63 * S)])
    assert {"scrape": 20.0, "rule": 12.0, "alertmanager": 30.0, "delivery": 1.0} == p["stages_s"]
    assert ({"push": 0.01, "group_wait": 29.99}, "delivered") == (p["alertmanager_split_s"], p["reached"])
    assert {"by": "alertmanager:venue-kill", "at": V + 62 * S, "after_fired_s": 30.0, "after_violation_s": 62.0} == (
        p["kill"])
    assert p["summary"].endswith("most in alertmanager")


def test_not_delivered_says_how_far_it_got_and_when_the_page_was_due() -> None:
    """Held in group_wait at the end: no alertmanager stage, reached 'alertmanager', the page due at receipt + 30 s."""
    p = stages(raw(expr_true_at_ns=V + 14 * S, active_at_ns=V + 22 * S, fired_at_ns=V + 22 * S,
                   alertmanager_at_ns=V + 22 * S), Metrics(first_violation_at=V), [])
    assert ({"scrape": 14.0, "rule": 8.0, "alertmanager": None, "delivery": None}, "alertmanager") == (
        p["stages_s"], p["reached"])
    assert 52.0 == p["projection"]["after_violation_s"]
    assert "Alertmanager held it (group_wait)" in p["summary"] and "due 52.0 s" in p["summary"]


def test_the_data_time_is_never_after_the_evaluation_that_saw_it() -> None:
    """The query's step is coarser than the evaluation: data_at is clamped to activeAt."""
    p = stages(raw(expr_true_at_ns=V + 3 * S, active_at_ns=V + 2 * S, fired_at_ns=V + 2 * S),
               Metrics(first_violation_at=V), [])
    assert (2.0, 0.0) == (p["stages_s"]["scrape"], p["stages_s"]["rule"])


def test_rfc3339_times_to_ns() -> None:
    """Any fraction, Z or an offset; Go's zero time is None."""
    assert [1_700_000_000_123_456_789, 1_700_000_000_500_000_000, 1_700_000_000_000_000_000, None, None] == [
        rfc3339_ns("2023-11-14T22:13:20.123456789Z"), rfc3339_ns("2023-11-14T22:13:20.5Z"),
        rfc3339_ns("2023-11-14T23:13:20+01:00"), rfc3339_ns("0001-01-01T00:00:00Z"), rfc3339_ns(None)]
