"""FIX 4.4 tag=value codec: framing, checksum and a split-based parser.

Chosen over simplefix for speed (see bench/fix_codec.py for the numbers):
the exchange parses every NewOrderSingle of a runaway router, so the parser
is the hot path. Messages are decoded once to ``str`` and split on SOH.

A framed message that checks but that a venue must not act on is still
yielded, with its :class:`Problem` (the session rejects it, 35=3, and its
MsgSeqNum counts): a byte outside ASCII (373=6: FIX 4.4 text is ASCII, and a
value that cannot be echoed back must not get as far as an answer quoting
it), or a tag more than once (373=13: the last value silently winning lets
a client slip one past a check on the first). Repeating groups are not
needed by powerpeg and are not modelled, so any repeated tag is refused.
"""
from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from zlib import adler32 as _adler32

# The framer's happy path in C (targets/fix/_speedups.c), built by `make setup`
# when a compiler is there. POWERPEG_SPEEDUPS=0 turns it off (A/B benchmarks,
# or ruling the C code out when a stream is misread).
SPEEDUPS = os.environ.get("POWERPEG_SPEEDUPS", "1") != "0"
_SPEEDUPS_MODULE: Any = None
if SPEEDUPS:
    try:  # by name: no stub for the C module
        _SPEEDUPS_MODULE = importlib.import_module("powerpeg.targets.fix._speedups")
    except ImportError:  # pragma: no cover - exercised where no compiler was available
        pass


def speedup(name: str, reference: Any = None) -> Any:
    """The C function ``name`` of the speedups, or None (not built, turned off, or an extension built
    before it existed: the Python code then). ``reference``: the Python function the C one hands
    what it does not take, found by it as the module's ``<name>_reference``."""
    function = getattr(_SPEEDUPS_MODULE, name, None)
    if function is not None and reference is not None:
        setattr(_SPEEDUPS_MODULE, f"{name}_reference", reference)
    return function


_c_frame_messages: Any = speedup("frame_messages")
_c_frame_body: Any = speedup("frame_body")
FRAMER = "c" if _c_frame_messages is not None else "python"


def _c_takes_a_limit() -> bool:
    """Whether the built C framer takes max_count (an extension built before it did not)."""
    try:
        _c_frame_messages(b"", 0, 1, 1)
    except TypeError:
        return False
    return True


_C_LIMIT = _c_frame_messages is not None and _c_takes_a_limit()

SOH = "\x01"
BEGIN_STRING = "FIX.4.4"
_BEGIN = b"8=FIX.4.4\x019="
_CHECKSUM_TAG = b"10="


@dataclass(frozen=True, slots=True)
class Tags:
    """The tags powerpeg speaks (FIX 4.4 numbers), read through its one instance: ``Tag.ClOrdID``.

    An instance, not the class: CPython 3.11 does not specialise reading a class's attribute (about
    170 instructions more than a global), an instance's it does, and the exchange reads a dozen tags
    per order (callgrind)."""

    Account: int = 1
    AvgPx: int = 6
    BeginString: int = 8
    BodyLength: int = 9
    CheckSum: int = 10
    ClOrdID: int = 11
    CumQty: int = 14
    ExecID: int = 17
    LastPx: int = 31
    LastQty: int = 32
    MsgSeqNum: int = 34
    MsgType: int = 35
    OrderID: int = 37
    OrderQty: int = 38
    OrdStatus: int = 39
    OrdType: int = 40
    OrigClOrdID: int = 41
    PossDupFlag: int = 43
    Price: int = 44
    RefSeqNum: int = 45
    SenderCompID: int = 49
    SendingTime: int = 52
    Side: int = 54
    Symbol: int = 55
    TargetCompID: int = 56
    Text: int = 58
    TimeInForce: int = 59
    TransactTime: int = 60
    EncryptMethod: int = 98
    CxlRejReason: int = 102
    OrdRejReason: int = 103
    HeartBtInt: int = 108
    TestReqID: int = 112
    ResetSeqNumFlag: int = 141
    ExecType: int = 150
    LeavesQty: int = 151
    RefTagID: int = 371
    RefMsgType: int = 372
    SessionRejectReason: int = 373
    CxlRejResponseTo: int = 434
    BeginSeqNo: int = 7
    EndSeqNo: int = 16
    NewSeqNo: int = 36
    OrigSendingTime: int = 122
    GapFillFlag: int = 123
    BusinessRejectRefID: int = 379
    BusinessRejectReason: int = 380
    MassCancelRequestType: int = 530
    MassCancelResponse: int = 531
    MassCancelRejectReason: int = 532
    TotalAffectedOrders: int = 533


