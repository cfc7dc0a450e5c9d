"""The FIX 4.4 codec: framing, checksum, parsing and encoding."""
import pytest

from powerpeg.targets.fix.codec import (BadChecksum, FixError, FixParser, Garbled, MsgType, Tag, checksum, encode,
                                        parse_body)
from tests.unit.targets.fix.speedups import require


def _nos(seq: int = 1, **extra: object) -> bytes:
    fields = [(Tag.ClOrdID, "router-1-000001.1"), (Tag.Symbol, "AAPL"), (Tag.Side, 1), (Tag.OrderQty, 100)]
    fields += [(int(k[1:]), v) for k, v in extra.items()]
    return encode(MsgType.NewOrderSingle, "ROUTER-1", "EXCHANGE", seq, fields, sending_time="20120801-13:30:00.000")


def _messages(parser: FixParser) -> list:
    return list(parser.messages())


def test_round_trip_keeps_every_field() -> None:
    """An encoded message parses back to the same type and fields."""
    parser = FixParser()
    parser.feed(_nos(7))
    [msg] = _messages(parser)
    assert MsgType.NewOrderSingle == msg.msg_type
    assert {35: "D", 49: "ROUTER-1", 56: "EXCHANGE", 34: "7", 52: "20120801-13:30:00.000",
            11: "router-1-000001.1", 55: "AAPL", 54: "1", 38: "100"} == msg.fields
    assert 7 == msg.seq


def test_body_length_and_checksum_are_correct() -> None:
    """BodyLength counts from 35= to the SOH before 10=, CheckSum is the byte sum mod 256."""
    raw = _nos()
    body_start = raw.index(b"35=")
    body_end = raw.index(b"10=")
    declared_len = int(raw[len(b"8=FIX.4.4\x019="):body_start - 1])
    assert body_end - body_start == declared_len
    assert int(raw[-4:-1]) == checksum(raw[:body_end])


def test_messages_split_across_reads_are_reassembled() -> None:
    """A message delivered one byte at a time parses once, when complete."""
    raw = _nos() + _nos(2)
    parser = FixParser()
    seen = []
    for i in range(len(raw)):
        parser.feed(raw[i:i + 1])
        seen += _messages(parser)
    assert [1, 2] == [m.seq for m in seen]


def test_truncated_message_waits_for_more() -> None:
    """A truncated message yields nothing and stays buffered."""
    raw = _nos()
    parser = FixParser()
    parser.feed(raw[:-5])
    assert [] == _messages(parser)
    assert len(raw) - 5 == parser.buffered()


def test_bad_checksum_drops_only_that_message() -> None:
    """A wrong CheckSum raises BadChecksum for that message; the next one still parses."""
    bad = bytearray(_nos(1))
    bad[-4:-1] = b"%03d" % ((int(bad[-4:-1]) + 1) % 256)
    parser = FixParser()
    parser.feed(bytes(bad) + _nos(2))
    with pytest.raises(BadChecksum):
        _messages(parser)
    assert [2] == [m.seq for m in _messages(parser)]


