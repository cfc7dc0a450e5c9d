"""Real Locust against a real fleet: the control file steering the rlp share
live, and master + worker mode."""
from __future__ import annotations

import asyncio
import csv
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.load import LoadRunner, config_for_fleet
from powerpeg.harness.load.runner import locust_processes
from powerpeg.harness.topology import Topology
from tests.integration.fleetkit import Http

pytestmark = pytest.mark.timeout(90)

# the poll interval (100 ms) plus one pacing wait and a margin for a loaded machine
SETTLE_NS = 300_000_000


@dataclass
class Steered:
    runner: LoadRunner
    pinned_at: int
    unpinned_at: int


@pytest.fixture(scope="module")
def topology(fleet_factory) -> Topology:
    return fleet_factory(routers=2)


@pytest.fixture(scope="module")
def steered(topology, tmp_path_factory) -> Steered:
    """A load past the open with rlp share 0, pinned to 1 for a second, then unpinned."""
    out = tmp_path_factory.mktemp("load-control")
    load = Load(users=3, spawn_rate=20, wait="100ms", mix=LoadMix(rlp_share_before_open=0, rlp_share_after_open=0))
    config = asyncio.run(config_for_fleet(load, topology, symbol_count=3, open_at_ns=0, seed=3, duration_s=10,
                                          out_dir=out))
    runner = LoadRunner(config, out, structlog.get_logger())
    marks: dict[str, int] = {}

    async def drive() -> None:
        try:
            await runner.start()
            await asyncio.sleep(1.0)
            runner.control.set_rlp_share(1.0)
            marks["pinned"] = time.time_ns()
            await asyncio.sleep(1.0)
            runner.control.set_rlp_share(None)
            marks["unpinned"] = time.time_ns()
            await asyncio.sleep(1.0)
        finally:
            await runner.stop()

    asyncio.run(drive())
    return Steered(runner, marks["pinned"], marks["unpinned"])


def rlp_flags(steered: Steered, start_ns: int, end_ns: int) -> list[bool]:
    return [p["rlp"] for p in steered.runner.parents() if start_ns <= p["ts_ns"] < end_ns]


def test_nothing_is_flagged_before_the_override(steered):
    """Following the schedule (share 0 after the open), no parent is rlp-flagged."""
    flags = rlp_flags(steered, 0, steered.pinned_at)
    assert (True, {False}) == (len(flags) >= 5, set(flags))


def test_pinned_share_flags_every_parent(steered):
    """Once the control file pins the share to 1, every parent is rlp-flagged."""
    flags = rlp_flags(steered, steered.pinned_at + SETTLE_NS, steered.unpinned_at)
    assert (True, {True}) == (len(flags) >= 5, set(flags))


def test_unpinning_goes_back_to_the_schedule(steered):
    """With the override cleared, parents follow the schedule again (share 0)."""
    flags = rlp_flags(steered, steered.unpinned_at + SETTLE_NS, 2**63)
    assert (True, {False}) == (len(flags) >= 5, set(flags))


@pytest.fixture(scope="module")
def distributed(topology, tmp_path_factory) -> LoadRunner:
    """A master with one worker, 4 brokers, about 2 seconds."""
    out = tmp_path_factory.mktemp("load-workers")
    load = Load(users=4, spawn_rate=20, wait="100ms", workers=1, mix=LoadMix(rlp_share_after_open=0.5))
    config = asyncio.run(config_for_fleet(load, topology, symbol_count=3, open_at_ns=0, seed=5, duration_s=10,
                                          out_dir=out))
    runner = LoadRunner(config, out, structlog.get_logger())

    async def drive() -> None:
        try:
            await runner.start()
            await asyncio.sleep(2.0)
        finally:
            await runner.stop()

    asyncio.run(drive())
    return runner


def test_distributed_load_runs_a_master_and_a_worker(distributed):
    """With workers=1 the runner starts one master and one worker process."""
    assert ["master", "worker-1"] == [p.name for p in distributed.procs]


def test_worker_writes_the_parents_log(distributed):
    """Parents are logged by the worker that sent them, in a file named by its host and pid."""
    worker_pid = distributed.procs[1].popen.pid
    logs = sorted(p.name for p in Path(distributed.config.parents_dir).iterdir())
    assert [f"parents-{socket.gethostname()}-{worker_pid}.jsonl"] == logs


def test_distributed_load_spreads_over_both_routers(distributed):
    """The worker's brokers load both routers within 40% of the mean."""
    counts = Counter(p["router"] for p in distributed.parents())
    mean = sum(counts.values()) / 2
    assert {"router-1": True, "router-2": True} == {r: abs(counts[r] - mean) <= 0.4 * mean for r in counts}


def test_master_stats_count_the_workers_parents(distributed):
    """The master's final stats hold every parent the worker got accepted."""
    stats = distributed.stats()
    assert (len(distributed.parents()), 0) == (stats.requests - stats.failures, stats.failures)


def test_distributed_stop_leaves_no_locust_process(distributed):
    """After stop() neither master nor worker is left."""
    assert [] == locust_processes(distributed.config.run_id)


async def test_refused_parents_are_locust_failures_with_status_and_body(topology, tmp_path):
    """A halted router's 503 is a Locust failure naming status and body, and is not logged as a parent."""
    async with Http(topology) as http:
        status, _ = await http.call("POST", f"{topology.router('router-2').admin}/halt", {})
        assert 200 == status
        try:
            load = Load(users=2, spawn_rate=20, wait="100ms")
            config = await config_for_fleet(load, topology, symbol_count=2, open_at_ns=0, seed=2, duration_s=5,
                                            out_dir=tmp_path)
            runner = LoadRunner(config, tmp_path, structlog.get_logger())
            try:
                await runner.start()
                await asyncio.sleep(1.5)
            finally:
                await runner.stop()
        finally:
            await http.call("POST", f"{topology.router('router-2').admin}/resume", {})
    with (tmp_path / "locust_failures.csv").open() as fh:
        errors = {row["Name"]: row["Error"] for row in csv.DictReader(fh)}
    routers = {p["router"] for p in runner.parents()}
    # Locust wraps the message: CatchResponseError('503 {"error": "router halted: ..."}')
    error = errors["POST /orders router-2"]
    assert (["POST /orders router-2"], True, {"router-1"}) == (
        list(errors), '503 {"error": "router halted' in error, routers)
