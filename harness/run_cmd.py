"""`powerpeg run FILE`: one experiment on a backend, reports in DIR.

Exit codes (DESIGN.md): 0 every assertion holds, 1 one fails (or the run
aborted on a stop condition), 2 invalid file or usage, 3 infrastructure error,
4 inconclusive (nothing failed, but the run tested nothing: harness/verdict.py).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from powerpeg.harness.backends import BACKENDS, make_backend
from powerpeg.harness.context import RunContext
from powerpeg.harness.events import EventLog
from powerpeg.harness.experiment.loader import ExperimentError, Issue, load
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.faults.registry import FAULTS
from powerpeg.harness.controls.external import unsupported_controls
from powerpeg.harness.plan import fleet_spec
from powerpeg.harness.report import RunRecord, write_all
from powerpeg.harness.report.summary import render
from powerpeg.harness.run import Progress, Run, Runner, exit_code
from powerpeg.harness.backends.local.toxiproxy import find_binary

EXIT_INVALID = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="experiment YAML file")
    parser.add_argument("--backend", choices=list(BACKENDS), default="local",
                        help="where the fleet runs: local processes (default) or compose containers")
    parser.add_argument("--out", type=Path, help="report directory (default reports/<experiment>-<time>)")
    parser.add_argument("--load-workers", type=int, metavar="N",
                        help="Locust worker processes, 0-32 (overrides the file's load.workers); needed only when "
                             "one Locust process cannot keep up with the load (docs/gameday.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")


def needs_toxiproxy(exp: Experiment) -> bool:
    """Proxies only where a network fault needs them: on 2 cores a proxy hop in
    every FIX message costs the runaway rate for nothing otherwise."""
    return any("toxiproxy" in FAULTS[step.fault].requires for step in exp.method) and find_binary() is not None


def default_out(exp: Experiment) -> Path:
    return Path("reports") / f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"


async def run_experiment(exp: Experiment, *, out: Path, backend_name: str = "local", load_workers: int | None = None,
                         quiet: bool = False, home: Path | None = None,
                         log: FilteringBoundLogger | None = None) -> RunRecord:
    """Run one experiment and write its reports; the record comes back for callers (demo, game days, pytest)."""
    out.mkdir(parents=True, exist_ok=True)
    for leftover in ("load", "logs"):  # an earlier run into the same DIR must not leak into this one's evidence
        shutil.rmtree(out / leftover, ignore_errors=True)
    ctx = RunContext.create(home=home, run_id=f"{exp.name}-{time.strftime('%H%M%S')}-{time.time_ns() % 10**6:06d}"[:64],
                            log=log)
    events = EventLog(out / "events.jsonl", run_id=ctx.run_id, experiment=exp.name)
    write = (lambda _line: None) if quiet else (lambda line: print(line, flush=True))
    run = Run(experiment=exp, backend=make_backend(backend_name, ctx, keep_launcher=True), out_dir=out, events=events,
              progress=Progress(write, every_s=1.0 if sys.stdout.isatty() else 2.0), load_workers=load_workers,
              log=ctx.log)
    try:
        record = await Runner(run).execute(spec=fleet_spec(exp, toxiproxy=needs_toxiproxy(exp)))
        write_all(out, record)
    finally:
        events.close()
    return record


def prepare(args: argparse.Namespace) -> Experiment | int:
    """The experiment to run, or the exit code (2) of an invalid file or flag; nothing is started.

    Called before the event loop exists (``cli.cmd_run``): while a file loads,
    SIGTERM and Ctrl-C keep their default effect and end it at once, instead
    of waiting for the loop's handlers, which could not run until the load
    returned. The loader's bounds keep a load short anyway."""
    warnings: list[Issue] = []
    try:
        exp = load(args.file, warnings=warnings, backend=args.backend)  # compose needs no host binaries
    except ExperimentError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    for warning in warnings:
        print(warning, file=sys.stderr)
    if args.load_workers is not None and not 0 <= args.load_workers <= 32:
        print(f"powerpeg run: error: --load-workers must be between 0 and 32, got {args.load_workers}", file=sys.stderr)
        return EXIT_INVALID
    refused = unsupported_controls(exp, args.backend)
    if refused is not None:
        print(f"powerpeg run: error: {refused}", file=sys.stderr)
        return EXIT_INVALID
    return exp


async def cmd_run_async(args: argparse.Namespace, exp: Experiment, log: FilteringBoundLogger | None = None) -> int:
    """Run ``exp`` (from :func:`prepare`) and print its summary; the exit code of its verdict."""
    out = args.out or default_out(exp)
    record = await run_experiment(exp, out=out, backend_name=args.backend, load_workers=args.load_workers,
                                  quiet=args.quiet, log=log)
    print(render(record, out))
    return exit_code(record)
