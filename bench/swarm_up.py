"""The swarm backend's stand-up next to compose's: `up` of the default fleet
(8 routers, toxiproxy) and its `down`, median of 5 cycles each, from the same
session. When the engine is in no swarm, every swarm cycle includes `swarm
init` (and its `down` the leave), as a user's first `powerpeg up` would.

``python -m bench swarm_up`` or ``python -m bench.swarm_up``.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from powerpeg.harness.backends import make_backend
from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.swarm import engine as sw
from powerpeg.harness.context import RunContext
from powerpeg.targets.common.log import configure

CYCLES = 5
ROUTERS = 8


async def cycle(backend_name: str, home: Path) -> tuple[float, float]:
    backend = make_backend(backend_name, RunContext.create(home=home))
    started = time.perf_counter()
    await backend.up(FleetSpec(routers=ROUTERS))
    up_s = time.perf_counter() - started
    started = time.perf_counter()
    await backend.down()
    return up_s, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    configure(component="bench", instance="swarm_up", level="warning")
    with dk.docker_client() as engine:
        membership = sw.swarm_state(engine)[0]
    result: dict = {"routers": ROUTERS, "toxiproxy": True, "cycles": CYCLES, "swarm_as_found": membership}
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as home:
        for backend in ("swarm", "compose"):
            ups, downs = [], []
            for i in range(CYCLES):
                up_s, down_s = asyncio.run(cycle(backend, Path(home)))
                ups.append(up_s)
                downs.append(down_s)
                print(f"  {backend} cycle {i + 1}/{CYCLES}: up {up_s:.2f} s, down {down_s:.2f} s", file=sys.stderr)
            result[backend] = {"up_median_s": round(statistics.median(ups), 2), "up_max_s": round(max(ups), 2),
                               "down_median_s": round(statistics.median(downs), 2)}
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
