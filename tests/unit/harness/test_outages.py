"""harness/outages.py: the parts that went down, from the run's event log, and how they read."""
from __future__ import annotations

from powerpeg.harness.outages import Outage, findings, from_events

T0 = 1_700_000_000 * 10**9
S = 10**9


def down(part: str, at_s: float, **fields) -> dict:
    return {"event": "part_down", "part": part, "ts_ns": T0 + int(at_s * S) + S // 2,
            "since_ns": T0 + int(at_s * S), **fields}


def up(part: str, at_s: float) -> dict:
    return {"event": "part_up", "part": part, "ts_ns": T0 + int(at_s * S)}


def test_a_down_and_its_up_make_one_outage_from_the_first_failed_read():
    """part_down's since_ns is when it went down; part_up closes it."""
    [outage] = from_events([down("monitor", 4.5, reason="exited"), up("monitor", 7.0)])
    assert ("monitor", T0 + 45 * S // 10, T0 + 7 * S, "exited") == (
        outage.part, outage.down_at, outage.up_at, outage.reason)


def test_a_part_still_down_at_the_end_has_no_up():
    """No part_up: down to the end of the run."""
    [outage] = from_events([down("alerts", 1.0)])
    assert outage.up_at is None


def test_outages_come_in_the_order_they_began_and_other_events_are_ignored():
    """Two parts, interleaved with unrelated events."""
    events = [{"event": "market_open", "ts_ns": T0}, down("alerts", 3.0), down("exchange", 2.0), up("alerts", 4.0)]
    assert ["exchange", "alerts"] == [o.part for o in from_events(events)]


def test_a_finding_reads_part_time_reason_and_meaning():
    """The sentence the reports show, in seconds from the method's start."""
    outage = Outage("monitor", T0 + 45 * S // 10, reason="exited", meaning="nothing was watching")
    assert "monitor down from +4.5 s (exited): nothing was watching" == outage.text(T0)


def test_a_planned_outage_says_whose_doing_it_was_and_is_no_finding():
    """A fault's kill reads as on purpose, and findings() leaves it out."""
    outage = Outage("monitor", T0 + 3 * S, T0 + 5 * S, planned=True, fault="kill monitor", reason="exited")
    assert ("monitor down from +3.0 s to +5.0 s on purpose (kill monitor) (exited)", []) == (
        outage.text(T0), findings([outage]))


def test_to_dict_round_trips_and_adds_seconds_and_text():
    """journal.json's shape: the fields plus down_s/up_s, finding and text; from_dict ignores the extras."""
    outage = Outage("exchange", T0 + 2 * S, reason="exited", meaning="the venue was gone")
    data = outage.to_dict(T0)
    assert (2.0, None, True, outage) == (data["down_s"], data["up_s"], data["finding"], Outage.from_dict(data))