Tag = Tags()


@dataclass(frozen=True, slots=True)
class MsgTypes:
    """The MsgTypes powerpeg speaks, read through its one instance: ``MsgType.Logon`` (as :class:`Tags`)."""

    Heartbeat: str = "0"
    TestRequest: str = "1"
    Reject: str = "3"
    Logout: str = "5"
    ExecutionReport: str = "8"
    OrderCancelReject: str = "9"
    Logon: str = "A"
    NewOrderSingle: str = "D"
    OrderCancelRequest: str = "F"
    OrderStatusRequest: str = "H"
    ResendRequest: str = "2"
    SequenceReset: str = "4"
    OrderCancelReplaceRequest: str = "G"
    BusinessMessageReject: str = "j"
    OrderMassCancelRequest: str = "q"
    OrderMassCancelReport: str = "r"


MsgType = MsgTypes()


# Every application MsgType of FIX 4.4 (its data dictionary, msgcat "app"): valid
# messages a venue may still not support (BusinessMessageReject 380=3), unlike a
# MsgType FIX does not define at all (session Reject 373=11).
FIX44_APP_TYPES = frozenset({
    "6", "7", "8", "9", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T",
    "V", "W", "X", "Y", "Z", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "o", "p", "q",
    "r", "s", "t", "u", "v", "w", "x", "y", "z", "AA", "AB", "AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ",
    "AK", "AL", "AM", "AN", "AO", "AP", "AQ", "AR", "AS", "AT", "AU", "AV", "AW", "AX", "AY", "AZ", "BA", "BB",
    "BC", "BD", "BE", "BF", "BG", "BH",
})


class FixError(Exception):
    """A message that cannot be parsed."""


# SessionRejectReason (373) of a message the parser flags.
REJECT_INCORRECT_FORMAT = 6
REJECT_TAG_REPEATED = 13


class Problem(NamedTuple):
    """Why a framed message must be rejected: SessionRejectReason (373), RefTagID (371), Text (58, ASCII)."""

    reason: int
    tag: int
    text: str


class Garbled(FixError):
    """The byte stream cannot be framed any more: the session must end."""


class BadChecksum(FixError):
    """One framed message with a wrong CheckSum: drop it, keep the stream."""


@dataclass(slots=True)
class FixMessage:
    msg_type: str
    fields: dict[int, str]
    problem: Problem | None = None  # set: the session rejects it instead of acting on it

    def get(self, tag: int, default: str | None = None) -> str | None:
        return self.fields.get(tag, default)

    def __getitem__(self, tag: int) -> str:
        return self.fields[tag]

    def __contains__(self, tag: int) -> bool:
        return tag in self.fields

    @property
    def seq(self) -> int:
        return int(self.fields.get(Tag.MsgSeqNum, "0"))


def checksum(data: bytes) -> int:
    """FIX CheckSum: the byte sum modulo 256.

    Adler-32's low half is 1 + the byte sum modulo 65521, exact while the sum
    stays under 65520, i.e. for up to 256 bytes: zlib computes it in C about
    8x faster than ``sum()``, and nearly every order and report is shorter.
    """
    if len(data) <= 256:
        return (_adler32(data) - 1) & 0xFF
    return sum(data) & 0xFF


# Tag text → number for every tag up to 9999: a dict lookup is about half
# the cost of int() on the exchange's hot path. Others go through int().
_TAG_NUMBERS = {str(n): n for n in range(1, 10_000)}


