"""`powerpeg` command line: parses flags, calls the backend, prints.

Exit codes: 0 ok; 3 infrastructure error, bad flag or no fleet.
Experiment-file commands (validate, schema, run, list, init): 2 invalid file or usage.
A broken plugin (harness/plugins.py) is exit 3 with its name, whatever the command.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from powerpeg.targets.common.log import configure

from powerpeg.harness.backends import BACKENDS, attach_backend, make_backend
from powerpeg.harness.backends.base import FleetError, FleetSpec, NoFleet
from powerpeg.harness.backends.local import cleanup
from powerpeg.harness.context import RunContext, powerpeg_home
from powerpeg.harness.plugins import PluginError
from powerpeg.harness.procs import StartError
from powerpeg.harness.resources import (KINDS, Bundled, ResourceMissing, bundled_experiments, bundled_suites,
                                        find_experiment,
                                find_suite, version, where)
from powerpeg.harness.topology import render_table

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_INFRA = 3
# commands about an experiment file: a usage error there is exit 2, like an invalid file
FILE_COMMANDS = frozenset({"validate", "schema", "run", "gameday", "ui", "list", "init", "where"})


class _Parser(argparse.ArgumentParser):
    """A bad flag is a failed fleet command (exit 3), per the CLI contract."""

    usage_exit = EXIT_INFRA

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit, f"{self.prog}: error: {message}\n")


class _FileParser(_Parser):
    """Usage errors of the experiment-file commands exit 2."""

    usage_exit = EXIT_INVALID


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser(parser_class: type[_Parser] = _Parser) -> argparse.ArgumentParser:
    parser = parser_class(prog="powerpeg", description="chaos-engineering harness for order systems")
    parser.add_argument("--version", action="version", version=f"powerpeg {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=parser_class)

    up = sub.add_parser("up", help="stand up a fleet")
    up.add_argument("--backend", choices=list(BACKENDS), default="local",
                    help="local processes (default) or compose containers (needs `make images`)")
    up.add_argument("--routers", type=int, default=8, help="number of routers (default 8)")
    up.add_argument("--version", choices=["v1", "v2"], default="v2", help="router version (default v2)")
    up.add_argument("--firm", default="KNIGHT")
    up.add_argument("--run-id", help="name of the run (default: time-based)")
    up.add_argument("--open-in", type=_positive_float, default=0.0, help="seconds until the market opens")
    up.add_argument("--no-toxiproxy", action="store_true", help="connect components directly")
    up.add_argument("--fix-client", action="append", default=[], metavar="COMP_ID",
                    help="a CompID the exchange admits besides the routers' and the firm's (your own FIX engine; "
                         "repeatable): its password is in `powerpeg status --json`")

    status = sub.add_parser("status", help="show the fleet")
    status.add_argument("--json", action="store_true", help="machine-readable topology (includes the token)")

    env = sub.add_parser("env", help="what a firm's own controls need, as KEY=value lines (dotenv and shell)")
    env.add_argument("--export", action="store_true", help="prefix `export `: eval \"$(powerpeg env --export)\"")
    env.add_argument("--inside", action="store_true",
                     help="compose: the addresses inside the fleet's network (for containers that join it)")

    sub.add_parser("down", help="stop the fleet")
    sub.add_parser("cleanup", help="remove whatever crashed runs left")

    demo = sub.add_parser("demo", help="the Knight 2012 replay with and without controls, side by side")
    demo.add_argument("--out", type=Path, help="report directory (default reports/demo-<time>)")
    demo.add_argument("--burst", action="store_true",
                      help="instead: stand up a fleet, send a burst of parent orders, report, tear down")
    demo.add_argument("--routers", type=int, default=8, help="--burst: routers")
    demo.add_argument("--parents", type=int, default=80, help="--burst: parent orders")
    demo.add_argument("--seed", type=int, default=7, help="--burst: seed")

    validate = sub.add_parser("validate", help="check experiment files (schema and semantics); starts nothing")
    validate.add_argument("files", nargs="+", metavar="FILE", help="a path, or a bundled experiment's name")
    validate.add_argument("--backend", choices=list(BACKENDS),
                          help="the backend the files will run on: a bundled control's binaries are local's need "
                               "(compose runs its image, checked when the run starts); unsaid, they are checked")
    sub.add_parser("schema", help="print the JSON Schema of experiment files")
    listing = sub.add_parser("list", help="the bundled experiments and suites, each with its one-line description")
    listing.add_argument("--json", action="store_true", help="machine-readable: name, path, description")
    where_ = sub.add_parser("where", help="the directory of powerpeg's bundled files (e.g. the compose files and "
                                          "Dockerfiles: bash \"$(powerpeg where compose)/build-images.sh\")")
    where_.add_argument("kind", choices=KINDS)
    from powerpeg.harness.images_cmd import add_arguments as add_images  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    add_images(sub.add_parser("images", help="build the compose backend's images (what `make images` runs), from "
                                             "a checkout or an installed powerpeg"))
    from powerpeg.harness.init_cmd import add_arguments as add_init  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    add_init(sub.add_parser("init", help="write a starter suite into DIR: the Knight pair, a network fault, a "
                                         "nightly suite and a CI workflow"))

    from powerpeg.harness.run_cmd import add_arguments  # noqa: PLC0415 - keeps `powerpeg up` start-up light
    add_arguments(sub.add_parser("run", help="run one experiment and write its reports"))
    from powerpeg.harness.gameday.runner import add_arguments as add_gameday  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    add_gameday(sub.add_parser("gameday", help="run a suite of experiments; or --history: the trend across game days"))
    from powerpeg.harness.ui.command import add_arguments as add_ui  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    add_ui(sub.add_parser("ui", help="a game day in the Locust web UI: the Chaos tab and the KILL SWITCH"))
    return parser


def _logger(run_id: str | None = None) -> Any:
    # people read print(); structured logs go to stderr and stay quiet by default
    return configure(component="harness", run_id=run_id, level=os.environ.get("POWERPEG_LOG_LEVEL", "warning"))


async def _cancel_on_signals(coro: Awaitable[Any]) -> Any:
    """Run ``coro`` so that SIGTERM and Ctrl-C (SIGINT) cancel it and its cleanup runs.

    SIGINT is handled here rather than left to Python's KeyboardInterrupt: a
    shell that starts powerpeg as a background job hands it SIGINT ignored, and
    an interrupt sent to it must still stop what it started. Ctrl-C still
    surfaces as KeyboardInterrupt (its own message and exit code)."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGINT)


