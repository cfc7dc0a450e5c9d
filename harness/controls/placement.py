"""Where the bundled Prometheus control's two daemons run, and so which addresses its
configuration holds: the backend's business, not the control's.

- ``local`` (:class:`LocalProcesses`): the host's Debian binaries as processes of the run
  (``Backend.start_process``: recorded like the fleet's own, stopped by `down` and
  `cleanup`), on free loopback ports; the configuration names the fleet's host addresses
  and the token file's host path.
- ``compose`` (:class:`ComposeContainers`): two containers of the ``powerpeg-prometheus``
  image (the same binaries, `make images`) on the fleet's network, from the override file
  compose/control-prometheus.yml, started by the compose backend once the fleet is
  healthy and removed with it; the configuration names the services inside that network
  (``exchange:8080``, ``router-N:8080``, the alert sink directly or through toxiproxy) and
  the token file where the containers mount it. Their API ports are published on
  127.0.0.1, so the harness reads them (readiness, the pipeline stages) as on local.

Both write the same configuration (harness/controls/prometheus.py), from a :class:`Wiring`.
A backend missing here cannot run the control (swarm: its tasks may land on any node, and
no node but this one has the run's configuration to mount).
"""
from __future__ import annotations

import abc
import asyncio
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from powerpeg.harness.topology import Topology

from .base import ControlContext, ControlError
from .publish import INSIDE_BUNDLED, in_network as fleet_in_network, metrics_target

HOST = "127.0.0.1"
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
START_TIMEOUT_S = 30.0
DAEMONS = ("alertmanager", "prometheus")  # in start order: Prometheus pushes to Alertmanager

# compose/control-prometheus.yml: where the containers mount the run's configuration, and listen
CONFIG_IN_CONTAINER = "/etc/powerpeg-control"
PROMETHEUS_PORT_IN_NETWORK = INSIDE_BUNDLED["prometheus"]  # one table: what `env --inside` publishes
ALERTMANAGER_PORT_IN_NETWORK = INSIDE_BUNDLED["alertmanager"]


def find(binaries: tuple[str, ...]) -> str | None:
    for name in binaries:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def hostport(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@dataclass(frozen=True)
class Wiring:
    """The addresses the configuration holds, as the daemons reach them where they run."""

    exchange: str  # host:port serving the exchange's /metrics
    routers: tuple[tuple[str, str], ...]  # (router id, host:port serving its /metrics)
    alertmanager: str  # host:port Prometheus pushes its alerts to
    page_url: str  # the alert sink's Alertmanager receiver (POST /alertmanager)
    kill_url: str  # the exchange's POST /kill/alertmanager
    token_file: str  # the fleet's token, a file the daemons read (never in the config itself)

    @classmethod
    def on_host(cls, topology: Topology, *, alertmanager: str, token_file: str) -> Wiring:
        """Processes on this host: the fleet's published addresses (through the ``->alerts``
        proxy when Toxiproxy runs here, so a fault on that link reaches Alertmanager's pages)."""
        return cls(exchange=hostport(topology.exchange.admin),
                   routers=tuple((r.id, hostport(r.admin)) for r in topology.routers),
                   alertmanager=alertmanager, page_url=f"{topology.alerts_for_controls()}/alertmanager",
                   kill_url=f"{topology.exchange.admin}/kill/alertmanager", token_file=token_file)

    @classmethod
    def in_network(cls, topology: Topology, *, alertmanager: str, token_file: str) -> Wiring:
        """Containers on the fleet's network: what `powerpeg env --inside` prints to a firm's own."""
        c = fleet_in_network(topology)
        return cls(exchange=metrics_target(c["metrics"]["exchange"]),
                   routers=tuple((r.id, metrics_target(c["metrics"][r.id])) for r in topology.routers),
                   alertmanager=alertmanager, page_url=c["receivers"]["alertmanager"],
                   kill_url=c["kill"]["alertmanager"], token_file=token_file)


WriteConfig = Callable[[Wiring], None]


class Placement(abc.ABC):
    """How one backend runs the control's daemons."""

    backend: ClassVar[str]

    def unavailable(self) -> str | None:
        """Why this machine cannot run them now (a binary, an image missing), or None. Asked before
        the fleet starts, so a run that cannot have its control does not start one."""
        return None

    @abc.abstractmethod
    async def start(self, ctx: ControlContext, write: WriteConfig) -> dict[str, str]:
        """Write the configuration for where they run (``write``), start Alertmanager then
        Prometheus, wait until both answer; their base URLs as the harness reaches them."""


class LocalProcesses(Placement):
    """The Debian binaries on this host, processes of the run on free loopback ports."""

    backend = "local"

    def unavailable(self) -> str | None:
        if find(PROMETHEUS_BINARIES) is None or find(ALERTMANAGER_BINARIES) is None:
            return ("the prometheus control needs the prometheus and prometheus-alertmanager binaries "
                    "(apt-get install prometheus prometheus-alertmanager)")
        return None

    async def start(self, ctx: ControlContext, write: WriteConfig) -> dict[str, str]:
        prom_bin, am_bin = find(PROMETHEUS_BINARIES), find(ALERTMANAGER_BINARIES)
        if prom_bin is None or am_bin is None:
            raise ControlError(f"prometheus control: {self.unavailable()}")
        d = ctx.directory
        socks = [_reserve(), _reserve()]
        try:
            prom_port, am_port = (s.getsockname()[1] for s in socks)
            write(Wiring.on_host(ctx.topology, alertmanager=f"{HOST}:{am_port}", token_file=str(d / "token")))
            am = await ctx.backend.start_process("alertmanager", [
                am_bin, f"--config.file={d / 'alertmanager.yml'}", f"--storage.path={d / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{am_port}", "--cluster.listen-address=", "--log.level=info",
            ])
            prom = await ctx.backend.start_process("prometheus", [
                prom_bin, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'prometheus-data'}",
                f"--web.listen-address={HOST}:{prom_port}", "--storage.tsdb.retention.time=1d", "--log.level=info",
            ])
            urls = {"prometheus": f"http://{HOST}:{prom_port}", "alertmanager": f"http://{HOST}:{am_port}"}
            await asyncio.gather(*(_wait_up(name, urls[name], ctx, gone=_process_gone(proc),
                                            log=_log_tail(ctx, name))
                                   for name, proc in (("alertmanager", am), ("prometheus", prom))))
        finally:
            for sock in socks:
                sock.close()
        return urls


