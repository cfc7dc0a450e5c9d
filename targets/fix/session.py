"""FIX 4.4 session layer over asyncio (acceptor and initiator).

One :class:`FixSession` per TCP connection. It owns framing, CheckSum and
MsgSeqNum checks, Logon/Logout, Heartbeat/TestRequest and session-level
Reject; application messages go to the ``app`` callbacks. Outgoing messages
are buffered and flushed once per loop iteration, so a burst of fills to one
session costs one syscall rather than one per message.

Sequence numbers: no message store is kept, so a gap (MsgSeqNum higher than
expected) cannot be filled by a resend; the session is logged out with the
reason instead, as is a MsgSeqNum lower than expected without PossDupFlag.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Protocol

from .codec import BadChecksum, FixMessage, FixParser, Garbled, MsgType, Tag, encode, frame_body, utc_timestamp

# Tags every message must carry beyond 8/9/10 (checked by the framer).
HEADER_REQUIRED = (Tag.MsgType, Tag.SenderCompID, Tag.TargetCompID, Tag.MsgSeqNum, Tag.SendingTime)
_HEADER_SET = frozenset(HEADER_REQUIRED)  # one C-level subset test when all are there (the usual case)

# Body tags required per application message type (FIX 4.4).
BODY_REQUIRED: dict[str, tuple[int, ...]] = {
    MsgType.Logon: (Tag.EncryptMethod, Tag.HeartBtInt),
    MsgType.NewOrderSingle: (Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.TransactTime, Tag.OrderQty, Tag.OrdType),
    MsgType.OrderCancelRequest: (Tag.OrigClOrdID, Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.TransactTime),
    MsgType.OrderStatusRequest: (Tag.ClOrdID, Tag.Symbol, Tag.Side),
    MsgType.ExecutionReport: (Tag.OrderID, Tag.ExecID, Tag.ExecType, Tag.OrdStatus, Tag.Symbol, Tag.Side),
    MsgType.OrderCancelReject: (Tag.OrderID, Tag.ClOrdID, Tag.OrigClOrdID, Tag.OrdStatus, Tag.CxlRejResponseTo),
    MsgType.TestRequest: (Tag.TestReqID,),
    MsgType.Reject: (Tag.RefSeqNum,),
}

# Header and body tags a message type needs, as one set: the usual message has
# them all, non-empty, and passes with one subset test and one scan of its
# values (C-level) instead of a Python loop over each tag.
_ALL_REQUIRED: dict[str, frozenset[int]] = {t: _HEADER_SET | frozenset(tags) for t, tags in BODY_REQUIRED.items()}

SESSION_TYPES = frozenset({MsgType.Heartbeat, MsgType.TestRequest, MsgType.Reject, MsgType.Logout, MsgType.Logon})

# SessionRejectReason (373) values used here.
REJECT_REQUIRED_TAG_MISSING = 1
REJECT_VALUE_INCORRECT = 5
REJECT_INCORRECT_FORMAT = 6
REJECT_COMPID_PROBLEM = 9
REJECT_INVALID_MSGTYPE = 11


class SessionApp(Protocol):
    """What a session hands to the application (exchange, router, monitor)."""

    def on_logon(self, session: "FixSession", msg: FixMessage) -> str | None:
        """Accept (return None) or refuse (return the reason) a Logon."""

    def on_message(self, session: "FixSession", msg: FixMessage) -> None:
        """An application message that passed every session check."""

    def on_close(self, session: "FixSession", graceful: bool) -> None:
        """The connection ended; graceful means a Logout was exchanged."""


class FixSession(asyncio.Protocol):
    """One FIX session. ``role`` is ``"acceptor"`` or ``"initiator"``."""

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
    ) -> None:
        self.app = app
        self.comp_id = comp_id
        self.role = role
        self.peer_comp_id = target_comp_id
        self.heartbeat_s = heartbeat_s
        self.known_types = known_types
        self.log = log
        self.parser = FixParser()
        self.transport: asyncio.Transport | None = None
        self.out_seq = 1
        self.in_seq = 1
        self.logged_on = False
        self.logout_sent = False
        self.logout_received = False
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
        self.logged_on_event = asyncio.Event()
        self.closed_event = asyncio.Event()

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
        parser = self.parser
        parser.feed(data)
        while not self.closed:
            try:
                for msg in parser.messages():
                    self._dispatch(msg)
                    if self.closed:
                        return
                return
            except BadChecksum as exc:
                # FIX: a garbled message is ignored; the gap it leaves is
                # noticed at the next MsgSeqNum check.
                self._warn("fix_message_dropped", reason=str(exc))
            except Garbled as exc:
                self._warn("fix_stream_garbled", reason=str(exc))
                self.logout(f"garbled message: {exc}")
                return

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
        except Exception as exc2:  # an app bug must not take the loop down
            self._warn("fix_on_close_failed", error=repr(exc2))

    # -- sending ------------------------------------------------------------
    def send(self, msg_type: str, fields: list[tuple[int, object]] | tuple = ()) -> None:
        if self.closed or self.transport is None:
            return
        self._queue(encode(msg_type, self.comp_id, self.peer_comp_id or "?", self.out_seq, fields))

    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        """``send`` for a body already formatted as ``tag=value<SOH>...``.

        The exchange builds execution reports in one format string (its hot
        path); this adds the header, BodyLength and CheckSum.
        """
        if self.closed or self.transport is None:
            return
        self._queue(frame_body("35=%s\x0149=%s\x0156=%s\x0134=%d\x0152=%s\x01%s" % (
            msg_type, self.comp_id, self.peer_comp_id, self.out_seq, sending_time or utc_timestamp(), body)))

    def _queue(self, data: bytes) -> None:
        self.out_seq += 1
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(self._out)
            self._last_out = time.monotonic()
        self._out.clear()

    def send_logon(self, heartbeat_s: int | None = None, extra: list[tuple[int, object]] | None = None) -> None:
        self.send(MsgType.Logon, [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, heartbeat_s or self.heartbeat_s), *(extra or [])])

    def logout(self, text: str | None = None) -> None:
        """Send Logout and close once it is flushed."""
        if self.closed:
            return
        if not self.logout_sent:
            self.logout_sent = True
            self.send(MsgType.Logout, [(Tag.Text, text)] if text else [])
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
        self.send(
            MsgType.Reject,
            [
                (Tag.RefSeqNum, msg.fields.get(Tag.MsgSeqNum, 0)),
                (Tag.RefTagID, ref_tag),
                (Tag.RefMsgType, msg.msg_type),
                (Tag.SessionRejectReason, reason),
                (Tag.Text, text),
            ],
        )

    # -- receiving ------------------------------------------------------------
    def _dispatch(self, msg: FixMessage) -> None:
        fields = msg.fields
        mtype = msg.msg_type
        required = _ALL_REQUIRED.get(mtype, _HEADER_SET)
        # the usual message: every required tag there and no value empty
        complete = required.issubset(fields) and all(fields.values())
        if not complete:
            for tag in HEADER_REQUIRED:
                if tag not in fields:
                    if tag == Tag.MsgSeqNum or not self.logged_on:
                        self.logout(f"Required tag missing: {tag}")
                    else:
                        self.reject(msg, REJECT_REQUIRED_TAG_MISSING, f"Required tag missing: {tag}", tag)
                    return
        seq_txt = fields[Tag.MsgSeqNum]
        if not seq_txt.isdigit():
            self.logout(f"MsgSeqNum(34) {seq_txt!r} is not a number")
            return
        seq = int(seq_txt)

        if not self.logged_on:
            if mtype != MsgType.Logon:
                self.logout("first message must be Logon")
                return
            self._on_logon(msg, seq)
            return

        if fields[Tag.SenderCompID] != self.peer_comp_id or fields[Tag.TargetCompID] != self.comp_id:
            self.reject(msg, REJECT_COMPID_PROBLEM, "CompID problem", Tag.SenderCompID)
            self.logout("CompID problem")
            return
        if seq != self.in_seq:
            if seq < self.in_seq:
                if fields.get(Tag.PossDupFlag) == "Y":
                    return  # a duplicate we already processed
                self.logout(f"MsgSeqNum too low, expecting {self.in_seq} but received {seq}")
                return
            self.logout(f"MsgSeqNum gap: expecting {self.in_seq} but received {seq}; resend is not supported")
            return
        self.in_seq = seq + 1

        if not complete:
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
        except Exception as exc:  # nothing a peer sends may crash the service
            self._warn("fix_app_error", error=repr(exc), msg_type=mtype)
            self.reject(msg, REJECT_VALUE_INCORRECT, f"cannot process message: {exc}")

    def _on_logon(self, msg: FixMessage, seq: int) -> None:
        fields = msg.fields
        for tag in BODY_REQUIRED[MsgType.Logon]:
            if tag not in fields:
                self.logout(f"Required tag missing: {tag}")
                return
        hb = fields[Tag.HeartBtInt]
        if not hb.isdigit():
            self.logout(f"HeartBtInt(108) {hb!r} is not a number")
            return
        if fields[Tag.TargetCompID] != self.comp_id:
            self.peer_comp_id = fields[Tag.SenderCompID]
            self.logout(f"TargetCompID {fields[Tag.TargetCompID]} is not {self.comp_id}")
            return
        if self.role == "initiator" and fields[Tag.SenderCompID] != self.peer_comp_id:
            self.logout(f"unexpected SenderCompID {fields[Tag.SenderCompID]}")
            return
        if seq != self.in_seq and fields.get(Tag.ResetSeqNumFlag) != "Y":
            self.peer_comp_id = fields[Tag.SenderCompID]
            self.logout(f"MsgSeqNum too low/high on Logon: expecting {self.in_seq} but received {seq}")
            return
        self.peer_comp_id = fields[Tag.SenderCompID]
        self.in_seq = seq + 1
        if self.role == "acceptor":
            refusal = self.app.on_logon(self, msg)
            if refusal:
                self.logout(refusal)
                return
            self.heartbeat_s = max(1, int(hb)) if int(hb) > 0 else self.heartbeat_s
            self.send_logon(self.heartbeat_s)
        else:
            self.app.on_logon(self, msg)
        self.logged_on = True
        self.logged_on_event.set()

    def _on_session_message(self, msg: FixMessage) -> None:
        mtype = msg.msg_type
        if mtype == MsgType.TestRequest:
            self.send(MsgType.Heartbeat, [(Tag.TestReqID, msg.fields[Tag.TestReqID])])
        elif mtype == MsgType.Logout:
            self.logout_received = True
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
                if not self.logged_on:
                    if time.monotonic() - self._last_in > max(10.0, 2 * self.heartbeat_s):
                        self.logout("no Logon received in time")
                    continue
                now = time.monotonic()
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
        except asyncio.CancelledError:
            pass

    def _warn(self, event: str, **kw: Any) -> None:
        if self.log is not None:
            self.log.warning(event, peer=self.peer, comp_id=self.peer_comp_id, **kw)


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
) -> FixSession:
    """Open an initiator session and wait for the Logon answer."""
    loop = asyncio.get_running_loop()
    session_factory: Callable[[], FixSession] = lambda: FixSession(  # noqa: E731
        app, comp_id=comp_id, role="initiator", target_comp_id=target_comp_id,
        heartbeat_s=heartbeat_s, log=log, known_types=known_types,
    )
    _, session = await asyncio.wait_for(loop.create_connection(session_factory, host, port), timeout)
    session.send_logon(heartbeat_s, logon_fields)
    waiters = {asyncio.ensure_future(session.logged_on_event.wait()), asyncio.ensure_future(session.closed_event.wait())}
    _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    if not session.logged_on:
        session.abort()
        raise ConnectionError(f"FIX Logon to {host}:{port} as {comp_id} failed or timed out")
    return session
