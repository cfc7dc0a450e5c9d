"""partial_deploy mode: rolling — its parameters, where it may run, and what the run records of a rollout."""
from __future__ import annotations

import pytest
import structlog
from pydantic import ValidationError

from powerpeg.harness.backends.base import FleetError, FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.harness.experiment.model import Experiment, FleetShape
from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.faults.partial_deploy import PartialDeploy, replicated_routers, rollout_summary
from powerpeg.harness.plan import fleet_spec

ROLLOUT = {"update_state": "paused", "tasks": {
    "router-1": {"version": "v2", "updated": True}, "router-2": {"version": "v1", "updated": False},
    "router-3": {"version": "v2", "updated": True}}}


def _params(**args):
    return PartialDeploy.Params(version="v2", mode="rolling", **args)


def test_rolling_defaults_to_every_task_but_one() -> None:
    """Without stop_after the update reaches N-1 tasks, as the 2012 deploy reached 7 of 8."""
    assert (7, 3) == (_params().tasks_updated(8), _params(stop_after=3).tasks_updated(8))


@pytest.mark.parametrize(("args", "says"), [
    ({"miss": ["router-8"]}, "miss: a rolling update cannot skip chosen routers"),
    ({"routers": ["router-1"]}, "routers: a rolling update rolls the whole router service"),
])
def test_rolling_refuses_choosing_routers(args, says) -> None:
    """A rolling update cannot pick routers: the orchestrator picks the order."""
    with pytest.raises(ValidationError, match=says):
        _params(**args)


def test_stop_after_is_for_rolling_only() -> None:
    """stop_after on a per-router deploy is an error naming the mode."""
    with pytest.raises(ValidationError, match="stop_after is for mode: rolling"):
        PartialDeploy.Params(version="v2", stop_after=3)


def test_stop_after_beyond_the_fleet_is_a_topology_error() -> None:
    """A fleet of 4 has 4 tasks to update, not 5."""
    assert [("stop_after", "a fleet of 4 routers has 4 tasks to update, not 5")] == _params(stop_after=5).check(
        FleetShape(routers=4))


def test_a_rolling_step_makes_the_routers_one_replicated_service() -> None:
    """The plan asks the backend for replicated routers when a step rolls, and not otherwise."""
    def exp(args):
        return Experiment.model_validate({"name": "x", "method": [
            {"at": "0s", "fault": "partial_deploy", "args": args}]})

    rolling, per_router = exp({"version": "v2", "mode": "rolling"}), exp({"version": "v2"})
    assert (True, False, True, False) == (
        replicated_routers(rolling), replicated_routers(per_router),
        fleet_spec(rolling, toxiproxy=False).replicated_routers,
        fleet_spec(per_router, toxiproxy=False).replicated_routers)


async def test_local_backend_refuses_replicated_routers_before_starting_anything(tmp_path) -> None:
    """`run --backend local` of a rolling experiment: a FleetError naming swarm, and no state written."""
    backend = LocalBackend(RunContext.create(home=tmp_path))
    with pytest.raises(FleetError, match="partial_deploy mode: rolling needs an orchestrator: run it with "
                                         "--backend swarm, not local"):
        await backend.up(FleetSpec(routers=2, replicated_routers=True))
    assert not backend.ctx.state_file.exists()


async def test_local_backend_refuses_placement(tmp_path) -> None:
    """Placement constraints are an orchestrator's: refused at start elsewhere."""
    with pytest.raises(FleetError, match="topology.placement needs an orchestrator"):
        await LocalBackend(RunContext.create(home=tmp_path)).up(
            FleetSpec(routers=2, placement={"routers": "node.role==manager"}))


class _Topology:
    routers = tuple(type("R", (), {"id": f"router-{i}"})() for i in (1, 2, 3))


