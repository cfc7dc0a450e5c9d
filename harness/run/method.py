"""The middle of a run — the method — as a strategy the runner is given.

Everything before it (stand-up, load, steady state) and after it (rollback,
evidence, teardown, verdict) is the runner's and the same for every method.
Two methods exist:

- :class:`ScheduledMethod`: the experiment file's timeline, each step
  injected at its time, the run ending at ``duration`` (``powerpeg run``,
  game days, the pytest plugin);
- :class:`powerpeg.harness.ui.operator.OperatorMethod`: a person in the loop on the
  Chaos tab (``powerpeg ui``), steps injected when Inject is pressed.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp

from powerpeg.harness.events import RunEvent
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.run.safety import Safety
from powerpeg.harness.run.state import LiveRun, ScheduledFault
from powerpeg.harness.run.steady import steady
from powerpeg.harness.run.timeline import Timeline

LOAD_GRACE_S = 5.0  # the load outlives the method by this much, then stops by itself


@dataclass(frozen=True)
class LoadPlan:
    """How a method wants the load run."""

    duration_s: float  # past the method's start; the load stops by itself then
    web_port: int | None = None  # Locust's web UI (local processes only), for a person to watch
    extra_env: dict[str, str] = field(default_factory=dict)


class Method(Protocol):
    """What the runner asks of a method."""

    mode: str  # the ``mode`` of the ``method_start`` event
    keep_journal: bool  # keep the firm's journal records for live measurement
    rollback_all: bool  # revert every injected fault at the end, whatever the file's policy

    def load_plan(self, exp: Experiment) -> LoadPlan: ...

    async def load_started(self, live: LiveRun) -> None:
        """Called once the load runs, before the method's time zero."""

    async def play(self, live: LiveRun, timeline: Timeline, safety: Safety) -> None:
        """The method itself; returns when the run's middle is over."""


class ScheduledMethod:
    """The experiment file's timeline: steps at their times, the stop conditions watched."""

    mode = "scheduled"
    keep_journal = False
    rollback_all = False

    def load_plan(self, exp: Experiment) -> LoadPlan:
        # Locust's own bound must outlast the method. A step due before the open holds the open (and
        # every time after it, the method's end too) until it is in — a Swarm rolling update of eight
        # tasks takes tens of seconds — so then only the max_duration cap bounds the method; a load
        # bounded by `duration` alone stopped before the open and the run measured no runaway (issue 14)
        holds_open = any(step.at != "open" and float(step.at) < exp.market.open_at for step in exp.method)
        longest = exp.abort.max_duration if holds_open else min(exp.duration, exp.abort.max_duration)
        return LoadPlan(duration_s=longest + LOAD_GRACE_S)

    async def load_started(self, live: LiveRun) -> None:
        return None

    async def play(self, live: LiveRun, timeline: Timeline, safety: Safety) -> None:
        run, exp = live.run, live.experiment
        run.events.emit(RunEvent.METHOD_START, steps=len(run.faults))
        run.progress.phase(f"method: {len(run.faults)} step(s) over {exp.duration:g}s; "
                           f"market opens at +{exp.market.open_at:g}s")
        injected = {sf.index: asyncio.Event() for sf in run.faults}
        tasks = [asyncio.ensure_future(self._play(live, timeline, safety, sf, injected[sf.index]))
                 for sf in run.faults]
        before_open = [injected[sf.index] for sf in run.faults if sf.at_s < exp.market.open_at]
        tasks.append(asyncio.ensure_future(timeline.open_market(before_open, safety.aborted)))
        tasks.append(asyncio.ensure_future(self._during(live, timeline, min(exp.duration, exp.abort.max_duration) / 2)))
        cap_ns = timeline.start_ns + int(exp.abort.max_duration * 1e9)
        try:
            await safety.watch(lambda: min(timeline.plan_ns(exp.duration), cap_ns))
            await self._finish_injections(live, safety, tasks[:len(run.faults)], cap_ns)
        finally:
            for t in tasks:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:
            # a fault task that failed in any way fails the run, loudly — unless the exchange died under
            # it (the open, a fault's call to it): that is the outage the reports name, not the harness's
            if isinstance(res, Exception) and not isinstance(res, asyncio.CancelledError):
                if safety.ended is not None and isinstance(res, (TimeoutError, aiohttp.ClientError)):
                    continue
                raise res
        if safety.ended is None and timeline.plan_ns(exp.duration) > cap_ns and not run.abort.triggered:
            await safety.abort(f"max_duration {exp.abort.max_duration:g}s reached")

    @staticmethod
    async def _finish_injections(live: LiveRun, safety: Safety, plays: Sequence[asyncio.Future[Any]],
                                 cap_ns: int) -> None:
        """Steps still being injected at the method's planned end (a redeploy on a loaded swarm took
        20 s where the file allowed 6) are waited for, the stop conditions still watched, up to the
        ``max_duration`` cap: cancelling them half-way left routers on a mix of versions and the step
        reported as neither injected nor failed."""
        run = live.run
        busy = [(sf, play) for sf, play in zip(run.faults, plays, strict=True) if sf.injecting and not play.done()]
        if not busy or safety.aborted.is_set() or safety.ended is not None or time.time_ns() >= cap_ns:
            return  # nothing in flight, or the cap itself ended the method: the max_duration abort follows
        steps = [sf.index for sf, _ in busy]
        run.events.warning(RunEvent.METHOD_EXTENDED, steps=steps,
                           reason="the method's planned end came while these steps were still being injected")
        run.progress.phase(f"method's end reached with step(s) {', '.join(map(str, steps))} still being injected: "
                           "waiting for them (stop conditions watched) …")
        done = asyncio.Event()
        gathered = asyncio.ensure_future(asyncio.wait([play for _, play in busy]))
        gathered.add_done_callback(lambda _: done.set())
        try:
            await safety.watch(lambda: cap_ns, stop=done)
        finally:
            gathered.cancel()

    @staticmethod
    async def _play(live: LiveRun, timeline: Timeline, safety: Safety, sf: ScheduledFault,
                    injected: asyncio.Event) -> None:
        await timeline.wait(sf.at_s)
        if safety.aborted.is_set():
            return
        await live.inject(sf)
        injected.set()
        assert sf.injected_ns is not None
        live.run.progress.phase(f"+{(sf.injected_ns - timeline.start_ns) / 1e9:.1f}s injected "
                                f"{sf.step.fault} {sf.fault.target()}")
        if sf.step.duration is not None:
            await asyncio.sleep(sf.step.duration)
            await live.revert(sf)

    @staticmethod
    async def _during(live: LiveRun, timeline: Timeline, at_s: float) -> None:
        await timeline.wait(at_s)
        await steady(live, "during")
