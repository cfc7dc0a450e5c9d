"""The backend interface: what every place a fleet can run must offer.

A backend touches only what it started. Methods are coroutines but hold no
loop-bound resources between calls, so each can run in its own
``asyncio.run`` (one CLI invocation, one test fixture step).
"""
from __future__ import annotations

import abc
import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from harness.context import RunContext
from harness.load.config import LoadConfig
from harness.load.runner import LoadRunner
from harness.state import FleetState, read_current
from harness.topology import Topology

VERSIONS = ("v1", "v2")
MAX_ROUTERS = 64
_FIRM_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


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
    # component kind → argv prefix replacing `python -m targets.<kind>` (tests use fakes here)
    commands: dict[str, list[str]] = field(default_factory=dict)
    start_timeout: float = 20.0
    fork: bool = True  # start Python services from the fork server (harness/launcher.py)

    def router_ids(self) -> list[str]:
        return [f"router-{i}" for i in range(1, self.routers + 1)]

    def version_of(self, router_id: str) -> str:
        return self.versions.get(router_id, self.version)

    def validate(self) -> "FleetSpec":
        """Raise ValueError naming the bad setting."""
        if not 1 <= self.routers <= MAX_ROUTERS:
            raise ValueError(f"--routers must be between 1 and {MAX_ROUTERS}, got {self.routers}")
        if self.version not in VERSIONS:
            raise ValueError(f"--version must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        known = set(self.router_ids())
        for router_id, version in self.versions.items():
            if router_id not in known:
                raise ValueError(f"versions: no router {router_id!r} in a fleet of {self.routers}")
            if version not in VERSIONS:
                raise ValueError(f"versions[{router_id}] must be one of {', '.join(VERSIONS)}, got {version!r}")
        if not _FIRM_RE.match(self.firm):
            raise ValueError(f"--firm must be 1-16 upper-case letters/digits/_ starting with a letter, got {self.firm!r}")
        if not 0 <= self.open_in <= 86_400:
            raise ValueError(f"--open-in must be between 0 and 86400 seconds, got {self.open_in}")
        return self


class Backend(abc.ABC):
    """Stand up, change and tear down one fleet. Every backend records its
    fleet in the run's state file (``ctx.state_file``), which is what lets
    ``status``, ``down`` and ``cleanup`` find it from another process."""

    name: str
    ctx: RunContext

    def _state(self) -> FleetState:
        if not self.ctx.state_file.exists():
            raise NoFleet(f"no fleet is up for run {self.ctx.run_id}")
        return FleetState.load(self.ctx.state_file)

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

    @abc.abstractmethod
    async def up(self, spec: FleetSpec) -> Topology:
        """Start everything, wait until healthy, record the state."""

    @abc.abstractmethod
    async def down(self) -> list[tuple[str, str]]:
        """Stop what `up` started, in reverse order: (component, outcome) pairs."""

    @abc.abstractmethod
    async def health(self) -> dict[str, str]:
        """component → "ok" or what is wrong."""

    @abc.abstractmethod
    async def deploy(self, router_id: str, version: str) -> None:
        """Restart one router on another version (a partial deploy)."""

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


async def probe_health(session: aiohttp.ClientSession, url: str) -> str:
    """One component's health answer for `status`: "ok", "HTTP n" or "down (why)"."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return "ok" if resp.status == 200 else f"HTTP {resp.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"down ({type(exc).__name__})"


async def probe_topology(topology: Topology) -> dict[str, str]:
    """component → health answer for every endpoint of a fleet (toxiproxy by its /version)."""
    targets = {name: url + "/health" for name, url in topology.admin_urls().items()}
    if topology.toxiproxy is not None:
        targets["toxiproxy"] = topology.toxiproxy.api + "/version"
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(probe_health(session, url) for url in targets.values()))
    return dict(zip(targets, answers))
