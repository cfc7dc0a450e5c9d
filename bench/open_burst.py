"""experiments/open-burst.yaml on the local backend, N times: TTD and TTK under an opening burst.

Prints per run TTD, TTK, the executions per second in the first second after
the open (from the exchange journal: one execution = one maker fill) and the
monitor's drop-copy backlog at the violation (the first page's delay past the
violation is mostly that backlog when the machine is saturated), then the
p50/p99/max of TTD and TTK. The goal (issue 13): TTD p50 <= 20 ms, p99 <= 100
ms, TTK <= 100 ms over 10 runs on this machine.

    python -m bench.open_burst [--runs 10]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from powerpeg.harness.experiment.loader import load
from powerpeg.harness.run_cmd import run_experiment

ROOT = Path(__file__).resolve().parent.parent


def executions_first_second(out: Path) -> int:
    """Executions in the first second after the open (each execution journals two fills: count one side)."""
    opened = None
    count = 0
    with (out / "exchange-journal.jsonl").open() as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["kind"] == "open" and opened is None:
                opened = rec["ts_ns"]
            elif opened is not None and rec["kind"] == "fill" and rec.get("liquidity") != "taker" \
                    and rec["ts_ns"] - opened < 1_000_000_000:
                count += 1
    return count


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main_async(runs: int) -> None:
    exp = load(ROOT / "experiments" / "open-burst.yaml")
    ttd: list[float] = []
    ttk: list[float] = []
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as tmp:
        for i in range(runs):
            out = Path(tmp) / f"ob{i}"
            record = await run_experiment(exp, out=out, quiet=True)
            m = record.metrics
            rate = executions_first_second(out) if (out / "exchange-journal.jsonl").exists() else 0
            print(f"run {i + 1}: {record.status:8} ttd {m.ttd_s}  ttk {m.ttk_s}  executions in the first second "
                  f"{rate:,}", flush=True)
            if m.ttd_s is not None:
                ttd.append(m.ttd_s)
            if m.ttk_s is not None:
                ttk.append(m.ttk_s)
    for name, values in (("ttd_s", ttd), ("ttk_s", ttk)):
        if values:
            print(f"{name}: p50 {statistics.median(values):.4f}  p99 {percentile(values, 0.99):.4f}  "
                  f"max {max(values):.4f}  ({len(values)} of {runs} runs measured it)")
        else:
            print(f"{name}: not measured in any run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main_async(parser.parse_args().runs))


if __name__ == "__main__":
    main()
