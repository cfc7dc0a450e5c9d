"""The replicated routers service: its stack entry, reading Swarm's task list, and the rolling update
against a scripted Swarm (no engine)."""
from __future__ import annotations

import asyncio

import pytest
import structlog

from powerpeg.harness.backends.base import FleetError, FleetSpec
from powerpeg.harness.backends.compose.env import ComposePlan, HostPorts
from powerpeg.harness.backends.swarm import engine as sw_engine, slots as slots_module
from powerpeg.harness.backends.swarm.slots import SlotTask, Slots, serving, slot_tasks
from powerpeg.harness.backends.swarm.stack import ROUTERS_SERVICE, SLOT_PROXY_BASE, StackPlan


def _plan(**spec) -> StackPlan:
    fleet = FleetSpec(routers=3, version="v1", replicated_routers=True, toxiproxy=False, **spec)
    return StackPlan(ComposePlan(run_id="r-1", home="/h", token="sekrit", spec=fleet,
                                 ports=HostPorts.allocate(fleet.router_ids())))


def _task(tid, slot, state, desired="running", image="powerpeg-router:v1", created="1", address="10.0.1.5/24"):
    return {"ID": tid, "Slot": slot, "DesiredState": desired, "CreatedAt": created, "NodeID": "n1",
            "Spec": {"ContainerSpec": {"Image": image + "@sha256:00"}},
            "Status": {"State": state, "ContainerStatus": {"ContainerID": "c" + tid}},
            "NetworksAttachments": [{"Network": {"Spec": {"Name": "ingress"}}, "Addresses": ["10.255.0.9/16"]},
                                    {"Network": {"Spec": {"Name": "pp-r-1_default"}}, "Addresses": [address]}]}


def test_replicated_routers_are_one_service_of_n_tasks_with_a_gate() -> None:
    """One `routers` service (replicas N, start-first, pause on failure, no tolerated failure) with a healthcheck."""
    plan = _plan()
    svc = plan.stack_file(plan.second_services())["services"][ROUTERS_SERVICE]
    update = svc["deploy"]["update_config"]
    assert (["monitor", ROUTERS_SERVICE], 3, (1, "start-first", "pause", 0), ["CMD", "http-ok", "8080", "/health"]) == (
        plan.second_services(), svc["deploy"]["replicas"],
        (update["parallelism"], update["order"], update["failure_action"], update["max_failure_ratio"]),
        svc["healthcheck"]["test"])


def test_each_task_takes_its_identity_from_its_slot() -> None:
    """Hostname and POWERPEG_SLOT are Swarm's slot template; each slot's flags dial its own link name."""
    plan = _plan()
    svc = plan.stack_file([ROUTERS_SERVICE])["services"][ROUTERS_SERVICE]
    slots = plan.slots()
    assert ("router-{{.Task.Slot}}", "{{.Task.Slot}}", ["1", "2", "3"], "sekrit" in repr(svc)) == (
        svc["hostname"], svc["environment"]["POWERPEG_SLOT"], sorted(slots), False)


def test_each_slot_is_published_through_its_toxiproxy_proxy() -> None:
    """router-N's host port is published by the toxiproxy service, to the slot proxy's listen port;
    the monitor reaches router-N there too."""
    plan = _plan()
    stack = plan.stack_file(plan.first_services() + plan.second_services())
    published = {p["target"]: p["published"] for p in stack["services"]["toxiproxy"]["ports"]}
    monitor_args = stack["services"]["monitor"]["environment"]["POWERPEG_ARGS"]
    assert ({plan.compose.ports.router(f"router-{i}") for i in (1, 2, 3)},
            f"http://toxiproxy:{SLOT_PROXY_BASE + 2}" in monitor_args, "http://router-2:" in monitor_args) == (
        {published[SLOT_PROXY_BASE + i] for i in (1, 2, 3)}, True, False)


def test_placement_constrains_the_named_kind() -> None:
    """topology.placement's constraint lands on that kind's service and no other."""
    plan = _plan(placement={"routers": "node.labels.zone==a"})
    services = plan.stack_file(["exchange", ROUTERS_SERVICE])["services"]
    assert ([["node.labels.zone==a"]], None) == (
        [services[ROUTERS_SERVICE]["deploy"]["placement"]["constraints"]],
        services["exchange"]["deploy"].get("placement"))


def test_slot_tasks_read_image_address_and_container() -> None:
    """A task's image without digest, its address on the stack network (not ingress), its container."""
    (task,) = slot_tasks([_task("a", 2, "running")], "pp-r-1_default")
    assert ("router-2", "v1", "10.0.1.5", "ca") == (task.router_id, task.version, task.address, task.container)


