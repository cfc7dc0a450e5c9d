"""The FIX session layer over real loopback TCP."""
import asyncio

import pytest

from powerpeg.targets.fix.codec import FixMessage, FixParser, MsgType, Tag, checksum, encode
from powerpeg.targets.fix.session import FixSession, ascii_text, connect


class Recorder:
    """A SessionApp that records what reaches the application."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.messages: list[FixMessage] = []
        self.closed: list[bool] = []

    def on_logon(self, session, msg):
        return self.refuse

    def on_message(self, session, msg):
        self.messages.append(msg)

    def on_close(self, session, graceful):
        self.closed.append(graceful)


async def _acceptor(app: Recorder):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FixSession(app, comp_id="EXCHANGE", role="acceptor"), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


class RawClient:
    """A raw TCP peer that writes bytes and reads whole FIX messages."""

    def __init__(self, reader, writer) -> None:
        self.reader, self.writer, self.parser = reader, writer, FixParser()
        self.seq = 1

    @classmethod
    async def open(cls, port: int) -> "RawClient":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, msg_type: str, fields=(), seq: int | None = None) -> None:
        self.writer.write(encode(msg_type, "CLIENT", "EXCHANGE", self.seq if seq is None else seq, fields))
        self.seq += 1

    async def logon(self) -> FixMessage:
        self.send(MsgType.Logon, [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, 30)])
        return await self.read()

    async def read(self, timeout: float = 2.0) -> FixMessage:
        while True:
            for msg in self.parser.messages():
                return msg
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed")
            self.parser.feed(data)

    async def closed(self, timeout: float = 2.0) -> bool:
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
            return True
        except TimeoutError:
            return False


async def test_logon_is_answered_with_logon() -> None:
    """An acceptor answers a valid Logon with a Logon."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    reply = await client.logon()
    assert (MsgType.Logon, "30") == (reply.msg_type, reply[Tag.HeartBtInt])
    server.close()


async def test_refused_logon_gets_logout_with_reason() -> None:
    """An application refusal becomes a Logout carrying the reason."""
    server, port = await _acceptor(Recorder(refuse="CompID CLIENT not allowed"))
    client = await RawClient.open(port)
    reply = await client.logon()
    assert (MsgType.Logout, "CompID CLIENT not allowed") == (reply.msg_type, reply[Tag.Text])
    server.close()


async def test_message_before_logon_is_logged_out() -> None:
    """The first message must be a Logon."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    client.send(MsgType.Heartbeat)
    reply = await client.read()
    assert MsgType.Logout == reply.msg_type
    server.close()


async def test_missing_required_tag_gets_reject_naming_it() -> None:
    """A NewOrderSingle without ClOrdID gets a session Reject with RefTagID 11."""
    app = Recorder()
    server, port = await _acceptor(app)
    client = await RawClient.open(port)
    await client.logon()
    client.send(MsgType.NewOrderSingle, [(Tag.Symbol, "AAPL"), (Tag.Side, 1), (Tag.TransactTime, "x"),
                                         (Tag.OrderQty, 10), (Tag.OrdType, 2)])
    reply = await client.read()
    assert (MsgType.Reject, "11", "1") == (reply.msg_type, reply[Tag.RefTagID], reply[Tag.SessionRejectReason])
    assert "11" in reply[Tag.Text]
    assert [] == app.messages
    server.close()


async def test_an_empty_required_value_gets_reject_and_an_empty_other_value_passes() -> None:
    """Side(54) empty: a Reject naming it, as if missing; Text(58) empty: the order reaches the application."""
    app = Recorder()
    server, port = await _acceptor(app)
    client = await RawClient.open(port)
    await client.logon()
    order = [(Tag.ClOrdID, "c1"), (Tag.Symbol, "AAPL"), (Tag.Side, 1), (Tag.TransactTime, "x"), (Tag.OrderQty, 10),
             (Tag.OrdType, 2)]
    client.send(MsgType.NewOrderSingle, [(tag, "" if tag == Tag.Side else value) for tag, value in order])
    reply = await client.read()
    assert (MsgType.Reject, "54", "1") == (reply.msg_type, reply[Tag.RefTagID], reply[Tag.SessionRejectReason])
    client.send(MsgType.NewOrderSingle, [*order, (Tag.Text, "")])
    client.send(MsgType.TestRequest, [(Tag.TestReqID, "t")])
    assert MsgType.Heartbeat == (await client.read()).msg_type
    assert [("c1", "")] == [(m[Tag.ClOrdID], m[Tag.Text]) for m in app.messages]
    server.close()


async def test_test_request_is_answered_with_its_id() -> None:
    """A TestRequest gets a Heartbeat echoing TestReqID."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    await client.logon()
    client.send(MsgType.TestRequest, [(Tag.TestReqID, "ping-1")])
    reply = await client.read()
    assert (MsgType.Heartbeat, "ping-1") == (reply.msg_type, reply[Tag.TestReqID])
    server.close()


