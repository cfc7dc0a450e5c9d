"""The append-only journal: one JSON object per line, flushed in small groups,
in segments of bounded size; and the one way to read it back.

The journal is the ground truth the harness measures from, so it must
survive a crash with little loss, yet cost almost nothing per order. Records
are buffered as dicts and serialised in one go when a group is flushed:
after ``flush_s`` (a timer armed by the first record of a group) or once
``max_records`` are waiting, whichever comes first, and on close. A crash
loses at most the group being collected.

Segments: a trading day at a fleet's pace writes about a gigabyte an hour
(issue 11), so the journal is a series of files instead of one: the
``--journal`` path is the first (``journal.jsonl``), then ``journal.1.jsonl``,
``journal.2.jsonl``, ... (:func:`segment_path`). Once a flush leaves the
current segment at ``segment_bytes`` or more, it is closed (fsynced) and the
next flush starts the next one, so every segment ends with a whole line, and a segment
once followed by another is never written again: a reader that sees segment
k + 1 knows segment k is complete. Nothing is renamed or deleted, so a
reader in another process (the backend's rescue copy) sees a consistent
prefix. A restarted exchange continues in its last segment.

Readers: :func:`read_journal` (every record of every segment, in order) is the
one reader of journal files, for the harness as for tests; ``GET /journal``
serves the segments as one stream whose byte offsets run on across them
(:func:`locate`), so a reader polling by offset never notices a rotation; and
:func:`copy_journal` concatenates them into one file. Readers waiting for new
records (``GET /journal?follow=1``) wait on :meth:`Journal.wait_flushed`,
which resolves after the next flush.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

# orjson, not json: serialising every order's record with the standard
# library was a tenth of the exchange's CPU at a runaway's rate (about 7 µs
# a record against under 1 µs). Output is compact UTF-8 JSON, one per line.
from orjson import JSONDecodeError, dumps as _dumps, loads as _loads

from .records import JournalRecord

# 64 MiB: at a fleet's gigabyte an hour a segment every four minutes or so; a file
# small enough to copy, page through or ship while the run goes on.
SEGMENT_BYTES = 64 << 20


def segment_path(path: Path, index: int) -> Path:
    """Segment ``index`` of the journal at ``path``: 0 is ``path`` itself, then ``<stem>.<index><suffix>``."""
    path = Path(path)
    return path if index == 0 else path.with_name(f"{path.stem}.{index}{path.suffix}")


def segments(path: Path) -> list[Path]:
    """The journal's segment files that exist, in order (the first one missing ends the series)."""
    out: list[Path] = []
    index = 0
    while (seg := segment_path(path, index)).is_file():
        out.append(seg)
        index += 1
    return out


def locate(path: Path, offset: int) -> tuple[int, int]:
    """(segment index, offset in it) of byte ``offset`` of the journal read as one stream.

    Past the end: in the last segment, beyond its end (nothing to read until the journal gets there)."""
    index = 0
    # a segment followed by another is complete: its size is final
    while offset >= (size := size_of(path, index)) and segment_path(path, index + 1).is_file():
        offset -= size
        index += 1
    return index, offset


def size_of(path: Path, index: int) -> int:
    try:
        return segment_path(path, index).stat().st_size
    except FileNotFoundError:
        return 0


def iter_journal(path: Path, *, strict: bool = False) -> Iterator[JournalRecord]:
    """Every record of the journal at ``path``, segment after segment.

    A line that is not JSON (the torn last line of a crash) is skipped, so a
    run is measured on what is whole; ``strict`` raises instead (tests of the
    writer). A journal that does not exist has no records."""
    for seg in segments(path):
        with open(seg, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    yield _loads(line)
                except JSONDecodeError:
                    if strict:
                        raise
                    continue


def read_journal(path: Path) -> list[JournalRecord]:
    """Every record of the journal at ``path`` (all its segments, in order; torn lines skipped)."""
    return list(iter_journal(path))


def read_records(path: Path) -> list[JournalRecord]:
    """Every record, failing on a line that is not JSON: for tests of the writer."""
    return list(iter_journal(path, strict=True))


def copy_journal(path: Path, dest: Path) -> int:
    """Concatenate every segment of the journal at ``path`` into the one file ``dest``; the bytes copied."""
    copied = 0
    with open(dest, "wb") as out:
        for seg in segments(path):
            with open(seg, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
            copied = out.tell()
    return copied


class Journal:
    def __init__(
        self, path: Path, *, flush_s: float = 0.02, max_records: int = 256, segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        self.path = Path(path)
        self.flush_s = flush_s
        self.max_records = max_records
        self.segment_bytes = segment_bytes
        self.records_written = 0
        self.rotations = 0
        self._buf: list[JournalRecord] = []
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: list[asyncio.Future] = []
        self._closed = False
        existing = segments(self.path)
        self.segment = len(existing) - 1 if existing else 0  # the index written now
        self._file = open(segment_path(self.path, self.segment), "ab", buffering=1 << 16)  # noqa: SIM115 - open for the journal's life; close() closes it
        self._size = self._file.tell()
        if self._size and not _ends_with_newline(self._file.name):
            # a crash tore the last line: end it, so the first record of this life is whole
            self._file.write(b"\n")
            self._size += 1

    def append(self, record: JournalRecord) -> None:
        """Add one record (``ts_ns`` is stamped here when missing); its shape is in ``records.py``."""
        if "ts_ns" not in record:
            record["ts_ns"] = time.time_ns()
        buf = self._buf
        buf.append(record)
        if len(buf) >= self.max_records:
            self.flush()
        elif self._timer is None and not self._closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # used without a loop (unit tests): flush on demand
                return
            self._timer = loop.call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buf:
            buf, self._buf = self._buf, []
            data = b"\n".join(map(_dumps, buf))
            if self._size >= self.segment_bytes:
                self._rotate()  # only when there is something to write: no empty segment is left at close
            self._file.write(data)
            self._file.write(b"\n")
            self._file.flush()
            self._size += len(data) + 1
            self.records_written += len(buf)
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _rotate(self) -> None:
        """Close the full segment (fsynced: a later segment must never exist beside a lost one) and
        start the next."""
        os.fsync(self._file.fileno())
        self._file.close()
        self.segment += 1
        self.rotations += 1
        self._file = open(segment_path(self.path, self.segment), "ab", buffering=1 << 16)  # noqa: SIM115 - as in __init__
        self._size = 0

    async def wait_flushed(self, timeout: float) -> None:
        """Resolve after the next flush (or after ``timeout``)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass

    def close(self) -> None:
        self.flush()
        self._closed = True
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def bytes_written(self) -> int:
        """The journal's size as one stream: every closed segment and the current one."""
        return sum(size_of(self.path, i) for i in range(self.segment)) + self._size


def _ends_with_newline(name: str | int) -> bool:
    with open(name, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
