"""harness/run/method.py: how long the scheduled method asks the load to run, a step still being injected at
its end, and the rollback watched by the stop conditions (harness/run/lifecycle.py)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.run.lifecycle import Runner
from powerpeg.harness.run.method import LOAD_GRACE_S, ScheduledMethod
from powerpeg.harness.run.safety import Safety
from tests.unit.harness.run.fakes import Fleet, experiment


def _exp(at: str) -> Experiment:
    return Experiment.model_validate({
        "name": "x", "duration": "12s", "market": {"open_at": "4s"}, "abort": {"max_duration": "120s"},
        "method": [{"at": at, "fault": "partial_deploy", "args": {"version": "v2", "miss": ["router-2"]}}],
        "topology": {"routers": 2}})


def test_a_step_before_the_open_lets_the_load_last_to_the_cap() -> None:
    """A deploy due before the open can hold the open, and the method's end with it, up to max_duration."""
    assert 120 + LOAD_GRACE_S == ScheduledMethod().load_plan(_exp("0s")).duration_s


def test_steps_at_or_after_the_open_keep_the_load_to_the_duration() -> None:
    """Nothing holds the open: the method ends at its duration, and so may the load."""
    assert (12 + LOAD_GRACE_S, 12 + LOAD_GRACE_S) == (ScheduledMethod().load_plan(_exp("open")).duration_s,
                                                      ScheduledMethod().load_plan(_exp("5s")).duration_s)


# -- the method's end with a step still being injected, and the rollback watched -----------------------
STEP = {"fault": "kill", "at": "1s", "args": {"target": "monitor"}}


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path, method=[STEP])
    await f.up()
    yield f
    await f.down()


async def test_a_step_still_injecting_at_the_end_is_waited_for_with_the_stop_conditions_watched(fleet: Fleet) -> None:
    """The planned end came mid-inject: the method waits until the step is in, reading the stop conditions
    meanwhile, and says so (method_extended naming the step)."""
    sf = fleet.live.run.faults[0]
    sf.injecting = True
    play = asyncio.ensure_future(asyncio.sleep(0.35))
    await ScheduledMethod._finish_injections(fleet.live, Safety(fleet.live), [play], time.time_ns() + 10**10)
    [warned] = fleet.events("method_extended")
    assert (True, [0], 1) == (play.done(), warned["steps"], fleet.live.watch.state.child_orders)


async def test_waiting_for_a_step_stops_at_the_max_duration_cap(fleet: Fleet) -> None:
    """A step that never finishes is waited for only up to the cap; the caller then cancels it."""
    fleet.live.run.faults[0].injecting = True
    play = asyncio.ensure_future(asyncio.sleep(60))
    started = time.monotonic()
    await ScheduledMethod._finish_injections(fleet.live, Safety(fleet.live), [play], time.time_ns() + 300_000_000)
    waited = time.monotonic() - started
    play.cancel()
    assert (False, True) == (play.done() and not play.cancelled(), waited < 30), waited


async def test_nothing_injecting_ends_the_method_at_once(fleet: Fleet) -> None:
    """No step mid-inject: no wait, no event."""
    play = asyncio.ensure_future(asyncio.sleep(60))
    await ScheduledMethod._finish_injections(fleet.live, Safety(fleet.live), [play], time.time_ns() + 10**10)
    play.cancel()
    assert [] == fleet.events("method_extended")


async def test_an_inject_cut_short_is_recorded_as_failed_not_as_never_injected(fleet: Fleet) -> None:
    """Cancelled half-way (the run ended or was interrupted): the step carries an error and a fault_failed
    event, never a silent 'not injected'."""
    sf = fleet.live.run.faults[0]

    async def hang(_ctx: object) -> None:
        await asyncio.sleep(60)

    sf.fault.inject = hang  # type: ignore[method-assign]
    task = asyncio.ensure_future(fleet.live.inject(sf))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert ("cut short", False, 1) == (sf.error[:9] if sf.error else None, sf.injecting,
                                       len(fleet.events("fault_failed")))


async def test_the_rollback_runs_with_the_stop_conditions_still_watched(tmp_path: Path) -> None:
    """While the rollback runs (the load still sending), a stop condition still aborts the run."""
    f = Fleet(tmp_path)
    f.exp = experiment().model_copy(update={"abort": experiment().abort.model_copy(update={"max_loss_usd": 1.0})})
    live = await f.up()
    try:
        live.run.load = object()  # type: ignore[assignment] - only "is there a load" is asked
        runner = Runner(live.run)
        await runner._watched(Safety(live), asyncio.sleep(0.5))
        assert (1, True) == (len(f.events("abort_triggered")), live.run.abort.triggered)
    finally:
        await f.down()


async def test_at_the_cap_nothing_is_waited_for_and_nothing_said_to_be_extended(fleet: Fleet) -> None:
    """The max_duration cap itself ended the method: the abort follows; no method_extended."""
    fleet.live.run.faults[0].injecting = True
    play = asyncio.ensure_future(asyncio.sleep(60))
    await ScheduledMethod._finish_injections(fleet.live, Safety(fleet.live), [play], time.time_ns() - 1)
    play.cancel()
    assert [] == fleet.events("method_extended")
