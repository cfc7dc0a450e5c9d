"""The journal: JSON lines, flushed in groups, nothing lost on close."""
from __future__ import annotations

import asyncio
from pathlib import Path

from powerpeg.targets.exchange.journal import Journal, copy_journal, locate, read_journal, read_records, segments


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


def write(journal: Journal, n: int, *, every: int = 1) -> None:
    for i in range(n):
        journal.append({"kind": "accepted", "n": i})
        if (i + 1) % every == 0:
            journal.flush()


def test_a_full_segment_continues_in_the_next_file(tmp_path: Path) -> None:
    """Past segment_bytes the journal goes on in j.1.ndjson, j.2.ndjson, ...; every record is read back
    once, in order, and every segment ends with a whole line."""
    journal = Journal(tmp_path / "j.ndjson", segment_bytes=100)
    write(journal, 30, every=3)
    journal.close()
    files = segments(journal.path)
    assert (list(range(30)), True, [tmp_path / "j.ndjson", tmp_path / "j.1.ndjson"]) == (
        [r["n"] for r in read_records(journal.path)], all(f.read_bytes().endswith(b"\n") for f in files),
        files[:2])
    assert len(files) > 3


def test_no_empty_segment_is_left_at_close(tmp_path: Path) -> None:
    """A segment is started by the flush that writes into it, not by the one that filled the last."""
    journal = Journal(tmp_path / "j.ndjson", segment_bytes=1)
    write(journal, 4)
    journal.close()
    assert [1, 1, 1, 1] == [len(f.read_bytes().splitlines()) for f in segments(journal.path)]


def test_a_restarted_journal_continues_in_its_last_segment(tmp_path: Path) -> None:
    """A new Journal on the same path (the exchange restarted) appends to the last segment, not the first."""
    first = Journal(tmp_path / "j.ndjson", segment_bytes=60)
    write(first, 5)
    first.close()
    last = segments(first.path)[-1]
    size = last.stat().st_size
    again = Journal(tmp_path / "j.ndjson", segment_bytes=10_000)
    again.append({"kind": "open"})
    again.close()
    assert (True, ["accepted"] * 5 + ["open"]) == (
        last.stat().st_size > size, [r["kind"] for r in read_records(first.path)])


def test_a_torn_last_line_costs_only_itself(tmp_path: Path) -> None:
    """After a crash mid-line the next life starts on a new line: the torn record is skipped by the
    reader, the next one is whole."""
    path = tmp_path / "j.ndjson"
    path.write_bytes(b'{"kind":"accepted","n":0}\n{"kind":"acc')
    journal = Journal(path)
    journal.append({"kind": "open"})
    journal.close()
    assert [0, "open"] == [r.get("n", r["kind"]) for r in read_journal(path)]


def test_offsets_run_on_across_segments(tmp_path: Path) -> None:
    """locate() turns a byte offset of the journal read as one stream into (segment, offset in it)."""
    journal = Journal(tmp_path / "j.ndjson", segment_bytes=1)
    write(journal, 3)
    journal.close()
    sizes = [f.stat().st_size for f in segments(journal.path)]
    assert [(0, 0), (0, 5), (1, 0), (1, 1), (2, 0), (2, sizes[2]), (2, sizes[2] + 7)] == [
        locate(journal.path, off) for off in
        (0, 5, sizes[0], sizes[0] + 1, sizes[0] + sizes[1], sum(sizes), sum(sizes) + 7)]


def test_copy_journal_concatenates_the_segments(tmp_path: Path) -> None:
    """The backend's rescue copy is one file with every segment, in order."""
    journal = Journal(tmp_path / "j.ndjson", segment_bytes=50)
    write(journal, 10)
    journal.close()
    copied = copy_journal(journal.path, tmp_path / "copy.jsonl")
    assert (journal.bytes_written(), list(range(10))) == (
        copied, [r["n"] for r in read_records(tmp_path / "copy.jsonl")])


def test_a_journal_rotated_every_few_records_gives_the_same_metrics(tmp_path: Path) -> None:
    """A runaway parent and a kill, journaled twice by the same engine run: once in one file, once in
    a segment every three records; powerpeg.harness.measure finds the same metrics in both."""
    from powerpeg.harness.measure import Evidence, compute
    from powerpeg.targets.exchange.book import BUY, DAY, LIMIT, MARKET, SELL
    from powerpeg.targets.exchange.core import Engine
    from powerpeg.targets.exchange.symbols import Symbol

    def run(journal: Journal) -> list:
        clock = iter(range(10**18, 10**18 + 10**12, 10**6))  # the same timestamps in both runs
        engine = Engine([Symbol("AAA", 1000), Symbol("BBB", 5000)], journal, now=clock.__next__)
        maker = engine.attach("MAKER", _Null(), cod=False)
        router = engine.attach("ROUTER-8", _Null(), cod=True)
        for n in range(20):
            symbol, price = ("AAA", 1000 + n) if n % 2 else ("BBB", 5000)
            engine.new_order(maker, f"m{n}", "MM", symbol, SELL, 100, price, LIMIT, DAY)
        for n in range(12):  # parent P1 is 300 shares: its children go on and on (Power Peg)
            engine.new_order(router, f"P1.{n}", "KNIGHT", "AAA" if n % 2 else "BBB", BUY, 100, None, MARKET, 3)
            if n % 3 == 2:
                journal.flush()
        engine.new_order(router, "P2.0", "KNIGHT", "AAA", BUY, 100, 900, LIMIT, DAY)
        engine.kill("firm", "KNIGHT", by="monitor")
        journal.close()
        evidence = Evidence(journal=read_journal(journal.path),
                            parents=[{"parent_id": "P1", "qty": 300, "router": "router-8", "rlp": True},
                                     {"parent_id": "P2", "qty": 100, "router": "router-1", "rlp": False}],
                            alerts=[], events=[], marks={"AAA": 10.0, "BBB": 50.0}, firm="KNIGHT")
        return [compute(evidence), len(segments(journal.path)), len(evidence.journal)]

    for name in ("whole", "rotated"):
        (tmp_path / name).mkdir()
    whole = run(Journal(tmp_path / "whole" / "journal.jsonl", max_records=3))
    rotated = run(Journal(tmp_path / "rotated" / "journal.jsonl", max_records=3, segment_bytes=1))
    assert (whole[0], whole[2]) == (rotated[0], rotated[2])
    metrics = whole[0]
    assert (1, True, True, True) == (
        whole[1], rotated[1] > 10, metrics.excess_shares > 0, metrics.kill_issued_at is not None)


class _Null:
    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        pass
