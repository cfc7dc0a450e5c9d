"""The compose backend's costs: stand-up of the default fleet on containers
(images built; goal under 20 s), `make images` warm (and cold with
``--cold``: images and wheelhouse removed first, the debootstrap base kept),
and knight-2012-controls wall time with its ttd_s/ttk_s on compose next to
local, from the same session.

``python -m bench compose_up`` or ``python -m bench.compose_up [--cold]``.
"""
from __future__ import annotations

import asyncio
import os
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose import ComposeBackend
from powerpeg.harness.context import RunContext
from powerpeg.targets.common.log import configure

ROOT = Path(__file__).resolve().parents[1]
CYCLES = 3
ROUTERS = 8
GOAL_UP_S = 20.0
IMAGES = ["powerpeg-targets:latest", "powerpeg-router:v1", "powerpeg-router:v2", "powerpeg-toxiproxy:latest",
          "powerpeg-locust:latest"]


async def cycle(home: Path) -> tuple[float, float]:
    backend = ComposeBackend(RunContext.create(home=home))
    started = time.perf_counter()
    await backend.up(FleetSpec(routers=ROUTERS))
    up_s = time.perf_counter() - started
    started = time.perf_counter()
    await backend.down()
    return up_s, time.perf_counter() - started


def make_images(cold: bool) -> float:
    if cold:
        subprocess.run(["docker", "rmi", "-f", *IMAGES], capture_output=True, check=False)
        shutil.rmtree(ROOT / "build" / "compose-context", ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["make", "-s", "images"], cwd=ROOT, check=True, capture_output=True)
    return round(time.perf_counter() - started, 1)


def knight_controls(backend: str, home: Path) -> dict:
    out = home / f"out-{backend}"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "run", "experiments/knight-2012-controls.yaml",
                           "--backend", backend, "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "POWERPEG_HOME": str(home)}, timeout=300)
    wall = time.perf_counter() - started
    metrics = json.loads((out / "journal.json").read_text())["metrics"]
    return {"exit": proc.returncode, "wall_s": round(wall, 1), "ttd_s": metrics["ttd_s"], "ttk_s": metrics["ttk_s"],
            "contained_by": metrics["contained_by"]}


def main(argv: list[str] | None = None) -> dict:
    argv = [] if argv is None else argv
    configure(component="bench", instance="compose_up", level="warning")
    result: dict = {}
    if "--cold" in argv:
        result["make_images_cold_s"] = make_images(cold=True)
    result["make_images_warm_s"] = make_images(cold=False)
    ups, downs = [], []
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as home:
        for i in range(CYCLES):
            up_s, down_s = asyncio.run(cycle(Path(home)))
            ups.append(up_s)
            downs.append(down_s)
            print(f"  cycle {i + 1}/{CYCLES}: up {up_s:.2f} s, down {down_s:.2f} s", file=sys.stderr)
        result.update({
            "routers": ROUTERS, "toxiproxy": True, "cycles": CYCLES,
            "up_median_s": round(statistics.median(ups), 2), "up_max_s": round(max(ups), 2),
            "down_median_s": round(statistics.median(downs), 2),
            "goal_up_s": GOAL_UP_S, "meets_goal": statistics.median(ups) < GOAL_UP_S,
        })
        for backend in ("compose", "local"):
            result[f"knight_2012_controls_{backend}"] = knight_controls(backend, Path(home))
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
