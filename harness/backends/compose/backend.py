"""The compose backend: the same fleet as local, one container per component
(compose/docker-compose.yml), up and down through Docker Compose; faults on
containers through the Docker SDK; network faults through the toxiproxy
container's API, published on 127.0.0.1.

Start order mirrors local: alerts, exchange and toxiproxy; then the proxies;
then the monitor and the routers. A bundled control's services (an override
file, compose/control-*.yml) start after that, through :meth:`start_services`.
State-file discipline is the base's (``Backend.up``): the state file, and
here the compose project with its variables (``compose.json``), are written
before anything starts, so `down` and `cleanup` find the run from another
process; and every container, network and volume carries the run's labels,
so `cleanup` finds them even without a state file.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import procs, toxi
from powerpeg.harness.backends.base import ContainerBackend, FleetError, FleetSpec, NoFleet, probe_topology
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.env import (
    COMPOSE_FILE,
    ComposePlan,
    HostPorts,
    check_spec,
    router_image,
)
from powerpeg.harness.backends.compose.load import ComposeLoadRunner
from powerpeg.harness.load.config import LoadConfig
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.state import FleetState
from powerpeg.harness.topology import Topology

# the exchange's --journal in compose/docker-compose.yml (on the run's `journal` volume)
JOURNAL_IN_CONTAINER = "/var/lib/powerpeg/journal.jsonl"
HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5
KILL_WAIT_S = 10  # a killed container is reported stopped within this


@dataclasses.dataclass(frozen=True)
class ComposeRecord:
    """What `down` needs to run Compose again for this run (compose.json)."""

    project: str
    file: str
    env: dict[str, str]
    ports: HostPorts
    # override files whose services were started after `up` (a bundled control's): every later
    # Compose command is given them, so `down` stops and removes those containers with the fleet's
    overrides: tuple[str, ...] = ()

    def files(self) -> list[str]:
        """``--file`` options after the first (the compose file: ``file``) for every Compose command."""
        return [arg for override in self.overrides for arg in ("--file", override)]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"project": self.project, "file": self.file, "env": self.env,
                                   "ports": self.ports.to_json(), "overrides": list(self.overrides)}, indent=2))
        tmp.chmod(0o600)  # the environment holds the token
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ComposeRecord:
        data = json.loads(path.read_text())
        return cls(data["project"], data["file"], dict(data["env"]), HostPorts.from_json(data["ports"]),
                   tuple(data.get("overrides", ())))


class ComposeBackend(ContainerBackend):
    name = "compose"

    # -- state ------------------------------------------------------------
    @property
    def record_file(self) -> Path:
        return self.ctx.state_dir / "compose.json"

    def load_runner(self, config: LoadConfig, out_dir: Path, log: Any) -> LoadRunner:
        """With workers, Locust runs in the compose file's ``load`` profile, next to the fleet
        (a master and ``config.workers`` worker containers); a single Locust stays a local process."""
        if config.workers == 0:
            return super().load_runner(config, out_dir, log)
        record = ComposeRecord.load(self.record_file)
        return ComposeLoadRunner(config, out_dir, log, project=record.project, file=record.file, env=record.env,
                                 run_id=self.ctx.run_id)

    # -- up / down --------------------------------------------------------
    def _check(self, spec: FleetSpec) -> None:
        try:
            check_spec(spec)
        except ValueError as exc:
            raise FleetError(str(exc)) from None

    async def _prepare(self, spec: FleetSpec) -> ComposePlan:
        plan = ComposePlan(run_id=self.ctx.run_id, home=str(self.ctx.home.resolve()), token=self.ctx.token,
                           spec=spec, ports=HostPorts.allocate(spec.router_ids()))
        await asyncio.to_thread(dk.require, plan.images())
        return plan

    async def _start(self, spec: FleetSpec, plan: ComposePlan, state: FleetState) -> Topology:
        record = ComposeRecord(plan.project, str(COMPOSE_FILE), plan.environment(), plan.ports)
        # saved before Compose runs: a crash from here on is found by `down`/`cleanup`
        record.save(self.record_file)
        topology = plan.topology(str(self.ctx.state_dir), logs={})
        async with aiohttp.ClientSession() as session:
            await self._compose(record, "up", "--detach", "--no-deps", *plan.first_services())
            waits = [self._wait_health(session, "alerts", topology.alerts.admin),
                     self._wait_health(session, "exchange", topology.exchange.admin)]
            if plan.toxiproxy:
                waits.append(self._create_proxies(session, plan, topology))
            await asyncio.gather(*waits)
            await self._compose(record, "up", "--detach", "--no-deps", *plan.second_services())
            await asyncio.gather(self._wait_health(session, "monitor", topology.monitor.admin),
                                 *(self._wait_health(session, r.id, r.admin) for r in topology.routers))
        names = {c.labels.get("com.docker.compose.service"): c.name
                 for c in await asyncio.to_thread(self._containers)}
        return dataclasses.replace(topology, logs={svc: f"docker logs {name}" for svc, name in names.items()})

    def _containers(self) -> list[Any]:
        """This run's containers (of every service, running or not)."""
        with dk.docker_client() as engine:
            return dk.containers(engine, dk.run_filter(self.ctx.run_id))

    async def _compose(self, record: ComposeRecord, *args: str) -> str:
        return await dk.compose(record.project, record.file, record.env, *record.files(), *args)

    async def start_services(self, override: Path, services: list[str], env: dict[str, str]) -> None:
        """Start ``services`` of an override file (a bundled control's, harness/controls/placement.py)
        on the fleet's network, with the fleet's variables plus ``env``. Recorded before Compose runs,
        so `down` and `cleanup` remove them with the fleet whatever happens next; FleetError with
        Compose's output when they do not start."""
        record = ComposeRecord.load(self.record_file)
        overrides = record.overrides if str(override) in record.overrides else (*record.overrides, str(override))
        record = dataclasses.replace(record, env={**record.env, **env}, overrides=overrides)
        record.save(self.record_file)
        await self._compose(record, "up", "--detach", "--no-deps", *services)
        self._log("services_up", services=services, file=str(override))

    async def _wait_health(self, session: aiohttp.ClientSession, component: str, admin: str) -> None:
        """/health → 200 through the published port, or StartError with the container's log."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                async with session.get(admin + "/health", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        self._log("ready", target=component, admin=admin)
                        return
                    last = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = type(exc).__name__
            state = await asyncio.to_thread(self._container_status, component)
            if state not in ("running", "created", "restarting"):
                break
            await asyncio.sleep(0.1)
        raise procs.StartError(component, f"not healthy at {admin}/health ({last})",
                               await asyncio.to_thread(self.logs, component, 30))

    def _container_status(self, component: str) -> str:
        with dk.docker_client() as engine:
            try:
                return dk.service_container(engine, self.ctx.run_id, component).status
            except FleetError:
                return "missing"

    async def _create_proxies(self, session: aiohttp.ClientSession, plan: ComposePlan, topology: Topology) -> None:
        await create_proxies(self, session, plan, topology)

    async def _stop(self, state: FleetState | None, *, keep_logs: bool) -> list[tuple[str, str]]:
        """Compose down (volumes too), then remove by label whatever is left
        (a container recreated by a deploy, a half-finished `up`)."""
        outcomes: list[tuple[str, str]] = []
        if keep_logs:
            await asyncio.to_thread(self._save_logs)
        # missing only when `up` failed before writing it, so before running Compose
        if self.record_file.exists():
            record = ComposeRecord.load(self.record_file)
            try:
                await self._compose(record, "down", "--volumes", "--remove-orphans", "--timeout",
                                    str(STOP_TIMEOUT_S))
                outcomes.append((record.project, "compose down"))
            except FleetError as exc:
                outcomes.append((record.project, f"compose down failed: {exc}"))
        removed = await asyncio.to_thread(dk.remove_labelled, dk.run_filter(self.ctx.run_id))
        outcomes += [(what, "removed") for what in removed]
        return outcomes

    def _records(self) -> list[Path]:
        # controls/: a bundled control's configuration, the token file among it
        return [self.record_file, self.ctx.state_dir / "controls"]

    def _save_logs(self) -> None:
        """A failed start keeps each container's output, like local keeps its log files."""
        try:
            with dk.docker_client() as engine:
                for container in dk.containers(engine, dk.run_filter(self.ctx.run_id)):
                    service = container.labels.get("com.docker.compose.service", container.name)
                    self.ctx.log_path(service).write_bytes(container.logs(tail=200))
        except dk.DockerUnavailable:
            return  # no engine: nothing to save

    async def down(self) -> list[tuple[str, str]]:
        if not self.record_file.exists():
            raise NoFleet(f"no fleet is up for run {self.ctx.run_id}")
        return await self._teardown()

    # -- observing --------------------------------------------------------
    async def health(self) -> dict[str, str]:
        topology = self.topology()
        result = await probe_topology(topology)
        for component, status in (await asyncio.to_thread(self._statuses)).items():
            if component in result and status != "running":
                # what the faults read: a killed container is "not running", like a killed process
                result[component] = "paused" if status == "paused" else "not running"
        return result

    def _statuses(self) -> dict[str, str]:
        return {c.labels.get("com.docker.compose.service", c.name): c.status for c in self._containers()}

    def logs(self, component: str, lines: int = 50) -> str:
        with dk.docker_client() as engine:
            try:
                container = dk.service_container(engine, self.ctx.run_id, component)
                return container.logs(tail=lines).decode(errors="replace").rstrip()
            except FleetError:
                return ""

    async def process_state(self, component: str) -> str | None:
        """The container's status when it is not running ("exited", "paused", "missing"), else None."""
        try:
            status = await asyncio.to_thread(self._container_status, component)
        except FleetError:  # no engine: cannot tell
            return None
        return None if status in ("running", "restarting") else status

    async def copy_journal(self, dest: Path) -> str:
        """Out of the exchange's container (running or not) with the Docker SDK's ``get_archive``,
        as ``docker cp`` does: the files are on the run's volume, mounted in that container; every
        segment of the journal, concatenated in order."""

        def copy() -> str:
            with dk.docker_client() as engine:
                container = dk.service_container(engine, self.ctx.run_id, "exchange")
                try:
                    segments = dk.copy_segments(container, JOURNAL_IN_CONTAINER, dest)
                except Exception as exc:  # docker.errors.NotFound / APIError: say which file of which container
                    if isinstance(exc, FleetError):
                        raise
                    raise FleetError(f"copy {JOURNAL_IN_CONTAINER} out of {container.name}: {exc}") from None
                return (f"copied out of container {container.name} ({JOURNAL_IN_CONTAINER}, {segments} "
                        f"segment(s), docker get_archive)")

        return await asyncio.to_thread(copy)

    # -- faults (Docker SDK, on this run's containers only) ---------------
    async def _act(self, component: str, action: str) -> None:
        def act() -> None:
            with dk.docker_client() as engine:
                container = dk.service_container(engine, self.ctx.run_id, component)
                dk.act_on(container, action, component, kill_wait_s=KILL_WAIT_S, stop_timeout_s=STOP_TIMEOUT_S)

        await asyncio.to_thread(act)
        self._log("container_" + action, target=component)

    async def restart(self, component: str) -> None:
        await self._act(component, "restart")
        await self._after_start(component)

    async def _after_start(self, component: str) -> None:
        topology = self.topology()
        async with aiohttp.ClientSession() as session:
            if component == "toxiproxy":
                await restore_proxies(session, topology)
            else:
                await self._wait_health(session, component, topology.admin_urls()[component])

    async def _redeploy(self, router_id: str, version: str) -> None:
        """Recreate the router's container from powerpeg-router:<version>: the
        tag is the artifact; address, flags and labels stay."""
        self.topology().router(router_id)  # KeyError for a router this fleet does not have

        def recreate() -> None:
            with dk.docker_client() as engine:
                old = dk.service_container(engine, self.ctx.run_id, router_id)
                dk.recreate(engine, old, router_image(version))

        await asyncio.to_thread(recreate)
        await self._after_start(router_id)
        self._log("deployed", target=router_id, version=version)