def problem_of(body: str, fields: dict[int, str]) -> Problem | None:
    """What is wrong with a body that parsed into ``fields``: a byte outside ASCII, a tag more than
    once; None for the usual message (one C-level test each: ``isascii`` and a count of SOH)."""
    if not body.isascii():
        for item in body.split(SOH):
            if not item.isascii():
                tag, _, _ = item.partition("=")
                number = int(tag) if tag.isascii() and tag.isdigit() else 0
                return Problem(REJECT_INCORRECT_FORMAT, number,
                               f"Incorrect data format for value: tag {number} holds a byte outside ASCII")
    # the usual body has one SOH per field; fewer fields: a repeated tag (or empty items, which are not)
    if len(fields) < body.count(SOH) or not body.endswith(SOH):
        seen: set[int] = set()
        for item in body.split(SOH):
            if item:
                number = int(item.partition("=")[0])  # parse_body checked it is digits
                if number in seen:
                    return Problem(REJECT_TAG_REPEATED, number, f"Tag appears more than once: {number}")
                seen.add(number)
    return None


def parse_body(body: str) -> dict[int, str]:
    """Parse ``tag=value<SOH>...`` into a dict (a repeated tag keeps its last value: see
    :func:`problem_of`, which the framer asks about every message this parses).

    Field by field: a field without '=' is malformed even when another
    field's value holds an '=' (a pairing split over the whole body would
    shift every tag after it onto the wrong value)."""
    fields: dict[int, str] = {}
    numbers = _TAG_NUMBERS
    for item in body.split(SOH):
        tag, sep, value = item.partition("=")
        number = numbers.get(tag)
        if number is None or not sep:
            if not item:
                continue  # the empty string after the last SOH
            if not sep or not tag.isdigit() or not tag.isascii():
                raise FixError(f"malformed field {item[:32]!r}")
            number = int(tag)
        fields[number] = value
    return fields


_time_cache: list = [0, "", 0, ""]  # second, its text, millisecond, its text


def utc_timestamp() -> str:
    """FIX UTCTimestamp with milliseconds; cached per millisecond (a runaway
    stamps dozens of reports in one) and the seconds part per second."""
    ms = time.time_ns() // 1_000_000
    cache = _time_cache
    if cache[2] == ms:
        return cache[3]
    sec, frac = divmod(ms, 1000)
    if cache[0] != sec:
        cache[0] = sec
        cache[1] = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec))
    cache[2] = ms
    cache[3] = text = f"{cache[1]}.{frac:03d}"
    return text


def py_frame_body(body: str) -> bytes:
    """The whole message around ``body`` (``35=...`` up to its last SOH):
    BeginString, BodyLength, the body, CheckSum. The reference for the C
    ``frame_body``, which is what runs where it is built."""
    data = body.encode("ascii")
    msg = b"8=FIX.4.4\x019=%d\x01%b" % (len(data), data)
    return b"%b10=%03d\x01" % (msg, checksum(msg))


frame_body = _c_frame_body or py_frame_body


def py_frame_message(msg_type: str, sender: str, target: str | None, seq: int, sending_time: str, body: str) -> bytes:
    """The whole message: the header (MsgType, SenderCompID, TargetCompID, MsgSeqNum, SendingTime)
    before ``body`` (the fields after them, SOH-terminated), framed. The reference for the C
    ``frame_message``, which writes it in one go where it is built (the header's f-string and
    its copies were about 3% of the exchange's instructions per order)."""
    return py_frame_body(f"35={msg_type}\x0149={sender}\x0156={target}\x0134={seq}\x0152={sending_time}\x01{body}")


frame_message = speedup("frame_message", py_frame_message) or py_frame_message


def encode(
    msg_type: str,
    sender: str,
    target: str,
    seq: int,
    fields: Iterable[tuple[int, object]] = (),
    *,
    sending_time: str | None = None,
) -> bytes:
    """Encode one message with a correct BodyLength and CheckSum."""
    parts = [
        f"35={msg_type}\x0149={sender}\x0156={target}\x0134={seq}\x0152={sending_time or utc_timestamp()}\x01"
    ]
    for tag, value in fields:
        if value is None:
            continue
        parts.append(f"{tag}={value}\x01")
    return frame_body("".join(parts))


