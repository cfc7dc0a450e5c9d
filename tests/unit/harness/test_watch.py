"""harness/watch.py: the live view's journal tail screens lines before parsing them, and loses nothing it counts.

The journal here is written by the exchange's own engine and Journal (no hand-written JSON), so a change
of the writer's format that the screen would miss fails these tests instead of silently zeroing the
live totals the abort conditions read.
"""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from powerpeg.harness.watch import LiveState, _Lines, journal_screen
from powerpeg.targets.exchange.book import BUY, IOC, LIMIT, MARKET, SELL
from tests.unit.targets.exchange.venue import Venue


def trading_day(tmp_path: Path) -> list[bytes]:
    """A journal with both firms, every kind the live view cares about and some it does not."""
    v = Venue(tmp_path)
    v.engine.open_market()
    knight, mm = v.login("ROUTER-1"), v.login("MM")
    v.order(mm, "mm-1", SELL, 500, 1000, firm="MM")
    v.order(knight, "p1.1", BUY, 300, None, firm="KNIGHT", ord_type=MARKET, tif=IOC)  # accepted + fills
    v.order(knight, "p1.2", BUY, 400, None, firm="KNIGHT", ord_type=MARKET, tif=IOC)  # fills 200, rest canceled
    v.order(knight, "p2.1", SELL, 100, 2000, firm="KNIGHT", ord_type=LIMIT)  # rests
    v.engine.kill("firm", "KNIGHT", by="monitor")  # cancels p2.1, journals the kill
    v.engine.reinstate("firm", "KNIGHT")
    v.journal.flush()
    return [line for line in v.journal.path.read_bytes().split(b"\n") if line]


def test_the_screen_passes_what_the_live_totals_count_and_the_venue_records(tmp_path) -> None:
    lines = trading_day(tmp_path)
    kinds = {(r["kind"], r.get("firm")) for r in map(orjson.loads, lines)}
    assert {("canceled", "KNIGHT"), ("accepted", "MM"), ("fill", "MM")} <= kinds  # what is screened out exists
    screen = journal_screen("KNIGHT", keep=False)
    passed = [orjson.loads(line) for line in lines if screen(line)]
    expected = [r for r in map(orjson.loads, lines)
                if (r.get("firm") == "KNIGHT" and r["kind"] in ("accepted", "fill"))
                or r["kind"] in ("kill", "reinstate", "open")]
    assert passed == expected and len(passed) < len(lines)


def test_kept_screen_passes_every_record_of_the_firm(tmp_path) -> None:
    lines = trading_day(tmp_path)
    screen = journal_screen("KNIGHT", keep=True)
    passed = [orjson.loads(line) for line in lines if screen(line)]
    expected = [r for r in map(orjson.loads, lines)
                if r.get("firm") == "KNIGHT" or r["kind"] in ("kill", "reinstate", "open")]
    assert passed == expected


@pytest.mark.parametrize("keep", [False, True])
def test_live_totals_are_the_same_screened_or_not(tmp_path, keep) -> None:
    lines = trading_day(tmp_path)
    parents = [{"parent_id": "p1", "qty": 300}, {"parent_id": "p2", "qty": 100}]
    whole, screened = LiveState("KNIGHT"), LiveState("KNIGHT")
    for state in (whole, screened):
        for p in parents:
            state.on_parent(p)
    for r in map(orjson.loads, lines):
        whole.on_journal(r)
    feed: _Lines[dict] = _Lines(journal_screen("KNIGHT", keep=keep))
    for r in feed.feed(b"\n".join(lines) + b"\n"):
        screened.on_journal(r)
    assert whole == screened
    assert (whole.child_orders, whole.excess_shares, whole.killed_by) == (3, 200, None)  # p1: 500 filled of 300


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_the_screen_reads_compact_and_spaced_json_alike(tmp_path, separators) -> None:
    """The exchange writes compact JSON; a journal written with json.dumps' default spacing (a replay, a
    test's fake exchange) passes the same lines."""
    lines = [json.dumps(orjson.loads(line), separators=separators).encode() for line in trading_day(tmp_path)]
    screen = journal_screen("KNIGHT", keep=False)
    kinds = [(r["kind"], r.get("firm")) for r in (orjson.loads(line) for line in lines if screen(line))]
    assert {("accepted", "KNIGHT"), ("fill", "KNIGHT"), ("kill", "KNIGHT"), ("reinstate", "KNIGHT"),
            ("open", None)} == set(kinds)


def test_a_torn_last_line_waits_for_its_end_and_a_torn_middle_line_is_skipped() -> None:
    feed: _Lines[dict] = _Lines()
    assert feed.feed(b'{"a":1}\n{"b":') == [{"a": 1}]
    assert feed.feed(b'2}\n{"c"\n{"d":4}\n') == [{"b": 2}, {"d": 4}]
    assert feed.offset == len(b'{"a":1}\n{"b":2}\n{"c"\n{"d":4}\n')
