"""Fleet stand-up time: median of 5 `up` + `down` cycles of the default
fleet (8 routers, v2, toxiproxy when installed). Goal: `up` under 5 s."""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.targets.common.log import configure

CYCLES = 5
ROUTERS = 8
GOAL_UP_S = 5.0


async def cycle(home: Path) -> tuple[float, float, bool]:
    backend = LocalBackend(RunContext.create(home=home))
    started = time.perf_counter()
    topology = await backend.up(FleetSpec(routers=ROUTERS))
    up_s = time.perf_counter() - started
    started = time.perf_counter()
    await backend.down()
    return up_s, time.perf_counter() - started, topology.toxiproxy is not None


def main(argv: list[str] | None = None) -> dict:
    configure(component="bench", instance="fleet_up", level="warning")
    ups, downs = [], []
    toxiproxy = False
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as home:
        for i in range(CYCLES):
            up_s, down_s, toxiproxy = asyncio.run(cycle(Path(home)))
            ups.append(up_s)
            downs.append(down_s)
            print(f"  cycle {i + 1}/{CYCLES}: up {up_s:.2f} s, down {down_s:.2f} s", file=sys.stderr)
    result = {
        "routers": ROUTERS,
        "toxiproxy": toxiproxy,
        "cycles": CYCLES,
        "up_median_s": round(statistics.median(ups), 3),
        "up_min_s": round(min(ups), 3),
        "up_max_s": round(max(ups), 3),
        "down_median_s": round(statistics.median(downs), 3),
        "goal_up_s": GOAL_UP_S,
        "meets_goal": statistics.median(ups) < GOAL_UP_S,
    }
    return result


if __name__ == "__main__":
    print(main())