async def _proxies_once_answering(session: aiohttp.ClientSession, api: str, proxies: list[tuple[str, str, str]],
                                  failure: Callable[[], Awaitable[Exception]]) -> None:
    """Wait (bounded) for the toxiproxy API, then create each (name, upstream, listen) proxy."""
    client = toxi.ToxiproxyClient(api, session)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        try:
            await client.version()
            break
        except (TimeoutError, aiohttp.ClientError, toxi.ToxiproxyError):
            if time.monotonic() > deadline:
                raise await failure() from None
            await asyncio.sleep(0.1)
    for name, upstream, listen in proxies:
        await client.create_proxy(name, upstream, listen=listen)


async def cleanup(home: Path, *, log: Any = None) -> list[str]:
    """Remove every container, network and volume labelled with this home
    (crashed runs, SIGKILLed CLIs); nothing when no engine answers."""
    if not dk.engine_answers():
        return []
    removed = await asyncio.to_thread(dk.remove_labelled, dk.home_filter(str(home.resolve())))
    if log is not None and removed:
        log.info("compose_cleanup", removed=len(removed))
    return [f"docker: removed {what}" for what in removed]


async def create_proxies(backend: ContainerBackend, session: aiohttp.ClientSession, plan: ComposePlan,
                         topology: Topology) -> None:
    """The plan's proxies in the fleet's Toxiproxy, once its API answers (compose and swarm alike)."""
    assert topology.toxiproxy is not None
    api = topology.toxiproxy.api

    async def not_answering() -> Exception:
        return procs.StartError("toxiproxy", f"API not answering at {api}",
                                await asyncio.to_thread(backend.logs, "toxiproxy", 30))

    await _proxies_once_answering(session, api, [(p.name, p.upstream, p.listen) for p in plan.proxies()],
                                  not_answering)


async def restore_proxies(session: aiohttp.ClientSession, topology: Topology) -> None:
    """A restarted toxiproxy container has forgotten its proxies: the same ones again (compose and swarm)."""
    assert topology.toxiproxy is not None
    proxies = [(p.name, p.upstream, "0.0.0.0:" + p.listen.rsplit(":", 1)[1]) for p in topology.toxiproxy.proxies]

    async def not_back() -> Exception:
        return FleetError("toxiproxy did not come back after a restart")

    await _proxies_once_answering(session, topology.toxiproxy.api, proxies, not_back)
