"""The backend interface: what every place a fleet can run must offer, and
what every backend does the same way around it (the start and finish of
`up`, forgetting a run).

A backend touches only what it started. Methods are coroutines but hold no
loop-bound resources between calls, so each can run in its own
``asyncio.run`` (one CLI invocation, one test fixture step).
"""
from __future__ import annotations

import abc
import asyncio
import dataclasses
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from powerpeg.harness.context import RunContext
from powerpeg.harness.experiment.model import VERSIONS, FleetShape
from powerpeg.harness.experiment.validate import check as check_experiment
from powerpeg.harness.load.config import LoadConfig
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.state import FleetState, clear_current, read_current, write_current
from powerpeg.harness.topology import Topology

MAX_OPEN_IN_S = 86_400
FIX_CLIENT_RE = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}$")


class FleetError(Exception):
    """Infrastructure failure (CLI exit 3); the message is for the user."""


class NoFleet(FleetError):
    """No fleet is up (or it was torn down already)."""


def active_context(home: Path, run_id: str | None, log: Any) -> RunContext:
    """The context of the active run (or of ``run_id``), token still empty; NoFleet if none."""
    run_id = run_id or read_current(home)
    if run_id is None:
        raise NoFleet(f"no fleet is up (nothing in {home / 'current'}); start one with `powerpeg up`")
    return RunContext(run_id=run_id, home=home, token="", log=log)


@dataclass
class FleetSpec:
    """What to stand up. Extra argv per component kind is for tests and experiments."""

    routers: int = 8
    version: str = "v2"
    versions: dict[str, str] = field(default_factory=dict)  # router id → version, overrides `version`
    firm: str = "KNIGHT"
    exchange_comp_id: str = "EXCHANGE"
    open_in: float = 0.0
    toxiproxy: bool = True  # use it when the binary exists
    require_toxiproxy: bool = False
    exchange_args: list[str] = field(default_factory=list)
    router_args: list[str] = field(default_factory=list)
    monitor_args: list[str] = field(default_factory=list)
    alerts_args: list[str] = field(default_factory=list)
    # the monitor runs passive and wired to nothing (no drop copy, no pager, no kill switch): a
    # firm's own controls are measured instead (controls.external); routers still register parents
    monitor_detached: bool = False
    # the alert sink takes the fleet's PagerDuty routing key (topology.pagerduty_routing_key) on page
    pagerduty_route: bool = True
    # CompIDs the exchange admits besides the routers' and the firm's (a firm's own FIX engine, test
    # clients); each gets a password derived from the token (`status --json` "fix")
    fix_clients: list[str] = field(default_factory=list)
    # component kind → argv prefix replacing `python -m powerpeg.targets.<kind>` (tests use fakes here)
    commands: dict[str, list[str]] = field(default_factory=dict)
    start_timeout: float = 20.0
    fork: bool = True  # start Python services from the fork server (backends/local/launcher.py)
    # an orchestrator's fleet (swarm backend only, Backend.orchestrated): the routers as ONE replicated
    # service (partial_deploy mode: rolling), and placement constraints per component kind
    replicated_routers: bool = False
    placement: dict[str, str] = field(default_factory=dict)

    def router_ids(self) -> list[str]:
        return [f"router-{i}" for i in range(1, self.routers + 1)]

    def version_of(self, router_id: str) -> str:
        return self.versions.get(router_id, self.version)

    def validate(self) -> FleetSpec:
        """Raise ValueError naming the bad setting.

        Routers, versions and firm follow the experiment file's own rules (its
        `topology:` section, :class:`FleetShape`, and the semantic checks of
        `powerpeg validate`), so the CLI and the experiments accept the same
        fleets; only ``open_in`` is the spec's own."""
        try:
            shape = FleetShape.model_validate(
                {"routers": self.routers, "version": self.version, "versions": self.versions, "firm": self.firm},
                strict=True)
        except ValidationError as exc:
            raise ValueError(_explain(exc.errors()[0])) from None
        errors = check_experiment(shape, None, None, [], faults={})  # the topology's checks alone
        if errors:
            (_section, name, *_rest), message = errors[0]
            raise ValueError(f"{name}: {message}")
        if not 0 <= self.open_in <= MAX_OPEN_IN_S:
            raise ValueError(f"--open-in must be between 0 and {MAX_OPEN_IN_S} seconds, got {self.open_in}")
        for comp_id in self.fix_clients:
            if not FIX_CLIENT_RE.match(comp_id):
                raise ValueError(f"--fix-client must be 1-32 upper-case letters, digits, '-' or '_', got {comp_id!r}")
        return self


