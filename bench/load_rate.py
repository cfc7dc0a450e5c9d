"""Parent-order rate the load sustains: one Locust process, then a master with
two workers, each with 16 brokers at zero wait for 5 s against a 2-router
fleet. Goal: 200 accepted parents/s from one process on the shared 2-core
machine (the experiment defaults, 8 users at 0.5 s, need 16/s)."""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import structlog

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.load import LoadRunner, config_for_fleet
from powerpeg.targets.common.log import configure

USERS = 16
SECONDS = 5.0
GOAL_PARENTS_PER_S = 200.0


async def measure(home: Path, workers: int) -> dict:
    backend = LocalBackend(RunContext.create(home=home))
    topology = await backend.up(FleetSpec(routers=2))
    try:
        out = home / f"load-{workers}"
        load = Load(users=USERS, spawn_rate=100, wait="0ms", workers=workers, mix=LoadMix(rlp_share_after_open=0.1))
        config = await config_for_fleet(load, topology, symbol_count=20, open_at_ns=0, seed=1,
                                        duration_s=SECONDS, out_dir=out)
        runner = LoadRunner(config, out, structlog.get_logger())
        try:
            await runner.start()
            await asyncio.sleep(SECONDS)
        finally:
            await runner.stop()
        stats = runner.stats()
        parents = runner.parents()
        # over the parents' own send times: start-up and stop are not load
        span_s = (parents[-1]["ts_ns"] - parents[0]["ts_ns"]) / 1e9
        return {"workers": workers, "parents": len(parents),
                "parents_per_s": round((len(parents) - 1) / span_s, 1),
                "failures": stats.failures, "p50_ms": stats.p50_ms, "p99_ms": stats.p99_ms}
    finally:
        await backend.down()


def main(argv: list[str] | None = None) -> dict:
    configure(component="bench", instance="load_rate", level="warning")
    results = []
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as home:
        for workers in (0, 2):
            result = asyncio.run(measure(Path(home), workers))
            print(f"  workers={workers}: {result['parents_per_s']} parents/s", file=sys.stderr)
            results.append(result)
    single = results[0]["parents_per_s"]
    return {"users": USERS, "seconds": SECONDS, "runs": results, "goal_parents_per_s": GOAL_PARENTS_PER_S,
            "meets_goal": single >= GOAL_PARENTS_PER_S}


if __name__ == "__main__":
    print(main())
