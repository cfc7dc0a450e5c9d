"""knight-2012-controls end to end on the local backend, N times.

Prints the wall time of each run and the median and maximum of ``ttd_s`` and
``ttk_s`` (the issue's figures), then replays knight-2012 once (no controls)
to check that the exchange keeps up with the runaway: per second, the
runaway child orders it accepted against what the runaway parents alive in
that second could send at Power Peg's pacing (``--powerpeg-interval-ms``).
A ratio near 1 throughout means no backlog builds up at the exchange.

    python -m bench.knight_controls [--runs 10] [--backend local]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from powerpeg.harness.experiment.loader import load
from powerpeg.harness.run_cmd import run_experiment

ROOT = Path(__file__).resolve().parent.parent
PACING_PER_S = 1000 / 20.0  # the router's default --powerpeg-interval-ms


def keeps_up(out: Path) -> list[tuple[int, int, int]]:
    """(second, runaway parents sending, runaway child orders accepted) per second of a runaway."""
    journal = [json.loads(x) for x in (out / "exchange-journal.jsonl").read_text().splitlines() if x.strip()]
    metrics = json.loads((out / "journal.json").read_text())["metrics"]
    parents = {json.loads(x)["parent_id"]: json.loads(x)["qty"]
               for f in (out / "load" / "parents").glob("*.jsonl") for x in f.read_text().splitlines() if x.strip()}
    t0 = metrics["first_violation_at"]
    committed: dict[str, int] = defaultdict(int)
    per_second: dict[int, tuple[set, int]] = defaultdict(lambda: (set(), 0))
    for rec in journal:
        if rec.get("firm") != "KNIGHT" or rec["kind"] != "accepted":
            continue
        parent = rec["cl_ord_id"].rsplit(".", 1)[0]
        committed[parent] += rec["qty"]
        if parent in parents and committed[parent] > parents[parent] and rec["ts_ns"] >= t0:
            sec = (rec["ts_ns"] - t0) // 1_000_000_000
            alive, count = per_second[sec]
            alive.add(parent)
            per_second[sec] = (alive, count + 1)
    return [(sec, len(alive), count) for sec, (alive, count) in sorted(per_second.items())]


async def main_async(runs: int, backend: str) -> dict[str, float]:
    exp = load(ROOT / "experiments" / "knight-2012-controls.yaml")
    walls, ttd, ttk = [], [], []
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as tmp:
        for i in range(runs):
            started = time.monotonic()
            record = await run_experiment(exp, out=Path(tmp) / f"kc{i}", backend_name=backend, quiet=True)
            walls.append(time.monotonic() - started)
            m = record.metrics
            print(f"run {i + 1}: {record.status} wall {walls[-1]:.1f}s ttd {m.ttd_s} ttk {m.ttk_s}", flush=True)
            if m.ttd_s is not None:
                ttd.append(m.ttd_s)
            if m.ttk_s is not None:
                ttk.append(m.ttk_s)
        plain = await run_experiment(load(ROOT / "experiments" / "knight-2012.yaml"), out=Path(tmp) / "k",
                                     backend_name=backend, quiet=True)
        rows = keeps_up(Path(tmp) / "k")
    result = {
        "wall_s_median": statistics.median(walls), "wall_s_max": max(walls),
        "ttd_s_median": statistics.median(ttd) if ttd else float("nan"), "ttd_s_max": max(ttd, default=float("nan")),
        "ttk_s_median": statistics.median(ttk) if ttk else float("nan"), "ttk_s_max": max(ttk, default=float("nan")),
    }
    print(f"knight-2012-controls {backend} x{runs}: "
          f"wall median {result['wall_s_median']:.1f}s max {result['wall_s_max']:.1f}s; "
          f"ttd_s median {result['ttd_s_median']:.4f} max {result['ttd_s_max']:.4f}; "
          f"ttk_s median {result['ttk_s_median']:.4f} max {result['ttk_s_max']:.4f}")
    print(f"knight-2012 runaway ({plain.status}, {plain.metrics.excess_shares:,} excess shares): "
          "second, runaway parents, child orders accepted, accepted / (parents x pacing)")
    for sec, alive, count in rows:
        print(f"  +{sec}s  {alive:3d}  {count:6d}  {count / (alive * PACING_PER_S):.2f}")
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m bench.knight_controls")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--backend", choices=["local", "compose"], default="local")
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args.runs, args.backend))


if __name__ == "__main__":
    main()