def _run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(_cancel_on_signals(fn()))


def cmd_up(args: argparse.Namespace) -> int:
    spec = FleetSpec(routers=args.routers, version=args.version, firm=args.firm, open_in=args.open_in,
                     toxiproxy=not args.no_toxiproxy, fix_clients=list(args.fix_client))
    try:
        spec.validate()
        ctx = RunContext.create(run_id=args.run_id, log=_logger(args.run_id))
    except ValueError as exc:
        return _fail(str(exc))
    home = ctx.home
    try:
        active = attach_backend(home)
    except NoFleet:
        active = None
    if active is not None:
        return _fail(f"a fleet is already up (run {active.ctx.run_id}); `powerpeg down` first "
                     "(or `powerpeg cleanup` if it crashed)")
    print(f"starting fleet {ctx.run_id}: {spec.routers} routers ({spec.version}), state in {ctx.state_dir}")
    backend = make_backend(args.backend, ctx)
    try:
        topology = _run(lambda: backend.up(spec))
    except StartError as exc:
        return _fail(f"{exc}\nnothing was left running (logs kept in {ctx.logs_dir})")
    started = dict.fromkeys([*topology.admin_urls(), "toxiproxy"], "started")
    print(render_table(topology, started))
    if topology.toxiproxy is None:
        print("toxiproxy: off (components connect directly)")
    print("endpoints and token: powerpeg status --json")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    backend = attach_backend(powerpeg_home(), log=_logger())
    topology = backend.topology()
    if args.json:
        print(json.dumps(topology.status_json(), indent=2))
        return EXIT_OK
    health = _run(backend.health)
    print(render_table(topology, health))
    if topology.toxiproxy is None:
        print("toxiproxy: off")
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    from powerpeg.harness.controls.publish import env_lines  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    topology = attach_backend(powerpeg_home(), log=_logger()).topology()
    if args.inside and topology.backend != "compose":
        return _fail(f"--inside is for a compose fleet (its network); run {topology.run_id} is {topology.backend}")
    print("\n".join(env_lines(topology, export=args.export, inside=args.inside)))
    return EXIT_OK