async def test_sequence_number_too_low_is_logged_out() -> None:
    """A MsgSeqNum lower than expected (no PossDup) ends the session."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    await client.logon()
    client.send(MsgType.Heartbeat, seq=1)
    reply = await client.read()
    assert MsgType.Logout == reply.msg_type
    assert "too low" in reply[Tag.Text]
    server.close()


async def test_sequence_gap_is_answered_with_a_resend_request() -> None:
    """A MsgSeqNum gap keeps the session up and asks for the missing messages from the expected one."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    await client.logon()
    client.send(MsgType.Heartbeat, seq=5)
    reply = await client.read()
    assert (MsgType.ResendRequest, "2", "0") == (reply.msg_type, reply[Tag.BeginSeqNo], reply[Tag.EndSeqNo])
    server.close()


async def test_garbled_bytes_get_logout_and_other_sessions_survive() -> None:
    """Garbage ends that session only; another session keeps working."""
    app = Recorder()
    server, port = await _acceptor(app)
    bad, good = await RawClient.open(port), await RawClient.open(port)
    await bad.logon()
    await good.logon()
    bad.writer.write(b"\x00\xffnot fix at all\x01")
    assert MsgType.Logout == (await bad.read()).msg_type
    assert await bad.closed()
    good.send(MsgType.TestRequest, [(Tag.TestReqID, "still-here")])
    assert "still-here" == (await good.read())[Tag.TestReqID]
    server.close()


async def test_bad_checksum_message_is_dropped_not_delivered() -> None:
    """A message with a wrong CheckSum never reaches the application."""
    app = Recorder()
    server, port = await _acceptor(app)
    client = await RawClient.open(port)
    await client.logon()
    raw = bytearray(encode("D", "CLIENT", "EXCHANGE", 2, [(Tag.ClOrdID, "x")]))
    raw[-4:-1] = b"%03d" % ((int(raw[-4:-1]) + 7) % 256)
    client.writer.write(bytes(raw))
    client.seq = 3
    client.send(MsgType.TestRequest, [(Tag.TestReqID, "t")])  # seq 3: the dropped 2 leaves a gap
    reply = await client.read()
    assert (MsgType.ResendRequest, "2") == (reply.msg_type, reply[Tag.BeginSeqNo])
    assert [] == app.messages
    server.close()


async def test_initiator_connects_exchanges_app_messages_and_logs_out() -> None:
    """connect() logs on; app messages flow both ways; Logout closes gracefully."""
    server_app, client_app = Recorder(), Recorder()
    server, port = await _acceptor(server_app)
    session = await connect(client_app, "127.0.0.1", port, comp_id="ROUTER-1", target_comp_id="EXCHANGE")
    session.send(MsgType.NewOrderSingle, [(Tag.ClOrdID, "p.1"), (Tag.Symbol, "AAPL"), (Tag.Side, 1),
                                          (Tag.TransactTime, "t"), (Tag.OrderQty, 5), (Tag.OrdType, 1)])
    for _ in range(100):
        if server_app.messages:
            break
        await asyncio.sleep(0.01)
    assert ["p.1"] == [m[Tag.ClOrdID] for m in server_app.messages]
    session.logout("bye")
    await asyncio.wait_for(session.closed_event.wait(), 2)
    for _ in range(100):
        if server_app.closed:
            break
        await asyncio.sleep(0.01)
    assert [True] == server_app.closed
    server.close()