def test_serving_prefers_the_newer_running_task_of_a_slot() -> None:
    """During a start-first update the newer task that passed its gate serves; a starting or shut-down one does not."""
    tasks = slot_tasks([_task("old", 1, "running", desired="shutdown", created="1"),
                        _task("new", 1, "running", image="powerpeg-router:v2", created="2"),
                        _task("gate", 2, "starting", image="powerpeg-router:v2", created="3"),
                        _task("two", 2, "running", created="0")], "pp-r-1_default")
    current = serving(tasks)
    assert {1: "new", 2: "two"} == {slot: t.id for slot, t in current.items()}


V1, V2 = "powerpeg-router:v1", "powerpeg-router:v2"


def _slot(tid, slot, state, image, desired="running", container="") -> SlotTask:
    return SlotTask(id=tid, slot=slot, image=image, state=state, desired=desired, address=f"10.0.1.{slot}",
                    container=container or "c" + tid, node="n1", created=tid)


class _Swarm(Slots):
    """Slots over a scripted Swarm: the update's first two new tasks pass their gate at once; the third
    starts while the harness re-points a proxy, and a re-point is slow (a dial to a removed task)."""

    def __init__(self, *, pauses_on_kill: bool = True) -> None:
        super().__init__("pp-r-1_routers", "pp-r-1_default", "http://127.0.0.1:1", 3)
        self.listed = [_slot(f"old{i}", i, "running", V1) for i in (1, 2, 3)]
        self.state, self.pauses_on_kill = "", pauses_on_kill
        self.killed: list[str] = []
        self.pointing = 0
        self.killed_while_pointing: bool | None = None

    def tasks(self) -> list[SlotTask]:
        return list(self.listed)

    def update_status(self) -> dict:
        return {"State": self.state, "Message": "scripted"}

    def start_update(self) -> None:
        self.state = "updating"
        self.listed = [_slot("old1", 1, "running", V1), _slot("old2", 2, "shutdown", V1, desired="shutdown"),
                       _slot("old3", 3, "shutdown", V1, desired="shutdown"),
                       _slot("new2", 2, "running", V2), _slot("new3", 3, "running", V2)]

    async def point(self, session, tasks=None) -> dict:
        self.pointing += 1
        try:
            if not any(t.id == "new1" for t in self.listed):
                self.listed.append(_slot("new1", 1, "starting", V2))  # Swarm goes on meanwhile
            for _ in range(100):  # up to 1 s, or until the kill
                if self.killed:
                    break
                await asyncio.sleep(0.01)
        finally:
            self.pointing -= 1
        return serving(tasks if tasks is not None else self.listed)

    def fail_gate(self, task: SlotTask) -> dict:
        self.killed.append(task.id)
        self.killed_while_pointing = self.pointing > 0
        if self.pauses_on_kill:
            self.listed = [t if t.id != task.id else _slot(t.id, t.slot, "failed", V2, desired="shutdown")
                           for t in self.listed]
            self.state = "paused"
        else:  # it had passed its gate already: Swarm keeps it and finishes the update
            self.listed = [t if t.id != task.id else _slot(t.id, t.slot, "running", V2) for t in self.listed]
            self.state = "completed"
        return {"task": task.id, "router": task.router_id}


def _script(monkeypatch, swarm: _Swarm) -> None:
    async def docker_cli(*args, **_kw) -> str:
        assert ("service", "update") == args[:2]
        swarm.start_update()
        return ""

    monkeypatch.setattr(sw_engine, "docker_cli", docker_cli)
    monkeypatch.setattr(slots_module, "_fail_gate", swarm.fail_gate)


async def test_the_gate_failure_does_not_wait_for_a_slow_proxy_repoint(monkeypatch) -> None:
    """The task after stop_after is killed while a re-point still waits; Swarm pauses, its slot stays on v1."""
    swarm = _Swarm()
    _script(monkeypatch, swarm)
    rollout = await swarm.roll(None, V2, 2, structlog.get_logger())
    assert (["new1"], True, "paused", ["router-2", "router-3", "router-1"], {"router-1": "v1", "router-2": "v2",
                                                                            "router-3": "v2"}) == (
        swarm.killed, swarm.killed_while_pointing, rollout["update_state"], rollout["order"],
        {rid: t["version"] for rid, t in rollout["tasks"].items()})


async def test_a_rollout_that_completes_instead_of_pausing_is_an_error(monkeypatch) -> None:
    """The gate failure came too late and Swarm finished the update: a FleetError saying so, not a quiet 3/3."""
    swarm = _Swarm(pauses_on_kill=False)
    _script(monkeypatch, swarm)
    with pytest.raises(FleetError, match="completed instead of pausing after 2 of 3 tasks"):
        await swarm.roll(None, V2, 2, structlog.get_logger())