def cmd_down(_args: argparse.Namespace) -> int:
    backend = attach_backend(powerpeg_home(), log=_logger())
    stopped = _run(backend.down)
    for component, outcome in stopped:
        print(f"stopped {component}: {outcome}")
    print(f"fleet {backend.ctx.run_id} is down; state removed")
    return EXIT_OK


def cmd_cleanup(_args: argparse.Namespace) -> int:
    from powerpeg.harness.backends.compose import cleanup as compose_cleanup  # noqa: PLC0415 - only the commands that use compose import it
    from powerpeg.harness.backends.swarm import cleanup as swarm_cleanup  # noqa: PLC0415 - only the commands that use swarm import it

    home, log = powerpeg_home(), _logger()
    # containers first: they are found by label, whatever the state files say; swarm before compose
    # (compose's removes task containers but not their services, and cannot remove an overlay
    # network in use) and before local (it reads the runs' swarm.json: did powerpeg init the swarm)
    removed = (_run(lambda: swarm_cleanup(home, log=log)) + _run(lambda: compose_cleanup(home, log=log))
               + _run(lambda: cleanup(home, log=log)))
    print("\n".join(removed) if removed else "nothing to clean")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.burst:
        from powerpeg.harness.resources import experiments_dir  # noqa: PLC0415 - the demo alone reads the bundled pair
        from powerpeg.harness.side_by_side import run_side_by_side  # noqa: PLC0415 - the run machinery only for a run

        # the bundled pair, wherever powerpeg is installed (not ./experiments: the demo runs from any directory)
        return _run(lambda: run_side_by_side(experiments_dir=experiments_dir(), out=args.out, log=_logger()))
    from powerpeg.harness.burst import run_burst  # noqa: PLC0415 - only the burst needs it

    spec = FleetSpec(routers=args.routers, toxiproxy=False)
    try:
        spec.validate()
        if not 1 <= args.parents <= 10_000:
            raise ValueError(f"--parents must be between 1 and 10000, got {args.parents}")
    except ValueError as exc:
        return _fail(str(exc))
    ctx = RunContext.create(log=_logger())
    return _run(lambda: run_burst(ctx, spec, parents=args.parents, seed=args.seed))


def cmd_validate(args: argparse.Namespace) -> int:
    from powerpeg.harness.experiment.loader import ExperimentError, Issue, load  # noqa: PLC0415 - loads the fault registry

    invalid = 0
    for file in args.files:
        warnings: list[Issue] = []
        try:
            experiment = load(file, warnings=warnings, backend=args.backend)
        except ExperimentError as exc:
            invalid += 1
            print("\n".join(str(issue) for issue in exc.errors))
            continue
        steps = len(experiment.method)
        print(f"ok  {file}  ({experiment.name}: {steps} step{'' if steps == 1 else 's'})")
        for warning in warnings:  # valid, so not an error: exit 0 stays
            print(warning)
    return EXIT_INVALID if invalid else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    experiments, suites = bundled_experiments(), bundled_suites()
    if args.json:
        print(json.dumps({"experiments": [_listed(b) for b in experiments], "suites": [_listed(b) for b in suites]},
                         indent=2))
        return EXIT_OK
    width = max((len(b.name) for b in [*experiments, *suites]), default=0)
    print("bundled experiments (powerpeg run NAME, powerpeg validate NAME):")
    for b in experiments:
        print(f"  {b.name:<{width}}  {b.description}")
    if suites:
        print("suites (powerpeg gameday NAME):")
        for b in suites:
            print(f"  {b.name:<{width}}  {b.description}")
    print(f"files: {experiments[0].path.parent if experiments else '(none)'}; "
          "a copy to edit: powerpeg init DIR")
    return EXIT_OK