def _raw(seq: int, body: bytes) -> bytes:
    """A framed message from CLIENT whose body fields after the header are given as raw bytes."""
    head = b"35=D\x0149=CLIENT\x0156=EXCHANGE\x0134=%d\x0152=20261201-12:00:00.000\x01" % seq
    return checksum_frame(head + body)


def checksum_frame(body: bytes) -> bytes:
    msg = b"8=FIX.4.4\x019=%d\x01%b" % (len(body), body)
    return msg + b"10=%03d\x01" % checksum(msg)


async def test_a_byte_outside_ascii_gets_reject_373_6_in_ascii_and_the_session_goes_on() -> None:
    """A value with a byte outside ASCII: Reject 373=6 naming the tag (its own text ASCII), the
    MsgSeqNum counts (the next one is processed), and the application never sees it."""
    app = Recorder()
    server, port = await _acceptor(app)
    client = await RawClient.open(port)
    await client.logon()
    client.writer.write(_raw(2, b"11=A1\x0155=caf\xe9\x01"))
    reject = await client.read()
    client.send(MsgType.TestRequest, [(Tag.TestReqID, "next")], seq=3)
    heartbeat = await client.read()
    assert (MsgType.Reject, "2", "55", "6", True) == (
        reject.msg_type, reject[Tag.RefSeqNum], reject[Tag.RefTagID], reject[Tag.SessionRejectReason],
        reject[Tag.Text].isascii())
    assert (MsgType.Heartbeat, "next", []) == (heartbeat.msg_type, heartbeat[Tag.TestReqID], app.messages)
    server.close()


async def test_a_repeated_tag_gets_reject_373_13_and_the_session_goes_on() -> None:
    """A tag twice in one message (last-wins would let a second value past a check on the first):
    Reject 373=13 naming it; nothing reaches the application; the session stays up."""
    app = Recorder()
    server, port = await _acceptor(app)
    client = await RawClient.open(port)
    await client.logon()
    client.send(MsgType.NewOrderSingle, [(Tag.ClOrdID, "A1"), (Tag.OrderQty, 100), (Tag.OrderQty, 100000)])
    reject = await client.read()
    client.send(MsgType.TestRequest, [(Tag.TestReqID, "still-there")])
    heartbeat = await client.read()
    assert (MsgType.Reject, "38", "13", MsgType.Heartbeat, "still-there", []) == (
        reject.msg_type, reject[Tag.RefTagID], reject[Tag.SessionRejectReason], heartbeat.msg_type,
        heartbeat[Tag.TestReqID], app.messages)
    server.close()


async def test_a_logon_with_a_byte_outside_ascii_gets_an_ascii_logout() -> None:
    """A Logon the venue cannot read is refused with a Logout whose text is ASCII."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    client.writer.write(checksum_frame(
        b"35=A\x0149=CLIENT\x0156=EXCHANGE\x0134=1\x0152=20261201-12:00:00.000\x0198=0\x01108=30\x01553=\xc3\xa9\x01"))
    logout = await client.read()
    assert (MsgType.Logout, True, True) == (logout.msg_type, logout[Tag.Text].isascii(), await client.closed())
    server.close()


def test_ascii_text_escapes_what_fix_cannot_carry() -> None:
    """Non-ASCII is backslash-escaped and SOH spelled out: the text can always be encoded and framed."""
    assert "caf\\xe9 a\\x01b" == ascii_text("café a\x01b")


async def test_a_msgseqnum_of_5000_digits_gets_a_logout_not_a_crash() -> None:
    """int() of 5,000 digits raises: such a MsgSeqNum (or one in other digits than ASCII) is no number,
    answered with a Logout saying so, instead of an error out of data_received dropping the connection."""
    server, port = await _acceptor(Recorder())
    client = await RawClient.open(port)
    await client.logon()
    client.writer.write(checksum_frame(b"35=0\x0149=CLIENT\x0156=EXCHANGE\x0134=" + b"9" * 5000 +
                                       b"\x0152=20261201-12:00:00.000\x01"))
    logout = await client.read()
    assert (MsgType.Logout, True, True) == (logout.msg_type, "is not a number" in logout[Tag.Text],
                                            len(logout[Tag.Text]) < 100)
    server.close()


def order(seq: int) -> bytes:
    return encode("D", "CLIENT", "EXCHANGE", seq, [(Tag.ClOrdID, f"c{seq}"), (Tag.Symbol, "X"), (Tag.Side, 1),
                                                   (Tag.TransactTime, "20260101-09:30:00"), (Tag.OrderQty, 1),
                                                   (Tag.OrdType, 1)])


class Paused(asyncio.Transport):
    """A transport that keeps what is written and whether reading is paused."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.pauses = 0

    def write(self, data) -> None:
        pass

    def writelines(self, data) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


