"""kill, pause and restart on a real local fleet: the process as /proc and
the backend see it."""
from __future__ import annotations

import asyncio

from pathlib import Path

import aiohttp
import pytest
import structlog

from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.faults.process import Kill, Pause, Restart
from powerpeg.harness.state import FleetState


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    return fleet_factory(routers=2)


@pytest.fixture
async def ctx(fleet_factory, fleet):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {fleet.token}"}) as http:
        yield FaultContext(backend=fleet_factory.backend(fleet), topology=fleet, http=http,
                           log=structlog.get_logger())


def _pid(ctx: FaultContext, component: str) -> int:
    return FleetState.load(ctx.backend.ctx.state_file).process(component).ident.pid


def _proc_state(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2:].split()[0]


async def _health(ctx: FaultContext, component: str) -> str:
    return (await ctx.backend.health())[component]


async def test_kill_leaves_the_process_not_running(ctx) -> None:
    """After kill the backend reports the router not running."""
    fault = Kill(Kill.Params(target="router-2"))
    try:
        await fault.inject(ctx)
        assert "not running" == await _health(ctx, "router-2")
    finally:
        await fault.revert(ctx)


async def test_kill_revert_starts_it_again_healthy(ctx) -> None:
    """Revert (twice) brings the killed monitor back, healthy, as a new process."""
    before = _pid(ctx, "monitor")
    fault = Kill(Kill.Params(target="monitor"))
    await fault.inject(ctx)
    await fault.revert(ctx)
    await fault.revert(ctx)
    assert ("ok", True) == (await _health(ctx, "monitor"), _pid(ctx, "monitor") != before)


async def test_pause_stops_the_process(ctx) -> None:
    """A paused router is in state T (stopped) in /proc."""
    fault = Pause(Pause.Params(target="router-1"))
    try:
        await fault.inject(ctx)
        # SIGSTOP is delivered when the target is next scheduled: poll briefly
        state = _proc_state(_pid(ctx, "router-1"))
        for _ in range(100):
            if state == "T":
                break
            await asyncio.sleep(0.02)
            state = _proc_state(_pid(ctx, "router-1"))
        assert "T" == state
    finally:
        await fault.revert(ctx)


async def test_pause_revert_lets_it_run_again(ctx) -> None:
    """After revert (twice) the router is no longer stopped and answers /health."""
    fault = Pause(Pause.Params(target="router-1"))
    await fault.inject(ctx)
    await fault.revert(ctx)
    await fault.revert(ctx)
    health = await _health(ctx, "router-1")  # answering at all means SIGCONT has landed
    assert ("ok", False) == (health, _proc_state(_pid(ctx, "router-1")) == "T")


async def test_restart_brings_up_a_new_healthy_process(ctx) -> None:
    """Restart replaces the alerts process; its revert changes nothing."""
    before = _pid(ctx, "alerts")
    fault = Restart(Restart.Params(target="alerts"))
    await fault.inject(ctx)
    after = _pid(ctx, "alerts")
    await fault.revert(ctx)
    assert (True, "ok", after) == (after != before, await _health(ctx, "alerts"), _pid(ctx, "alerts"))


async def test_kill_of_a_dead_process_fails_loudly(ctx) -> None:
    """Killing a router already dead is a FaultError naming it."""
    first = Kill(Kill.Params(target="router-2"))
    await first.inject(ctx)
    try:
        with pytest.raises(FaultError, match="kill router-2 failed"):
            await Kill(Kill.Params(target="router-2")).inject(ctx)
    finally:
        await first.revert(ctx)
