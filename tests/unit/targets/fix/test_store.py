"""The FIX message stores: what a session keeps, and what a file store gives back after a restart."""
from pathlib import Path

import pytest

from powerpeg.targets.fix.codec import encode
from powerpeg.targets.fix.store import FileStore, FileStores, MemoryStore

T = "20260101-09:30:00.000"


def er(seq: int, cl: str = "c") -> bytes:
    return encode("8", "EXCHANGE", "ROUTER-1", seq, [(11, f"{cl}{seq}"), (150, "0"), (39, "0")], sending_time=T)


def heartbeat(seq: int) -> bytes:
    return encode("0", "EXCHANGE", "ROUTER-1", seq, [], sending_time=T)


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path: Path):
    store = MemoryStore() if request.param == "memory" else FileStore(tmp_path / "pair.fixstore")
    yield store
    store.close()


def test_a_new_store_starts_the_day_at_one(store) -> None:
    """Nothing sent, nothing received: both sequence numbers are 1."""
    assert (1, 1, []) == (store.next_out, store.next_in, list(store.messages(1, 100)))


def test_saved_messages_come_back_by_sequence_number(store) -> None:
    """Two flushes' worth of messages: the range asked for, in order, byte for byte; the counters follow."""
    sent = [er(1), heartbeat(2), er(3)]
    store.save(1, sent[:2], 2)
    store.save(3, sent[2:], 5)
    assert ((4, 5), [(2, sent[1]), (3, sent[2])]) == ((store.next_out, store.next_in), list(store.messages(2, 9)))


def test_reset_forgets_everything(store) -> None:
    """A Logon with 141=Y: both counters back to 1, no message left to resend."""
    store.save(1, [er(1), er(2)], 7)
    store.reset()
    assert (1, 1, []) == (store.next_out, store.next_in, list(store.messages(1, 10)))


def test_file_store_survives_a_restart(tmp_path: Path) -> None:
    """A new FileStore on the same file (the process restarted) has the counters and every message."""
    path = tmp_path / "pair.fixstore"
    first = FileStore(path)
    sent = [er(n) for n in range(1, 6)]
    first.save(1, sent[:3], 4)
    first.save(4, sent[3:], 9)
    first.save(6, [], 11)  # a flush that only moved the incoming side
    first.close()
    again = FileStore(path)
    assert (6, 11, list(enumerate(sent, 1)), 0) == (
        again.next_out, again.next_in, list(again.messages(1, 0xFFFF)), again.torn_bytes)


def test_file_store_is_readable_after_a_crash_without_close(tmp_path: Path) -> None:
    """What was written is in the file at once (no buffering in the process): a crash loses nothing."""
    path = tmp_path / "pair.fixstore"
    live = FileStore(path)
    live.save(1, [er(1), er(2)], 3)
    reader = FileStore(path)  # opened while the writer is alive and never closed
    assert (3, 3, 2) == (reader.next_out, reader.next_in, len(list(reader.messages(1, 2))))


@pytest.mark.parametrize("cut", [1, 25, 60])
def test_a_torn_tail_is_cut_off_at_the_last_whole_record(tmp_path: Path, cut: int) -> None:
    """A message written in part (a crash mid-write): the store opens with what came before it,
    cuts the tail off the file, and appends cleanly after it."""
    path = tmp_path / "pair.fixstore"
    store = FileStore(path)
    store.save(1, [er(1), er(2)], 3)
    store.close()
    whole = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(er(3)[:cut])
    torn = FileStore(path)
    seen = (torn.next_out, torn.next_in, torn.torn_bytes, path.stat().st_size)
    torn.save(3, [er(3, "again")], 4)
    torn.close()
    reopened = FileStore(path)
    assert ((3, 3, cut, whole), [er(1), er(2), er(3, "again")]) == (
        seen, [raw for _, raw in reopened.messages(1, 10)])


def test_a_message_with_a_bad_checksum_ends_the_good_part(tmp_path: Path) -> None:
    """Bytes that frame but do not check (a power loss's garbage): the store keeps what precedes them."""
    path = tmp_path / "pair.fixstore"
    store = FileStore(path)
    store.save(1, [er(1)], 2)
    store.close()
    bad = bytearray(er(2))
    bad[-4:-1] = b"%03d" % ((int(bad[-4:-1]) + 1) % 256)
    with open(path, "ab") as fh:
        fh.write(bytes(bad))
    reopened = FileStore(path)
    assert (2, [1], len(bad)) == (reopened.next_out, [s for s, _ in reopened.messages(1, 10)], reopened.torn_bytes)


