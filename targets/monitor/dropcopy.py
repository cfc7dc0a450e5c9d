"""The drop-copy FIX initiator: logs on as the firm, feeds every
ExecutionReport to the monitor, and reconnects with backoff whenever the
session drops.

The first Logon of the process starts a new day (ResetSeqNumFlag=Y); a
reconnect continues the sequence numbers (a memory store kept by the
client), so the exchange resends the reports the drop lost, each exactly
once. A Logon refused over sequence numbers (the exchange lost its store)
is followed by one with ResetSeqNumFlag=Y.
"""
from __future__ import annotations

import asyncio

from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag
from powerpeg.targets.fix.credentials import logon_fields
from powerpeg.targets.fix.session import FixSession, LogonFailed, connect
from powerpeg.targets.fix.store import MemoryStore

from .book import BadExecution, Execution
from .core import Monitor
from .lag import BadTransactTime


class DropCopyApp:
    """SessionApp: decodes ExecutionReports and hands them to the monitor."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.closed = asyncio.Event()

    def on_logon(self, session: FixSession, msg: FixMessage) -> str | None:
        return None

    def on_message(self, session: FixSession, msg: FixMessage) -> None:
        if msg.msg_type != MsgType.ExecutionReport:
            return
        monitor = self.monitor
        now_ns = monitor.clock()  # receipt: one clock read for the lag and the evaluation
        transact = msg.fields.get(Tag.TransactTime)
        lag_ns = None
        if transact is not None:
            try:
                lag_ns = now_ns - monitor.transact_clock.ns(transact)
                monitor.dropcopy_lag.observe(lag_ns)
            except BadTransactTime:
                monitor.lag_unreadable += 1
        try:
            ex = Execution.from_fix(msg)
        except BadExecution as exc:
            monitor.ignored["malformed"] += 1
            count = monitor.ignored["malformed"]
            if count == 1 or count % 1000 == 0:  # a broken stream must not turn into a log flood
                monitor.log.warning("dropcopy_bad_execution", error=str(exc), seq=msg.get(Tag.MsgSeqNum),
                                    malformed=count)
            return
        if ex.firm and ex.firm != monitor.cfg.firm:
            monitor.ignored["foreign"] += 1
            return
        # a breach this report raises carries its lag: the part of the TTD the drop copy itself took
        monitor.report_lag_ns = lag_ns
        try:
            monitor.on_execution(ex, now_ns)
        finally:
            monitor.report_lag_ns = None

    def on_close(self, session: FixSession, graceful: bool) -> None:
        self.closed.set()


class DropCopyClient:
    def __init__(self, monitor: Monitor, host: str, port: int, *,
                 backoff_min_s: float = 0.05, backoff_max_s: float = 2.0) -> None:
        self.monitor = monitor
        self.host, self.port = host, port
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.session: FixSession | None = None
        self.logons = 0
        self.store = MemoryStore()  # sequence numbers across reconnects (not across processes)
        self.reset_next = True  # the next Logon starts a new day (ResetSeqNumFlag=Y)

    async def run(self, stop: asyncio.Event) -> None:
        monitor, cfg, log = self.monitor, self.monitor.cfg, self.monitor.log
        backoff = self.backoff_min_s
        while not stop.is_set():
            app = DropCopyApp(monitor)
            try:
                self.session = await connect(
                    app, self.host, self.port, comp_id=cfg.firm, target_comp_id=cfg.exchange_comp_id,
                    heartbeat_s=cfg.fix_heartbeat_s, log=log, store=self.store, reset=self.reset_next,
                    logon_fields=logon_fields(cfg.firm, cfg.fix_password),
                )
            except (OSError, TimeoutError) as exc:
                if isinstance(exc, LogonFailed) and exc.sequence:
                    self.reset_next = True
                log.warning("dropcopy_connect_failed", address=f"{self.host}:{self.port}", error=str(exc),
                            retry_in_s=backoff)
                await self._sleep(stop, backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            self.logons += 1
            self.reset_next = False
            backoff = self.backoff_min_s
            monitor.dropcopy = "logged_on"
            log.info("dropcopy_logged_on", address=f"{self.host}:{self.port}", firm=cfg.firm, logons=self.logons)
            await self._wait_either(stop, app.closed)
            monitor.dropcopy = "down"
            if stop.is_set():
                self.session.logout("monitor stopping")
                return
            log.warning("dropcopy_lost", address=f"{self.host}:{self.port}")
            await self._sleep(stop, backoff)

    @staticmethod
    async def _wait_either(stop: asyncio.Event, closed: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(closed.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    @staticmethod
    async def _sleep(stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass

