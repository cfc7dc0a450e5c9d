"""The Chaos page's alert groups: one row per source, channel and kind, pages first."""
from __future__ import annotations

from typing import Any

from powerpeg.harness.ui.alert_groups import group, kind_of
from powerpeg.harness.ui.tab import status_rows


def alert(i: int, *, source: str = "router-8", channel: str = "email", text: str | None = None,
          acked: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": f"a-{i:06d}", "source": source, "channel": channel, "delivered_ns": 1_000 + i,
            "text": text or f"SMARS {source}: Power Peg disabled (legacy path reached by rlp-flagged parent P-{i})",
            "acked_ns": 5 if acked else None, **extra}


def test_a_hundred_emails_of_one_kind_are_one_group_below_the_page() -> None:
    """110 router emails differing only in the parent id are one group of 110; the single page sorts first."""
    alerts = [alert(i) for i in range(110)] + [alert(200, source="monitor", channel="page", text="overfill P-3")]
    groups = group(alerts)
    assert [("page", "monitor", 1), ("email", "router-8", 110)] == [(g["channel"], g["source"], g["count"])
                                                                     for g in groups]


def test_a_group_spans_its_first_and_last_alert_and_acks_the_first_unacked() -> None:
    """first/last times span the group; its Ack goes to the earliest alert not yet acknowledged."""
    [g] = group([alert(1, acked=True), alert(2), alert(3)])
    assert (1_001, 1_003, "a-000002", False) == (g["first_ns"], g["last_ns"], g["unacked_id"], g["acked"])


def test_alertmanager_alerts_group_by_alertname() -> None:
    """An alert that came through Alertmanager is of the kind its alertname says, whatever its text."""
    a = alert(1, source="alertmanager:pager", channel="page", text="x 1", labels={"alertname": "KnightRunaway"})
    b = alert(2, source="alertmanager:pager", channel="page", text="y 2", labels={"alertname": "KnightRunaway"})
    assert (["KnightRunaway"], 2) == ([g["kind"] for g in group([a, b])], group([a, b])[0]["count"])


def test_different_kinds_from_one_source_stay_apart() -> None:
    """Two different messages of one router are two groups, not one."""
    assert 2 == len(group([alert(1), alert(2, text="FIX session to the exchange lost")]))


def test_varying_parts_are_blanked_in_the_kind() -> None:
    """Ids and numbers vary between alerts of one kind: the kind shows them blanked."""
    assert "gross notional $… above limit $…" == kind_of({"text": "gross notional $1,250,000 above limit $1,000,000"})


def test_the_locust_tab_lists_groups() -> None:
    """The Chaos rows in Locust's own UI show each group once with its count."""
    status = {"experiment": "e", "phase": "open", "metrics": {}, "faults": [],
              "alert_groups": group([alert(i) for i in range(3)])}
    rows = [r for r in status_rows(status) if r["item"].startswith("alerts")]
    assert [("alerts (email) router-8 ×3", kind_of(alert(0)))] == [(r["item"], r["value"]) for r in rows]
