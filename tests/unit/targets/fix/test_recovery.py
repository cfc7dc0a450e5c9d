"""The FIX session's sequence rules over real loopback TCP: stores, gaps, resend, SequenceReset."""
from __future__ import annotations

import asyncio
from pathlib import Path

from powerpeg.targets.fix.codec import FixMessage, FixParser, MsgType, Tag, encode
from powerpeg.targets.fix.session import FixSession, connect
from powerpeg.targets.fix.store import FileStores, MemoryStore, MemoryStores, SessionStores

OLD = "20260101-09:30:00.000"


class Echo:
    """An acceptor application: each NewOrderSingle is answered with an ExecutionReport; records what it got."""

    def __init__(self) -> None:
        self.messages: list[FixMessage] = []
        self.sessions: list[FixSession] = []

    def on_logon(self, session, msg):
        self.sessions.append(session)
        return None

    def on_message(self, session, msg):
        self.messages.append(msg)
        if msg.msg_type == MsgType.NewOrderSingle:
            session.send(MsgType.ExecutionReport, [(Tag.ClOrdID, msg[Tag.ClOrdID]), (Tag.ExecType, "0")])

    def on_close(self, session, graceful):
        pass

    def got(self) -> list[str]:
        return [m[Tag.ClOrdID] for m in self.messages]


async def acceptor(app, stores: SessionStores):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FixSession(app, comp_id="EXCHANGE", role="acceptor", stores=stores),
                                      "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


class Client:
    """A hand-driven initiator: numbers what it sends, keeps every message it reads."""

    def __init__(self, reader, writer, seq: int = 1) -> None:
        self.reader, self.writer, self.parser = reader, writer, FixParser()
        self.seq = seq
        self.received: list[FixMessage] = []

    @classmethod
    async def open(cls, port: int, seq: int = 1) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port), seq=seq)

    def send(self, msg_type: str, fields=(), seq: int | None = None) -> int:
        sent = self.seq if seq is None else seq
        self.writer.write(encode(msg_type, "CLIENT", "EXCHANGE", sent, fields))
        if seq is None:
            self.seq += 1
        return sent

    def order(self, cl: str, seq: int | None = None, poss_dup: bool = False) -> int:
        dup = [(Tag.PossDupFlag, "Y"), (Tag.OrigSendingTime, OLD)] if poss_dup else []
        return self.send(MsgType.NewOrderSingle, [*dup, (Tag.ClOrdID, cl), (Tag.Symbol, "AAA"), (Tag.Side, 1),
                                                  (Tag.TransactTime, OLD), (Tag.OrderQty, 5), (Tag.OrdType, 1)], seq)

    async def logon(self, *extra) -> FixMessage:
        self.send(MsgType.Logon, [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, 30), *extra])
        return await self.expect(lambda m: m.msg_type in (MsgType.Logon, MsgType.Logout))

    async def expect(self, pred, timeout: float = 2.0) -> FixMessage:
        async def wait() -> FixMessage:
            seen = 0
            while True:
                for msg in self.received[seen:]:
                    if pred(msg):
                        return msg
                seen = len(self.received)
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.parser.feed(data)
                self.received.extend(self.parser.messages())
        return await asyncio.wait_for(wait(), timeout)

    def close(self) -> None:
        self.writer.transport.abort()


async def until(predicate, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def report(cl: str) -> list[tuple[int, object]]:
    return [(Tag.OrderID, "1"), (Tag.ExecID, cl), (Tag.ClOrdID, cl), (Tag.ExecType, "0"), (Tag.OrdStatus, "0"),
            (Tag.Symbol, "AAA"), (Tag.Side, 1)]


def is_type(msg_type: str):
    return lambda m: m.msg_type == msg_type


# -- gaps on the way in --------------------------------------------------------


async def test_a_gap_gets_one_resend_request_and_queued_messages_wait_for_it() -> None:
    """Messages 3 and 4 arrive before 2: one ResendRequest (7=2, 16=0), nothing applied out of order;
    the resent 2 (PossDup) arrives and 2, 3, 4 are applied in order, each once."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o3", seq=3)
    c.order("o4", seq=4)
    request = await c.expect(is_type(MsgType.ResendRequest))
    await asyncio.sleep(0.05)  # room for a wrong second request or an early application
    before = (app.got(), len([m for m in c.received if m.msg_type == MsgType.ResendRequest]))
    c.order("o2", seq=2, poss_dup=True)
    await until(lambda: len(app.messages) == 3)
    server.close()
    assert (("2", "0"), ([], 1), ["o2", "o3", "o4"]) == (
        (request[Tag.BeginSeqNo], request[Tag.EndSeqNo]), before, app.got())


async def test_a_gap_filled_by_gap_fill_then_the_queue_is_processed() -> None:
    """A SequenceReset-GapFill for the gap (the peer's admin messages) moves the expected MsgSeqNum
    forward and what waited beyond it is applied."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o4", seq=4)
    await c.expect(is_type(MsgType.ResendRequest))
    c.send(MsgType.SequenceReset, [(Tag.PossDupFlag, "Y"), (Tag.OrigSendingTime, OLD), (Tag.GapFillFlag, "Y"),
                                   (Tag.NewSeqNo, 4)], seq=2)
    await until(lambda: len(app.messages) == 1)
    c.order("o5", seq=5)
    await until(lambda: len(app.messages) == 2)
    server.close()
    assert ["o4", "o5"] == app.got()


async def test_too_low_without_poss_dup_is_logged_out_with_the_reason() -> None:
    """A MsgSeqNum below the expected one, not a possible duplicate: Logout saying both numbers."""
    server, port = await acceptor(Echo(), MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    c.order("again", seq=2)
    logout = await c.expect(is_type(MsgType.Logout))
    server.close()
    assert "MsgSeqNum too low, expecting 3 but received 2" == logout[Tag.Text]


async def test_a_poss_dup_duplicate_is_never_applied_twice() -> None:
    """The same MsgSeqNum again with PossDupFlag=Y is ignored; the session carries on."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    c.order("o2", seq=2, poss_dup=True)
    c.order("o3")
    await until(lambda: len(app.messages) >= 2)
    await asyncio.sleep(0.05)
    server.close()
    assert ["o2", "o3"] == app.got()


# -- SequenceReset ------------------------------------------------------------------


async def test_sequence_reset_moves_the_expected_number_whatever_its_own() -> None:
    """Reset mode (no 123=Y) sets the expected MsgSeqNum to NewSeqNo, its own MsgSeqNum ignored."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.send(MsgType.SequenceReset, [(Tag.NewSeqNo, 10)], seq=99)
    c.order("o10", seq=10)
    await until(lambda: len(app.messages) == 1)
    server.close()
    assert (["o10"], []) == (app.got(), [m for m in c.received if m.msg_type == MsgType.ResendRequest])


async def test_sequence_reset_lowering_the_number_is_rejected_and_changes_nothing() -> None:
    """NewSeqNo below the expected MsgSeqNum: Reject 373=5 naming tag 36 with the reason; the next
    message at the old expected number is still taken."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    c.send(MsgType.SequenceReset, [(Tag.NewSeqNo, 2)], seq=1)
    reject = await c.expect(is_type(MsgType.Reject))
    c.order("o3", seq=3)
    await until(lambda: len(app.messages) == 2)
    server.close()
    assert (("5", "36"), "lower than the expected MsgSeqNum 3", ["o2", "o3"]) == (
        (reject[Tag.SessionRejectReason], reject[Tag.RefTagID]), reject[Tag.Text][-35:], app.got())


# -- answering a ResendRequest -------------------------------------------------------


async def test_resend_request_is_answered_from_the_store() -> None:
    """Application messages again with PossDupFlag=Y, OrigSendingTime = the original SendingTime, a new
    SendingTime and the same MsgSeqNum and body; the admin message between them a GapFill."""
    server, port = await acceptor(Echo(), MemoryStores())
    c = await Client.open(port)
    await c.logon()  # their Logon: 1
    c.order("o2")  # ER 2
    first = await c.expect(lambda m: m.get(Tag.ClOrdID) == "o2")
    c.send(MsgType.TestRequest, [(Tag.TestReqID, "ping")])  # Heartbeat 3
    await c.expect(is_type(MsgType.Heartbeat))
    c.order("o4")  # ER 4
    await c.expect(lambda m: m.get(Tag.ClOrdID) == "o4")
    await asyncio.sleep(0.01)  # SendingTime moves on (millisecond resolution)
    mark = len(c.received)
    c.send(MsgType.ResendRequest, [(Tag.BeginSeqNo, 1), (Tag.EndSeqNo, 0)])
    await c.expect(lambda m: m.get(Tag.ClOrdID) == "o4" and m.get(Tag.PossDupFlag) == "Y")
    server.close()
    resent = c.received[mark:]
    again = resent[1]
    summary = [(m.msg_type, m[Tag.MsgSeqNum], m.get(Tag.PossDupFlag), m.get(Tag.NewSeqNo)) for m in resent]
    body = {t: v for t, v in again.fields.items() if t not in (Tag.PossDupFlag, Tag.SendingTime, Tag.OrigSendingTime)}
    assert [("4", "1", "Y", "2"), ("8", "2", "Y", None), ("4", "3", "Y", "4"), ("8", "4", "Y", None)] == summary
    assert ({t: v for t, v in first.fields.items() if t != Tag.SendingTime}, first[Tag.SendingTime], True) == (
        body, again[Tag.OrigSendingTime], again[Tag.SendingTime] > again[Tag.OrigSendingTime])


async def test_resend_beyond_what_the_store_holds_is_gap_filled() -> None:
    """The store lost messages 1-9 (its counters say 10): resend 1..0 is one GapFill up to the next
    number; an EndSeqNo beyond the last sent is read as the last sent."""
    stores = MemoryStores()
    lost = stores.open("EXCHANGE", "CLIENT")
    lost.next_out = 10  # a store that lost its messages (never made by FixSession; a restart could)
    server, port = await acceptor(Echo(), stores)
    c = await Client.open(port)
    await c.logon()  # their Logon: 10
    c.send(MsgType.ResendRequest, [(Tag.BeginSeqNo, 1), (Tag.EndSeqNo, 500)])
    fill = await c.expect(is_type(MsgType.SequenceReset))
    server.close()
    assert ("1", "Y", "11") == (fill[Tag.MsgSeqNum], fill[Tag.GapFillFlag], fill[Tag.NewSeqNo])


async def test_resend_from_beyond_the_next_number_is_rejected() -> None:
    """BeginSeqNo above the next MsgSeqNum: session Reject 373=5 naming tag 7, with the reason."""
    server, port = await acceptor(Echo(), MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.send(MsgType.ResendRequest, [(Tag.BeginSeqNo, 50), (Tag.EndSeqNo, 0)])
    reject = await c.expect(is_type(MsgType.Reject))
    server.close()
    assert ("5", "7", "BeginSeqNo(7) 50 is not between 1 and the next MsgSeqNum 2") == (
        reject[Tag.SessionRejectReason], reject[Tag.RefTagID], reject[Tag.Text])


# -- Logon -------------------------------------------------------------------------------


async def test_a_second_logon_continues_the_sequence() -> None:
    """Without 141=Y a new connection of the pair continues both sequences: the Logon answer carries
    the next MsgSeqNum after the first connection's, and messages flow on."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()  # 1 / their 1
    c.order("o2")  # their ER 2
    await c.expect(lambda m: m.get(Tag.ClOrdID) == "o2")
    c.close()
    await until(lambda: app.sessions[0].closed)
    back = await Client.open(port, seq=c.seq)
    answer = await back.logon()  # 3 / their 3
    back.order("o4")
    er = await back.expect(lambda m: m.get(Tag.ClOrdID) == "o4")
    server.close()
    assert (("A", "3"), "4", ["o2", "o4"]) == ((answer.msg_type, answer[Tag.MsgSeqNum]), er[Tag.MsgSeqNum], app.got())


async def test_logon_lower_than_expected_is_refused() -> None:
    """A Logon without 141=Y at a MsgSeqNum below the expected one: Logout with the reason."""
    app = Echo()
    server, port = await acceptor(app, MemoryStores())
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    await c.expect(is_type(MsgType.ExecutionReport))
    c.close()
    await until(lambda: app.sessions[0].closed)
    again = await Client.open(port, seq=1)
    answer = await again.logon()
    server.close()
    assert (MsgType.Logout, "MsgSeqNum too low, expecting 3 but received 1") == (answer.msg_type, answer[Tag.Text])


async def test_logon_higher_than_expected_is_accepted_then_resend_requested() -> None:
    """A Logon ahead of the expected MsgSeqNum is accepted, then a ResendRequest from the expected one."""
    server, port = await acceptor(Echo(), MemoryStores())
    c = await Client.open(port, seq=7)
    answer = await c.logon()
    request = await c.expect(is_type(MsgType.ResendRequest))
    server.close()
    assert ("A", ("1", "0")) == (answer.msg_type, (request[Tag.BeginSeqNo], request[Tag.EndSeqNo]))


async def test_logon_with_reset_starts_both_sides_over() -> None:
    """141=Y: the answer is MsgSeqNum 1 with 141=Y, and the old messages are gone from the store."""
    app = Echo()
    stores = MemoryStores()
    server, port = await acceptor(app, stores)
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    await c.expect(is_type(MsgType.ExecutionReport))
    c.close()
    await until(lambda: app.sessions[0].closed)
    again = await Client.open(port, seq=1)
    answer = await again.logon((Tag.ResetSeqNumFlag, "Y"))
    await until(lambda: stores.open("EXCHANGE", "CLIENT").next_in == 2)
    server.close()
    assert (("1", "Y"), []) == ((answer[Tag.MsgSeqNum], answer.get(Tag.ResetSeqNumFlag)),
                                [s for s, m in stores.open("EXCHANGE", "CLIENT").messages(2, 10)])


async def test_a_restarted_acceptor_continues_the_sequence_from_its_files(tmp_path: Path) -> None:
    """The acceptor process restarts (a new FileStores on the same directory): the client's Logon
    without reset is answered with the next MsgSeqNum, and what was sent before the restart is
    resent on request."""
    app = Echo()
    stores = FileStores(tmp_path)
    server, port = await acceptor(app, stores)
    c = await Client.open(port)
    await c.logon()
    c.order("o2")
    await c.expect(is_type(MsgType.ExecutionReport))
    c.close()
    await until(lambda: app.sessions[0].closed)
    server.close()
    stores.close()
    restarted = FileStores(tmp_path)
    server, port = await acceptor(Echo(), restarted)
    back = await Client.open(port, seq=c.seq)
    answer = await back.logon()
    back.send(MsgType.ResendRequest, [(Tag.BeginSeqNo, 2), (Tag.EndSeqNo, 2)])
    resent = await back.expect(lambda m: m.get(Tag.PossDupFlag) == "Y")
    server.close()
    restarted.close()
    assert ("3", ("2", "o2")) == (answer[Tag.MsgSeqNum], (resent[Tag.MsgSeqNum], resent[Tag.ClOrdID]))


async def test_initiator_reconnect_recovers_what_the_cut_lost() -> None:
    """connect() with the same store: the first Logon resets, the second continues; the reports the
    acceptor sent while the connection was cut reach the initiator's application once, in order."""
    app, client_app = Echo(), Echo()
    server, port = await acceptor(app, MemoryStores())
    store = MemoryStore()
    first = await connect(client_app, "127.0.0.1", port, comp_id="CLIENT", target_comp_id="EXCHANGE",
                          store=store, reset=True)
    theirs = app.sessions[-1]
    theirs.send(MsgType.ExecutionReport, report("r1"))
    await until(lambda: len(client_app.messages) == 1)
    theirs.abort()  # cut: the next two go to the store only
    theirs.send(MsgType.ExecutionReport, report("r2"))
    theirs.send(MsgType.ExecutionReport, report("r3"))
    theirs.connection_lost(None)
    await asyncio.wait_for(first.closed_event.wait(), 2)
    second = await connect(client_app, "127.0.0.1", port, comp_id="CLIENT", target_comp_id="EXCHANGE", store=store)
    await asyncio.wait_for(second.in_sync_event.wait(), 2)
    app.sessions[-1].send(MsgType.ExecutionReport, report("r4"))
    await until(lambda: len(client_app.messages) == 4)
    second.logout()
    server.close()
    assert (["r1", "r2", "r3", "r4"], 1) == (client_app.got(), second.resend_requests_sent)


# -- heartbeats ---------------------------------------------------------------------------


class Wire(asyncio.Transport):
    """A transport that keeps what is written (for the heartbeat clock, driven by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.aborted = False

    def writelines(self, data) -> None:
        for chunk in data:
            self.data += chunk

    def write(self, data) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default

    def sent(self) -> list[str]:
        parser = FixParser()
        parser.feed(bytes(self.data))
        return [m.msg_type for m in parser.messages()]


async def test_silence_brings_a_test_request_then_the_disconnect() -> None:
    """HeartBtInt 10: a Heartbeat when we have said nothing for 10 s; after 12 s without a word from
    the peer a TestRequest; 12 s more without an answer and the connection is dropped."""
    app = Echo()
    session = FixSession(app, comp_id="EXCHANGE", role="acceptor", stores=MemoryStores())
    wire = Wire()
    session.connection_made(wire)
    session._hb_task.cancel()  # the clock is driven by hand below
    session.data_received(encode(MsgType.Logon, "CLIENT", "EXCHANGE", 1, [(98, 0), (108, 10)]))
    session._flush()
    t0 = session._last_in
    steps = []
    for at in (5, 10.5, 12.5, 20, 25):
        before = len(wire.sent())
        session.tick(t0 + at)
        session._flush()
        new = wire.sent()[before:]
        steps.append(("0" in new, new.count("1"), session.closed))
    assert [(False, 0, False), (True, 0, False), (True, 1, False), (True, 0, False), (False, 0, True)] == steps
