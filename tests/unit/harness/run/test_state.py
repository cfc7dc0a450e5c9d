"""harness/run/state.py: which fault has a part down on purpose."""
from __future__ import annotations

from pathlib import Path

from tests.unit.harness.run.fakes import Fleet

METHOD = [{"fault": "kill", "at": "1s", "args": {"target": "monitor"}},
          {"fault": "network", "at": "1s", "args": {"link": "->alerts", "down": True}}]


async def test_a_fault_names_the_part_it_has_down_while_active_or_being_injected(tmp_path: Path) -> None:
    """kill monitor: not before its inject, yes while injecting and once injected, no more once reverted."""
    fleet = Fleet(tmp_path, method=METHOD)
    live = await fleet.up()
    try:
        kill = live.run.faults[0]
        seen = [live.fault_on("monitor")]
        kill.injecting = True
        seen.append(live.fault_on("monitor"))
        kill.injecting, kill.injected_ns = False, 1
        seen.append(live.fault_on("monitor"))
        kill.reverted_ns = 2
        seen.append(live.fault_on("monitor"))
        assert [None, "kill monitor", "kill monitor", None] == seen
    finally:
        await fleet.down()


async def test_a_link_fault_does_not_take_the_part_itself_down(tmp_path: Path) -> None:
    """The `->alerts` link down stops what is sent to the sink, not the harness's reads of it: not planned."""
    fleet = Fleet(tmp_path, method=METHOD)
    live = await fleet.up()
    try:
        live.run.faults[1].injected_ns = 1
        assert live.fault_on("alerts") is None
    finally:
        await fleet.down()