def burst(last: int, budget: int | None, slice_s: float | None = None) -> tuple[Recorder, FixSession, Paused]:
    """An acceptor that has just received Logon and orders c2..c<last> in one read."""
    app = Recorder()
    session = FixSession(app, comp_id="EXCHANGE", role="acceptor", intake_budget=budget, intake_slice_s=slice_s)
    transport = Paused()
    session.connection_made(transport)
    data = encode(MsgType.Logon, "CLIENT", "EXCHANGE", 1, [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, 30)])
    session.data_received(data + b"".join(order(n) for n in range(2, last + 1)))
    return app, session, transport


async def slices(app: Recorder, session: FixSession, transport: Paused) -> list[int]:
    """Turn the loop until the socket is read again: the orders handled after each turn; then close."""
    seen = [len(app.messages)]
    while transport.paused:
        await asyncio.sleep(0)
        seen.append(len(app.messages))
    session.abort()
    session.connection_lost(None)
    return seen


async def test_an_intake_budget_takes_a_burst_a_slice_per_turn_of_the_loop() -> None:
    """With intake_budget=4, ten pipelined orders are handled four at a time, the socket paused until
    the last slice, and none is lost or reordered: the loop runs other work in between."""
    app, session, transport = burst(11, 4)
    seen = await slices(app, session, transport)
    assert ([3, 7, 10], 1, [f"c{n}" for n in range(2, 12)]) == (
        seen, transport.pauses, [m[Tag.ClOrdID] for m in app.messages])


async def test_a_slice_also_ends_when_its_time_is_up() -> None:
    """intake_slice_s bounds a slice by time as well as by count: with a nanosecond, every message
    (the Logon first) ends its slice, whatever the budget; still none lost or reordered."""
    app, session, transport = burst(11, 64, 1e-9)
    seen = await slices(app, session, transport)
    assert (list(range(0, 11)), [f"c{n}" for n in range(2, 12)]) == (
        seen, [m[Tag.ClOrdID] for m in app.messages])


@pytest.mark.parametrize("slice_s", [0.0, -1.0])
def test_a_slice_time_must_be_positive(slice_s) -> None:
    with pytest.raises(ValueError, match="intake_slice_s"):
        FixSession(Recorder(), comp_id="EXCHANGE", role="acceptor", intake_budget=4, intake_slice_s=slice_s)


async def test_a_burst_ending_exactly_on_the_budget_still_resumes_reading() -> None:
    """Logon + 11 orders with intake_budget=4: the last slice spends its whole budget on the last message
    buffered. The socket must be read again (it stayed paused for good: a QuickFIX/Go resend that ended on a
    slice's boundary then sat in the kernel, and the session waited for the gap to fill)."""
    app, session, transport = burst(12, 4)
    for _ in range(10):  # three slices need two more turns; a few spare ones
        await asyncio.sleep(0)
    paused = transport.paused
    session.abort()
    session.connection_lost(None)
    assert (False, [f"c{n}" for n in range(2, 13)]) == (paused, [m[Tag.ClOrdID] for m in app.messages])


async def test_without_a_budget_a_burst_is_handled_at_once() -> None:
    """The default (routers, monitor): everything that arrived is handled in the one call."""
    app, session, transport = burst(11, None)
    count = len(app.messages)
    session.abort()
    session.connection_lost(None)
    assert (10, 0) == (count, transport.pauses)
