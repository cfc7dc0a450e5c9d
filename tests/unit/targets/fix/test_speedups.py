"""The C framer (targets/fix/_speedups.c) against the Python one, its reference.

Each stream is framed twice, with and without the extension, fed in the
same random chunks: the messages, the dropped ones (BadChecksum), the point
where the framing is lost (Garbled, with its text) and what stays buffered
must be identical. Streams are generated well-formed and then garbled (bytes
flipped, inserted, deleted, cut), plus hand-picked edge cases.

Without a C compiler the extension is not built and these tests skip, saying
so; with POWERPEG_REQUIRE_SPEEDUPS=1 (CI) that is a failure instead
(tests/unit/speedups.py).
"""
from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest

from powerpeg.targets.fix import codec
from powerpeg.targets.fix.codec import BadChecksum, FixParser, Garbled, checksum, encode
from tests.unit.targets.fix.speedups import require

_speedups: ModuleType


@pytest.fixture(autouse=True)
def built() -> None:
    global _speedups  # noqa: PLW0603 - the module under test, once it is known to be built
    _speedups = require("powerpeg.targets.fix._speedups")


def frame(body: bytes) -> bytes:
    """A message around any body bytes, with a correct BodyLength and CheckSum."""
    msg = b"8=FIX.4.4\x019=%d\x01%b" % (len(body), body)
    return msg + b"10=%03d\x01" % checksum(msg)


def outcome(stream: bytes, cuts: list[int], *, c: bool, monkeypatch: pytest.MonkeyPatch) -> list:
    """Everything a session would see from ``stream`` fed in pieces ending at ``cuts``."""
    monkeypatch.setattr(codec, "_c_frame_messages", _speedups.frame_messages if c else None)
    parser = FixParser(max_body=4096)
    seen: list = []
    start = 0
    for end in [*cuts, len(stream)]:
        parser.feed(stream[start:end])
        start = end
        while True:
            try:
                seen += [("msg", m.msg_type, m.fields, m.problem) for m in parser.messages()]
                break
            except BadChecksum as exc:
                seen.append(("dropped", str(exc)))
            except Garbled as exc:
                seen.append(("garbled", str(exc)))
                return seen
    seen.append(("buffered", parser.buffered()))
    return seen


def random_value(rng: random.Random) -> bytes:
    alphabet = b"ABCxyz0123456789.-=+ \xe9\xff"
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def random_message(rng: random.Random) -> bytes:
    fields = [b"35=" + rng.choice([b"D", b"F", b"8", b"0", b"AE"]), b"49=R", b"56=EXCHANGE",
              b"34=%d" % rng.randint(1, 99)]
    for _ in range(rng.randint(0, 12)):
        tag = rng.choice([b"%d" % rng.randint(1, 200), b"%d" % rng.randint(1, 10**6), b"0%d" % rng.randint(1, 99),
                          b"%d" % rng.randint(10**8, 10**12), b"58", b"55"])
        fields.append(tag + b"=" + random_value(rng))
    rng.shuffle(fields)
    body = b"\x01".join(fields) + b"\x01"
    if rng.random() < 0.1:
        body = body.replace(b"\x01", b"\x01\x01", 1)  # an empty item
    return frame(body)


