"""experiments/open-burst.yaml on the local backend, N times: TTD and TTK under an opening burst.

Prints per run TTD, TTK, the firm's executions in the first second after the
open, its busiest 100 ms (as a rate) and the rate from the open to the kill,
and the run's TTD floor (journal.json measurement), then the p50/p99/max of
TTD and TTK. From the exchange journal, one execution = one fill of one of the
firm's orders: the measure of the SEC's "4 million executions" (Knight's own
fills, ~1,480/s over 45 minutes); a trade between two of the firm's routers is
two of them. Trades (one per match) are printed beside it. The goal (issue 13):
10x Knight's rate (15,000 executions/s) in the first seconds, TTD p50 <= 20
ms, p99 <= 100 ms, TTK <= 100 ms over 10 runs on this machine.

    python -m bench.open_burst [--runs 10] [--file experiments/open-burst.yaml]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from powerpeg.harness.experiment.loader import load
from powerpeg.harness.run_cmd import run_experiment
from powerpeg.targets.common.log import configure

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Burst:
    executions: int  # the firm's fills in the first second after the open
    trades: int  # matches in that second (one per maker fill)
    peak: int  # the busiest 100 ms of that second, as the firm's executions per second
    until_kill: float | None  # the firm's executions per second from the open to the first kill


def burst(out: Path, firm: str) -> Burst:
    """The opening burst as the exchange journal saw it (see the module's docstring for what counts)."""
    opened = killed = None
    fills: list[int] = []
    trades = 0
    with (out / "exchange-journal.jsonl").open() as fh:
        for line in fh:
            rec = json.loads(line)
            kind = rec["kind"]
            if kind == "open" and opened is None:
                opened = rec["ts_ns"]
            elif kind == "kill" and opened is not None and killed is None:
                killed = rec["ts_ns"]
            elif kind == "fill" and opened is not None:
                since = rec["ts_ns"] - opened
                if rec.get("firm") == firm:
                    fills.append(since)
                if rec.get("liquidity") == "maker" and 0 <= since < 1_000_000_000:
                    trades += 1
    first = [t for t in fills if 0 <= t < 1_000_000_000]
    tenths = [0] * 10
    for t in first:
        tenths[t // 100_000_000] += 1
    until_kill = None
    if opened is not None and killed is not None and killed > opened:
        until_kill = sum(1 for t in fills if t < killed - opened) / ((killed - opened) / 1e9)
    return Burst(len(first), trades, max(tenths) * 10, until_kill)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


async def main_async(runs: int, file: Path) -> None:
    exp = load(file)
    ttd: list[float] = []
    ttk: list[float] = []
    firsts: list[int] = []
    rates: list[float] = []  # the firm's executions per second from the open to the kill
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as tmp:
        for i in range(runs):
            out = Path(tmp) / f"ob{i}"
            record = await run_experiment(exp, out=out, quiet=True)
            m = record.metrics
            b = burst(out, exp.topology.firm) if (out / "exchange-journal.jsonl").exists() else Burst(0, 0, 0, None)
            floor = record.measurement.ttd.seconds if record.measurement is not None else None
            print(f"run {i + 1}: {record.status:8} ttd {_ms(m.ttd_s)}  ttk {_ms(m.ttk_s)}  executions: first second "
                  f"{b.executions:,} ({b.trades:,} trades), busiest 100 ms at {b.peak:,}/s, open→kill "
                  f"{'—' if b.until_kill is None else f'{b.until_kill:,.0f}/s'}; TTD floor {_ms(floor)}",
                  flush=True)
            firsts.append(b.executions)
            if b.until_kill is not None:
                rates.append(b.until_kill)
            if m.ttd_s is not None:
                ttd.append(m.ttd_s)
            if m.ttk_s is not None:
                ttk.append(m.ttk_s)
    if firsts:
        print(f"the firm's executions in the first second after the open: median {statistics.median(firsts):,.0f} "
              f"(10x Knight's 2012 average of ~1,480/s is 14,800)")
    if rates:
        print(f"the firm's executions per second from the open to the kill: median {statistics.median(rates):,.0f} "
              f"({len(rates)} of {runs} runs had a kill after the open)")
    for name, values in (("ttd_s", ttd), ("ttk_s", ttk)):
        if values:
            print(f"{name}: p50 {statistics.median(values):.4f}  p99 {percentile(values, 0.99):.4f}  "
                  f"max {max(values):.4f}  ({len(values)} of {runs} runs measured it)")
        else:
            print(f"{name}: not measured in any run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--file", type=Path, default=ROOT / "experiments" / "open-burst.yaml",
                        help="the experiment (default: the bundled open-burst.yaml)")
    args = parser.parse_args()
    configure(component="bench", level="warning")  # the runs' own info logs would bury the table
    asyncio.run(main_async(args.runs, args.file))


if __name__ == "__main__":
    main()
