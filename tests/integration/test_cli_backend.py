"""The backend API behind the CLI, on real fleets from the conftest fixtures."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def post_json(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """predicate()'s first truthy value, or its last value when time runs out (bounded poll)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def test_routers_log_on_to_the_exchange_through_their_proxies(fleet):
    """Each router's FIX session is up, via its own toxiproxy proxy."""
    def logged_on():
        return all(get_json(r.admin + "/health")["fix"] == "logged_on" for r in fleet.routers)
    proxies = get_json(fleet.toxiproxy.api + "/proxies")
    assert (True, [r.exchange_via for r in fleet.routers]) == (
        wait_for(logged_on), [proxies[f"{r.id}->exchange"]["listen"] for r in fleet.routers])


def test_a_parent_order_fills_end_to_end(fleet):
    """A market parent sent to a router fills at the exchange and lands in the journal."""
    symbol = get_json(fleet.exchange.admin + "/symbols")[0]["symbol"]
    status, body = post_json(fleet.routers[0].orders, {"symbol": symbol, "side": "buy", "qty": 200,
                                                       "client_order_id": "it-1"}, fleet.token)
    parent = body["parent_id"]
    view = wait_for(lambda: (v := get_json(f"{fleet.routers[0].orders}/{parent}"))["state"] != "working" and v)
    journal = wait_for(lambda: [json.loads(line) for line in Path(fleet.journal).read_text().splitlines()
                                if parent in line and '"fill"' in line])
    assert (202, "filled", 200) == (status, view["state"], view["filled_qty"])
    assert 200 == sum(rec["exec_qty"] for rec in journal)


def test_fleet_factory_sets_router_versions(fleet_factory):
    """versions={"router-2": "v1"}: router-2 runs v1, router-1 the default v2."""
    topology = fleet_factory(routers=2, versions={"router-2": "v1"}, toxiproxy=False)
    versions = [get_json(r.admin + "/health")["version"] for r in topology.routers]
    assert (["v2", "v1"], ["v2", "v1"], None) == (versions, [r.version for r in topology.routers],
                                                  topology.toxiproxy)


def test_deploy_moves_a_router_to_another_version(fleet_factory):
    """deploy(router-1, v1) restarts it on v1 at the same address."""
    topology = fleet_factory(routers=1, toxiproxy=False)
    backend = fleet_factory.backend(topology)
    asyncio.run(backend.deploy("router-1", "v1"))
    health = get_json(topology.routers[0].admin + "/health")
    assert ("v1", "v1") == (health["version"], backend.topology().routers[0].version)


def test_demo_runs_a_burst_and_tears_down(tmp_path):
    """`powerpeg demo --burst` stands up, trades, reports per router, tears down, exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERPEG_")}
    env["POWERPEG_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "demo", "--burst", "--routers", "2",
                             "--parents", "6"], env=env, capture_output=True, text=True, timeout=90)
    assert (0, True, True, []) == (result.returncode, "per router:" in result.stdout,
                                   "firm KNIGHT" in result.stdout, list((tmp_path / "runs").iterdir())), result.stderr
