"""harness/run/safety.py against a fake fleet: each part read on its own, a dead one named, the exchange's
death ending the method, a silent one past the blind limit aborting."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from powerpeg.harness.run import safety as safety_module
from powerpeg.harness.run.safety import Safety
from tests.unit.harness.run.fakes import Fleet


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path, listed_alerts=[{"id": "a1", "channel": "page", "delivered_ns": 5}])
    await f.up()
    yield f
    await f.down()


async def test_a_dead_alert_sink_costs_its_reading_not_the_monitors(fleet: Fleet) -> None:
    """Alert sink killed: after two side reads it is down; the monitor, read beside it, never is."""
    await fleet.alerts.kill()
    safety = Safety(fleet.live)
    await safety.read_side()
    await safety.read_side()
    assert (["alerts"], False) == ([e["part"] for e in fleet.events("part_down")], fleet.live.parts.is_down("monitor"))


async def test_a_dead_monitor_is_found_by_its_health_read(fleet: Fleet) -> None:
    """The monitor exits: its /health read fails, the backend says exited, it is down at once; alerts still read."""
    await fleet.monitor.kill()
    fleet.backend.exited.add("monitor")
    safety = Safety(fleet.live)
    await safety.read_side()
    [down] = fleet.events("part_down")
    assert (("monitor", "exited", False), 1) == (
        (down["part"], down["reason"], down["planned"]), len(fleet.live.alerts))


async def test_the_stop_conditions_read_the_exchange_and_mark_it_up(fleet: Fleet) -> None:
    """A good refresh reads the journal and positions, and says nothing about parts."""
    safety = Safety(fleet.live)
    await safety.refresh()
    assert (1, 5.0, []) == (fleet.live.watch.state.child_orders, fleet.live.watch.state.loss_usd,
                            fleet.events("part_down"))


async def test_an_exchange_that_exited_ends_the_method_without_an_abort(fleet: Fleet) -> None:
    """Nothing can trade: the method ends (an event says why), no kill switch is pulled."""
    await fleet.exchange.kill()
    fleet.backend.exited.add("exchange")
    safety = Safety(fleet.live)
    await safety.refresh()
    assert (True, False, ["exchange"]) == (safety.ended is not None, safety.aborted.is_set(),
                                          [e["part"] for e in fleet.events("method_ended_early")])


async def test_an_exchange_silent_past_the_blind_limit_aborts(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alive but not answering, with no fault meaning it: the stop conditions are blind, the run aborts."""
    monkeypatch.setattr(safety_module, "BLIND_LIMIT_S", 0.0)
    await fleet.exchange.kill()
    safety = Safety(fleet.live)
    await safety.refresh()
    await safety.refresh()
    assert (True, None, True) == (safety.aborted.is_set(), safety.ended,
                                  "the stop conditions are blind" in (fleet.live.run.abort.reason or ""))


async def test_an_exchange_a_fault_took_down_neither_ends_nor_aborts(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill of the exchange on purpose: planned, watched on until the revert brings it back."""
    monkeypatch.setattr(safety_module, "BLIND_LIMIT_S", 0.0)
    fleet = Fleet(tmp_path, method=[{"fault": "kill", "at": "1s", "args": {"target": "exchange"}}])
    live = await fleet.up()
    try:
        live.run.faults[0].injected_ns = 1
        await fleet.exchange.kill()
        fleet.backend.exited.add("exchange")
        safety = Safety(live)
        await safety.refresh()
        await safety.refresh()
        assert (None, False, [True]) == (safety.ended, safety.aborted.is_set(),
                                         [e["planned"] for e in fleet.events("part_down")])
    finally:
        await fleet.down()
