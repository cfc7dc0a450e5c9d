"""`powerpeg demo`: the Knight 2012 replay, with and without controls.

Runs ``knight-2012-controls`` and then ``knight-2012`` on the local backend —
the same partial deploy (router-8 missed) and the same rlp-flagged parents at
the open — and prints both summaries side by side: what an independent
drop-copy monitor with auto-kill changes. Reports go to DIR/<experiment>/.
"""
from __future__ import annotations

import time
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from powerpeg.harness.experiment.loader import load
from powerpeg.harness.report.summary import render, side_by_side
from powerpeg.harness.run_cmd import run_experiment

ROOT = Path(__file__).resolve().parent.parent
PAIR = ("knight-2012-controls", "knight-2012")


async def run_side_by_side(*, experiments_dir: Path = ROOT / "experiments", out: Path | None = None,
                           log: FilteringBoundLogger | None = None) -> int:
    out = out or Path("reports") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    records = []
    for i, name in enumerate(PAIR, 1):
        exp = load(experiments_dir / f"{name}.yaml")
        print(f"\n=== {i}/{len(PAIR)}: {name} — {exp.description}", flush=True)
        record = await run_experiment(exp, out=out / name, log=log)
        print(render(record, out / name), flush=True)
        records.append(record)
    with_controls, without = records
    print("\n=== the same faults, without and with controls\n")
    print(side_by_side(without, with_controls))
    print(f"\nreports: {out}/<experiment>/report.html")
    # the demo succeeds when each replay gave the verdict its file expects (knight-2012: `expect: refuted`)
    wrong = [r.experiment for r in records if r.as_expected is not True]
    if wrong:
        print(f"unexpected verdict for {', '.join(wrong)}")
        return 1
    return 0
