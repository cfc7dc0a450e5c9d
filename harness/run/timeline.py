"""The method's clock: when each time on the timeline falls, and the open.

Time zero is the method's start. The market opens at ``market.open_at`` — but
the open is the runner's to give, and only once every step due before it has
been injected (in 2012 the deploy was done before the open; a deploy still
restarting routers at the open, as slow containers do, would be another
experiment). Until the open is given, times at or after it on the timeline
are not known yet: they move by however long the open was held.
"""
from __future__ import annotations

import asyncio
import time

from powerpeg.harness.events import RunEvent
from powerpeg.harness.run.state import LiveRun

HELD_WARNING_S = 0.1  # an open held longer than this is reported as a warning


async def wait_until(ts_ns: int | None) -> None:
    """Sleep until wall time ``ts_ns`` (no-op for None or the past)."""
    if ts_ns is None:
        return
    delay = (ts_ns - time.time_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


class Timeline:
    """Wall times of the method's timeline, and the market open that may hold it."""

    def __init__(self, live: LiveRun, method_start_ns: int) -> None:
        self.live = live
        self.start_ns = method_start_ns
        self.open_at_s = live.experiment.market.open_at
        self.planned_open_ns = method_start_ns + int(self.open_at_s * 1e9)
        self.opened = asyncio.Event()
        self.hold_ns = 0

    def plan_ns(self, t_s: float) -> int:
        """Wall time of ``t_s`` on the timeline: times at or after the open move by
        how long the open was held (while it still is: at least that long)."""
        at = self.start_ns + int(t_s * 1e9)
        if t_s < self.open_at_s:
            return at
        if self.opened.is_set():
            return at + self.hold_ns
        return at + max(0, time.time_ns() - self.planned_open_ns)

    async def wait(self, t_s: float) -> None:
        """Until ``t_s`` on the timeline (past the open: until the open was given, then its time)."""
        if t_s >= self.open_at_s:
            await self.opened.wait()
        await wait_until(self.plan_ns(t_s))

    async def open_market(self, before_open: list[asyncio.Event], aborted: asyncio.Event) -> None:
        """Open the market at its planned time, once every step due before it was injected."""
        live, run = self.live, self.live.run
        await wait_until(self.planned_open_ns)
        pending = [e for e in before_open if not e.is_set()]
        if pending:
            run.progress.phase(f"holding the open: {len(pending)} step(s) due before it still running …")
            await asyncio.gather(*(e.wait() for e in pending))
        if aborted.is_set():
            return  # everything is halted: an open now would only be noise
        async with live.http.post(f"{live.topology.exchange.admin}/clock", json={"open_in_s": 0}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"exchange refused to open the market: {resp.status} {await resp.text()}")
            opened_ns = int((await resp.json()).get("open_at_ns") or time.time_ns())
        self.hold_ns = max(0, opened_ns - self.planned_open_ns)
        run.open_at_ns = opened_ns
        if run.control is not None:
            run.control.set_open(opened_ns)
        self.opened.set()
        held_s = round(self.hold_ns / 1e9, 3)
        run.events.emit(RunEvent.MARKET_OPEN, planned_ns=self.planned_open_ns, held_s=held_s)
        if held_s >= HELD_WARNING_S:
            run.events.warning(RunEvent.MARKET_OPEN_HELD, held_s=held_s,
                               reason="steps due before the open were still running; later steps move with it")
