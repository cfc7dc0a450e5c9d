"""`powerpeg gameday SUITE.yaml`: every experiment of the suite in order, one dated directory, the history.

Exit codes: 0 every run passed, 1 one did not (failed, aborted, inconclusive or error),
2 invalid suite or usage, 3 infrastructure error (no run could even start:
every run errored, or the report directory / history cannot be written).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from powerpeg.harness.backends import BACKENDS
from powerpeg.harness.experiment.loader import ExperimentError
from powerpeg.harness.measure import Metrics
from powerpeg.harness.report import RunRecord, RunStatus, write_all
from powerpeg.harness.report.summary import render as render_summary
from powerpeg.harness.run_cmd import run_experiment

from . import history, index
from .index import SuiteRun, detection, kill
from .suite import LoadedSuite, load_suite

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INFRA = 0, 1, 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", type=Path, nargs="?", help="game-day suite YAML file")
    parser.add_argument("--backend", choices=list(BACKENDS), default="local")
    parser.add_argument("--out", type=Path, help="parent of the dated report directory (default gameday-reports)")
    parser.add_argument("--history", nargs="?", type=Path, const=Path(""), metavar="FILE",
                        help="history file (default $POWERPEG_HOME/gameday-history.jsonl); "
                             "without SUITE: show the trend it holds")
    parser.add_argument("--html", type=Path, metavar="OUT.html",
                        help="with --history: also write the trend as a picture")


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "suite"


def _history_path(args: argparse.Namespace) -> Path:
    return history.default_path() if args.history in (None, Path("")) else args.history


def _error_record(exp_name: str, backend: str, seed: int, started_ns: int, exc: BaseException) -> RunRecord:
    return RunRecord(experiment=exp_name, status=RunStatus.ERROR, backend=backend, seed=seed, started_ns=started_ns,
                     ended_ns=time.time_ns(), metrics=Metrics(), error=f"{type(exc).__name__}: {exc}")


def read_events(path: Path) -> list[dict]:
    """A run's events.jsonl (empty when the run never got as far as writing one)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash: the others still count
        if isinstance(event, dict):
            events.append(event)
    return events


def summary_table(runs: list[SuiteRun]) -> str:
    def s(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    width = max([10] + [len(r.record.experiment) for r in runs])
    lines = [f"{'experiment':<{width}}  {'verdict':<8} {'TTD s':>8} {'TTK s':>8} {'TTC s':>8} {'excess':>9} "
             f"{'loss USD':>13}  {'kill':<11}  detection"]
    for run in runs:
        r, m = run.record, run.record.metrics
        lines.append(f"{r.experiment:<{width}}  {r.status.upper():<8} {s(m.ttd_s):>8} {s(m.ttk_s):>8} {s(m.ttc_s):>8} "
                     f"{m.excess_shares:>9,} {m.loss_usd:>13,.2f}  {kill(run):<11}  {detection(r)}")
    return "\n".join(lines)


async def run_suite(loaded: LoadedSuite, *, out_root: Path, backend: str, history_file: Path,
                    home: Path | None = None, log: FilteringBoundLogger | None = None) -> tuple[int, Path]:
    """Run every experiment in order; a run that errors is recorded as such and the suite goes on."""
    now = datetime.now(UTC)
    day_dir = out_root / f"{now.astimezone().strftime('%Y-%m-%d-%H%M%S')}-{slug(loaded.suite.title)}"
    day_dir.mkdir(parents=True, exist_ok=False)
    date = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    runs: list[SuiteRun] = []
    total = len(loaded.experiments)
    print(f"game day: {loaded.suite.title} · {total} experiment(s) · backend {backend} · {day_dir}", flush=True)
    try:
        for i, exp in enumerate(loaded.experiments, 1):
            subdir = f"{i:02d}-{exp.name}"
            print(f"\n=== {i}/{total}: {exp.name} — {exp.description}", flush=True)
            started = time.time_ns()
            try:
                record = await run_experiment(exp, out=day_dir / subdir, backend_name=backend, home=home, log=log)
            except Exception as exc:  # noqa: BLE001 - one broken run must not stop the game day
                record = _error_record(exp.name, backend, exp.seed, started, exc)
                write_all(day_dir / subdir, record)
            print(render_summary(record, day_dir / subdir), flush=True)
            runs.append(SuiteRun(record, subdir, read_events(day_dir / subdir / "events.jsonl")))
            history.append(history_file, history.HistoryEntry.of(
                record, date=date, gameday=day_dir.name, suite=loaded.suite.title,
                report=day_dir / subdir / "report.html"))
    finally:
        # an interrupted game day still leaves an index of what ran
        index.write(day_dir / "index.html", loaded.suite, runs, started=date, backend=backend)
    print(f"\n=== game day summary: {loaded.suite.title}\n{summary_table(runs)}")
    print(f"\nindex: {day_dir / 'index.html'}\nhistory: {history_file}")
    if runs and all(r.record.status == "error" for r in runs):
        return EXIT_INFRA, day_dir
    return (EXIT_OK if all(r.record.status == "passed" for r in runs) else EXIT_FAILED), day_dir


def show_history(path: Path, html_out: Path | None) -> int:
    try:
        entries = history.read(path)
    except history.HistoryError as exc:
        print(f"powerpeg gameday: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(history.trend_table(entries))
    if html_out is not None:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(history.trend_html(entries, path), encoding="utf-8")
        print(f"\ntrend picture: {html_out}")
    return EXIT_OK


async def cmd_gameday_async(args: argparse.Namespace, log: FilteringBoundLogger | None = None) -> int:
    if args.suite is None:
        if args.history is None:
            print("powerpeg gameday: error: give a SUITE.yaml to run, or --history to show the trend", file=sys.stderr)
            return EXIT_INVALID
        return show_history(_history_path(args), args.html)
    if args.html is not None:
        print("powerpeg gameday: error: --html goes with --history and no SUITE", file=sys.stderr)
        return EXIT_INVALID
    try:
        loaded = load_suite(args.suite)
    except ExperimentError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    try:
        code, _ = await run_suite(loaded, out_root=args.out or Path("gameday-reports"), backend=args.backend,
                                  history_file=_history_path(args), log=log)
    except OSError as exc:
        print(f"powerpeg gameday: error: {exc}", file=sys.stderr)
        return EXIT_INFRA
    return code
