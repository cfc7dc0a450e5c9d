"""Locust as a subprocess: headless, one local process or a master with N
workers on loopback; its stats and the parents it got accepted.

Every Locust process runs in its own process group with ``POWERPEG_RUN_ID``
in its environment (``powerpeg cleanup`` finds it like a fleet process), and
with ``--run-time`` as a hard bound so the load stops by itself even when the
harness dies. ``stop()`` is idempotent and belongs in a ``finally``.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import procs
from powerpeg.harness.context import RUN_ID_ENV, TOKEN_ENV
from powerpeg.harness.experiment.model import Load
from powerpeg.harness.topology import Topology

from .config import CONFIG_ENV, LoadConfig, SymbolRef, router_targets
from .control import LoadControl
from .stats import LoadStats, read_parents

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Locust waits this long for users mid-request on stop; our SIGTERM grace is a bit more
STOP_TIMEOUT_S = 2
STOP_GRACE_S = STOP_TIMEOUT_S + 3.0

# Locust is the harness's tool, not the system under test: on a 2-core machine
# it must not take the CPU the monitor and the exchange need to detect and kill
LOAD_NICE = 10


class LoadError(Exception):
    """Locust did not start (the message holds the end of its log)."""


@dataclass
class LocustProc:
    name: str  # "locust" (single process), "master" or "worker-N"
    popen: subprocess.Popen
    ident: procs.ProcIdentity
    log_path: Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def locust_processes(run_id: str) -> list[int]:
    """Pids of live Locust processes of ``run_id`` (the fleet's own processes share the id)."""
    found = []
    for ident in procs.run_processes(run_id):
        try:
            cmdline = Path(f"/proc/{ident.pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # every Locust the runner starts is `python -m locust ...`
        if cmdline.split(b"\0")[1:3] == [b"-m", b"locust"]:
            found.append(ident.pid)
    return found


async def fetch_universe(admin_url: str) -> list[SymbolRef]:
    """The exchange's symbols and reference prices, in its order."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(f"{admin_url}/symbols") as resp:
            if resp.status != 200:
                raise LoadError(f"GET {admin_url}/symbols -> {resp.status}")
            return [SymbolRef.model_validate(item) for item in await resp.json()]


async def config_for_fleet(load: Load, topology: Topology, *, symbol_count: int, open_at_ns: int, seed: int,
                           duration_s: float, out_dir: Path, **kwargs: Any) -> LoadConfig:
    """The load's config for a fleet that is up: its routers, token and the exchange's symbols."""
    return LoadConfig.build(load, run_id=topology.run_id, routers=router_targets(topology), token=topology.token,
                            universe=await fetch_universe(topology.exchange.admin), symbol_count=symbol_count,
                            open_at_ns=open_at_ns, seed=seed, duration_s=duration_s, out_dir=out_dir, **kwargs)


class LoadRunner:
    """One run's load: ``start()``, the live ``control``, ``stats()``, ``parents()``, ``stop()``.

    Locust runs as processes of this machine (``where``); the compose backend's
    variant runs it in containers. Its files live in ``out_dir``: ``load.json`` (the config), ``control.json``,
    ``parents/``, Locust's ``locust_*.csv``, ``locust_final.json`` and one log
    per Locust process.
    """

    where = "processes"

    def __init__(self, config: LoadConfig, out_dir: Path, log: Any, *, python: str = sys.executable,
                 start_timeout: float = 30.0, web_port: int | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.config = config
        # web mode (`powerpeg ui`): Locust's web UI on 127.0.0.1:web_port instead of --headless
        self.web_port = web_port
        self.extra_env = dict(extra_env or {})
        self.out_dir = Path(out_dir)
        self.log = log.bind(component="load")
        self.python = python
        self.start_timeout = start_timeout
        self.control = LoadControl(Path(config.control_file), config.mix, config.open_at_ns)
        self.procs: list[LocustProc] = []
        self._started = False
        self._stopped = False

    @property
    def config_path(self) -> Path:
        return self.out_dir / "load.json"

    @property
    def csv_prefix(self) -> Path:
        return self.out_dir / "locust"

    def commands(self, master_port: int | None = None) -> list[tuple[str, list[str]]]:
        """(name, argv) of every Locust process; ``master_port`` is needed with workers."""
        cfg = self.config
        base = [self.python, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
        # web mode: Locust's login page (operator name + the fleet's token, checked by chaos_web) guards its UI
        mode = (["--headless"] if self.web_port is None
                else ["--web-host", "127.0.0.1", "--web-port", str(self.web_port), "--autostart", "--web-login"])
        # whole seconds, rounded up: the bound must never cut the run short
        run = [*mode, "-u", str(cfg.users), "-r", f"{cfg.spawn_rate:g}", "--host", "http://127.0.0.1",
               "--csv", str(self.csv_prefix), "--only-summary", "--run-time", f"{int(-(-cfg.run_time // 1))}s",
               "--stop-timeout", str(STOP_TIMEOUT_S)]
        if cfg.workers == 0:
            return [("locust", base + run)]
        if master_port is None:
            raise ValueError("a master port is needed to run workers")
        master = base + run + ["--master", "--expect-workers", str(cfg.workers),
                               "--expect-workers-max-wait", str(int(self.start_timeout)),
                               "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
        worker = base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
        return [("master", master)] + [(f"worker-{i}", list(worker)) for i in range(1, cfg.workers + 1)]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[RUN_ID_ENV] = self.config.run_id
        env[CONFIG_ENV] = str(self.config_path)
        # the token reaches Locust in the config file (mode 0600), not the environment
        env.pop(TOKEN_ENV, None)
        env.update(self.extra_env)
        return env

    async def start(self) -> None:
        """Launch Locust and return once the test is running (LoadError if it is not)."""
        if self._started:
            raise LoadError("the load was started already")
        self._started = True
        if self.config.users == 0:
            self.log.info("load_skipped", reason="0 users")
            return
        self._prepare_files()
        try:
            await self._launch()
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        self.log.info("load_started", users=self.config.users, workers=self.config.workers, where=self.where,
                      routers=len(self.config.routers), pids=[p.popen.pid for p in self.procs])

    async def _launch(self) -> None:
        """Spawn the Locust processes (one, or a master and its workers)."""
        port = free_port() if self.config.workers else None
        env = self.env()
        for name, argv in self.commands(port):
            log_path = self.out_dir / f"{name}.log"
            popen = procs.spawn(argv, env=env, log_path=log_path, nice=LOAD_NICE)
            ident = procs.ProcIdentity.of(popen.pid) or procs.ProcIdentity(popen.pid, 0)
            self.procs.append(LocustProc(name, popen, ident, log_path))

    def _prepare_files(self) -> None:
        """The config Locust reads, and no ready/final file left from an earlier start."""
        self.config.write(self.config_path)
        Path(self.config.ready_file).unlink(missing_ok=True)
        Path(self.config.final_stats_file).unlink(missing_ok=True)
        Path(self.config.parents_dir).mkdir(parents=True, exist_ok=True)

    async def _wait_ready(self) -> None:
        ready = Path(self.config.ready_file)
        deadline = time.monotonic() + self.start_timeout
        while not ready.exists():
            for proc in self.procs:
                code = proc.popen.poll()
                if code is not None:
                    raise LoadError(f"Locust {proc.name} {procs.exit_reason(code)} before the load started\n"
                                    f"--- last lines of {proc.log_path} ---\n{procs.tail(proc.log_path)}")
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name} ---\n{procs.tail(p.log_path)}" for p in self.procs)
                raise LoadError(f"Locust did not start the load within {self.start_timeout:.0f} s\n{tails}")
            await asyncio.sleep(0.05)

    def running(self) -> bool:
        return any(p.popen.poll() is None for p in self.procs)

    async def stop(self) -> None:
        """SIGTERM, wait, SIGKILL; the master first (it tells its workers to quit). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        outcomes: dict[str, str] = {}
        for proc in self.procs:
            outcomes[proc.name] = await procs.stop(proc.ident, grace=STOP_GRACE_S)
            # procs.stop may have reaped it already; poll() then just records it
            proc.popen.poll()
        if self.procs:
            self.log.info("load_stopped", outcomes=outcomes)

    async def __aenter__(self) -> LoadRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def stats(self) -> LoadStats:
        """Locust's Aggregated numbers: live (up to a second old) while it runs, final once it quit."""
        return LoadStats.from_files(self.out_dir / "locust_stats.csv", Path(self.config.final_stats_file))

    def parents(self) -> list[dict[str, Any]]:
        """Every parent a router answered 202 for, oldest first."""
        return read_parents(Path(self.config.parents_dir))