class _Rolling:
    """A backend that rolls: records the call and answers a rollout."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def rolling_deploy(self, version: str, updated: int) -> dict:
        self.calls.append(("roll", version, updated))
        return ROLLOUT

    async def rollback_routers(self) -> dict:
        self.calls.append(("rollback",))
        return {}


def _ctx(backend) -> FaultContext:
    return FaultContext(backend=backend, topology=_Topology(), http=None, log=structlog.get_logger())


async def test_rolling_inject_asks_the_orchestrator_and_records_the_rollout(monkeypatch) -> None:
    """Inject hands the version and N-1 to the backend's rolling update; the target names who was left."""
    versions = iter([{"router-1": "v1", "router-2": "v1", "router-3": "v1"}])

    async def router_versions(_ctx, _ids):
        return next(versions)

    monkeypatch.setattr(common, "router_versions", router_versions)
    backend, fault = _Rolling(), PartialDeploy(_params())
    await fault.inject(_ctx(backend))
    assert ([("roll", "v2", 2)], "v2 -> routers rolling, 2/3 updated, paused; v1 left on router-2") == (
        backend.calls, fault.target())


async def test_rolling_revert_is_the_services_rollback(monkeypatch) -> None:
    """Revert after a mixed rollout calls the backend's service rollback once; a second revert does nothing."""
    answers = iter([{"router-1": "v1", "router-2": "v1", "router-3": "v1"},
                    {"router-1": "v2", "router-2": "v1", "router-3": "v2"}])

    async def router_versions(_ctx, _ids):
        return next(answers)

    monkeypatch.setattr(common, "router_versions", router_versions)
    backend, fault = _Rolling(), PartialDeploy(_params())
    await fault.inject(_ctx(backend))
    await fault.revert(_ctx(backend))
    await fault.revert(_ctx(backend))
    assert [("roll", "v2", 2), ("rollback",)] == backend.calls


async def test_the_target_still_names_the_stragglers_after_the_revert(monkeypatch) -> None:
    """journal.json is written after the rollback: the target keeps the rollout's record of who was left."""
    answers = iter([{"router-1": "v1", "router-2": "v1", "router-3": "v1"},
                    {"router-1": "v2", "router-2": "v1", "router-3": "v2"}])

    async def router_versions(_ctx, _ids):
        return next(answers)

    monkeypatch.setattr(common, "router_versions", router_versions)
    backend, fault = _Rolling(), PartialDeploy(_params())
    await fault.inject(_ctx(backend))
    await fault.revert(_ctx(backend))
    assert (None, "v2 -> routers rolling, 2/3 updated, paused; v1 left on router-2") == (
        fault.applied, fault.target())


async def test_rolling_on_a_backend_without_an_orchestrator_is_a_fault_error() -> None:
    """A backend with no rolling update: the inject fails naming --backend swarm."""
    fault = PartialDeploy(_params())
    with pytest.raises(FaultError, match="needs an orchestrator \\(--backend swarm\\)"):
        await fault.inject(_ctx(type("NoRoll", (), {"name": "compose"})()))


def test_rollout_summary_names_the_stragglers_in_router_order() -> None:
    """Updated count, the update's state, and each old version with the routers left on it."""
    rollout = {"update_state": "paused", "tasks": {f"router-{i}": {"version": "v1" if i in (10, 2) else "v2",
                                                                    "updated": i not in (10, 2)} for i in range(1, 11)}}
    assert "8/10 updated, paused; v1 left on router-2,router-10" == rollout_summary(rollout)


async def test_a_revert_reading_a_router_mid_deploy_waits_for_it(monkeypatch) -> None:
    """A router that does not answer (another step's deploy restarting it) is read again until it does."""
    from powerpeg.harness.faults.partial_deploy import settled_versions

    answers: list = [FaultError("GET /health: ClientConnectorError"), {"router-1": "v1"}]

    async def router_versions(_ctx, _ids):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(common, "router_versions", router_versions)
    assert ({"router-1": "v1"}, []) == (await settled_versions(_ctx(None), ["router-1"], timeout_s=5), answers)


async def test_a_router_that_never_answers_still_fails_the_revert(monkeypatch) -> None:
    """Bounded: past the deploy timeout the read's own error is raised."""
    from powerpeg.harness.faults.partial_deploy import settled_versions

    async def router_versions(_ctx, _ids):
        raise FaultError("GET /health: ClientConnectorError")

    monkeypatch.setattr(common, "router_versions", router_versions)
    with pytest.raises(FaultError, match="ClientConnectorError"):
        await settled_versions(_ctx(None), ["router-1"], timeout_s=0)
