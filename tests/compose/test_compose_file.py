"""compose/docker-compose.yml and the mapping of a FleetSpec onto it (no engine needed)."""
from __future__ import annotations

import json

import yaml

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose.env import COMPOSE_FILE, ComposePlan, HostPorts, project_name

SERVICES = {"exchange", "monitor", "alerts", "toxiproxy", "locust-master", "locust-worker",
            *(f"router-{i}" for i in range(1, 9))}


def _file() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _plan(**spec) -> ComposePlan:
    fleet = FleetSpec(**{"routers": 2, **spec})
    return ComposePlan("Run.1", "/home", "tok", fleet, HostPorts.allocate(fleet.router_ids()))


def test_file_is_compose_spec_without_version_key() -> None:
    """The file has no `version:` key (Compose spec)."""
    assert "version" not in _file()


def test_file_has_every_service() -> None:
    """exchange, router-1..8, monitor, alerts, toxiproxy, locust-master/worker are services."""
    assert SERVICES == set(_file()["services"])


def test_locust_services_are_under_the_load_profile() -> None:
    """Only the Locust services belong to a profile, and it is `load`."""
    profiles = {name: svc.get("profiles") for name, svc in _file()["services"].items() if svc.get("profiles")}
    assert {"locust-master": ["load"], "locust-worker": ["load"]} == profiles


def test_every_service_has_a_healthcheck() -> None:
    """Each service declares a healthcheck test."""
    assert [] == [name for name, svc in _file()["services"].items() if not svc.get("healthcheck", {}).get("test")]


def test_published_ports_bind_loopback_only() -> None:
    """Every published port starts with 127.0.0.1."""
    ports = [p for svc in _file()["services"].values() for p in svc.get("ports", [])]
    assert [] == [p for p in ports if not p.startswith("127.0.0.1:")]


def test_containers_networks_and_volumes_carry_the_run_label() -> None:
    """powerpeg.run_id labels every service, the network and the volume."""
    data = _file()
    labelled = [svc["labels"] for svc in data["services"].values()]
    labelled += [net["labels"] for net in data["networks"].values()] + [v["labels"] for v in data["volumes"].values()]
    assert [] == [labels for labels in labelled if "powerpeg.run_id" not in labels]


def test_project_name_is_derived_from_the_run_id() -> None:
    """Upper case and dots become a valid compose project name."""
    assert "powerpeg-knight_12-3-x" == project_name("Knight_12.3-x")


def test_routers_dial_the_exchange_through_their_proxy() -> None:
    """With toxiproxy, router-2's --exchange is its proxy in the toxiproxy container."""
    args = json.loads(_plan().environment()["PP_ROUTER_2_ARGS"])
    assert "toxiproxy:20002" == args[args.index("--exchange") + 1]


def test_routers_dial_the_exchange_directly_without_toxiproxy() -> None:
    """Without toxiproxy, routers dial the exchange service."""
    args = json.loads(_plan(toxiproxy=False).environment()["PP_ROUTER_1_ARGS"])
    assert "exchange:9878" == args[args.index("--exchange") + 1]


def test_router_version_selects_the_image_tag() -> None:
    """A per-router version is that router's image tag variable."""
    env = _plan(version="v2", versions={"router-1": "v1"}).environment()
    assert ("v1", "v2") == (env["PP_ROUTER_1_VERSION"], env["PP_ROUTER_2_VERSION"])


def test_topology_endpoints_are_on_loopback() -> None:
    """Every URL of the topology points at 127.0.0.1."""
    topology = _plan().topology("/state", {})
    urls = [*topology.admin_urls().values(), topology.exchange.fix, topology.exchange.dropcopy,
            topology.toxiproxy.api, *(r.orders for r in topology.routers)]
    assert [] == [u for u in urls if "127.0.0.1:" not in u]


def test_topology_names_the_toxiproxy_proxies_like_local() -> None:
    """Proxies are router-N->exchange, exchange->monitor and ->alerts."""
    names = [p.name for p in _plan().topology("/state", {}).toxiproxy.proxies]
    assert ["router-1->exchange", "router-2->exchange", "exchange->monitor", "->alerts"] == names


def test_the_load_profile_gets_every_variable_it_reads_and_routers_by_service_name(tmp_path) -> None:
    """Every ${PP_LOAD_*} the Locust services read is set by the compose load runner, and the
    containers' config reaches each router by its service name, not a host port."""
    import re

    import structlog

    from powerpeg.harness.backends.compose.load import ComposeLoadRunner
    from tests.unit.harness.load.test_config import build

    services = _file()["services"]
    read = {m for name in ("locust-master", "locust-worker")
            for m in re.findall(r"\$\{(PP_LOAD_[A-Z_]+)", json.dumps(services[name]))}
    config = build(tmp_path, workers=2, users=4)
    runner = ComposeLoadRunner(config, tmp_path, structlog.get_logger(), project="p", file=str(COMPOSE_FILE),
                               env={"POWERPEG_RUN_ID": "run-1"}, run_id="run-1")
    env = runner.compose_env()
    assert (set(), "2", "4") == (read - set(env), env["PP_LOAD_WORKERS"], env["PP_LOAD_USERS"])
    assert [f"http://{r.id}:8080/orders" for r in config.routers] == [r.orders for r in runner.config.routers]


def test_fix_credentials_reach_each_container_through_its_environment() -> None:
    """The exchange's table and each client's password go through the environment (never argv): the file
    maps PP_FIX_CREDENTIALS / PP_*_FIX_PASSWORD onto POWERPEG_FIX_CREDENTIALS / POWERPEG_FIX_PASSWORD, and
    each client's password is the one the exchange's table holds for its CompID."""
    plan, services = _plan(fix_clients=["MYENGINE"]), _file()["services"]
    env = plan.environment()
    table = json.loads(env["PP_FIX_CREDENTIALS"])
    wiring = {name: services[name]["environment"].get(key) for name, key in (
        ("exchange", "POWERPEG_FIX_CREDENTIALS"), ("monitor", "POWERPEG_FIX_PASSWORD"),
        *((f"router-{i}", "POWERPEG_FIX_PASSWORD") for i in range(1, 9)))}
    assert {"exchange": "${PP_FIX_CREDENTIALS:-}", "monitor": "${PP_MONITOR_FIX_PASSWORD:-}",
            **{f"router-{i}": f"${{PP_ROUTER_{i}_FIX_PASSWORD:-}}" for i in range(1, 9)}} == wiring
    assert (["ROUTER-1", "ROUTER-2", "KNIGHT", "MYENGINE"], {"KNIGHT": ["KNIGHT"]}) == (
        list(table["passwords"]), table["drop_copy"])
    assert (table["passwords"]["ROUTER-2"], table["passwords"]["KNIGHT"]) == (
        env["PP_ROUTER_2_FIX_PASSWORD"], env["PP_MONITOR_FIX_PASSWORD"])
    assert not any(table["passwords"]["ROUTER-1"] in a for a in json.loads(env["PP_ROUTER_1_ARGS"]))
