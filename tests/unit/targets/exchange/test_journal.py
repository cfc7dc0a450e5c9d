"""The journal: JSON lines, flushed in groups, nothing lost on close."""
from __future__ import annotations

import asyncio
from pathlib import Path

from targets.exchange.journal import Journal, read_records


def test_records_wait_for_a_flush(tmp_path: Path) -> None:
    """Below the group size nothing reaches the file until flushed."""
    journal = Journal(tmp_path / "j.ndjson", max_records=10)
    journal.append({"kind": "accepted"})
    assert [] == read_records(journal.path)


def test_full_group_is_flushed_at_once(tmp_path: Path) -> None:
    """The max_records-th record flushes the whole group."""
    journal = Journal(tmp_path / "j.ndjson", max_records=3)
    for i in range(3):
        journal.append({"kind": "accepted", "n": i})
    assert [0, 1, 2] == [r["n"] for r in read_records(journal.path)]


def test_close_flushes_the_rest(tmp_path: Path) -> None:
    """Closing writes the pending group."""
    journal = Journal(tmp_path / "j.ndjson")
    journal.append({"kind": "fill"})
    journal.close()
    assert ["fill"] == [r["kind"] for r in read_records(journal.path)]


def test_records_get_a_timestamp(tmp_path: Path) -> None:
    """A record without ts_ns is stamped on append."""
    journal = Journal(tmp_path / "j.ndjson")
    journal.append({"kind": "open"})
    journal.close()
    assert isinstance(read_records(journal.path)[0]["ts_ns"], int)


async def test_timer_flushes_a_partial_group(tmp_path: Path) -> None:
    """Within a running loop a partial group is flushed after flush_s."""
    journal = Journal(tmp_path / "j.ndjson", flush_s=0.01)
    journal.append({"kind": "accepted"})
    await asyncio.sleep(0.1)
    assert 1 == len(read_records(journal.path))
    journal.close()


async def test_wait_flushed_wakes_on_flush(tmp_path: Path) -> None:
    """A follower waiting on the journal is woken by the next flush."""
    journal = Journal(tmp_path / "j.ndjson", flush_s=10)
    waiter = asyncio.ensure_future(journal.wait_flushed(5))
    await asyncio.sleep(0)
    journal.append({"kind": "accepted"})
    journal.flush()
    await asyncio.wait_for(waiter, 1)
    assert True is waiter.done()
    journal.close()