def _explain(error: ErrorDetails) -> str:
    """A FleetShape error in the words of the setting that caused it."""
    name, *rest = error["loc"]
    if name == "routers" and error["type"] in ("greater_than_equal", "less_than_equal"):
        bounds = {key: getattr(m, key) for m in FleetShape.model_fields["routers"].metadata
                  for key in ("ge", "le") if hasattr(m, key)}
        return f"--routers must be between {bounds['ge']} and {bounds['le']}, got {error['input']!r}"
    if name == "version":
        return f"--version must be one of {', '.join(VERSIONS)}, got {error['input']!r}"
    if name == "versions" and rest and error["type"] == "literal_error":
        return f"versions[{rest[0]}] must be one of {', '.join(VERSIONS)}, got {error['input']!r}"
    if name == "firm" and error["type"] == "string_pattern_mismatch":
        return f"--firm must be 1-16 upper-case letters/digits/_ starting with a letter, got {error['input']!r}"
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}, got {error['input']!r}"


def check_version(version: str) -> None:
    """ValueError unless ``version`` is one a router can be deployed at."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")


def remove_run(ctx: RunContext, run_id: str) -> None:
    """Forget a run: its state directory, and `current` if it names the run."""
    shutil.rmtree(ctx.runs_dir / run_id, ignore_errors=True)
    clear_current(ctx.home, run_id)


class Backend(abc.ABC):
    """Stand up, change and tear down one fleet. Every backend records its
    fleet in the run's state file (``ctx.state_file``), which is what lets
    ``status``, ``down`` and ``cleanup`` find it from another process.

    `up`, `down`'s forgetting of the run and `deploy`'s record are the same
    for every backend and live here; a backend supplies the steps between
    (``_prepare``, ``_start``, ``_stop``, ``_redeploy``)."""

    name: str
    ctx: RunContext
    # an orchestrator stands the fleet up: replicated routers and placement constraints are its to honour
    orchestrated: bool = False

    def _state(self) -> FleetState:
        if not self.ctx.state_file.exists():
            raise NoFleet(f"no fleet is up for run {self.ctx.run_id}")
        return FleetState.load(self.ctx.state_file)

    def _log(self, event: str, **kw: Any) -> None:
        if self.ctx.log is not None:
            self.ctx.log.info(event, **kw)

    def topology(self) -> Topology:
        """Endpoints of the fleet that is up (NoFleet if none)."""
        state = self._state()
        if state.topology is None:
            raise NoFleet(f"run {self.ctx.run_id} never finished starting; run `powerpeg cleanup`")
        return state.topology

    def load_runner(self, config: LoadConfig, out_dir: Path, log: Any) -> LoadRunner:
        """Where this backend runs an experiment's Locust: processes on this machine
        (a single one, or a master and ``config.workers`` workers on loopback)."""
        return LoadRunner(config, out_dir, log=log)

    # -- up ---------------------------------------------------------------
    async def up(self, spec: FleetSpec) -> Topology:
        """Start everything, wait until healthy, record the state.

        The state file is written before anything starts, so `down` and
        `cleanup` find a half-started fleet from another process. Any failure
        (Ctrl-C and SIGTERM, a cancelled task, included) stops what was
        started before it is raised, keeping the logs for reading."""
        if not self.orchestrated and (spec.replicated_routers or spec.placement):
            wanted = "partial_deploy mode: rolling" if spec.replicated_routers else "topology.placement"
            raise FleetError(f"{wanted} needs an orchestrator: run it with --backend swarm, not {self.name}")
        self._check(spec)
        if self.ctx.state_file.exists():
            raise FleetError(f"run {self.ctx.run_id} already exists at {self.ctx.state_dir}")
        plan = await self._prepare(spec)
        self.ctx.logs_dir.mkdir(parents=True, exist_ok=True)
        state = FleetState(run_id=self.ctx.run_id, topology=None, created_ns=time.time_ns())
        state.save(self.ctx.state_file)
        started = time.monotonic()
        try:
            topology = await self._start(spec, plan, state)
        except BaseException:
            await asyncio.shield(self._teardown(state, keep_logs=True))
            raise
        state.topology = topology
        state.save(self.ctx.state_file)
        write_current(self.ctx.home, self.ctx.run_id)
        self._log("fleet_up", routers=spec.routers, seconds=round(time.monotonic() - started, 3))
        return topology

    def _check(self, spec: FleetSpec) -> None:
        """Refuse a spec this backend cannot stand up (before anything else)."""
        spec.validate()

    @abc.abstractmethod
    async def _prepare(self, spec: FleetSpec) -> Any:
        """What `_start` needs that can still refuse the fleet before anything
        is written (a binary, an engine, images); passed on as ``plan``."""

    @abc.abstractmethod
    async def _start(self, spec: FleetSpec, plan: Any, state: FleetState) -> Topology:
        """Start every component and wait until healthy. ``state`` is saved
        already; what is started is recorded in it or found by the run's labels."""

    # -- down -------------------------------------------------------------
    @abc.abstractmethod
    async def down(self) -> list[tuple[str, str]]:
        """Stop what `up` started, in reverse order: (component, outcome) pairs."""

    async def _teardown(self, state: FleetState | None = None, *,
                        keep_logs: bool = False) -> list[tuple[str, str]]:
        """Stop what the run started (``_stop``), then forget the run: all of
        it, or with ``keep_logs`` (a failed start) all but its logs."""
        outcomes = await self._stop(state, keep_logs=keep_logs)
        if keep_logs:
            self.ctx.state_file.unlink(missing_ok=True)
            for path in self._records():
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            clear_current(self.ctx.home, self.ctx.run_id)
        else:
            remove_run(self.ctx, self.ctx.run_id)
        return outcomes

    @abc.abstractmethod
    async def _stop(self, state: FleetState | None, *, keep_logs: bool) -> list[tuple[str, str]]:
        """Stop everything the run started: ``state`` as `up` recorded it so far,
        or None to read the state file. ``keep_logs``: `up` failed."""

    def _records(self) -> list[Path]:
        """The backend's own files in the state directory, gone with the state file."""
        return []

    # -- observing and faults ---------------------------------------------
    @abc.abstractmethod
    async def health(self) -> dict[str, str]:
        """component → "ok" or what is wrong."""

    async def deploy(self, router_id: str, version: str) -> None:
        """Restart one router on another version (a partial deploy), and record the version."""
        check_version(version)
        await self._redeploy(router_id, version)
        state = self._state()
        assert state.topology is not None
        routers = tuple(dataclasses.replace(r, version=version) if r.id == router_id else r
                        for r in state.topology.routers)
        state.topology = dataclasses.replace(state.topology, routers=routers)
        state.save(self.ctx.state_file)

    async def start_process(self, component: str, argv: list[str]) -> Any:
        """Start a process of the run after `up` (a bundled control, harness/controls), recorded
        like the fleet's own so `down` and `cleanup` stop it; Popen-like (``pid``, ``poll()``)."""
        raise FleetError(f"the {self.name} backend cannot start {component} as a process of the run")

    def record_controls(self, endpoints: dict[str, str]) -> Topology:
        """Add bundled controls' endpoints to the fleet's topology (`status --json`, `powerpeg env`)."""
        state = self._state()
        assert state.topology is not None
        state.topology = dataclasses.replace(state.topology, controls={**state.topology.controls, **endpoints})
        state.save(self.ctx.state_file)
        return state.topology

    @abc.abstractmethod
    async def _redeploy(self, router_id: str, version: str) -> None:
        """Run ``router_id`` on ``version`` instead, at the same address."""

    @abc.abstractmethod
    async def kill(self, component: str) -> None:
        """SIGKILL-equivalent: no clean shutdown."""

    @abc.abstractmethod
    async def pause(self, component: str) -> None:
        """Freeze without stopping (SIGSTOP-equivalent)."""

    @abc.abstractmethod
    async def resume(self, component: str) -> None:
        """Undo `pause`."""

    @abc.abstractmethod
    async def restart(self, component: str) -> None:
        """Stop and start again on the same addresses."""

    @abc.abstractmethod
    def logs(self, component: str, lines: int = 50) -> str:
        """The last lines of a component's output."""

    def placement(self, component: str) -> dict[str, str]:
        """Where the last kill/pause/resume of ``component`` acted, for the fault's event
        (swarm: the task and its node); empty where there is only this machine."""
        return {}

    async def process_state(self, component: str) -> str | None:
        """Why ``component``'s process is not running ("exited", "paused"), or None: it runs, or this
        backend cannot tell. Cheap enough to ask after each failed read of a part."""
        return None

    async def copy_journal(self, dest: Path) -> str:
        """Copy the exchange's journal file to ``dest`` without asking the exchange, which may be dead
        (the ground truth must outlive it); how it was done, or FleetError."""
        raise FleetError(f"the {self.name} backend cannot reach the exchange journal without the exchange")