def _listed(bundled: Bundled) -> dict[str, str]:
    return {"name": bundled.name, "path": str(bundled.path), "description": bundled.description}


def cmd_where(args: argparse.Namespace) -> int:
    print(where(args.kind))
    return EXIT_OK


def cmd_images(args: argparse.Namespace) -> int:
    from powerpeg.harness.images_cmd import cmd_images as images  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    return images(args, log=_logger())


def cmd_init(args: argparse.Namespace) -> int:
    from powerpeg.harness.init_cmd import cmd_init as init  # noqa: PLC0415 - keeps `powerpeg up` start-up light

    return init(args)


def cmd_schema(_args: argparse.Namespace) -> int:
    from powerpeg.harness.experiment.validate import json_schema  # noqa: PLC0415 - loads the fault registry

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from powerpeg.harness.run_cmd import cmd_run_async, prepare  # noqa: PLC0415 - the run machinery only for a run

    try:
        exp = prepare(args)  # before the loop and its signal handlers: see prepare
    except KeyboardInterrupt:
        return _fail("interrupted while loading the experiment; nothing was started")
    if isinstance(exp, int):
        return exp
    return _run(lambda: cmd_run_async(args, exp, log=_logger()))


def cmd_gameday(args: argparse.Namespace) -> int:
    from powerpeg.harness.gameday.runner import cmd_gameday_async  # noqa: PLC0415 - the run machinery only for a run

    bundled = find_suite(args.suite) if args.suite is not None else None
    if bundled is not None:  # `powerpeg gameday nightly`: the bundled suite, from any directory
        args.suite = bundled
    return _run(lambda: cmd_gameday_async(args, log=_logger()))


def cmd_ui(args: argparse.Namespace) -> int:
    from powerpeg.harness.ui.command import DEFAULT_FILE, cmd_ui_async  # noqa: PLC0415 - the run machinery only for a run

    bundled = find_experiment(args.file.stem if args.file == DEFAULT_FILE else args.file)
    if bundled is not None and not args.file.exists():  # a name, or the default outside a checkout
        args.file = bundled
    # not _run: the game day handles SIGTERM itself (it ends the run, it does not cancel it)
    return asyncio.run(cmd_ui_async(args, log=_logger()))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "up": cmd_up, "status": cmd_status, "env": cmd_env, "down": cmd_down, "cleanup": cmd_cleanup, "demo": cmd_demo,
    "validate": cmd_validate, "schema": cmd_schema, "run": cmd_run, "gameday": cmd_gameday,
    "ui": cmd_ui, "list": cmd_list, "where": cmd_where, "init": cmd_init,
    "images": cmd_images,
}


def _fail(message: str) -> int:
    print(f"powerpeg: error: {message}", file=sys.stderr)
    return EXIT_INFRA


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(_FileParser if command in FILE_COMMANDS else _Parser).parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (StartError, FleetError, ResourceMissing) as exc:
        return _fail(str(exc))
    except PluginError as exc:
        return _fail(f"{exc}\n(uninstall or fix that distribution; `pip show -f` lists its files)")
    except KeyboardInterrupt:
        if args.command in ("run", "gameday"):
            print("powerpeg: interrupted; rolled back, torn down and reported", file=sys.stderr)
        return _fail("interrupted; everything started was stopped")
    except asyncio.CancelledError:
        return _fail("terminated; everything started was stopped")


if __name__ == "__main__":
    sys.exit(main())