class FixParser:
    """Incremental framer: feed bytes, iterate complete messages.

    ``messages()`` yields :class:`FixMessage` objects, or raises
    :class:`BadChecksum` for one message (already consumed, so a new call to
    ``messages()`` continues after it) or :class:`Garbled` when framing is lost.
    The buffer is scanned with an offset, kept between calls, and compacted
    only when new bytes arrive: a read of many pipelined orders costs one copy,
    also when a session takes it a slice at a time (a copy of the rest per
    slice was about 2% of the exchange's instructions per order). Where the C
    extension is built, its ``frame_messages`` takes every well-formed message
    and the Python loop below only sees what it declined (the Python code is
    the reference: it waits, drops or garbles).
    """

    __slots__ = ("_buf", "_pos", "max_body")

    def __init__(self, max_body: int = 64 * 1024) -> None:
        self._buf = b""
        self._pos = 0  # where the bytes not consumed yet start in _buf
        self.max_body = max_body

    def feed(self, data: bytes) -> None:
        buf, pos = self._buf, self._pos
        self._buf = buf[pos:] + data if pos < len(buf) else bytes(data)
        self._pos = 0

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def messages(self, limit: int = 0) -> Iterator[FixMessage]:
        """The complete messages buffered; ``limit`` > 0: at most that many (the rest stay buffered: a
        session taking a burst a slice at a time frames only the slice)."""
        buf = self._buf
        size = len(buf)
        pos = self._pos
        begin_len = len(_BEGIN)
        c_frame = _c_frame_messages
        left = limit
        try:
            while pos < size:
                if c_frame is not None:
                    # every well-formed message in C; this loop sees only what it declined
                    batch = c_frame(buf, pos, self.max_body, left) if limit and _C_LIMIT else \
                        c_frame(buf, pos, self.max_body)
                    for end, msg_type, fields in batch:
                        pos = end
                        yield FixMessage(msg_type, fields)
                    if limit:
                        left -= len(batch)
                        if left <= 0:
                            return
                    if pos >= size:
                        return
                if not buf.startswith(_BEGIN, pos):
                    rest = buf[pos:pos + begin_len]
                    if len(rest) < begin_len and _BEGIN.startswith(rest):
                        return  # a prefix of a header: wait for more
                    raise Garbled("stream does not start with 8=FIX.4.4|9=")
                soh = buf.find(b"\x01", pos + begin_len, pos + begin_len + 12)
                if soh < 0:
                    if size - pos > begin_len + 10:
                        raise Garbled("BodyLength not terminated")
                    return
                length_txt = buf[pos + begin_len:soh]
                if not length_txt.isdigit():
                    raise Garbled(f"BodyLength {length_txt[:16]!r} is not a number")
                length = int(length_txt)
                if length > self.max_body:
                    raise Garbled(f"BodyLength {length} exceeds {self.max_body}")
                body_start = soh + 1
                body_end = body_start + length
                end = body_end + 7  # "10=NNN\x01"
                if size < end:
                    return
                if buf[body_end:body_end + 3] != _CHECKSUM_TAG or buf[end - 1] != 1:
                    raise Garbled("BodyLength does not point at CheckSum(10)")
                start = pos
                pos = end
                declared = buf[body_end + 3:end - 1]
                if not declared.isdigit() or int(declared) != checksum(buf[start:body_end]):
                    raise BadChecksum(f"CheckSum {declared.decode('ascii', 'replace')} does not match")
                body = buf[body_start:body_end].decode("latin-1")
                try:
                    fields = parse_body(body)
                except FixError as exc:
                    raise Garbled(str(exc)) from None
                msg_type = fields.get(Tag.MsgType)
                if msg_type is None:
                    raise Garbled("message without MsgType(35)")
                # the usual message, inline: ASCII, one SOH per field; else find what is wrong
                usual = body.isascii() and len(fields) == body.count(SOH)
                yield FixMessage(msg_type, fields, None if usual else problem_of(body, fields))
                if limit:
                    left -= 1
                    if left <= 0:
                        return
        finally:
            # keep what was not consumed (Garbled leaves the stream unusable anyway)
            if pos < size:
                self._pos = pos
            else:
                self._buf, self._pos = b"", 0