def test_stream_not_starting_with_begin_string_is_garbled() -> None:
    """Bytes that are not a FIX header lose the framing."""
    parser = FixParser()
    parser.feed(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(Garbled):
        _messages(parser)


def test_body_length_that_misses_checksum_is_garbled() -> None:
    """A BodyLength pointing anywhere but at 10= loses the framing."""
    raw = _nos().replace(b"9=", b"9=1", 1)  # declares 10x the length... or more
    parser = FixParser()
    parser.feed(raw + b"x" * 2000)
    with pytest.raises(Garbled):
        _messages(parser)


def test_non_numeric_body_length_is_garbled() -> None:
    """BodyLength must be digits."""
    parser = FixParser()
    parser.feed(b"8=FIX.4.4\x019=abc\x0135=0\x0110=000\x01")
    with pytest.raises(Garbled):
        _messages(parser)


def test_oversized_body_length_is_garbled() -> None:
    """A BodyLength over the limit is refused before buffering it."""
    parser = FixParser(max_body=100)
    parser.feed(b"8=FIX.4.4\x019=100000\x01")
    with pytest.raises(Garbled):
        _messages(parser)


def test_missing_tags_parse_and_are_absent() -> None:
    """A message without a body tag parses; the session layer decides what is missing."""
    raw = encode(MsgType.NewOrderSingle, "R", "EXCHANGE", 1, [(Tag.Symbol, "AAPL")])
    parser = FixParser()
    parser.feed(raw)
    [msg] = _messages(parser)
    assert Tag.ClOrdID not in msg
    assert "AAPL" == msg[Tag.Symbol]


def test_parse_body_keeps_last_occurrence() -> None:
    """Repeated tags keep the last value (no repeating groups are modelled)."""
    assert {55: "MSFT", 54: "1"} == parse_body("55=AAPL\x0154=1\x0155=MSFT\x01")


def test_parse_body_keeps_equals_signs_in_values() -> None:
    """Only the first '=' separates tag from value."""
    assert {58: "a=b"} == parse_body("58=a=b\x01")


def test_parse_body_rejects_field_without_equals() -> None:
    """A field without '=' is malformed."""
    with pytest.raises(Exception, match="malformed"):
        parse_body("55AAPL\x01")


def test_encode_skips_none_values() -> None:
    """Optional fields given as None are left out."""
    parser = FixParser()
    parser.feed(encode(MsgType.Heartbeat, "A", "B", 3, [(Tag.TestReqID, None)]))
    [msg] = _messages(parser)
    assert Tag.TestReqID not in msg


@pytest.mark.parametrize("size", [0, 1, 100, 255, 256, 257, 1000])
def test_checksum_is_the_byte_sum_mod_256_at_every_size(size) -> None:
    """The fast path (Adler-32, up to 256 bytes) and the long path agree with sum() % 256, even on 0xFF bytes."""
    for data in (bytes([0xFF]) * size, bytes((i * 37) % 256 for i in range(size))):
        assert sum(data) % 256 == checksum(data)


@pytest.mark.parametrize("body", ["35=D\x0144\x0158=38=5\x01", "35\x0158=1=x\x01"])
def test_a_field_without_equals_is_malformed_even_when_another_value_has_one(body) -> None:
    """One field lacks '=', a later value holds one: the counts match, the message is still malformed."""
    with pytest.raises(FixError, match="malformed field"):
        parse_body(body)


@pytest.mark.parametrize("c", [True, False], ids=["c-framer", "python-framer"])
def test_messages_with_a_limit_leave_the_rest_buffered(c: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """messages(limit=3) yields three and keeps the rest for the next call, byte for byte, with either framer."""
    from powerpeg.targets.fix import codec
    if c:  # the built extension, also where POWERPEG_SPEEDUPS=0 left it off
        frame = require("powerpeg.targets.fix._speedups").frame_messages
        monkeypatch.setattr(codec, "_c_frame_messages", frame)
        monkeypatch.setattr(codec, "_C_LIMIT", codec._c_takes_a_limit())
        assert codec._C_LIMIT, "powerpeg.targets.fix._speedups predates max_count: rebuild it (make setup)"
    else:
        monkeypatch.setattr(codec, "_c_frame_messages", None)
    parser = FixParser()
    parser.feed(b"".join(encode("D", "A", "B", n, [(11, f"c{n}")]) for n in range(1, 11)) + b"8=FIX.4.4\x019=")
    first = [m[11] for m in parser.messages(limit=3)]
    rest = [m[11] for m in parser.messages()]
    assert (["c1", "c2", "c3"], [f"c{n}" for n in range(4, 11)], 12) == (first, rest, parser.buffered())


@pytest.mark.parametrize("c", [True, False], ids=["c-framer", "python-framer"])
def test_bytes_fed_between_slices_follow_what_is_left(c: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read arriving while a slice of the last one is still unread: nothing lost, nothing twice, in order."""
    from powerpeg.targets.fix import codec
    if c:
        monkeypatch.setattr(codec, "_c_frame_messages", require("powerpeg.targets.fix._speedups").frame_messages)
        monkeypatch.setattr(codec, "_C_LIMIT", codec._c_takes_a_limit())
    else:
        monkeypatch.setattr(codec, "_c_frame_messages", None)
    stream = b"".join(encode("D", "A", "B", n, [(11, f"c{n}")]) for n in range(1, 13))
    cut = len(stream) - 40  # inside the last message
    parser = FixParser()
    parser.feed(stream[:cut])
    first = [m[11] for m in parser.messages(limit=3)]
    left = parser.buffered()
    parser.feed(stream[cut:])
    rest = [m[11] for m in parser.messages()]
    assert (["c1", "c2", "c3"], [f"c{n}" for n in range(4, 13)], 0) == (first, rest, parser.buffered())
    assert left == cut - sum(len(encode("D", "A", "B", n, [(11, f"c{n}")])) for n in range(1, 4))
