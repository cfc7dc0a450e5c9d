"""harness/watch.py: the live view's running totals from a journal the exchange's own engine wrote.

No hand-written JSON: the journal comes from the engine and its Journal, so a change of the writer's
records that the live view would misread (and so the abort conditions) fails here.
"""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from powerpeg.harness.watch import LiveState, _Lines
from powerpeg.targets.exchange.book import BUY, IOC, LIMIT, MARKET, SELL
from tests.unit.targets.exchange.venue import Venue


def trading_day(tmp_path: Path) -> bytes:
    """A journal with both firms: fills, an IOC remainder canceled, a resting order the kill cancels,
    the kill and the reinstatement."""
    v = Venue(tmp_path)
    v.engine.open_market()
    knight, mm = v.login("ROUTER-1"), v.login("MM")
    v.order(mm, "mm-1", SELL, 500, 1000, firm="MM")
    v.order(knight, "p1.1", BUY, 300, None, firm="KNIGHT", ord_type=MARKET, tif=IOC)  # accepted + fills
    v.order(knight, "p1.2", BUY, 400, None, firm="KNIGHT", ord_type=MARKET, tif=IOC)  # fills 200, rest canceled
    v.order(knight, "p2.1", SELL, 100, 2000, firm="KNIGHT", ord_type=LIMIT)  # rests
    v.engine.kill("firm", "KNIGHT", by="monitor")  # cancels p2.1, journals the kill
    v.journal.flush()
    return v.journal.path.read_bytes()


def live(chunks: list[bytes]) -> LiveState:
    state = LiveState("KNIGHT")
    for p in ({"parent_id": "p1", "qty": 300}, {"parent_id": "p2", "qty": 100}):
        state.on_parent(p)
    feed: _Lines[dict] = _Lines()
    for chunk in chunks:
        for record in feed.feed(chunk):
            state.on_journal(record)
    return state


def test_live_totals_of_a_real_journal(tmp_path) -> None:
    state = live([trading_day(tmp_path)])
    # p1 asked 300 and got 500 (two IOC children, a fill each): 200 excess; three children; the kill is on
    assert (3, 2, 200, "monitor") == (state.child_orders, state.fills, state.excess_shares, state.killed_by)


@pytest.mark.parametrize("size", [1, 7, 64, 4096])
def test_the_same_totals_however_the_journal_is_cut(tmp_path, size) -> None:
    """The tail reads by byte offset: records torn across reads add up to the same totals."""
    data = trading_day(tmp_path)
    whole, cut = live([data]), live([data[i:i + size] for i in range(0, len(data), size)])
    assert whole == cut


def test_a_journal_written_with_spaces_reads_the_same(tmp_path) -> None:
    data = trading_day(tmp_path)
    spaced = b"".join(json.dumps(orjson.loads(line)).encode() + b"\n" for line in data.splitlines())
    assert live([data]) == live([spaced])


def test_a_torn_last_line_waits_for_its_end_and_a_torn_middle_line_is_skipped() -> None:
    feed: _Lines[dict] = _Lines()
    assert feed.feed(b'{"a":1}\n{"b":') == [{"a": 1}]
    assert feed.feed(b'2}\n{"c"\n{"d":4}\n') == [{"b": 2}, {"d": 4}]
    assert feed.offset == len(b'{"a":1}\n{"b":2}\n{"c"\n{"d":4}\n')
