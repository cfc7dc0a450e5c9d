"""A task another node runs (a router placed on a worker): its container is not visible to this engine, so
its state comes from Swarm's task list (harness/backends/swarm/backend.py, _running_elsewhere). Found with a
second engine joined as a worker: every router on it read "not running" and the steady state failed."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.backends.swarm.backend import SwarmBackend
from powerpeg.harness.context import RunContext

HERE, THERE = "node-manager", "node-worker"


class FakeApi:
    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self._tasks = tasks
        self.asked: list[dict[str, Any]] = []

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.asked.append(filters)
        return [t for t in self._tasks if t["service"] == filters["service"]]


class FakeEngine:
    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.api = FakeApi(tasks)

    def info(self) -> dict[str, Any]:
        return {"Swarm": {"NodeID": HERE}}


def task(service: str, node: str, state: str = "running", slot: int | None = None) -> dict[str, Any]:
    return {"service": service, "NodeID": node, "Status": {"State": state}, "Slot": slot}


@pytest.fixture
def backend(tmp_path: Path) -> SwarmBackend:
    return SwarmBackend(RunContext.create(home=tmp_path, run_id="run-1"))


def test_a_task_running_on_another_node_counts_as_running(backend: SwarmBackend) -> None:
    """One service per component: a running task elsewhere is running; one here is for the local check; a
    failed one elsewhere is not."""
    backend._replicated = False
    engine = FakeEngine([task("pp-run-1_router-1", THERE), task("pp-run-1_router-2", HERE),
                         task("pp-run-1_router-3", THERE, state="failed")])
    assert (True, False, False) == tuple(backend._running_elsewhere(engine, r)
                                         for r in ("router-1", "router-2", "router-3"))
    assert {"service": "pp-run-1_router-1", "desired-state": "running"} == engine.api.asked[0]


def test_a_replicated_router_is_its_slot_of_the_routers_service(backend: SwarmBackend) -> None:
    """Replicated routers: router-N is slot N of the one routers service, wherever it runs."""
    backend._replicated = True
    engine = FakeEngine([task("pp-run-1_routers", THERE, slot=1), task("pp-run-1_routers", THERE, state="starting",
                                                                       slot=2)])
    assert (True, False, False) == tuple(backend._running_elsewhere(engine, r)
                                         for r in ("router-1", "router-2", "router-3"))
