"""The stack file the swarm backend deploys, from compose/docker-compose.yml (no engine)."""
from __future__ import annotations

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose.env import ComposePlan, HostPorts
from powerpeg.harness.backends.swarm.stack import SECRET_KEY, TOKEN_FILE, StackPlan, secret_name, stack_name


def _plan() -> StackPlan:
    spec = FleetSpec(routers=2)
    return StackPlan(ComposePlan(run_id="r-1", home="/h", token="sekrit", spec=spec,
                                 ports=HostPorts.allocate(spec.router_ids())))


def test_every_port_is_published_in_host_mode() -> None:
    """Ports use Swarm's long syntax with mode host (ingress would publish on every interface)."""
    stack = _plan().stack_file(["exchange", "router-1"])
    modes = {p["mode"] for s in stack["services"].values() for p in s["ports"]}
    assert {"host"} == modes


def test_the_token_is_a_secret_never_an_environment_variable() -> None:
    """No service's environment holds the token; each reads it from the secret's file."""
    plan = _plan()
    stack = plan.stack_file(["exchange", "monitor", "router-2"])
    text = repr(stack)
    assert (False, {TOKEN_FILE}, {"external": True, "name": secret_name("r-1")}) == (
        "sekrit" in text, {s["environment"]["POWERPEG_TOKEN_FILE"] for s in stack["services"].values()},
        stack["secrets"][SECRET_KEY])


def test_services_networks_and_volumes_carry_the_run_label() -> None:
    """Service (deploy) labels, container labels, the network and the journal volume carry the run id."""
    stack = _plan().stack_file(["exchange", "alerts"])
    labelled = ([s["deploy"]["labels"] for s in stack["services"].values()]
                + [s["labels"] for s in stack["services"].values()]
                + [stack["networks"]["default"]["labels"], stack["volumes"]["journal"]["labels"]])
    assert {"r-1"} == {labels["powerpeg.run_id"] for labels in labelled}


def test_load_profile_services_are_not_deployed() -> None:
    """Only the services asked for are in the stack (never Locust's profile)."""
    assert ["alerts", "exchange"] == list(_plan().stack_file(["alerts", "exchange"])["services"])


def test_stack_names_are_what_docker_stack_accepts() -> None:
    """A run id becomes a stack name of [a-z0-9_-]."""
    assert "pp-20261202-000047-abc" == stack_name("20261202-000047-ABC")
