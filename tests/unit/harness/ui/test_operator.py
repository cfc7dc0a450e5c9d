"""The game day's method after a stop condition fired: the page says aborted and killed, Inject is refused
with the reason; a kill by a control shows too."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from powerpeg.harness.run.safety import Safety
from powerpeg.harness.ui.operator import ActionError, OperatorMethod
from powerpeg.harness.ui.tab import status_rows
from tests.unit.harness.run.fakes import FIRM, Fleet

METHOD = [{"fault": "kill", "at": "1s", "args": {"target": "router-1"}}]


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[tuple[OperatorMethod, Fleet]]:
    fleet = Fleet(tmp_path, method=METHOD)
    live = await fleet.up()
    method = OperatorMethod(fleet.exp, web_port=1, max_duration_s=10, stop=asyncio.Event())
    method._live, method._safety = live, Safety(live)  # what play() sets, without a fleet to play on
    yield method, fleet
    await fleet.down()


async def test_after_an_abort_the_status_says_aborted_and_killed(operator: tuple[OperatorMethod, Fleet]) -> None:
    """The harness's abort pulled the kill switch: killed yes, by powerpeg-abort, with the abort's reason."""
    method, _ = operator
    before = method.status()["killed"]
    assert method._safety is not None
    await method._safety.abort("loss $9 above max_loss_usd $1")
    status = method.status()
    assert (False, True, "powerpeg-abort", "aborted", "loss $9 above max_loss_usd $1") == (
        before, status["killed"], status["killed_by"], method._phase_now(), status["abort"]["reason"])


async def test_after_an_abort_inject_is_refused_with_the_reason(operator: tuple[OperatorMethod, Fleet]) -> None:
    """409, saying the run was aborted and why; the fault stays pending."""
    method, fleet = operator
    assert method._safety is not None
    await method._safety.abort("excess shares 900 above max_excess_shares 100")
    with pytest.raises(ActionError) as refused:
        await method.inject(0)
    assert (409, True, None) == (refused.value.status, "aborted (excess shares 900" in str(refused.value),
                                 fleet.live.run.faults[0].injected_ns)


async def test_a_kill_by_a_control_shows_as_killed_until_reinstated(operator: tuple[OperatorMethod, Fleet]) -> None:
    """The exchange journal's kill record for the firm (the monitor's auto-kill) makes the header read killed."""
    method, fleet = operator
    state = fleet.live.watch.state
    state.on_journal({"ts_ns": 1, "kind": "kill", "firm": FIRM, "by": "monitor"})  # type: ignore[typeddict-item]
    killed = (method.status()["killed"], method.status()["killed_by"])
    state.on_journal({"ts_ns": 2, "kind": "reinstate", "firm": FIRM})  # type: ignore[typeddict-item]
    assert ((True, "monitor"), False) == (killed, method.status()["killed"])


def test_the_locust_tab_says_who_killed_the_abort_the_dead_parts_and_uncounted_pages() -> None:
    """Rows: killed yes (by whom), aborted with its reason, each part down, pages before the first fault."""
    status = {"experiment": "e", "phase": "aborted", "killed": True, "killed_by": "powerpeg-abort", "faults": [],
              "abort": {"triggered": True, "reason": "loss above max"},
              "parts": {"monitor": {"state": "down", "reason": "exited", "planned": False}, "alerts": {"state": "up"}},
              "metrics": {"ttd_s": None, "pages_before_fault": 3}}
    rows = {r["item"]: r["value"] for r in status_rows(status)}
    assert ("yes (powerpeg-abort)", "loss above max: Inject is refused", "exited", "3 (not counted as detection)") == (
        rows["killed"], rows["aborted"], rows["monitor DOWN"], rows["pages before the first fault"])


async def test_a_kill_journaled_before_the_operators_reinstate_is_lifted(
        operator: tuple[OperatorMethod, Fleet]) -> None:
    """The watch read the kill record but not yet the reinstate's: the operator reinstated after it, not killed."""
    method, fleet = operator
    fleet.live.watch.state.on_journal({"ts_ns": 5, "kind": "kill", "firm": FIRM, "by": "monitor"})  # type: ignore[typeddict-item]
    method._reinstated_ns = 6
    assert (False, None) == (method.status()["killed"], method.status()["killed_by"])
