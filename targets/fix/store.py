"""FIX message stores: per CompID pair, the next MsgSeqNum out and in, and
every message sent, so a ResendRequest can be answered and a second Logon of
the day (no ResetSeqNumFlag) continues the sequence.

:class:`FileStore` is the exchange's: one append-only file per pair that
survives a restart of the process. :class:`MemoryStore` has the same
interface and lives as long as the process: the routers' and the monitor's
(a new process starts a new day for itself with ResetSeqNumFlag=Y). A
session finds its store through a :class:`SessionStores` (``open(our
CompID, peer CompID)``): :class:`FileStores` (a directory) or
:class:`MemoryStores`.

File format (``<dir>/<ours>-<peer>.fixstore``, names percent-encoded): the
outgoing messages exactly as framed on the wire (``8=FIX.4.4|9=..|...|10=NNN|``,
self-delimiting; each carries its MsgSeqNum in 34), interleaved with lines
``#I <n>\\n`` giving the next expected incoming MsgSeqNum from there on. The
next outgoing MsgSeqNum is the last message's + 1. A Reset (Logon with
141=Y) truncates the file. On open the file is scanned once into the
sequence numbers and an index MsgSeqNum → file offset; a record that does
not frame, or whose CheckSum does not match (the torn tail of a crash or a
power loss), ends the scan and the file is truncated there.

Segments: the index costs 8 bytes a message in memory, and a busy pair sends
hundreds of thousands a day (a steady climb of the exchange's RSS, issue 11).
So once the file holds ``SEGMENT_MESSAGES`` messages, the next flush renames it
``<ours>-<peer>.<N>.fixseg`` (N: the MsgSeqNum after its last message) and a
new ``.fixstore`` file goes on from there, starting with the ``#I`` line of
the moment. Only the current file is indexed in memory; a resend that
reaches back into a segment reads that segment from disk (bounded: one
segment at a time), which only a peer away for a long while asks for. The
day's messages stay on disk until a Reset deletes them with the file.

Durability (fsync policy): the session writes the store once per event-loop
flush with one ``os.write`` of everything that flush sends, *before* the
socket write, and never fsyncs per message. So a crash of the process loses
nothing the peer could have received (the bytes are in the OS page cache),
while a power loss or kernel crash may lose the last moments (the tail is
then cut at the last whole record). ``close()`` fsyncs once. Measured cost
in docs/targets.md (FIX session rules).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from array import array
from collections.abc import Iterator
from itertools import accumulate, islice
from pathlib import Path
from typing import Protocol
from glob import escape as glob_escape
from urllib.parse import unquote

from .codec import checksum, encode, frame_message, utc_timestamp

_BEGIN = b"8=FIX.4.4\x019="
_SEQ = b"\x0134="
READ_CHUNK = 4096  # messages read per pread when answering a resend
# Messages a MemoryStore keeps (the routers' and the monitor's): a resend asks for what the peer
# missed lately, and 200,000 (as it was) held about 50 MB per router before it levelled off, hours
# into a day at a fleet's pace. Older ones are gap-filled.
MEMORY_LIMIT = 20_000
SUFFIX = ".fixstore"
SEGMENT_SUFFIX = ".fixseg"
SEGMENT_MESSAGES = 32_768  # messages per file-store segment (and one flush's more): its index is about 256 KiB


class MessageStore(Protocol):
    """What a :class:`powerpeg.targets.fix.session.FixSession` keeps in a store."""

    next_out: int  # the MsgSeqNum of the next message we send
    next_in: int  # the MsgSeqNum we expect next from the peer
    holder: object | None  # the session using it now (one session per CompID pair at a time)

    def save(self, first_seq: int, messages: list[bytes], next_in: int) -> None:
        """Keep ``messages`` (framed; MsgSeqNum ``first_seq``, ``first_seq + 1``, ...) and the next incoming."""

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """The stored messages with ``begin <= MsgSeqNum <= end``, in order (missing ones skipped)."""

    def reset(self) -> None:
        """A new day: both sequence numbers back to 1, every message forgotten."""

    def close(self) -> None:
        """Release what the store holds (files)."""


class SessionStores(Protocol):
    """Where an acceptor finds the store of a CompID pair once the Logon names the peer."""

    def open(self, comp_id: str, peer_comp_id: str) -> MessageStore:
        """The store of (our CompID, the peer's): the same object for the same pair."""

    def close(self) -> None:
        """Close every store."""


class MemoryStore:
    """A store that lives as long as the process.

    It keeps the last ``limit`` messages (a runaway router sends hundreds of
    thousands): older ones are forgotten a tenth at a time, and a resend
    that reaches back to them gap-fills them, as the exchange forgets old
    orders (OrderStatusRequest, ``ORDER_MEMORY``)."""

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self.next_out = 1
        self.next_in = 1
        self.holder: object | None = None
        self.limit = limit
        self._base = 1  # MsgSeqNum of _msgs[0]
        self._msgs: list[bytes] = []

    def save(self, first_seq: int, messages: list[bytes], next_in: int) -> None:
        if messages:
            if not self._msgs:
                self._base = first_seq
            elif first_seq != self._base + len(self._msgs):  # a hole (never made by FixSession): keep seq → index exact
                self._msgs.extend([b""] * max(0, first_seq - self._base - len(self._msgs)))
            self._msgs.extend(messages)
            self.next_out = first_seq + len(messages)
            if len(self._msgs) > self.limit:
                drop = len(self._msgs) - self.limit + self.limit // 10
                del self._msgs[:drop]
                self._base += drop
        self.next_in = next_in

    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        base = self._base
        for i in range(max(begin - base, 0), min(end - base + 1, len(self._msgs))):
            if self._msgs[i]:
                yield base + i, self._msgs[i]

    def reset(self) -> None:
        self.next_out = self.next_in = 1
        self._base = 1
        self._msgs = []

    def close(self) -> None:
        pass


class MemoryStores:
    """Memory stores by CompID pair (a session layer without files: tests, fakes)."""

    def __init__(self) -> None:
        self.stores: dict[tuple[str, str], MemoryStore] = {}

    def open(self, comp_id: str, peer_comp_id: str) -> MessageStore:
        store = self.stores.get((comp_id, peer_comp_id))
        if store is None:
            store = self.stores[(comp_id, peer_comp_id)] = MemoryStore()
        return store

    def close(self) -> None:
        pass


class FileStore:
    """The append-only store file of one CompID pair (format and durability: module docstring)."""

    def __init__(self, path: Path, *, segment_messages: int = SEGMENT_MESSAGES) -> None:
        self.path = Path(path)
        self.segment_messages = segment_messages
        self.next_out = 1
        self.next_in = 1
        self.holder: object | None = None
        self.torn_bytes = 0  # cut off the tail at open (a crash mid-write)
        self._fd = -1
        self._closed = False
        self._size = 0
        self._saved_in = 1  # the last next_in written to the file
        self._base = 1  # MsgSeqNum of _offsets[0]
        self._offsets = array("q")  # file offset of each message; -1 for a MsgSeqNum never stored
        # closed segments, oldest first: (the MsgSeqNum after the segment's last message, its file)
        self._segments: list[tuple[int, Path]] = self._find_segments()
        if self.path.exists() or self._segments:
            self._load()

    def _segment_path(self, end: int) -> Path:
        return self.path.with_name(f"{self.path.name[:-len(SUFFIX)]}.{end}{SEGMENT_SUFFIX}")

    def _find_segments(self) -> list[tuple[int, Path]]:
        stem = self.path.name[:-len(SUFFIX)] if self.path.name.endswith(SUFFIX) else self.path.name
        found = []
        for seg in self.path.parent.glob(f"{glob_escape(stem)}.*{SEGMENT_SUFFIX}"):
            number = seg.name[len(stem) + 1:-len(SEGMENT_SUFFIX)]
            if number.isdigit():
                found.append((int(number), seg))
        return sorted(found)

    # -- writing (once per event-loop flush of a session) ------------------------
    def save(self, first_seq: int, messages: list[bytes], next_in: int) -> None:
        if self._closed:
            return
        if self._fd < 0:
            self._open()
        if messages and len(self._offsets) >= self.segment_messages:
            self._rotate()
        if messages:
            offsets = self._offsets
            if not offsets:
                self._base = first_seq
            elif first_seq != self._base + len(offsets):
                offsets.extend([-1] * max(0, first_seq - self._base - len(offsets)))
            offsets.extend(islice(accumulate(map(len, messages), initial=self._size), len(messages)))
            data = b"".join(messages)
            self.next_out = first_seq + len(messages)
        else:
            data = b""
        if next_in != self._saved_in:
            data += b"#I %d\n" % next_in
            self._saved_in = next_in
        self.next_in = next_in
        if data:
            self._write(data)

    def _rotate(self) -> None:
        """The current file becomes a segment; a new one goes on, opening with the incoming MsgSeqNum."""
        end = self._base + len(self._offsets)
        os.fsync(self._fd)
        os.close(self._fd)
        seg = self._segment_path(end)
        os.rename(self.path, seg)
        self._segments.append((end, seg))
        self._open()
        self._size = 0
        self._offsets = array("q")
        self._base = end
        self._write(b"#I %d\n" % self._saved_in)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def reset(self) -> None:
        if not self._closed:
            if self._fd < 0 and self.path.exists():
                self._open()
            if self._fd >= 0:
                os.ftruncate(self._fd, 0)
            for _end, seg in self._segments:
                seg.unlink(missing_ok=True)
        self._segments = []
        self._size = 0
        self._offsets = array("q")
        self._base = 1
        self.next_out = self.next_in = self._saved_in = 1

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._closed = True

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    # -- reading -----------------------------------------------------------------
    def messages(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        if self._segments and begin < self._base:
            yield from self._from_segments(begin, min(end, self._base - 1))
        offsets, base = self._offsets, self._base
        first, last = max(begin - base, 0), min(end - base, len(offsets) - 1)
        i = first
        while i <= last:
            j = min(i + READ_CHUNK, last + 1)
            present = [k for k in range(i, j) if offsets[k] >= 0]
            if present:
                start = offsets[present[0]]
                k = j
                while k < len(offsets) and offsets[k] < 0:
                    k += 1
                stop = offsets[k] if k < len(offsets) else self._size
                buf = os.pread(self._fd, stop - start, start) if self._fd >= 0 else b""
                wanted = {offsets[k] - start for k in present}
                for kind, pos, end_pos, value in _records(buf, 0):
                    if kind == "M" and pos in wanted and begin <= value <= end:
                        yield value, buf[pos:end_pos]
            i = j

    def _from_segments(self, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """Messages from the closed segments, each read whole from disk when the range reaches it."""
        start = 1
        for seg_end, seg in list(self._segments):
            if start <= end and begin < seg_end:
                try:
                    buf = seg.read_bytes()
                except FileNotFoundError:  # reset meanwhile: nothing of it to resend
                    return
                for kind, pos, end_pos, value in _records(buf, 0):
                    if kind == "M" and begin <= value <= end:
                        yield value, buf[pos:end_pos]
            start = seg_end

    def _load(self) -> None:
        if self._segments:
            # what the current file does not say (no message or no #I line yet: a crash right after a
            # rotation) the newest segment does
            last_end, last = self._segments[-1]
            self.next_out = self._base = last_end
            for kind, _pos, _end, value in _records(last.read_bytes(), 0):
                if kind == "I":
                    self.next_in = self._saved_in = value
        if not self.path.exists():
            self._open()
            return
        data = self.path.read_bytes()
        good = 0
        for kind, _pos, end_pos, value in _records(data, 0):
            if kind == "?":
                break
            if kind == "I":
                self.next_in = self._saved_in = value
            else:
                offsets = self._offsets
                if not offsets:
                    self._base = value
                expected = self._base + len(offsets)
                if value < expected:  # MsgSeqNum going back without a reset: not a file we wrote
                    break
                offsets.extend([-1] * (value - expected))
                offsets.append(_pos)
                self.next_out = value + 1
            good = end_pos
        self._size = good
        if good < len(data):
            self.torn_bytes = len(data) - good
            self._open()
            os.ftruncate(self._fd, good)
        else:
            self._open()


def _records(buf: bytes, pos: int) -> Iterator[tuple[str, int, int, int]]:
    """(kind, start, end, value) for each record from ``pos``: ``M`` a message (value: its MsgSeqNum),
    ``I`` the next incoming MsgSeqNum, ``?`` where the bytes stop making sense (then nothing more)."""
    size = len(buf)
    while pos < size:
        if buf[pos] == 0x23:  # '#'
            nl = buf.find(b"\n", pos)
            parts = buf[pos + 1:nl].split() if nl > 0 else []
            if len(parts) != 2 or parts[0] != b"I" or not parts[1].isdigit():
                yield "?", pos, size, 0
                return
            yield "I", pos, nl + 1, int(parts[1])
            pos = nl + 1
            continue
        if not buf.startswith(_BEGIN, pos):
            yield "?", pos, size, 0
            return
        soh = buf.find(b"\x01", pos + len(_BEGIN), pos + len(_BEGIN) + 12)
        length_txt = buf[pos + len(_BEGIN):soh] if soh > 0 else b""
        if not length_txt.isdigit():
            yield "?", pos, size, 0
            return
        body_end = soh + 1 + int(length_txt)
        end = body_end + 7
        seq_at = buf.find(_SEQ, soh, body_end)
        seq_end = buf.find(b"\x01", seq_at + 4, body_end) if seq_at > 0 else -1
        if (end > size or buf[body_end:body_end + 3] != b"10=" or buf[end - 1] != 1 or seq_end < 0
                or not buf[body_end + 3:end - 1].isdigit()
                or int(buf[body_end + 3:end - 1]) != checksum(buf[pos:body_end])
                or not buf[seq_at + 4:seq_end].isdigit()):
            yield "?", pos, size, 0
            return
        yield "M", pos, end, int(buf[seq_at + 4:seq_end])
        pos = end


def _file_name(comp_id: str, peer_comp_id: str) -> str:
    """``<ours>-<peer>.fixstore``, every byte outside [A-Za-z0-9_.] percent-encoded (so the pair is
    recoverable and no CompID can name a path); a hash when that would be too long for a file name."""
    def enc(text: str) -> str:
        return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.") else f"%{b:02X}"
                       for b in text.encode("utf-8"))
    name = f"{enc(comp_id)}-{enc(peer_comp_id)}"
    if len(name) > 200:
        name = "%hash-" + hashlib.sha256(name.encode()).hexdigest()  # '%h' never comes out of enc()
    return name + SUFFIX


def _pair(file_name: str) -> tuple[str, str] | None:
    """The CompID pair a store file is named after (None for a hashed name: opened when its pair logs on)."""
    stem = file_name[:-len(SUFFIX)]
    if stem.startswith("%hash-"):
        return None
    ours, _, peer = stem.partition("-")
    return unquote(ours, errors="strict"), unquote(peer, errors="strict")


class StoreLocked(RuntimeError):
    """Another process keeps its FIX stores in this directory."""


class FileStores:
    """The file stores of one acceptor, under ``directory`` (created; locked against another process).

    Every store file already there is loaded at once (sequence numbers, index; a torn tail cut):
    ``torn`` lists the ones that had one, for the service to log."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stores: dict[tuple[str, str], FileStore] = {}
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # a POSIX record lock: held per process, so only another process is kept out (an
            # in-process benchmark may build several exchanges on one directory, one after another)
            fcntl.lockf(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StoreLocked(f"FIX store {self.directory} is in use by another process") from None
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, b"%d\n" % os.getpid())
        self.torn: list[tuple[str, int]] = []  # (file, bytes cut)
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            pair = _pair(path.name)
            if pair is not None:
                store = self.stores[pair] = FileStore(path)
                if store.torn_bytes:
                    self.torn.append((path.name, store.torn_bytes))

    def open(self, comp_id: str, peer_comp_id: str) -> MessageStore:
        store = self.stores.get((comp_id, peer_comp_id))
        if store is None:
            store = self.stores[(comp_id, peer_comp_id)] = FileStore(self.directory / _file_name(comp_id, peer_comp_id))
        return store

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = -1


class StoredSender:
    """Sends into a pair's store while its peer is away, as a venue keeps a session's messages
    between logons: a fill of a resting order (cancel-on-disconnect off), a kill, a drop copy's
    reports during a cut. Nothing goes to a socket; the peer's next Logon finds the sequence
    ahead and asks for the resend, which delivers these like any other stored message.

    One write per message (the peer is away: no batching to gain); while a live session holds
    the pair again, it is the sender and this one is dropped by its owner."""

    live = False

    def __init__(self, store: MessageStore, comp_id: str, peer_comp_id: str) -> None:
        self.store = store
        self.comp_id = comp_id
        self.peer_comp_id = peer_comp_id

    @property
    def away(self) -> bool:
        """No session holds the pair: this sender is the one that keeps its messages."""
        return self.store.holder is None

    def _keep(self, data: bytes) -> None:
        self.store.save(self.store.next_out, [data], self.store.next_in)

    def send(self, msg_type: str, fields: list[tuple[int, object]] | tuple = ()) -> None:
        if not self.away:
            return  # the peer is back: its session sends (and stores) for itself
        self._keep(encode(msg_type, self.comp_id, self.peer_comp_id, self.store.next_out, fields))

    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        if not self.away:
            return
        self._keep(frame_message(msg_type, self.comp_id, self.peer_comp_id, self.store.next_out,
                                 sending_time or utc_timestamp(), body))
