"""Images through a registry on a multi-node swarm: the decision, the names in the stack file, the
record `down`/`cleanup` read, and the push (with a fake CLI). No engine; the real push is tests/swarm."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose.env import ComposePlan, HostPorts
from powerpeg.harness.backends.swarm import registry as rg
from powerpeg.harness.backends.swarm.backend import SwarmRecord
from powerpeg.harness.backends.swarm.stack import ROUTERS_SERVICE, StackPlan


def _plan(registry: str | None, **spec_kw: Any) -> StackPlan:
    spec = FleetSpec(routers=2, **spec_kw)
    return StackPlan(ComposePlan(run_id="r-1", home="/h", token="t", spec=spec,
                                 ports=HostPorts.allocate(spec.router_ids())), registry=registry)


class _Engine:
    """engine.info() as the Docker SDK returns it, nothing else."""

    def __init__(self, swarm: dict[str, Any]) -> None:
        self._swarm = swarm

    def info(self) -> dict[str, Any]:
        return {"Swarm": self._swarm}


def test_one_node_without_a_registry_changes_nothing() -> None:
    """One node, POWERPEG_REGISTRY unset or empty: local images, `--resolve-image never`."""
    choices = [rg.decide(1, None), rg.decide(1, "")]
    assert [(None, False, "never")] * 2 == [(c.address, c.start, c.resolve_image) for c in choices]


def test_several_nodes_without_a_registry_start_one() -> None:
    """Several nodes and none configured: the backend starts docker-registry (address known later)."""
    choice = rg.decide(3, None)
    assert (None, True) == (choice.address, choice.start)


@pytest.mark.parametrize("nodes", [1, 4])
def test_a_configured_registry_is_only_pushed_to(nodes: int) -> None:
    """POWERPEG_REGISTRY=host:port: that registry on any node count, nothing started, digests resolved."""
    choice = rg.decide(nodes, "10.0.0.5:5000")
    assert ("10.0.0.5:5000", False, "always") == (choice.address, choice.start, choice.resolve_image)


@pytest.mark.parametrize("value,says", [("http://10.0.0.5:5000", "host:port"), ("registry", "host:port"),
                                        ("reg:5000/path", "host:port"), ("reg:70000", "outside 1-65535")])
def test_a_bad_registry_names_the_variable_and_the_problem(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=rg.REGISTRY_ENV) as err:
        rg.decide(2, value)
    assert says in str(err.value)


def test_a_swarm_has_at_least_one_node() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        rg.decide(0, None)


def test_node_count_from_the_engine() -> None:
    """An engine in no swarm counts as one node (powerpeg makes a one-node swarm); else Swarm.Nodes."""
    counts = [rg.node_count(_Engine({"LocalNodeState": "inactive"})),
              rg.node_count(_Engine({"LocalNodeState": "active", "Nodes": 3, "NodeAddr": "10.0.0.5"}))]
    assert [1, 3] == counts


def test_only_powerpeg_images_are_qualified() -> None:
    assert (["reg:5000/powerpeg-router:v1", "other:1", "powerpeg-router:v1"]
            == [rg.qualify("powerpeg-router:v1", "reg:5000"), rg.qualify("other:1", "reg:5000"),
                rg.qualify("powerpeg-router:v1", None)])


def test_the_stack_file_names_images_through_the_registry() -> None:
    """With a registry every service runs <registry>/powerpeg-…; without, the names `make images` tags."""
    services = ["exchange", "alerts", "toxiproxy", "monitor", "router-1", "router-2"]
    through = {s["image"] for s in _plan("10.0.0.5:5000").stack_file(services)["services"].values()}
    local = {s["image"] for s in _plan(None).stack_file(services)["services"].values()}
    assert ({"10.0.0.5:5000/powerpeg-targets:latest", "10.0.0.5:5000/powerpeg-toxiproxy:latest",
             "10.0.0.5:5000/powerpeg-router:v2"},
            {"powerpeg-targets:latest", "powerpeg-toxiproxy:latest", "powerpeg-router:v2"}) == (through, local)


def test_the_replicated_routers_service_runs_the_registry_image() -> None:
    plan = _plan("reg:5000", version="v1")
    plan.compose.spec.replicated_routers = True
    assert "reg:5000/powerpeg-router:v1" == plan.stack_file([ROUTERS_SERVICE])["services"][ROUTERS_SERVICE]["image"]


def test_the_plan_lists_the_images_to_push() -> None:
    assert ["powerpeg-targets:latest", "powerpeg-router:v2", "powerpeg-toxiproxy:latest"] == _plan("r:1").images()


def test_the_record_keeps_the_registry_and_its_process(tmp_path: Path) -> None:
    """swarm.json round-trips the registry and the process down/cleanup stop; an older file loads too."""
    process = rg.RegistryProcess("10.0.0.5:40001", 4242, "/h/runs/r-1/registry/config.yml")
    record = SwarmRecord("pp-r-1", HostPorts.allocate(["router-1"]), registry="10.0.0.5:40001",
                         registry_process=process)
    record.save(tmp_path / "swarm.json")
    back = SwarmRecord.load(tmp_path / "swarm.json")
    old = tmp_path / "old.json"  # written before registries: no such keys
    old.write_text(json.dumps({"stack": "pp-r", "ports": record.ports.to_json(), "initialised": False,
                               "gwbridge_created": False}))
    loaded = SwarmRecord.load(old)
    assert (("10.0.0.5:40001", process), ("", None)) == ((back.registry, back.registry_process),
                                                         (loaded.registry, loaded.registry_process))


def test_a_reused_pid_is_never_taken_for_the_registry() -> None:
    """alive() needs the config path in the pid's command line: this test's own pid is not the registry."""
    assert (False, False) == (rg.RegistryProcess("a:1", os.getpid(), "/no/such/config.yml").alive(),
                              rg.RegistryProcess("a:1", 2**22 + 7, "/x.yml").alive())


def test_push_tags_and_pushes_powerpeg_images_only() -> None:
    calls: list[tuple[str, ...]] = []

    async def cli(*args: str, timeout: float = 0.0) -> str:
        calls.append(args)
        return ""

    pushed = asyncio.run(rg.push(["powerpeg-router:v1", "busybox:latest"], "127.0.0.1:5000", cli))
    assert (["127.0.0.1:5000/powerpeg-router:v1"],
            [("tag", "powerpeg-router:v1", "127.0.0.1:5000/powerpeg-router:v1"),
             ("push", "127.0.0.1:5000/powerpeg-router:v1")]) == (pushed, calls)


def test_start_without_the_binary_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="apt-get install docker-registry.*POWERPEG_REGISTRY"):
        asyncio.run(rg.start(tmp_path, "127.0.0.1", 5999, binary=str(tmp_path / "absent")))
