"""`powerpeg ui [FILE] [--backend] [--port]`: a game day in the Locust web UI.

Stands the fleet up as `powerpeg run` does, starts Locust with its web UI
and the Chaos tab on 127.0.0.1, serves the control API, and runs until
Ctrl-C or SIGTERM (or ``--max-duration``). Then it reverts every injected
fault, stops Locust, tears the fleet down and writes the report, which says
which of TTD and TTK a person made and which the controls did.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from powerpeg.harness.backends import BACKENDS, make_backend
from powerpeg.harness.context import RunContext
from powerpeg.harness.events import EventLog
from powerpeg.harness.experiment.loader import ExperimentError, load
from powerpeg.harness.plan import fleet_spec
from powerpeg.harness.report import write_all
from powerpeg.harness.report.summary import render
from powerpeg.harness.run_cmd import needs_toxiproxy
from powerpeg.harness.run import Progress, Run, Runner, exit_code
from powerpeg.harness.ui.api import make_app, serve
from powerpeg.harness.ui.attribution import attribution
from powerpeg.harness.ui.operator import ActionError, OperatorMethod

DEFAULT_FILE = Path("experiments/knight-2012-controls.yaml")
DEFAULT_PORT = 8089
DEFAULT_MAX_DURATION_S = 3600.0  # a forgotten game day still ends, and so does its load
EXIT_INVALID = 2
EXIT_INFRA = 3
HOST = "127.0.0.1"  # the web UI and the control API: loopback only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, nargs="?", default=DEFAULT_FILE,
                        help=f"experiment YAML file (default {DEFAULT_FILE})")
    parser.add_argument("--backend", choices=list(BACKENDS), default="local")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Locust web UI port on 127.0.0.1 (default 8089)")
    parser.add_argument("--out", type=Path, help="report directory (default reports/ui-<experiment>-<time>)")
    parser.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION_S,
                        help="seconds: the game day ends by itself after this (default 3600)")


def port_in_use(port: int) -> str | None:
    """Why Locust's web UI could not listen on 127.0.0.1:``port``; checked before any fleet is stood up."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Locust's server does: a port left in TIME_WAIT by an earlier game day is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            return f"cannot listen on {HOST}:{port}: {exc.strerror or exc}"
    return None


async def cmd_ui_async(args: argparse.Namespace, log: Any = None) -> int:
    try:
        exp = load(args.file)
    except ExperimentError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    if exp.load.users < 1:
        print("powerpeg ui: error: the experiment's load has 0 users; the web UI needs a load", file=sys.stderr)
        return EXIT_INVALID
    if not 1 <= args.port <= 65535:
        print(f"powerpeg ui: error: --port must be between 1 and 65535, got {args.port}", file=sys.stderr)
        return EXIT_INVALID
    busy = port_in_use(args.port)
    if busy is not None:
        print(f"powerpeg ui: error: {busy} (another `powerpeg ui` or Locust? stop it or pass --port); "
              "nothing was started", file=sys.stderr)
        return EXIT_INFRA
    out = args.out or Path("reports") / f"ui-{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext.create(run_id=f"ui-{exp.name}-{time.strftime('%H%M%S')}"[:64], log=log)
    events = EventLog(out / "events.jsonl", run_id=ctx.run_id, experiment=exp.name)
    run = Run(experiment=exp, backend=make_backend(args.backend, ctx, keep_launcher=True), out_dir=out,
              events=events, progress=Progress(lambda line: print(line, flush=True), every_s=5.0), log=ctx.log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C and SIGTERM end the game day the ordinary way: the run goes on to
    # roll back, collect, tear down and measure (a cancel would mark it an error)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    operator = OperatorMethod(exp, web_port=args.port, max_duration_s=args.max_duration, stop=stop)
    api, api_port = await serve(make_app(operator, ctx.token, action_error=ActionError))
    operator.api_url = f"http://127.0.0.1:{api_port}"
    print(f"[powerpeg] run {ctx.run_id}; admin token for the Chaos tab: {ctx.token}", flush=True)
    try:
        record = await Runner(run, operator).execute(spec=fleet_spec(exp, toxiproxy=needs_toxiproxy(exp)))
    finally:
        await api.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        events.close()
    write_all(out, record)
    who = attribution(record.metrics, list(events.events))
    (out / "ui.json").write_text(json.dumps({"run_id": ctx.run_id, "ttd": who["ttd"], "ttk": who["ttk"],
                                             "detected_by": record.metrics.detected_by if record.metrics else None},
                                            indent=2))
    print(render(record, out))
    before = record.metrics.pages_before_fault
    ttd = who["ttd"] or (f"none ({before} page(s) before the first fault, not counted as detection)" if before
                         else "none")
    print(f"  TTD: {ttd} · TTK: {who['ttk'] or 'none'} (human = an operator's Ack / KILL)")
    return exit_code(record)
