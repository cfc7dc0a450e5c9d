"""The harness's own safety net: the stop conditions, watched every 100 ms, and
the abort that pulls the kill switch when one fires.

The watch reads the exchange journal, the firm's positions and the alert
sink. When those reads fail for longer than :data:`BLIND_LIMIT_S`, the stop
conditions are blind: unless a fault means to take the exchange or the alert
sink away, that is the harness's failure and the run ends as an error rather
than letting a runaway go unwatched.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from harness.events import ABORT_KILLER, RunEvent
from harness.report import AbortRecord
from harness.run.state import LiveRun

WATCH_INTERVAL_S = 0.1
ALERTS_EVERY = 5  # watch ticks between two reads of the alert sink
SETTLE_S = 0.5  # after an abort, before the run goes on to evidence
BLIND_LIMIT_S = 2.0  # the stop conditions may go unread this long before the run is an error

Tick = Callable[[int], Awaitable[None] | None]


class Safety:
    """Stop conditions of one live run: watch them, abort on one."""

    def __init__(self, live: LiveRun) -> None:
        self.live = live
        self.aborted = asyncio.Event()
        self.rate = 0.0  # child orders/s over the last second, for progress and the Chaos tab
        self._blind_since: float | None = None

    async def watch(self, deadline: Callable[[], int], *, stop: asyncio.Event | None = None,
                    end_on_abort: bool = True, on_tick: Tick | None = None, progress: bool = True) -> None:
        """Watch until ``deadline()`` (ns; it may move while the open is held), ``stop`` is set,
        or — with ``end_on_abort`` — a stop condition aborts the run."""
        live, run = self.live, self.live.run
        assert run.method_start_ns is not None  # set when the load started, before any method
        last_orders, last_t = live.watch.state.child_orders, time.monotonic()
        ticks = 0
        while time.time_ns() < deadline() and not (end_on_abort and self.aborted.is_set()):
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
            await self.refresh(alerts=ticks % ALERTS_EVERY == 0)
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
        if end_on_abort and self.aborted.is_set():
            await asyncio.sleep(SETTLE_S)

    async def refresh(self, *, alerts: bool) -> None:
        """One read of the journal tail and positions (and the alert sink when ``alerts``)."""
        live, run = self.live, self.live.run
        try:
            await live.watch.poll(live.http)
            async with live.http.get(f"{live.topology.exchange.admin}/positions") as resp:
                live.watch.on_positions(await resp.json())
            if alerts:
                await self.read_alerts()
            self._blind_since = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            run.events.warning(RunEvent.WATCH_READ_FAILED, error=repr(exc))
            now = time.monotonic()
            self._blind_since = self._blind_since or now
            if now - self._blind_since > BLIND_LIMIT_S and not live.faulted({"exchange", "alerts"}):
                raise RuntimeError(
                    f"the fleet stopped answering for {now - self._blind_since:.1f}s ({exc!r}); "
                    "see logs/ in the report directory") from exc

    async def read_alerts(self) -> None:
        live = self.live
        async with live.http.get(f"{live.topology.alerts.admin}/alerts") as resp:
            body = await resp.json()
        live.alerts = body if isinstance(body, list) else body.get("alerts", [])
        live.watch.on_alerts(live.alerts)

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
