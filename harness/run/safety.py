"""The harness's own safety net: the stop conditions, watched every 100 ms, and
the abort that pulls the kill switch when one fires; and the health of the parts
the run depends on.

Every tick reads the exchange journal and the firm's positions (the stop
conditions' view); every :data:`SIDE_EVERY` ticks the alert sink and the
monitor's ``/health`` are read too, each on its own and in the background, so
a dead or frozen one costs its own reading and never the stop conditions'.
Each part's failed and good reads go to :class:`powerpeg.harness.run.parts.Parts`,
which writes their down/up transitions as run events.

When the exchange itself is down with no fault meaning it: if its process
exited, nothing can trade and the method ends there (the journal is still
copied; the verdict is at best inconclusive); if it is alive but silent for
longer than :data:`BLIND_LIMIT_S`, the stop conditions are blind and the run
aborts — the routers are halted — rather than let a runaway go unwatched.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from powerpeg.harness.events import ABORT_KILLER, RunEvent
from powerpeg.harness.report import AbortRecord
from powerpeg.harness.run.state import LiveRun

WATCH_INTERVAL_S = 0.1
SIDE_EVERY = 5  # watch ticks between two reads of the alert sink and of the monitor's health
SIDE_TIMEOUT_S = 1.0  # a side read slower than this failed (a frozen part must not hold its reader)
SETTLE_S = 0.5  # after an abort, before the run goes on to evidence
BLIND_LIMIT_S = 2.0  # the stop conditions may go unread this long before the run aborts

Tick = Callable[[int], Awaitable[None] | None]


class Safety:
    """Stop conditions of one live run: watch them, abort on one."""

    def __init__(self, live: LiveRun) -> None:
        self.live = live
        self.aborted = asyncio.Event()
        self.rate = 0.0  # child orders/s over the last second, for progress and the Chaos tab
        self.ended: str | None = None  # why the method ended early (the exchange is gone)
        self._side: asyncio.Future[None] | None = None  # the alert sink's and the monitor's reads in flight

    async def watch(self, deadline: Callable[[], int], *, stop: asyncio.Event | None = None,
                    end_on_abort: bool = True, on_tick: Tick | None = None, progress: bool = True) -> None:
        """Watch until ``deadline()`` (ns; it may move while the open is held), ``stop`` is set,
        the exchange is gone (:attr:`ended`), or — with ``end_on_abort`` — a stop condition aborts the run."""
        try:
            await self._watch(deadline, stop, end_on_abort, on_tick, progress)
        finally:
            if self._side is not None and not self._side.done():
                self._side.cancel()
                await asyncio.gather(self._side, return_exceptions=True)
        if end_on_abort and self.aborted.is_set():
            await asyncio.sleep(SETTLE_S)

    async def _watch(self, deadline: Callable[[], int], stop: asyncio.Event | None, end_on_abort: bool,
                     on_tick: Tick | None, progress: bool) -> None:
        live, run = self.live, self.live.run
        assert run.method_start_ns is not None  # set when the load started, before any method
        last_orders, last_t = live.watch.state.child_orders, time.monotonic()
        ticks = 0
        while time.time_ns() < deadline() and not (end_on_abort and self.aborted.is_set()) and self.ended is None:
            if stop is None:
                await asyncio.sleep(WATCH_INTERVAL_S)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=WATCH_INTERVAL_S)
                except TimeoutError:
                    pass
                if stop.is_set():
                    break
            ticks += 1
            await self.refresh()
            if ticks % SIDE_EVERY == 0 and (self._side is None or self._side.done()):
                self._side = asyncio.ensure_future(self.read_side())
            state, now = live.watch.state, time.monotonic()
            if now - last_t >= 1.0:
                self.rate = (state.child_orders - last_orders) / (now - last_t)
                last_orders, last_t = state.child_orders, now
            reason = self.reason()
            if reason:
                await self.abort(reason)
            if on_tick is not None:
                result = on_tick(ticks)
                if result is not None:
                    await result
            if progress:
                elapsed = (time.time_ns() - run.method_start_ns) / 1e9
                run.progress.tick(elapsed, "aborted" if self.aborted.is_set() else "method", state, self.rate)

    async def refresh(self) -> None:
        """One read of the journal tail and positions: the stop conditions' view, and the exchange's health."""
        live = self.live
        try:
            await live.watch.poll(live.http)
            async with live.http.get(f"{live.topology.exchange.admin}/positions") as resp:
                live.watch.on_positions(await resp.json())
        except (TimeoutError, aiohttp.ClientError) as exc:
            await self._exchange_failed(exc)
            return
        await live.parts.ok("exchange")

    async def _exchange_failed(self, exc: BaseException) -> None:
        parts, run = self.live.parts, self.live.run
        if not await parts.failed("exchange", exc) or not parts.unplanned("exchange"):
            return  # not down yet, or a fault has it down and its revert brings it back
        if parts.exited("exchange"):
            self.ended = "the exchange exited: nothing can trade any more, nothing more to watch"
            run.events.warning(RunEvent.METHOD_ENDED_EARLY, part="exchange", reason=self.ended)
            run.progress.phase(f"EXCHANGE DOWN: {self.ended}; the method ends here")
        elif parts.silent_s("exchange") > BLIND_LIMIT_S:
            await self.abort(f"the exchange has not answered for {parts.silent_s('exchange'):.1f}s: the stop "
                             "conditions are blind (see logs/exchange.log in the report directory)")

    async def read_side(self) -> None:
        """The alert sink and the monitor, each read on its own: one dead cannot spoil the other."""
        await asyncio.gather(self._read_part("alerts", self.read_alerts),
                             self._read_part("monitor", self.read_monitor))

    async def _read_part(self, part: str, read: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(read(), SIDE_TIMEOUT_S)
        except (TimeoutError, aiohttp.ClientError) as exc:
            await self.live.parts.failed(part, exc)
            return
        await self.live.parts.ok(part)

    async def read_alerts(self) -> None:
        live = self.live
        async with live.http.get(f"{live.topology.alerts.admin}/alerts") as resp:
            body = await resp.json()
        live.alerts = body if isinstance(body, list) else body.get("alerts", [])
        live.watch.on_alerts(live.alerts)

    async def read_monitor(self) -> None:
        """The monitor's ``/health``: a cheap sign of life (what it watches is measured elsewhere)."""
        live = self.live
        async with live.http.get(f"{live.topology.monitor.admin}/health") as resp:
            resp.raise_for_status()

    def reason(self) -> str | None:
        """Why the run must stop now, or None."""
        a, state = self.live.experiment.abort, self.live.watch.state
        if a.max_loss_usd is not None and state.loss_usd > a.max_loss_usd:
            return f"loss ${state.loss_usd:,.0f} above max_loss_usd ${a.max_loss_usd:,.0f}"
        if a.max_excess_shares is not None and state.excess_shares > a.max_excess_shares:
            return f"excess shares {state.excess_shares:,} above max_excess_shares {a.max_excess_shares:,}"
        if a.max_exposure_usd is not None and state.gross_usd > a.max_exposure_usd:
            return f"exposure ${state.gross_usd:,.0f} above max_exposure_usd ${a.max_exposure_usd:,.0f}"
        return None

    async def abort(self, reason: str) -> None:
        """Kill switch for the firm and halt every router (once)."""
        live, run = self.live, self.live.run
        if self.aborted.is_set():
            return
        self.aborted.set()
        ev = run.events.warning(RunEvent.ABORT_TRIGGERED, reason=reason)
        run.abort = AbortRecord(triggered=True, reason=reason, at=ev["ts_ns"])
        run.progress.phase(f"ABORT: {reason} — kill switch and halting every router")
        calls = [live.http.post(f"{live.topology.exchange.admin}/kill",
                                json={"firm": live.topology.firm, "by": ABORT_KILLER})]
        calls += [live.http.post(f"{r.admin}/halt", json={}) for r in live.topology.routers]
        results = await asyncio.gather(*(status_of(c) for c in calls))
        run.events.warning(RunEvent.ABORT_KILL, results=results)


async def status_of(call: Any) -> int | str:
    """The HTTP status of a request context, or the error that stopped it."""
    try:
        async with call as resp:
            return resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return repr(exc)


def failing_now(live: LiveRun) -> bool:
    """For rollback ``on_failure``: the run aborted, errored, or a live figure already breaks an assertion."""
    run, state = live.run, live.watch.state
    if run.abort.triggered or run.error:
        return True
    a = live.experiment.assertions
    if a.excess_shares_max is not None and state.excess_shares > a.excess_shares_max:
        return True
    return a.loss_usd_max is not None and state.loss_usd > a.loss_usd_max
