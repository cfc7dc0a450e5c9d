"""FIX 4.4 session layer over asyncio (acceptor and initiator).

One :class:`FixSession` per TCP connection. It owns framing, CheckSum and
MsgSeqNum checks, Logon/Logout, Heartbeat/TestRequest, ResendRequest,
SequenceReset and session-level Reject; application messages go to the
``app`` callbacks. Outgoing messages are buffered and flushed once per loop
iteration, so a burst of fills to one session costs one syscall rather than
one per message (and one store write: see below).

Sequence numbers live in a message store (``store.py``), one per CompID
pair, which outlives the connection: a Logon with ResetSeqNumFlag(141)=Y
starts both sides at 1, a Logon without it continues where the pair left
off. Every message sent is in the store before it reaches the socket, so a
ResendRequest is answered from it: application messages again with
PossDupFlag=Y and OrigSendingTime, admin messages replaced by
SequenceReset-GapFill. A MsgSeqNum higher than expected is answered with
one ResendRequest per gap, and the messages beyond the gap wait in a queue
and are processed in order once it is filled (QuickFIX's behaviour); lower
than expected without PossDupFlag=Y ends the session with the reason; a
PossDup duplicate is ignored, never applied twice. The venue's rules in
full: docs/targets.md, "FIX session rules".
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Protocol

from .codec import (
    REJECT_INCORRECT_FORMAT, SOH, BadChecksum, FixMessage, FixParser, Garbled, MsgType, Tag,
    checksum, encode, frame_message, utc_timestamp,
)
from .credentials import INVALID as INVALID_CREDENTIALS, Credentials
from .store import MemoryStore, MemoryStores, MessageStore, SessionStores

# Tags every message must carry beyond 8/9/10 (checked by the framer).
HEADER_REQUIRED = (Tag.MsgType, Tag.SenderCompID, Tag.TargetCompID, Tag.MsgSeqNum, Tag.SendingTime)
_HEADER_VALUES = itemgetter(*HEADER_REQUIRED)  # the usual message's required values in one C-level call

# Body tags required per application message type (FIX 4.4).
BODY_REQUIRED: dict[str, tuple[int, ...]] = {
    MsgType.Logon: (Tag.EncryptMethod, Tag.HeartBtInt),
    MsgType.NewOrderSingle: (Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.TransactTime, Tag.OrderQty, Tag.OrdType),
    MsgType.OrderCancelRequest: (Tag.OrigClOrdID, Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.TransactTime),
    MsgType.OrderStatusRequest: (Tag.ClOrdID, Tag.Symbol, Tag.Side),
    MsgType.OrderCancelReplaceRequest: (
        Tag.OrigClOrdID, Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.TransactTime, Tag.OrderQty, Tag.OrdType),
    MsgType.OrderMassCancelRequest: (Tag.ClOrdID, Tag.MassCancelRequestType, Tag.TransactTime),
    MsgType.OrderMassCancelReport: (Tag.OrderID, Tag.MassCancelRequestType, Tag.MassCancelResponse),
    MsgType.BusinessMessageReject: (Tag.RefMsgType, Tag.BusinessRejectReason),
    MsgType.ExecutionReport: (Tag.OrderID, Tag.ExecID, Tag.ExecType, Tag.OrdStatus, Tag.Symbol, Tag.Side),
    MsgType.OrderCancelReject: (Tag.OrderID, Tag.ClOrdID, Tag.OrigClOrdID, Tag.OrdStatus, Tag.CxlRejResponseTo),
    MsgType.TestRequest: (Tag.TestReqID,),
    MsgType.Reject: (Tag.RefSeqNum,),
}

# The values of the header and body tags a message type needs, in one call: the
# usual message has them all, non-empty, and passes with that call and one scan
# of what it returns (both C-level) instead of a Python loop over each tag (a
# subset test of the message's keys and a truth test of all its values cost
# about 6% of the exchange's instructions per order, callgrind).
_ALL_REQUIRED: dict[str, itemgetter] = {t: itemgetter(*HEADER_REQUIRED, *tags) for t, tags in BODY_REQUIRED.items()}

SESSION_TYPES = frozenset({MsgType.Heartbeat, MsgType.TestRequest, MsgType.Reject, MsgType.Logout, MsgType.Logon,
                           MsgType.ResendRequest, MsgType.SequenceReset})
# Admin messages: never re-sent on a ResendRequest, a SequenceReset-GapFill stands for them.
ADMIN_TYPES = SESSION_TYPES

# SessionRejectReason (373) values used here.
REJECT_REQUIRED_TAG_MISSING = 1
REJECT_VALUE_INCORRECT = 5
# 6 incorrect data format and 13 tag repeated: the codec's (REJECT_INCORRECT_FORMAT, REJECT_TAG_REPEATED)
REJECT_COMPID_PROBLEM = 9
REJECT_INVALID_MSGTYPE = 11

# Messages beyond a gap kept while the resend fills it; a peer that runs
# further ahead than this is logged out rather than let to fill the memory.
MAX_QUEUED = 100_000
# EndSeqNo(16) values meaning "up to the last message sent" (FIX 4.2+ and before).
END_OF_STORE = (0, 999999)
TOO_LOW = "MsgSeqNum too low"


class LogonFailed(ConnectionError):
    """An initiator's Logon was refused, answered wrongly or not at all.

    ``sequence`` is True when the cause was the sequence numbers (one side's
    MsgSeqNum lower than the other expected): logging on again with
    ResetSeqNumFlag=Y is then the way back in."""

    def __init__(self, text: str, *, sequence: bool = False) -> None:
        super().__init__(text)
        self.sequence = sequence


class SessionApp(Protocol):
    """What a session hands to the application (exchange, router, monitor)."""

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        """Accept (return None) or refuse (return the reason) a Logon."""

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        """An application message that passed every session check."""

    def on_close(self, session: FixSession, graceful: bool) -> None:
        """The connection ended; graceful means a Logout was exchanged."""


class FixSession(asyncio.Protocol):
    """One FIX session. ``role`` is ``"acceptor"`` or ``"initiator"``.

    An acceptor finds the store of the pair in ``stores`` when the Logon
    names the peer; an initiator brings its own ``store`` (it knows the
    pair from the start). Without them, a memory store that lives as long
    as this connection (every connection a new day). One session of a pair
    at a time owns its store: a second Logon while it is connected is
    refused, or, with ``exclusive=False`` (the exchange's drop copy, where
    several listeners of one firm are allowed), gets a memory store of its
    own: a new day for that connection only, nothing to resend.
    """

    def __init__(
        self,
        app: SessionApp,
        *,
        comp_id: str,
        role: str,
        target_comp_id: str | None = None,
        heartbeat_s: int = 30,
        known_types: frozenset[str] | None = None,
        log: Any = None,
        stores: SessionStores | None = None,
        store: MessageStore | None = None,
        exclusive: bool = True,
        credentials: Credentials | None = None,
        intake_budget: int | None = None,
        intake_slice_s: float | None = None,
    ) -> None:
        self.app = app
        # Messages handled per turn of the event loop (None: all that arrived). With a budget, a burst
        # on this connection is taken a slice at a time, the socket paused in between, so the rest of
        # the loop (the exchange's admin API: a kill) is never behind more than a slice of it.
        if intake_budget is not None and intake_budget < 1:
            raise ValueError(f"intake_budget must be >= 1 or None, got {intake_budget}")
        self.intake_budget = intake_budget
        # With a budget, a slice also ends once it has run this long (None: the count alone)
        if intake_slice_s is not None and not intake_slice_s > 0:
            raise ValueError(f"intake_slice_s must be > 0 or None, got {intake_slice_s}")
        self.intake_slice_s = intake_slice_s
        self._intake_scheduled = False
        self._reading_paused = False
        self.credentials = credentials  # an acceptor's: checked on the Logon before anything else
        self.comp_id = comp_id
        self.role = role
        self.peer_comp_id = target_comp_id
        self.heartbeat_s = heartbeat_s
        self.known_types = known_types
        self.log = log
        self.parser = FixParser()
        self.transport: asyncio.Transport | None = None
        self.stores: SessionStores = stores if stores is not None else MemoryStores()
        self.exclusive = exclusive
        # The store is bound while the session owns the pair: an initiator from the start, an
        # acceptor once the Logon is accepted. Unbound, messages (a refused Logon's Logout) are
        # numbered but not kept.
        self.store: MessageStore | None = None
        self.out_seq = 1
        self.in_seq = 1
        if role == "initiator":
            self._bind(store if store is not None else MemoryStore())
        self.logged_on = False
        self.logout_sent = False
        self.logout_received = False
        self.logout_text: str | None = None  # the peer's Logout Text(58), if any
        self.sequence_problem = False  # the session ended over MsgSeqNums (see LogonFailed)
        self.closed = False
        self.attrs: dict[str, Any] = {}  # application state hung on the session
        self.peer: str = "?"
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._last_in = time.monotonic()
        self._last_out = time.monotonic()
        self._test_req_pending: str | None = None
        self._hb_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset_sent = False
        # Gap handling: messages beyond the gap by MsgSeqNum (None: already handled when it came,
        # a Logon or a ResendRequest), and the last MsgSeqNum the outstanding ResendRequest covers.
        self._queued: dict[int, FixMessage | None] = {}
        self._resend_end = 0
        self._draining = False
        self.resend_requests_sent = 0
        self.logged_on_event = asyncio.Event()
        self.in_sync_event = asyncio.Event()  # logged on, no gap waiting for a resend
        self.closed_event = asyncio.Event()

    def _bind(self, store: MessageStore) -> None:
        self.store = store
        store.holder = self
        self.out_seq, self.in_seq = store.next_out, store.next_in

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._hb_task = self._loop.create_task(self._heartbeat_loop())

    def data_received(self, data: bytes) -> None:
        self._last_in = time.monotonic()
        self._test_req_pending = None
        self.parser.feed(data)
        if not self._intake_scheduled:  # else the slice already scheduled takes it in turn
            self._intake()

    def _intake(self) -> None:
        """Handle what is buffered: all of it, or with a budget one slice, the next one at the next turn of
        the loop with the socket paused (the peer's bytes wait in the kernel, not in our buffer)."""
        self._intake_scheduled = False
        parser = self.parser
        budget = self.intake_budget
        left = budget if budget is not None else -1
        slice_s = self.intake_slice_s if budget is not None else None
        until = time.perf_counter() + slice_s if slice_s is not None else None
        while not self.closed:
            try:
                for msg in parser.messages(left if left > 0 else 0):
                    self._dispatch(msg)
                    if self.closed:
                        return
                    left -= 1
                    if left == 0 or (until is not None and time.perf_counter() >= until):
                        break  # the generator keeps what it did not yield (its finally)
                else:
                    self._resume_reading()
                    break
                # the budget is spent: the rest (if any) at the next turn
                if parser.buffered():
                    transport = self.transport
                    if transport is not None and not self._reading_paused and not transport.is_closing():
                        self._reading_paused = True
                        transport.pause_reading()
                    self._intake_scheduled = True
                    self._loop.call_soon(self._intake)  # type: ignore[union-attr]
                else:
                    # the slice ended on the last message buffered: nothing left to take at the next
                    # turn, so reading resumes now (else a paused socket stays paused for good)
                    self._resume_reading()
                break
            except BadChecksum as exc:
                # FIX: a garbled message is ignored; the gap it leaves is
                # noticed at the next MsgSeqNum check.
                self._warn("fix_message_dropped", reason=str(exc))
            except Garbled as exc:
                self._warn("fix_stream_garbled", reason=str(exc))
                self.logout(f"garbled message: {exc}")
                return
        store = self.store
        if store is not None and self.in_seq != store.next_in and not self._flush_scheduled:
            # nothing to answer (heartbeats, a drop copy's quiet side): the store still learns what came in
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed and self.closed_event.is_set():
            return
        self.closed = True
        if self._hb_task:
            self._hb_task.cancel()
        graceful = self.logout_received or self.logout_sent
        self.closed_event.set()
        try:
            self.app.on_close(self, graceful)
        except Exception as exc2:  # noqa: BLE001 - an app bug must not take the loop down
            self._warn("fix_on_close_failed", error=repr(exc2))
        # What the app sent from on_close (the exchange's cancel-on-disconnect reports) goes into the
        # store: the peer gets it by resend after its next Logon. Then the pair is free again.
        self._flush()
        store = self.store
        if store is not None:
            if store.holder is self:
                store.holder = None
            self.store = None

    # -- sending ------------------------------------------------------------
    def send(self, msg_type: str, fields: list[tuple[int, object]] | tuple = ()) -> None:
        if self.transport is None or (self.closed and self.store is None):
            return
        self._queue(encode(msg_type, self.comp_id, self.peer_comp_id or "?", self.out_seq, fields))

    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        """``send`` for a body already formatted as ``tag=value<SOH>...``.

        The exchange builds execution reports in one format string (its hot
        path); this adds the header, BodyLength and CheckSum. Once the
        connection is closed (and until ``connection_lost`` has run), what
        is sent still goes into the store, for the resend after the next
        Logon.
        """
        if self.transport is None or (self.closed and self.store is None):
            return
        self._queue(frame_message(msg_type, self.comp_id, self.peer_comp_id, self.out_seq,
                                  sending_time or utc_timestamp(), body))

    def _queue(self, data: bytes) -> None:
        self.out_seq += 1
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Store, then write, what was queued since the last flush (one write each)."""
        self._flush_scheduled = False
        out = self._out
        store = self.store
        if store is not None and (out or self.in_seq != store.next_in):
            try:
                store.save(self.out_seq - len(out), out, self.in_seq)
            except OSError as exc:
                # Not kept means not recoverable by a resend: a venue must not send what it cannot
                # resend, so the session ends (loudly) instead.
                self._error("fix_store_failed", error=repr(exc))
                out.clear()
                self.abort()
                return
        if out:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.writelines(out)
                self._last_out = time.monotonic()
            out.clear()

    def send_logon(self, heartbeat_s: int | None = None, extra: list[tuple[int, object]] | None = None, *,
                   reset: bool = False) -> None:
        """Logon; ``reset`` (or 141=Y among ``extra``) sends ResetSeqNumFlag=Y, and an initiator
        starts its store over first (a new day: this Logon is MsgSeqNum 1)."""
        rest = [(tag, value) for tag, value in (extra or []) if tag != Tag.ResetSeqNumFlag]
        reset = reset or (Tag.ResetSeqNumFlag, "Y") in (extra or [])
        if reset and self.role == "initiator":
            self._reset_sent = True
            if self.store is not None:
                self.store.reset()
            self.out_seq = self.in_seq = 1
        fields: list[tuple[int, object]] = [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, heartbeat_s or self.heartbeat_s)]
        if reset:
            fields.append((Tag.ResetSeqNumFlag, "Y"))
        self.send(MsgType.Logon, fields + rest)

    def logout(self, text: str | None = None) -> None:
        """Send Logout and close once it is flushed."""
        if self.closed:
            return
        if not self.logout_sent:
            self.logout_sent = True
            self.send(MsgType.Logout, [(Tag.Text, ascii_text(text))] if text else [])
        self._flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection without Logout (used to simulate a crash)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def reject(self, msg: FixMessage, reason: int, text: str, ref_tag: int | None = None) -> None:
        """Session-level Reject (35=3). What it quotes of the message is made ASCII first: a Reject
        that cannot be encoded would end the session instead of answering it."""
        self.send(
            MsgType.Reject,
            [
                (Tag.RefSeqNum, ascii_text(msg.fields.get(Tag.MsgSeqNum) or "0")),
                (Tag.RefTagID, ref_tag),
                (Tag.RefMsgType, ascii_text(msg.msg_type)),
                (Tag.SessionRejectReason, reason),
                (Tag.Text, ascii_text(text)),
            ],
        )

    # -- receiving ------------------------------------------------------------
    def _dispatch(self, msg: FixMessage) -> None:
        fields = msg.fields
        mtype = msg.msg_type
        # the usual message: every required tag there, none empty (else the checks below and in _process
        # find which, and what is wrong with it)
        try:
            complete = "" not in _ALL_REQUIRED.get(mtype, _HEADER_VALUES)(fields)
        except KeyError:
            complete = False
        if not complete:
            for tag in HEADER_REQUIRED:
                if tag not in fields:
                    if tag == Tag.MsgSeqNum or not self.logged_on:
                        self.logout(f"Required tag missing: {tag}")
                    else:
                        self.reject(msg, REJECT_REQUIRED_TAG_MISSING, f"Required tag missing: {tag}", tag)
                    return
        seq_txt = fields[Tag.MsgSeqNum]
        if not is_number(seq_txt):
            self.logout(f"MsgSeqNum(34) {seq_txt[:32]!r} is not a number")
            return
        seq = int(seq_txt)

        if not self.logged_on:
            if mtype != MsgType.Logon:
                self.logout("first message must be Logon")
                return
            if msg.problem is not None:
                self.logout(msg.problem.text)  # a Logon the venue cannot read is no Logon
                return
            self._on_logon(msg, seq)
            return

        if fields[Tag.SenderCompID] != self.peer_comp_id or fields[Tag.TargetCompID] != self.comp_id:
            self.reject(msg, REJECT_COMPID_PROBLEM, "CompID problem", Tag.SenderCompID)
            self.logout("CompID problem")
            return
        if seq != self.in_seq:
            self._out_of_sequence(msg, seq)
            return
        if mtype == MsgType.SequenceReset:
            self._sequence_reset(msg, seq)
            return
        self.in_seq = seq + 1
        self._process(msg, mtype, complete)
        if self._queued or self._resend_end:
            self._progress()

    def _process(self, msg: FixMessage, mtype: str, complete: bool) -> None:
        """A message in sequence: body checks, then the session's or the application's."""
        problem = msg.problem
        if problem is not None:  # a byte outside ASCII, a tag twice: its MsgSeqNum counts, nothing else
            self._warn("fix_message_rejected", msg_type=ascii_text(mtype), reason=problem.reason, tag=problem.tag)
            self.reject(msg, problem.reason, problem.text, problem.tag)
            return
        if not complete:
            fields = msg.fields
            for tag in BODY_REQUIRED.get(mtype, ()):
                if tag not in fields or fields[tag] == "":
                    self.reject(msg, REJECT_REQUIRED_TAG_MISSING, f"Required tag missing: {tag}", tag)
                    return
        if mtype in SESSION_TYPES:
            self._on_session_message(msg)
            return
        if self.known_types is not None and mtype not in self.known_types:
            self.reject(msg, REJECT_INVALID_MSGTYPE, f"Invalid MsgType {mtype}", Tag.MsgType)
            return
        try:
            self.app.on_message(self, msg)
        except Exception as exc:  # noqa: BLE001 - nothing a peer sends may crash the service
            self._warn("fix_app_error", error=repr(exc), msg_type=mtype)
            self.reject(msg, REJECT_VALUE_INCORRECT, f"cannot process message: {exc}")

    def _out_of_sequence(self, msg: FixMessage, seq: int) -> None:
        """MsgSeqNum is not the one expected (QuickFIX's rules, the reference)."""
        mtype = msg.msg_type
        fields = msg.fields
        if mtype == MsgType.Logout:
            self._on_session_message(msg)  # honoured whatever its MsgSeqNum: the peer is leaving
            return
        if mtype == MsgType.SequenceReset and fields.get(Tag.GapFillFlag) != "Y":
            self._sequence_reset(msg, seq)  # Reset mode ignores MsgSeqNum
            return
        if seq < self.in_seq:
            if fields.get(Tag.PossDupFlag) == "Y":
                return  # a duplicate of what was already applied: never applied twice
            self.sequence_problem = True
            self.logout(f"{TOO_LOW}, expecting {self.in_seq} but received {seq}")
            return
        if mtype == MsgType.ResendRequest:
            # answered at once: both sides may have a gap, each waiting for the other's resend
            self._answer_resend(msg)
            self._queued[seq] = None
        elif len(self._queued) >= MAX_QUEUED:
            self.logout(f"more than {MAX_QUEUED} messages beyond the gap at MsgSeqNum {self.in_seq}")
            return
        else:
            self._queued[seq] = msg
        self._request_resend(seq)

    def _request_resend(self, seq: int) -> None:
        """One ResendRequest per gap: from the expected MsgSeqNum to the latest (EndSeqNo 0)."""
        if self._resend_end:
            return  # already asked; what arrives beyond the gap waits for the resend
        self._resend_end = seq - 1
        self.in_sync_event.clear()
        self.resend_requests_sent += 1
        self._warn("fix_gap", expected=self.in_seq, received=seq)
        self.send(MsgType.ResendRequest, [(Tag.BeginSeqNo, self.in_seq), (Tag.EndSeqNo, 0)])

    def _progress(self) -> None:
        """The expected MsgSeqNum moved: end a satisfied resend, process what waited in order, and
        ask again if a gap is still left."""
        if self._draining:
            return
        self._draining = True
        try:
            queued = self._queued
            while queued and not self.closed:
                seq = self.in_seq
                if seq in queued:
                    msg = queued.pop(seq)
                    if msg is None:
                        self.in_seq = seq + 1
                    else:
                        self._dispatch(msg)
                    continue
                if min(queued) < seq:  # covered meanwhile (gap fill, resent copy)
                    for old in [s for s in queued if s < seq]:
                        del queued[old]
                    continue
                break
            if self._resend_end and self.in_seq > self._resend_end:
                self._resend_end = 0
            if self.closed:
                return
            if queued and not self._resend_end:
                self._request_resend(min(queued))
            elif not queued and not self._resend_end:
                self.in_sync_event.set()
        finally:
            self._draining = False

    def _sequence_reset(self, msg: FixMessage, seq: int) -> None:
        """SequenceReset: GapFill (123=Y, in sequence) or Reset (MsgSeqNum ignored); never backwards."""
        fields = msg.fields
        new_txt = fields.get(Tag.NewSeqNo)
        if not new_txt or not is_number(new_txt):
            reason = REJECT_INCORRECT_FORMAT if new_txt else REJECT_REQUIRED_TAG_MISSING
            self.reject(msg, reason, f"NewSeqNo(36) {new_txt[:32]!r} is not a number" if new_txt
                        else f"Required tag missing: {Tag.NewSeqNo}", Tag.NewSeqNo)
            return
        new = int(new_txt)
        gap_fill = fields.get(Tag.GapFillFlag) == "Y"
        if new < self.in_seq:
            self.reject(msg, REJECT_VALUE_INCORRECT,
                        f"SequenceReset NewSeqNo(36) {new} is lower than the expected MsgSeqNum {self.in_seq}",
                        Tag.NewSeqNo)
            return
        if gap_fill and new <= seq:
            self.reject(msg, REJECT_VALUE_INCORRECT,
                        f"GapFill NewSeqNo(36) {new} must be greater than its MsgSeqNum(34) {seq}", Tag.NewSeqNo)
            return
        self.in_seq = new
        if self._queued or self._resend_end:
            self._progress()

    def _answer_resend(self, msg: FixMessage) -> None:
        """A ResendRequest, answered from the store: application messages again (PossDupFlag=Y,
        OrigSendingTime, a new SendingTime), admin messages and what the store lacks as GapFills."""
        fields = msg.fields
        for tag in (Tag.BeginSeqNo, Tag.EndSeqNo):
            value = fields.get(tag)
            if not value:
                self.reject(msg, REJECT_REQUIRED_TAG_MISSING, f"Required tag missing: {tag}", tag)
                return
            if not is_number(value):
                self.reject(msg, REJECT_INCORRECT_FORMAT, f"tag {tag} {value[:32]!r} is not a number", tag)
                return
        begin, end = int(fields[Tag.BeginSeqNo]), int(fields[Tag.EndSeqNo])
        next_out = self.out_seq
        if begin < 1 or begin > next_out:
            self.reject(msg, REJECT_VALUE_INCORRECT,
                        f"BeginSeqNo(7) {begin} is not between 1 and the next MsgSeqNum {next_out}", Tag.BeginSeqNo)
            return
        if end in END_OF_STORE or end >= next_out:
            end = next_out - 1
        if end < begin:
            if begin < next_out:
                self.reject(msg, REJECT_VALUE_INCORRECT, f"EndSeqNo(16) {end} is lower than BeginSeqNo(7) {begin}",
                            Tag.EndSeqNo)
            return  # begin == next_out: nothing sent yet to resend
        self._flush()  # what is queued is in the store (and on its way) first
        now = utc_timestamp()
        out: list[bytes] = []
        fill_from = begin  # the first MsgSeqNum not covered yet
        stored = self.store.messages(begin, end) if self.store is not None else iter(())
        for seq, raw in stored:
            body = _body(raw)
            if _msg_type(body) in ADMIN_TYPES:
                continue  # covered by the gap fill written before the next application message
            if seq > fill_from:
                out.append(self._gap_fill(fill_from, seq, now))
            out.append(_poss_dup(body, now))
            fill_from = seq + 1
        if fill_from <= end:
            out.append(self._gap_fill(fill_from, end + 1, now))
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.writelines(out)
            self._last_out = time.monotonic()

    def _gap_fill(self, seq: int, new_seq: int, now: str) -> bytes:
        return encode(MsgType.SequenceReset, self.comp_id, self.peer_comp_id or "?", seq,
                      [(Tag.PossDupFlag, "Y"), (Tag.OrigSendingTime, now), (Tag.GapFillFlag, "Y"),
                       (Tag.NewSeqNo, new_seq)], sending_time=now)

    def _on_logon(self, msg: FixMessage, seq: int) -> None:
        fields = msg.fields
        for tag in BODY_REQUIRED[MsgType.Logon]:
            if tag not in fields:
                self.logout(f"Required tag missing: {tag}")
                return
        hb = fields[Tag.HeartBtInt]
        if not is_number(hb):
            self.logout(f"HeartBtInt(108) {hb[:32]!r} is not a number")
            return
        if fields[Tag.TargetCompID] != self.comp_id:
            self.peer_comp_id = fields[Tag.SenderCompID]
            self.logout(f"TargetCompID {fields[Tag.TargetCompID]} is not {self.comp_id}")
            return
        if self.role == "initiator" and fields[Tag.SenderCompID] != self.peer_comp_id:
            self.logout(f"unexpected SenderCompID {fields[Tag.SenderCompID]}")
            return
        if self.credentials is not None and self.role == "acceptor":
            # before the sequence numbers or who is connected are looked at: a peer that cannot log
            # on learns nothing of the session it names, and which part was wrong is only logged
            why = self.credentials.refusal(msg)
            if why is not None:
                self.peer_comp_id = fields[Tag.SenderCompID]
                self._warn("fix_logon_refused", reason=why)
                self.logout(INVALID_CREDENTIALS)
                return
        peer = self.peer_comp_id = fields[Tag.SenderCompID]
        reset = fields.get(Tag.ResetSeqNumFlag) == "Y"
        if self.role == "acceptor":
            if reset and seq != 1:
                self.logout(f"ResetSeqNumFlag(141)=Y needs MsgSeqNum(34) 1, received {seq}")
                return
            store = self.stores.open(self.comp_id, peer)
            holder = store.holder
            if isinstance(holder, FixSession) and holder is not self and not holder.closed:
                if self.exclusive:
                    self.logout(f"session {peer} is already logged on")
                    return
                store = MemoryStore()  # a second listener: a day of its own
            # Numbered as the pair's next (what the peer expects), kept only once accepted.
            self.out_seq, self.in_seq = store.next_out, 1 if reset else store.next_in
            if seq < self.in_seq:
                self.sequence_problem = True
                self.logout(f"{TOO_LOW}, expecting {self.in_seq} but received {seq}")
                return
            refusal = self.app.on_logon(self, msg)
            if refusal:
                self.logout(refusal)
                return
            if reset:
                store.reset()
            self._bind(store)
            self.heartbeat_s = max(1, int(hb)) if int(hb) > 0 else self.heartbeat_s
            self.send_logon(self.heartbeat_s, reset=reset)
        else:
            if reset and not self._reset_sent:
                self.in_seq = min(self.in_seq, seq)  # the acceptor started its side over
            if seq < self.in_seq:
                self.sequence_problem = True
                self.logout(f"{TOO_LOW}, expecting {self.in_seq} but received {seq}")
                return
            self.app.on_logon(self, msg)
        self.logged_on = True
        if seq > self.in_seq:  # logged on; what we missed comes by resend (the Logon itself: a gap fill)
            self._queued[seq] = None
            self._request_resend(seq)
        else:
            self.in_seq = seq + 1
            self.in_sync_event.set()
        self.logged_on_event.set()

    def _on_session_message(self, msg: FixMessage) -> None:
        mtype = msg.msg_type
        if mtype == MsgType.TestRequest:
            self.send(MsgType.Heartbeat, [(Tag.TestReqID, msg.fields[Tag.TestReqID])])
        elif mtype == MsgType.ResendRequest:
            self._answer_resend(msg)
        elif mtype == MsgType.Logout:
            self.logout_received = True
            self.logout_text = msg.fields.get(Tag.Text)
            if self.logout_text and TOO_LOW in self.logout_text:
                self.sequence_problem = True
            if not self.logout_sent:
                self.logout_sent = True
                self.send(MsgType.Logout, [])
            self._flush()
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        elif mtype == MsgType.Reject:
            self._warn("fix_reject_received", text=msg.fields.get(Tag.Text), ref_seq=msg.fields.get(Tag.RefSeqNum))
        elif mtype == MsgType.Logon:
            self.reject(msg, REJECT_VALUE_INCORRECT, "already logged on", Tag.MsgType)
        # Heartbeat: receipt already refreshed _last_in

    async def _heartbeat_loop(self) -> None:
        try:
            while not self.closed:
                await asyncio.sleep(min(1.0, self.heartbeat_s / 2))
                self.tick(time.monotonic())
        except asyncio.CancelledError:
            pass

    def tick(self, now: float) -> None:
        """The heartbeat clock (``now``: ``time.monotonic()``): a Heartbeat after HeartBtInt without
        sending; a TestRequest after 1.2 x HeartBtInt without hearing from the peer, and the
        connection dropped when another 1.2 x HeartBtInt passes without an answer."""
        if self.closed:
            return
        if not self.logged_on:
            if now - self._last_in > max(10.0, 2 * self.heartbeat_s):
                self.logout("no Logon received in time")
            return
        if now - self._last_out >= self.heartbeat_s:
            self.send(MsgType.Heartbeat, [])
        silent = now - self._last_in
        if self._test_req_pending is None and silent > self.heartbeat_s * 1.2:
            self._test_req_pending = f"TEST-{int(now)}"
            self.send(MsgType.TestRequest, [(Tag.TestReqID, self._test_req_pending)])
        elif self._test_req_pending is not None and silent > self.heartbeat_s * 2.4:
            self._warn("fix_peer_silent", seconds=round(silent, 1))
            self.abort()
            self.connection_lost(None)

    def _warn(self, event: str, **kw: Any) -> None:
        if self.log is not None:
            self.log.warning(event, peer=self.peer, comp_id=self.peer_comp_id, **kw)

    def _error(self, event: str, **kw: Any) -> None:
        if self.log is not None:
            self.log.error(event, peer=self.peer, comp_id=self.peer_comp_id, **kw)


def is_number(text: str) -> bool:
    """A FIX SeqNum or Int as this venue reads it: ASCII digits (``str.isdigit`` takes ``١٢`` too), at
    most 18 of them (``int()`` of 5,000 digits raises; a session number fits 63 bits)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def ascii_text(text: str) -> str:
    """``text`` as a FIX value can carry it: ASCII (others escaped as ``\\xe9``), no SOH."""
    if text.isascii() and SOH not in text:
        return text
    return text.encode("ascii", "backslashreplace").decode("ascii").replace(SOH, "\\x01")


def _body(raw: bytes) -> str:
    """A framed message's body: from 35= up to the SOH before 10=."""
    text = raw.decode("latin-1")
    return text[text.index("\x01", 12) + 1:-7]


def _msg_type(body: str) -> str:
    return body[3:body.index("\x01")]


def _poss_dup(body: str, now: str) -> bytes:
    """The stored message again: PossDupFlag=Y, OrigSendingTime = its SendingTime, SendingTime now,
    the same MsgSeqNum; BodyLength and CheckSum recomputed."""
    at = body.index("\x0152=")
    end = body.index("\x01", at + 4)
    data = f"{body[:at]}\x0143=Y\x0152={now}\x01122={body[at + 4:end]}{body[end:]}".encode("latin-1")
    msg = b"8=FIX.4.4\x019=%d\x01%b" % (len(data), data)
    return b"%b10=%03d\x01" % (msg, checksum(msg))


async def connect(
    app: SessionApp,
    host: str,
    port: int,
    *,
    comp_id: str,
    target_comp_id: str,
    heartbeat_s: int = 30,
    logon_fields: list[tuple[int, object]] | None = None,
    timeout: float = 5.0,
    log: Any = None,
    known_types: frozenset[str] | None = None,
    store: MessageStore | None = None,
    reset: bool = False,
) -> FixSession:
    """Open an initiator session and wait for the Logon answer.

    ``store`` keeps the sequence numbers between connections (a fresh one
    per call without it); ``reset`` logs on with ResetSeqNumFlag=Y, starting
    both sides over. :class:`LogonFailed` when the Logon does not succeed.
    """
    loop = asyncio.get_running_loop()
    session_factory: Callable[[], FixSession] = lambda: FixSession(  # noqa: E731
        app, comp_id=comp_id, role="initiator", target_comp_id=target_comp_id,
        heartbeat_s=heartbeat_s, log=log, known_types=known_types, store=store,
    )
    _, session = await asyncio.wait_for(loop.create_connection(session_factory, host, port), timeout)
    session.send_logon(heartbeat_s, logon_fields, reset=reset)
    waiters = {asyncio.ensure_future(session.logged_on_event.wait()),
               asyncio.ensure_future(session.closed_event.wait())}
    _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    if not session.logged_on:
        session.abort()
        session.connection_lost(None)  # releases the store now, not whenever asyncio reports it
        why = session.logout_text or "failed or timed out"
        raise LogonFailed(f"FIX Logon to {host}:{port} as {comp_id}: {why}", sequence=session.sequence_problem)
    return session