def garble(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[i] = rng.choice(b"\x01=0123456789AZ\xff")
        elif op == 1:
            data.insert(i, rng.choice(b"\x01=9X"))
        elif op == 2:
            del data[i]
        else:
            del data[i:]
    return bytes(data)


@pytest.mark.parametrize("seed", range(300))
def test_c_and_python_framers_see_the_same_stream(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated streams, garbled in a third of the cases, split at random: identical outcomes."""
    rng = random.Random(seed)
    messages = [random_message(rng) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.33:
        k = rng.randrange(len(messages))
        messages[k] = garble(rng, messages[k])
    stream = b"".join(messages)
    cuts = sorted(rng.sample(range(1, len(stream)), k=min(len(stream) - 1, rng.randint(0, 4))))
    python = outcome(stream, cuts, c=False, monkeypatch=monkeypatch)
    assert python == outcome(stream, cuts, c=True, monkeypatch=monkeypatch)


EDGE_CASES = {
    "field without =": frame(b"35=D\x0155AAPL\x01"),
    "= in a later value": frame(b"35=D\x0144\x0158=38=5\x01"),
    "empty tag": frame(b"35=D\x01=5\x01"),
    "non-digit tag": frame(b"35=D\x015x=5\x01"),
    "leading zeros": frame(b"35=D\x01055=AAPL\x01"),
    "ten-digit tag": frame(b"35=D\x011234567890=x\x01"),
    "nine-digit tag": frame(b"35=D\x01123456789=x\x01"),
    "no MsgType": frame(b"49=R\x0156=X\x01"),
    "empty MsgType": frame(b"35=\x0149=R\x01"),
    "repeated tag": frame(b"35=D\x0155=A\x0155=B\x01"),
    "last field without SOH": frame(b"35=D\x0155=A"),
    "empty body": frame(b""),
    "latin-1 value": frame(b"35=D\x0158=caf\xe9\x01"),
    "repeated tag with leading zeros": frame(b"35=D\x0111=A\x01011=B\x01"),
    "repeated MsgType": frame(b"35=D\x0135=F\x01"),
    "byte outside ASCII in a tag's value after a repeated tag": frame(b"35=D\x0155=A\x0155=B\x0158=\xff\x01"),
    "body length with a sign": b"8=FIX.4.4\x019=+5\x0135=D\x0110=000\x01",
    "body length not terminated": b"8=FIX.4.4\x019=" + b"1" * 20,
    "body length too big": b"8=FIX.4.4\x019=99999\x01" + b"x" * 10,
    "checksum not digits": frame(b"35=0\x01")[:-4] + b"1x3\x01",
    "not FIX": b"GET / HTTP/1.1\r\n\r\n",
    "prefix of a header": b"8=FIX",
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_match(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each edge case before and after a good message, whole and byte by byte: identical outcomes."""
    good = encode("0", "R", "EXCHANGE", 1)
    for stream in (EDGE_CASES[name] + good, good + EDGE_CASES[name]):
        for cuts in ([], list(range(1, len(stream)))):
            python = outcome(stream, cuts, c=False, monkeypatch=monkeypatch)
            assert python == outcome(stream, cuts, c=True, monkeypatch=monkeypatch)


def test_frame_messages_takes_the_good_ones_and_stops_before_a_bad_checksum() -> None:
    """Two good messages, then one with a wrong CheckSum: two taken, with the end of each."""
    good1, good2 = encode("0", "R", "X", 1), encode("D", "R", "X", 2, [(55, "AAPL")])
    bad = bytearray(encode("0", "R", "X", 3))
    bad[-2] = ord("0") + (bad[-2] - ord("0") + 1) % 10
    taken = _speedups.frame_messages(good1 + good2 + bytes(bad), 0, 4096)
    assert [(len(good1), "0"), (len(good1) + len(good2), "D")] == [(end, t) for end, t, _ in taken]
    assert "AAPL" == taken[1][2][55]


def test_frame_messages_refuses_a_position_outside_the_buffer() -> None:
    with pytest.raises(ValueError, match="outside"):
        _speedups.frame_messages(b"8=FIX", 6, 4096)


@pytest.mark.parametrize("seed", range(50))
def test_c_frame_body_writes_the_bytes_the_python_one_writes(seed: int) -> None:
    """Bodies of 0 to 1,000 bytes (either side of the 256-byte CheckSum shortcut): the same message."""
    rng = random.Random(seed)
    body = "".join(chr(rng.randrange(1, 128)) for _ in range(rng.choice([0, 1, 200, 256, 257, rng.randrange(1000)])))
    assert codec.py_frame_body(body) == _speedups.frame_body(body)


def test_c_frame_body_refuses_non_ascii_as_python_does() -> None:
    for impl in (codec.py_frame_body, _speedups.frame_body):
        with pytest.raises(UnicodeEncodeError):
            impl("35=0\x0158=café\x01")


def _framed(impl: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", impl(*args)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", (type(exc), str(exc))


@pytest.mark.parametrize("seed", range(20))
def test_c_frame_message_writes_the_bytes_the_python_one_writes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers and bodies as sessions send them and as they never do (None, non-ASCII, a bool or a
    huge MsgSeqNum, bytes): the same message or the same error as py_frame_message."""
    monkeypatch.setattr(_speedups, "frame_message_reference", codec.py_frame_message, raising=False)
    rng = random.Random(seed)

    def text(n: int) -> str:
        return "".join(chr(rng.randrange(1, 128)) for _ in range(n))

    odd: list[Any] = [None, "", "café", b"EXCHANGE", 7]
    for _ in range(200):
        args: list[Any] = [rng.choice(["8", "0", "A", "AE"]), text(rng.randrange(1, 20)), text(rng.randrange(1, 20)),
                           rng.choice([1, 9, 10, 12345, 2**31, 2**63 - 1, -1, 0]), "20240101-00:00:00.000",
                           text(rng.choice([0, 1, 200, 256, 257, rng.randrange(1000)]))]
        if rng.random() < 0.3:
            args[rng.randrange(6)] = rng.choice([*odd, True, 2**64, 2**70, -(2**63) - 1])
        assert _framed(codec.py_frame_message, *args) == _framed(_speedups.frame_message, *args), args


def test_sessions_frame_with_the_c_frame_message_where_it_is_on() -> None:
    """frame_message is the C one unless POWERPEG_SPEEDUPS=0; it hands back to the Python reference."""
    expected = _speedups.frame_message if codec.SPEEDUPS else codec.py_frame_message
    assert expected is codec.frame_message
    if codec.SPEEDUPS:
        assert codec.py_frame_message is _speedups.frame_message_reference