async def probe_health(session: aiohttp.ClientSession, url: str) -> str:
    """One component's health answer for `status`: "ok", "HTTP n" or "down (why)"."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return "ok" if resp.status == 200 else f"HTTP {resp.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        return f"down ({type(exc).__name__})"


async def probe_topology(topology: Topology) -> dict[str, str]:
    """component → health answer for every endpoint of a fleet (toxiproxy by its /version)."""
    targets = {name: url + "/health" for name, url in topology.admin_urls().items()}
    if topology.toxiproxy is not None:
        targets["toxiproxy"] = topology.toxiproxy.api + "/version"
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(probe_health(session, url) for url in targets.values()))
    return dict(zip(targets, answers, strict=True))


class ContainerBackend(Backend):
    """What the container backends (compose, swarm) share around the base: a run found by its
    recorded topology, and logs that say which backend wrote them."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    @classmethod
    def attach(cls, home: Path, run_id: str | None = None, log: Any = None) -> Self:
        ctx = active_context(home, run_id, log)
        backend = cls(ctx)
        ctx.token = backend.topology().token
        return backend

    def _log(self, event: str, **kw: Any) -> None:
        super()._log(event, backend=self.name, **kw)

    @abc.abstractmethod
    async def _act(self, component: str, action: str) -> None:
        """``kill`` (SIGKILL, returning once it stopped; on swarm the task is not restarted), ``pause``
        or ``resume`` on the component's container."""

    async def kill(self, component: str) -> None:
        await self._act(component, "kill")

    async def pause(self, component: str) -> None:
        await self._act(component, "pause")

    async def resume(self, component: str) -> None:
        await self._act(component, "resume")
