"""Real Locust against a real 2-router fleet: where parents go, what the
parents log holds, Locust's stats, the rlp schedule around the open, and
that nothing is left running."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import structlog

from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.load import LoadConfig, LoadRunner, config_for_fleet
from powerpeg.harness.load.runner import locust_processes
from powerpeg.harness.topology import Topology
from tests.integration.fleetkit import Http

pytestmark = pytest.mark.timeout(90)

OPEN_AFTER_S = 2.5  # Locust takes ~1 s to start: this leaves parents on both sides of the open
AFTER_OPEN_S = 1.5


@dataclass
class Finished:
    topology: Topology
    config: LoadConfig
    runner: LoadRunner


@pytest.fixture(scope="module")
def finished(fleet_factory, tmp_path_factory) -> Finished:
    """One load run: 4 brokers, 2 routers, the market opening mid-run; then stopped."""
    topology = fleet_factory(routers=2)
    out = tmp_path_factory.mktemp("load")
    load = Load(users=4, spawn_rate=20, wait="100ms",
                mix=LoadMix(rlp_share_before_open=0.0, rlp_share_after_open=0.5, market_share=0.5))
    open_at_ns = time.time_ns() + int(OPEN_AFTER_S * 1e9)
    config = asyncio.run(config_for_fleet(load, topology, symbol_count=5, open_at_ns=open_at_ns, seed=7,
                                          duration_s=10, out_dir=out))
    runner = LoadRunner(config, out, structlog.get_logger())

    async def drive() -> None:
        try:
            await runner.start()
            await asyncio.sleep(max(0.0, (open_at_ns - time.time_ns()) / 1e9) + AFTER_OPEN_S)
        finally:
            await runner.stop()

    asyncio.run(drive())
    return Finished(topology, config, runner)


def test_parents_spread_evenly_over_the_routers(finished):
    """Each router gets within 40% of the mean number of parents."""
    counts = Counter(p["router"] for p in finished.runner.parents())
    mean = sum(counts.values()) / 2
    assert {"router-1": True, "router-2": True} == {r: abs(counts[r] - mean) <= 0.4 * mean for r in counts}


async def test_parents_log_matches_what_the_routers_accepted(finished):
    """Every logged parent exists on its router with the same symbol, side, qty and rlp flag."""
    parents = finished.runner.parents()
    assert parents, "the load sent no parent"
    async with Http(finished.topology) as http:
        seen = {}
        for p in parents:
            body = await http.get(f"{finished.topology.router(p['router']).orders}/{p['parent_id']}")
            seen[p["parent_id"]] = (body["symbol"], body["side"], body["qty"], body["rlp"])
    assert {p["parent_id"]: (p["symbol"], p["side"], p["qty"], p["rlp"]) for p in parents} == seen


async def test_parents_log_misses_no_accepted_parent(finished):
    """Per router the logged ids are 1..N with no gap, and the router has no parent N+1."""
    parents = finished.runner.parents()
    by_router: dict[str, list[int]] = {}
    for p in parents:
        by_router.setdefault(p["router"], []).append(int(p["parent_id"].rsplit("-", 1)[1]))
    async with Http(finished.topology) as http:
        beyond = {}
        for router, numbers in by_router.items():
            next_parent = f"{router}-{max(numbers) + 1:06d}"
            status, _ = await http.call("GET", f"{finished.topology.router(router).orders}/{next_parent}")
            beyond[router] = (sorted(numbers) == list(range(1, len(numbers) + 1)), status)
    assert {"router-1": (True, 404), "router-2": (True, 404)} == beyond


def test_stats_count_every_parent(finished):
    """Locust's final stats count as successes exactly the parents logged, with no failure."""
    stats = finished.runner.stats()
    assert (len(finished.runner.parents()), 0) == (stats.requests - stats.failures, stats.failures)


def test_stats_have_latency_and_rate(finished):
    """The stats carry a request rate and ordered, positive latency percentiles."""
    stats = finished.runner.stats()
    assert (True, True) == (stats.rps > 0, 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms)


def test_no_rlp_parent_before_the_open(finished):
    """With rlp_share_before_open 0, no parent sent before the open is rlp-flagged."""
    before = [p["rlp"] for p in finished.runner.parents() if p["ts_ns"] < finished.config.open_at_ns]
    assert (True, []) == (len(before) >= 5, [rlp for rlp in before if rlp])


def test_rlp_mix_after_the_open(finished):
    """With rlp_share_after_open 0.5, parents after the open are both flagged and unflagged."""
    after = {p["rlp"] for p in finished.runner.parents() if p["ts_ns"] >= finished.config.open_at_ns}
    assert {False, True} == after


def test_stop_leaves_no_locust_process(finished):
    """After stop() no process of the run id runs Locust."""
    assert [] == locust_processes(finished.topology.run_id)


async def test_stop_is_idempotent(finished):
    """A second stop() does nothing and leaves nothing running."""
    await finished.runner.stop()
    assert (False, []) == (finished.runner.running(), locust_processes(finished.topology.run_id))


async def test_locust_stops_by_itself_at_its_run_time_bound(fleet_factory, finished, tmp_path):
    """Without stop(), Locust quits on its own once the run-time bound is over."""
    load = Load(users=1, spawn_rate=10, wait="200ms")
    config = await config_for_fleet(load, finished.topology, symbol_count=2, open_at_ns=0, seed=1,
                                    duration_s=1, out_dir=tmp_path, run_time_margin_s=0)
    runner = LoadRunner(config, tmp_path, structlog.get_logger())
    try:
        await runner.start()
        deadline = time.monotonic() + 15
        while runner.running() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ended_alone = not runner.running()
    finally:
        await runner.stop()
    assert (True, True) == (ended_alone, runner.stats().requests > 0)


async def test_run_id_scan_finds_the_running_locust(finished, tmp_path):
    """While the load runs, scanning /proc for the run id finds exactly the Locust processes started."""
    load = Load(users=1, spawn_rate=10, wait="200ms", workers=1)
    config = await config_for_fleet(load, finished.topology, symbol_count=2, open_at_ns=0, seed=1,
                                    duration_s=5, out_dir=tmp_path)
    runner = LoadRunner(config, tmp_path, structlog.get_logger())
    try:
        await runner.start()
        found = sorted(locust_processes(finished.topology.run_id))
    finally:
        await runner.stop()
    assert sorted(p.popen.pid for p in runner.procs) == found


async def test_each_broker_stops_at_its_parent_bound(finished, tmp_path):
    """Two brokers bounded at 3 parents each send exactly 6 parents, however long Locust runs."""
    load = Load(users=2, spawn_rate=20, wait="0ms")
    config = await config_for_fleet(load, finished.topology, symbol_count=2, open_at_ns=0, seed=1,
                                    duration_s=5, out_dir=tmp_path)
    runner = LoadRunner(config.model_copy(update={"max_parents_per_user": 3}), tmp_path, structlog.get_logger())
    try:
        await runner.start()
        await asyncio.sleep(1.0)
    finally:
        await runner.stop()
    assert 6 == len(runner.parents())