def test_reset_survives_a_restart(tmp_path: Path) -> None:
    """After a reset the file holds the new day only."""
    path = tmp_path / "pair.fixstore"
    store = FileStore(path)
    store.save(1, [er(1), er(2)], 5)
    store.reset()
    store.save(1, [er(1, "new")], 2)
    store.close()
    again = FileStore(path)
    assert ((2, 2), [(1, er(1, "new"))]) == ((again.next_out, again.next_in), list(again.messages(1, 9)))


def test_file_stores_find_every_pair_again_after_a_restart(tmp_path: Path) -> None:
    """One file per CompID pair, whatever the CompIDs hold; a new FileStores on the directory loads each."""
    stores = FileStores(tmp_path)
    pairs = [("EXCHANGE", "ROUTER-1"), ("EXCHANGE", "A-B"), ("EX-CHANGE", "B"), ("EXCHANGE", "../../x y%")]
    for n, pair in enumerate(pairs, 1):
        stores.open(*pair).save(1, [er(1)], n + 1)
    stores.close()
    again = FileStores(tmp_path)
    loaded = {pair: store.next_in for pair, store in again.stores.items()}
    again.close()
    assert ({pair: n + 1 for n, pair in enumerate(pairs, 1)}, len(pairs)) == (
        loaded, len(list(tmp_path.glob("*.fixstore"))))


def test_a_second_process_cannot_use_the_same_directory(tmp_path: Path) -> None:
    """Two writers on one store would corrupt it: another process finds the directory locked."""
    import subprocess
    import sys
    stores = FileStores(tmp_path)
    code = ("import sys; from powerpeg.targets.fix.store import FileStores, StoreLocked\n"
            "try:\n    FileStores(sys.argv[1])\nexcept StoreLocked:\n    sys.exit(3)\n")
    try:
        locked = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=30).returncode
    finally:
        stores.close()
    free = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=30).returncode
    assert (3, 0) == (locked, free)


def test_memory_store_forgets_the_oldest_beyond_its_limit() -> None:
    """Past its limit a memory store drops the oldest tenth; the sequence numbers go on regardless."""
    store = MemoryStore(limit=10)
    for seq in range(1, 13):
        store.save(seq, [er(seq)], 1)
    kept = [s for s, _ in store.messages(1, 100)]
    assert (13, list(range(3, 13))) == (store.next_out, kept)


def test_file_store_goes_on_in_segments_and_resends_from_them(tmp_path: Path) -> None:
    """Once the file holds segment_messages, the next flush goes into a new file (a segment is at most
    one flush longer): the index in memory stays within one segment, and every message still comes
    back, across segments, in order."""
    store = FileStore(tmp_path / "pair.fixstore", segment_messages=4)
    sent = [er(n) for n in range(1, 15)]
    for n in range(0, 14, 3):  # flushes of 3: 1-6 | 7-12 | 13-14
        store.save(n + 1, sent[n:n + 3], n + 2)
    segs = sorted(p.name for p in tmp_path.glob("*.fixseg"))
    assert (["pair.13.fixseg", "pair.7.fixseg"], 2, list(enumerate(sent, 1)), [(6, sent[5]), (7, sent[6])]) == (
        segs, len(store._offsets), list(store.messages(1, 99)), list(store.messages(6, 7)))
    store.close()


def test_a_segmented_file_store_survives_a_restart(tmp_path: Path) -> None:
    """Reopened, a store in segments has its counters and every message, also when the current file
    was lost right after a rotation (the newest segment tells the counters then)."""
    path = tmp_path / "pair.fixstore"
    first = FileStore(path, segment_messages=2)
    sent = [er(n) for n in range(1, 8)]
    for n in range(7):
        first.save(n + 1, [sent[n]], 20 + n)
    first.close()
    again = FileStore(path, segment_messages=2)
    counters = (again.next_out, again.next_in, list(again.messages(1, 99)))
    again.close()
    path.unlink()  # a crash between the rename and the new file
    lost = FileStore(path, segment_messages=2)
    assert ((8, 26, list(enumerate(sent, 1))), (7, 25)) == (counters, (lost.next_out, lost.next_in))
    lost.close()


def test_reset_deletes_the_segments(tmp_path: Path) -> None:
    """A new day (141=Y) starts from nothing: the segments go with the file's content."""
    store = FileStore(tmp_path / "pair.fixstore", segment_messages=2)
    store.save(1, [er(n) for n in range(1, 4)], 2)
    store.save(4, [er(4), er(5)], 2)
    store.reset()
    assert ([], []) == (list(tmp_path.glob("*.fixseg")), list(store.messages(1, 99)))
    store.close()