class ComposeContainers(Placement):
    """Two containers of powerpeg-prometheus on the fleet's network (compose/control-prometheus.yml)."""

    backend = "compose"

    def unavailable(self) -> str | None:
        from powerpeg.harness.backends.compose import docker as dk  # noqa: PLC0415 - the Docker SDK only for compose
        from powerpeg.harness.backends.compose.env import PROMETHEUS_IMAGE  # noqa: PLC0415 - as above

        try:
            with dk.docker_client() as engine:
                missing = dk.missing_images(engine, [PROMETHEUS_IMAGE])
        except dk.DockerUnavailable:
            return None  # no engine: the backend's own start says so, for the whole fleet
        if not missing:
            return None
        return (f"the compose backend runs the prometheus control from the {PROMETHEUS_IMAGE} image, which is not "
                "built: `make images` builds it from this host's prometheus and prometheus-alertmanager binaries "
                "(apt-get install prometheus prometheus-alertmanager)")

    async def start(self, ctx: ControlContext, write: WriteConfig) -> dict[str, str]:
        from powerpeg.harness.backends.base import FleetError  # noqa: PLC0415 - backends import the controls' base
        from powerpeg.harness.backends.compose.env import CONTROL_FILES, free_port  # noqa: PLC0415 - compose only

        write(Wiring.in_network(ctx.topology, alertmanager=f"alertmanager:{ALERTMANAGER_PORT_IN_NETWORK}",
                                token_file=f"{CONFIG_IN_CONTAINER}/token"))
        ports = {"prometheus": free_port(), "alertmanager": free_port()}
        while ports["prometheus"] == ports["alertmanager"]:
            ports["alertmanager"] = free_port()
        try:
            await ctx.backend.start_services(CONTROL_FILES["prometheus"], list(DAEMONS),
                                             compose_env(ctx.directory, ports))
        except FleetError as exc:
            raise ControlError(f"prometheus control: its containers did not start: {exc}") from None
        urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
        await asyncio.gather(*(_wait_up(name, urls[name], ctx, gone=_container_gone(ctx, name),
                                        log=_container_log(ctx, name)) for name in DAEMONS))
        return urls


def compose_env(directory: Path, ports: dict[str, int]) -> dict[str, str]:
    """The variables compose/control-prometheus.yml reads, for one run."""
    return {
        # the mount must name the directory as the engine sees it: absolute
        "PP_CONTROL_DIR": str(directory.resolve()),
        "PP_PROMETHEUS_PORT": str(ports["prometheus"]),
        "PP_ALERTMANAGER_PORT": str(ports["alertmanager"]),
        # the owner of the 0600 token file reads it; nothing runs as root
        "PP_CONTROL_USER": f"{os.getuid()}:{os.getgid()}",
    }


PLACEMENTS: dict[str, Placement] = {p.backend: p for p in (LocalProcesses(), ComposeContainers())}


def _reserve() -> socket.socket:
    """A free loopback port held (bound, not listening) until the binary binds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


def _process_gone(proc: Any) -> Callable[[], Awaitable[str | None]]:
    async def gone() -> str | None:
        from powerpeg.harness.procs import exit_reason  # noqa: PLC0415 - process helpers only when starting one

        code = proc.poll()
        return None if code is None else exit_reason(code)

    return gone


def _log_tail(ctx: ControlContext, name: str) -> Callable[[], Awaitable[str]]:
    async def log() -> str:
        from powerpeg.harness.procs import tail  # noqa: PLC0415 - process helpers only when starting one

        return str(tail(ctx.backend.ctx.log_path(name)))

    return log


def _container_gone(ctx: ControlContext, name: str) -> Callable[[], Awaitable[str | None]]:
    async def gone() -> str | None:
        state = await ctx.backend.process_state(name)
        return None if state in (None, "created") else f"stopped (container {state})"

    return gone


def _container_log(ctx: ControlContext, name: str) -> Callable[[], Awaitable[str]]:
    async def log() -> str:
        return str(await asyncio.to_thread(ctx.backend.logs, name, 30))

    return log


async def _wait_up(name: str, url: str, ctx: ControlContext, *, gone: Callable[[], Awaitable[str | None]],
                   log: Callable[[], Awaitable[str]]) -> None:
    """``/-/ready`` answers 200, or ControlError with the last lines of its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            async with ctx.http.get(f"{url}/-/ready", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                if resp.status == 200:
                    ctx.log.info("control_ready", target=name, url=url)
                    return
        except (TimeoutError, aiohttp.ClientError):
            pass
        reason = await gone()
        if reason is not None:
            raise ControlError(f"{name} {reason} before it was ready:\n{await log()}")
        if time.monotonic() > deadline:
            raise ControlError(f"{name} not ready after {START_TIMEOUT_S:.0f} s:\n{await log()}")
        await asyncio.sleep(0.05)
