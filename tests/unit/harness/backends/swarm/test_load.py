"""Locust as Swarm services (harness/backends/swarm/load.py): the stack file and the brokers' URLs, no engine."""
from __future__ import annotations

from pathlib import Path

from powerpeg.harness.backends.swarm.load import load_stack, load_stack_file, swarm_routers
from powerpeg.harness.experiment.model import Load
from powerpeg.harness.load.config import LoadConfig, RouterTarget, SymbolRef

ENV = {"POWERPEG_RUN_ID": "run-1", "POWERPEG_HOME_LABEL": "/h", "PP_LOAD_DIR": "/out/load",
       "PP_LOAD_CONFIG": "/out/load/load.json", "PP_LOAD_WORKERS": "3", "PP_LOAD_USERS": "12"}
LABELS = {"powerpeg.run_id": "run-1", "powerpeg.home": "/h"}


def stack() -> dict:
    return load_stack_file(ENV, fleet_stack="pp-run-1", workers=3, node_id="NODE1", labels=LABELS)


def config() -> LoadConfig:
    return LoadConfig.build(Load(users=4, workers=2), run_id="run-1",
                            routers=[RouterTarget(id="router-1", orders="http://127.0.0.1:1/orders"),
                                     RouterTarget(id="router-2", orders="http://127.0.0.1:2/orders")],
                            token="t", universe=[SymbolRef(symbol="AAA", ref_price=10.0)], symbol_count=1,
                            open_at_ns=1, seed=1, duration_s=5, out_dir=Path("/out/load"))


def test_workers_are_one_replicated_service_and_the_master_one_task() -> None:
    """--load-workers N: the worker service has N replicas, the master one, neither is restarted forever."""
    services = stack()["services"]
    deploy = {name: svc["deploy"] for name, svc in services.items()}
    master, worker = deploy["locust-master"], deploy["locust-worker"]
    assert ((1, 3), "none", "on-failure", 10) == (
        (master["replicas"], worker["replicas"]), master["restart_policy"]["condition"],
        worker["restart_policy"]["condition"], worker["restart_policy"]["max_attempts"])


def test_workers_dial_the_master_by_its_full_service_name_on_the_fleets_network() -> None:
    """The short name belongs to the load stack; the fleet's overlay is joined as an external network."""
    data = stack()
    command = data["services"]["locust-worker"]["command"]
    assert ("pp-run-1-load_locust-master", {"external": True, "name": "pp-run-1_default"}, ["fleet"]) == (
        command[command.index("--master-host") + 1], data["networks"]["fleet"],
        data["services"]["locust-master"]["networks"])


def test_every_task_is_pinned_to_this_node_and_labelled_with_the_run() -> None:
    """The load directory is on the harness's host: master and workers run there; the run's labels on all."""
    services = stack()["services"]
    assert all(svc["deploy"]["placement"]["constraints"] == ["node.id == NODE1"] for svc in services.values())
    assert all(svc["labels"]["powerpeg.run_id"] == "run-1" == svc["deploy"]["labels"]["powerpeg.run_id"]
               for svc in services.values())


def test_the_load_directory_is_bind_mounted_at_the_same_path() -> None:
    """Config, control file and parents are where the harness reads them."""
    svc = stack()["services"]["locust-master"]
    assert (["/out/load:/out/load"], "/out/load/load.json") == (
        svc["volumes"], svc["environment"]["POWERPEG_LOAD_CONFIG"])


def test_brokers_reach_routers_by_service_name_or_through_the_slot_proxy() -> None:
    """One service per router: router-N:8080; replicated routers: the slot's Toxiproxy proxy."""
    own = [r.orders for r in swarm_routers(config(), replicated=False).routers]
    slots = [r.orders for r in swarm_routers(config(), replicated=True).routers]
    assert (["http://router-1:8080/orders", "http://router-2:8080/orders"],
            ["http://toxiproxy:20201/orders", "http://toxiproxy:20202/orders"], "pp-x-load") == (
        own, slots, load_stack("pp-x"))
