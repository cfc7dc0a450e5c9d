"""The swarm backend: the compose file's fleet as a Docker Swarm stack
(`docker stack deploy --resolve-image never` on one node; on several, images
through a registry: registry.py), one service per component,
one task each; faults on a task's container (this engine's), deploys as
`docker service update --image`, network faults through the toxiproxy
service's API, published on 127.0.0.1 (stack.py says how). With replicated
routers (a rolling partial deploy) the routers are one service of N tasks,
each slot fronted by a Toxiproxy proxy (slots.py), deployed by Swarm's
rolling update and undone by `docker service rollback`.

State discipline is the base's and compose's: ``swarm.json`` (the stack, the
ports, whether powerpeg initialised the swarm) is written before anything is
created, and every service, container, network, volume and secret carries
the run's labels, so `down` and `cleanup` find them from another process.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import procs
from powerpeg.harness.backends.base import (ContainerBackend, FleetError, FleetSpec, NoFleet, check_version,
                                            probe_topology)
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.backend import JOURNAL_IN_CONTAINER, create_proxies, restore_proxies
from powerpeg.harness.backends.compose.env import (LABEL_HOME, LABEL_RUN, TOXIPROXY_IMAGE, ComposePlan, HostPorts,
                                                   check_spec,
                                                   router_image)
from powerpeg.harness.backends.swarm import engine as sw
from powerpeg.harness.backends.swarm import registry as rg
from powerpeg.harness.backends.swarm.load import SwarmLoadRunner
from powerpeg.harness.backends.swarm.slots import Slots
from powerpeg.harness.backends.swarm.stack import ROUTERS_SERVICE, StackPlan, router_slot, stack_name
from powerpeg.harness.context import RunContext
from powerpeg.harness.load.config import LoadConfig
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.state import FleetState
from powerpeg.harness.topology import Topology

HEALTH_TIMEOUT_S = 60.0  # a task is scheduled, created and started before it can answer
ROLLBACK_TIMEOUT_S = 60.0  # `docker service rollback` of the routers service, every task at once
KILL_WAIT_S = 10
LIVE_TASK_STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running")


@dataclasses.dataclass
class SwarmRecord:
    """What `down` and `cleanup` need (swarm.json)."""

    stack: str
    ports: HostPorts
    initialised: bool = False  # powerpeg ran `swarm init` for this run: it leaves
    gwbridge_created: bool = False
    replicated: bool = False  # the routers are one replicated service (slots.py)
    registry: str = ""  # host:port the services' images come from ("" = the engine's own: one node)
    registry_process: rg.RegistryProcess | None = None  # a docker-registry this run started (down stops it)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        process = self.registry_process.to_json() if self.registry_process is not None else None
        tmp.write_text(json.dumps({"stack": self.stack, "ports": self.ports.to_json(),
                                   "initialised": self.initialised, "gwbridge_created": self.gwbridge_created,
                                   "replicated": self.replicated, "registry": self.registry,
                                   "registry_process": process}))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SwarmRecord:
        data = json.loads(path.read_text())
        process = data.get("registry_process")
        return cls(data["stack"], HostPorts.from_json(data["ports"]), bool(data["initialised"]),
                   bool(data["gwbridge_created"]), bool(data.get("replicated", False)),
                   str(data.get("registry") or ""), rg.RegistryProcess.from_json(process) if process else None)


def _filter(key: str, value: str) -> dict[str, list[str]]:
    return {"label": [f"{key}={value}"]}


class SwarmBackend(ContainerBackend):
    name = "swarm"
    orchestrated = True

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._placed: dict[str, dict[str, str]] = {}  # component → task and node of its last container fault
        self._replicated: bool | None = None  # from swarm.json, once read
        self._slots: Slots | None = None
        self._registry: rg.RegistryChoice = rg.RegistryChoice()  # decided in _prepare

    @property
    def record_file(self) -> Path:
        return self.ctx.state_dir / "swarm.json"

    @property
    def stack_file(self) -> Path:
        return self.ctx.state_dir / "stack.yml"

    def _service(self, component: str) -> str:
        """The Swarm service running ``component`` (a router's own, or the replicated routers service)."""
        if component.startswith("router-") and self.replicated:
            component = ROUTERS_SERVICE
        return f"{stack_name(self.ctx.run_id)}_{component}"

    @property
    def replicated(self) -> bool:
        """Whether this run's routers are one replicated service (swarm.json; False before it exists)."""
        if self._replicated is None:
            if not self.record_file.exists():
                return False
            self._replicated = SwarmRecord.load(self.record_file).replicated
        return self._replicated

    def slots(self) -> Slots:
        """The replicated routers' tasks and slot proxies; FleetError when the routers are not replicated."""
        if not self.replicated:
            raise FleetError("this fleet's routers are one service each, not one replicated service: "
                             "a rolling deploy needs a fleet stood up for it (partial_deploy mode: rolling)")
        if self._slots is None:
            record = SwarmRecord.load(self.record_file)
            self._slots = Slots(self._service(ROUTERS_SERVICE), f"{record.stack}_default",
                                f"http://127.0.0.1:{record.ports.toxiproxy}", len(record.ports.routers))
        return self._slots

    def _slot_container(self, engine: Any, router_id: str) -> Any | None:
        """The container serving a replicated router's slot on this engine (running or paused), or None."""
        for container in sw.task_containers(engine, self._service(router_id)):
            task = container.labels.get("com.docker.swarm.task.name", "")
            if task.split(".")[-2:-1] == [str(router_slot(router_id))] and container.status in ("running", "paused"):
                return container
        return None

    def load_runner(self, config: LoadConfig, out_dir: Path, log: Any) -> LoadRunner:
        """With workers, Locust runs as Swarm services on the fleet's network (load.py): a master and a
        replicated worker service of ``config.workers`` tasks; a single Locust stays a local process."""
        if config.workers == 0:
            return super().load_runner(config, out_dir, log)
        record = SwarmRecord.load(self.record_file)
        return SwarmLoadRunner(config, out_dir, log, fleet_stack=record.stack, run_id=self.ctx.run_id,
                               home_label=str(self.ctx.home.resolve()), replicated=record.replicated)

    # -- up / down --------------------------------------------------------
    def _check(self, spec: FleetSpec) -> None:
        try:
            check_spec(spec)
        except ValueError as exc:
            raise FleetError(str(exc).replace("compose backend", "swarm backend")) from None
        mixed = {spec.version_of(r) for r in spec.router_ids()}
        if spec.replicated_routers and len(mixed) > 1:
            raise FleetError(f"a rolling partial deploy rolls one router service, which starts on one image: "
                             f"topology.versions gives {', '.join(sorted(mixed))}")

    async def _prepare(self, spec: FleetSpec) -> StackPlan:
        plan = StackPlan(ComposePlan(run_id=self.ctx.run_id, home=str(self.ctx.home.resolve()),
                                     token=self.ctx.token, spec=spec, ports=HostPorts.allocate(spec.router_ids())))

        def check() -> int:
            with dk.docker_client() as engine:
                wanted = plan.compose.images() + ([TOXIPROXY_IMAGE] if plan.toxiproxy else [])
                missing = dk.missing_images(engine, list(dict.fromkeys(wanted)))
                if missing:
                    raise dk.DockerUnavailable(f"Docker image{'s' if len(missing) > 1 else ''} missing: "
                                               f"{', '.join(missing)}; build them with `make images`")
                why = sw.refusal(engine)
                if why is not None:
                    raise FleetError(f"swarm backend refused: {why}")
                return rg.node_count(engine)

        nodes = await asyncio.to_thread(check)
        try:
            self._registry = rg.decide(nodes, os.environ.get(rg.REGISTRY_ENV))
        except ValueError as exc:
            raise FleetError(str(exc)) from None
        plan.registry = self._registry.address
        self._log("registry_choice", nodes=nodes, registry=self._registry.address, start=self._registry.start)
        return plan

    async def _start(self, spec: FleetSpec, plan: StackPlan, state: FleetState) -> Topology:
        record = SwarmRecord(plan.stack, plan.compose.ports, replicated=plan.replicated)
        self._replicated = plan.replicated
        record.save(self.record_file)  # before anything exists: `down`/`cleanup` find the run from here on
        with dk.docker_client() as engine:
            swarm, _manager = sw.swarm_state(engine)
        if swarm == "inactive":
            record.initialised = True  # recorded before init: a crash in between still leaves
            record.save(self.record_file)
            record.gwbridge_created = await sw.init_swarm(plan.compose.home)
            record.save(self.record_file)
            self._log("swarm_init", gwbridge_created=record.gwbridge_created)
        await self._registry_images(plan, record)
        labels = [arg for key, value in plan.labels().items() for arg in ("--label", f"{key}={value}")]
        await sw.docker_cli("secret", "create", *labels, plan.secret, "-", stdin=self.ctx.token.encode())
        topology = plan.compose.topology(str(self.ctx.state_dir), logs={})
        async with aiohttp.ClientSession() as session:
            await self._deploy(plan, plan.first_services())
            waits = [self._wait_health(session, "alerts", topology.alerts.admin),
                     self._wait_health(session, "exchange", topology.exchange.admin)]
            if plan.toxiproxy:
                waits.append(self._create_proxies(session, plan, topology))
            await asyncio.gather(*waits)
            await self._deploy(plan, plan.first_services() + plan.second_services())
            if plan.replicated:
                # the gate first (Swarm: every task RUNNING), its proxy pointed, then /health through it
                await self.slots().wait_serving(session, HEALTH_TIMEOUT_S)
            await asyncio.gather(self._wait_health(session, "monitor", topology.monitor.admin),
                                 *(self._wait_health(session, r.id, r.admin) for r in topology.routers))
        services = plan.first_services() + plan.second_services()
        # network "": the stack's overlay is not attachable, so no network is published for a firm's containers
        return dataclasses.replace(topology, backend=self.name, network="",
                                   logs={s: f"docker service logs {plan.service(s)}" for s in services})

    async def _registry_images(self, plan: StackPlan, record: SwarmRecord) -> None:
        """Several nodes: the images into a registry every node pulls from (registry.py), started here
        on the manager when none is configured; recorded before the push so `down` stops it."""
        if self._registry.start:
            def where() -> tuple[str, int]:
                with dk.docker_client() as engine:
                    host = rg.manager_address(engine)
                return host, rg.free_port(host)

            host, port = await asyncio.to_thread(where)
            try:
                process = await rg.start(self.ctx.state_dir / "registry", host, port)
            except (RuntimeError, ValueError, OSError) as exc:
                raise FleetError(f"registry for a multi-node swarm: {exc}") from None
            record.registry_process = process
            plan.registry = process.address
            self._log("registry_started", address=process.address, pid=process.pid)
        if plan.registry is None:
            return
        record.registry = plan.registry
        record.save(self.record_file)

        def local_routers() -> list[str]:
            with dk.docker_client() as engine:
                return rg.router_tags(engine)

        # every local router version: a deploy may go to any of them, on any node
        images = list(dict.fromkeys(plan.images() + await asyncio.to_thread(local_routers)))
        pushed = await rg.push(images, plan.registry, sw.docker_cli)
        self._log("images_pushed", registry=plan.registry, images=pushed)

    def _image(self, image: str) -> str:
        """The name a service update gives ``image``: through the run's registry when it has one."""
        registry = SwarmRecord.load(self.record_file).registry if self.record_file.exists() else ""
        return rg.qualify(image, registry or None)

    async def _deploy(self, plan: StackPlan, services: list[str]) -> None:
        plan.write(self.stack_file, services)
        # never: local names, nothing to resolve (one node); always, with a registry: every node the same digest
        resolve = "never" if plan.registry is None else "always"
        await sw.docker_cli("stack", "deploy", "--resolve-image", resolve, "--prune", "-c", str(self.stack_file),
                            plan.stack)

    async def _wait_health(self, session: aiohttp.ClientSession, component: str, admin: str,
                           version: str | None = None, path: str = "/health") -> None:
        """/health → 200 (and the router ``version`` when given) through the published port."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last = "no answer"
        retried, next_check = False, time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                async with session.get(admin + path, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    # only a router's version needs the body (toxiproxy's /version may be plain text)
                    body = await resp.json(content_type=None) if resp.status == 200 and version else {}
                    if resp.status == 200 and (version is None or body.get("version") == version):
                        self._log("ready", target=component, admin=admin)
                        return
                    last = f"HTTP {resp.status}" if resp.status != 200 else f"version {body.get('version')}"
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                last = type(exc).__name__
            if not retried and time.monotonic() > next_check and not self._is_slot(component):
                next_check = time.monotonic() + 1
                if not await asyncio.to_thread(self._task_alive, component):
                    # a task Swarm failed or rejected before it served (restart_policy none keeps it so):
                    # one new task, saying why
                    retried = True
                    self._log("task_retry", target=component,
                              tasks=await asyncio.to_thread(self._task_states, component))
                    await sw.docker_cli("service", "update", "--detach", "--force", "--no-resolve-image",
                                        self._service(component))
            await asyncio.sleep(0.2)
        tasks = await asyncio.to_thread(self._task_states, component)
        raise procs.StartError(component, f"not healthy at {admin}/health ({last}); tasks: {tasks}",
                               await asyncio.to_thread(self.logs, component, 30))

    def _is_slot(self, component: str) -> bool:
        """A replicated router: its tasks are the routers service's, retried by nobody but a deploy."""
        return component.startswith("router-") and self.replicated

    def _task_alive(self, component: str) -> bool:
        """Whether the service has a task that is starting or running (not failed, rejected or shut down)."""
        import docker.errors  # noqa: PLC0415 - the local backend never needs it

        try:
            with dk.docker_client() as engine:
                tasks = engine.services.get(self._service(component)).tasks()
        except (docker.errors.APIError, dk.DockerUnavailable):
            return True  # cannot tell: keep waiting on /health
        return any(t["Status"].get("State") in LIVE_TASK_STATES for t in tasks)

    def _task_states(self, component: str) -> str:
        """The service's tasks as Swarm sees them (a rejected task has no container and no log)."""
        import docker.errors  # noqa: PLC0415 - the local backend never needs it

        try:
            with dk.docker_client() as engine:
                tasks = engine.services.get(self._service(component)).tasks()
        except (docker.errors.APIError, dk.DockerUnavailable) as exc:
            return f"unknown ({type(exc).__name__})"
        return "; ".join(f"{t['Status'].get('State')} {t['Status'].get('Err') or t['Status'].get('Message', '')}"
                         for t in tasks) or "none"

    async def _create_proxies(self, session: aiohttp.ClientSession, plan: StackPlan, topology: Topology) -> None:
        """The links (when the experiment has network faults) and the replicated routers' slot proxies."""
        if plan.compose.toxiproxy:
            await create_proxies(self, session, plan.compose, topology)
        if plan.replicated:
            if not plan.compose.toxiproxy:  # create_proxies waited for the API; here nobody has yet
                await self._wait_health(session, "toxiproxy", f"http://127.0.0.1:{plan.compose.ports.toxiproxy}",
                                        path="/version")
            await self.slots().create_proxies(session, plan.slot_proxies())

    async def _stop(self, state: FleetState | None, *, keep_logs: bool) -> list[tuple[str, str]]:
        """Remove the run's services, then its networks, volumes and secret (by label);
        leave the swarm when this run initialised it and nothing else runs in it."""
        if keep_logs:
            await asyncio.to_thread(self._save_logs)
        if not dk.engine_answers():
            return [("docker", "engine not answering: nothing removed")]
        removed = await asyncio.to_thread(sw.remove_labelled, _filter(LABEL_RUN, self.ctx.run_id))
        outcomes = [(what, "removed") for what in removed]
        record = SwarmRecord.load(self.record_file) if self.record_file.exists() else None
        if record is not None and record.registry_process is not None:
            outcomes.append(("registry", await asyncio.to_thread(record.registry_process.stop)))
        initialised = record is not None and record.initialised
        left = await sw.leave_swarm(initialised, str(self.ctx.home.resolve()))
        if left is not None:
            outcomes.append(("swarm", left))
        return outcomes

    def _records(self) -> list[Path]:
        return [self.record_file, self.stack_file]

    def _save_logs(self) -> None:
        try:
            with dk.docker_client() as engine:
                for container in sw.containers(engine, _filter(LABEL_RUN, self.ctx.run_id)):
                    service = container.labels.get("com.docker.stack.namespace", "")
                    name = container.labels.get("com.docker.swarm.service.name", container.name)
                    name = name.removeprefix(service + "_")
                    if name == ROUTERS_SERVICE:  # one log per slot: <service>.<slot>.<task id>
                        slot = container.labels.get("com.docker.swarm.task.name", "").split(".")[-2:-1]
                        name = f"router-{slot[0]}" if slot else container.name
                    self.ctx.log_path(name).write_bytes(container.logs(tail=200))
        except dk.DockerUnavailable:
            return

    async def down(self) -> list[tuple[str, str]]:
        if not self.record_file.exists():
            raise NoFleet(f"no fleet is up for run {self.ctx.run_id}")
        return await self._teardown()

    # -- observing --------------------------------------------------------
    async def health(self) -> dict[str, str]:
        result = await probe_topology(self.topology())
        statuses = await asyncio.to_thread(self._statuses, list(result))
        for component, status in statuses.items():
            if status != "running":
                result[component] = "paused" if status == "paused" else "not running"
        return result

    def _statuses(self, components: list[str]) -> dict[str, str]:
        """Each component's task: its container's status on this engine, else (a task another node
        runs: its container is not visible here) what Swarm reports of the task."""
        with dk.docker_client() as engine:
            out = {}
            for component in components:
                if self._is_slot(component):
                    slot = self._slot_container(engine, component)
                    live = [slot.status] if slot is not None else []
                else:
                    tasks = sw.task_containers(engine, self._service(component))
                    live = [c.status for c in tasks if c.status in ("running", "paused")]
                if not live and self._running_elsewhere(engine, component):
                    live = ["running"]
                out[component] = live[0] if live else "exited"
            return out

    def _running_elsewhere(self, engine: Any, component: str) -> bool:
        """Swarm has the component's task running on another node (a router placed on a worker)."""
        import docker.errors  # noqa: PLC0415 - the local backend never needs it

        here = (engine.info().get("Swarm") or {}).get("NodeID")
        try:
            tasks = engine.api.tasks(filters={"service": self._service(component), "desired-state": "running"})
        except docker.errors.APIError:
            return False
        slot = router_slot(component) if self._is_slot(component) else None
        return any((t.get("Status") or {}).get("State") == "running" and t.get("NodeID") != here
                   and (slot is None or t.get("Slot") == slot) for t in tasks)

    async def process_state(self, component: str) -> str | None:
        """The newest task container's status when it is not running ("exited", "paused", "missing")."""
        try:
            status = (await asyncio.to_thread(self._statuses, [component]))[component]
        except FleetError:  # no engine: cannot tell
            return None
        return None if status == "running" else status

    async def copy_journal(self, dest: Path) -> str:
        """Out of the exchange's newest task container (running or not), as the compose backend does:
        the file is on the run's volume, mounted in that container."""

        def copy() -> str:
            import docker.errors  # noqa: PLC0415 - the local backend never needs it

            with dk.docker_client() as engine:
                tasks = sw.task_containers(engine, self._service("exchange"))
                if not tasks:
                    raise FleetError(f"no container of {self._service('exchange')} on this engine")
                container = tasks[0]
                try:
                    segments = dk.copy_segments(container, JOURNAL_IN_CONTAINER, dest)
                except docker.errors.APIError as exc:
                    raise FleetError(f"copy {JOURNAL_IN_CONTAINER} out of {container.name}: {exc}") from None
                return (f"copied out of task container {container.name} ({JOURNAL_IN_CONTAINER}, {segments} "
                        f"segment(s), docker get_archive)")

        return await asyncio.to_thread(copy)

    def logs(self, component: str, lines: int = 50) -> str:
        with dk.docker_client() as engine:
            if self._is_slot(component):
                slot = self._slot_container(engine, component)
                tasks = [slot] if slot is not None else []
            else:
                tasks = sw.task_containers(engine, self._service(component))
            return tasks[0].logs(tail=lines).decode(errors="replace").rstrip() if tasks else ""

    # -- faults -----------------------------------------------------------
    async def _act(self, component: str, action: str) -> None:
        service = self._service(component)

        def act() -> tuple[str, str]:
            with dk.docker_client() as engine:
                if self._is_slot(component):
                    container = self._slot_container(engine, component)
                    if container is None:
                        raise FleetError(f"{component}: no task of {service} serves its slot on this engine")
                else:
                    container = sw.running_task(engine, service)
                dk.act_on(container, action, component, kill_wait_s=KILL_WAIT_S, stop_timeout_s=KILL_WAIT_S)
                return container.labels.get("com.docker.swarm.task.id", container.name), sw.node_name(engine)

        task, node = await asyncio.to_thread(act)
        self._placed[component] = {"node": node, "task": task}
        self._log("container_" + action, target=component, service=service, task=task, node=node)

    def placement(self, component: str) -> dict[str, str]:
        return dict(self._placed.get(component, {}))

    async def restart(self, component: str) -> None:
        """A new task for the service (`docker service update --force`), at the same published port."""
        if self._is_slot(component):
            # `update --force` would replace every task of the routers service, not this one
            raise FleetError(f"{component} is a task of the replicated routers service: a restart of one "
                             "task is not supported there (kill, pause and resume are)")
        admin = self.topology().admin_urls().get(component)
        await self._update(component, "--force")
        await self._after_start(component, admin)

    async def _update(self, component: str, *args: str) -> None:
        service = self._service(component)
        before = await asyncio.to_thread(self._task_ids, service)
        await sw.docker_cli("service", "update", "--detach", "--no-resolve-image", *args, service)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while (await asyncio.to_thread(self._task_ids, service)) <= before:
            if time.monotonic() > deadline:
                raise FleetError(f"{service}: no new task within {HEALTH_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)

    def _task_ids(self, service: str) -> set[str]:
        """Ids of the service's running tasks' containers."""
        with dk.docker_client() as engine:
            return {c.id for c in sw.task_containers(engine, service) if c.status == "running"} or set()

    async def _after_start(self, component: str, admin: str | None, version: str | None = None) -> None:
        topology = self.topology()
        async with aiohttp.ClientSession() as session:
            if component == "toxiproxy":
                if topology.toxiproxy is not None:
                    await restore_proxies(session, topology)
                if self.replicated:  # the slot proxies went with the old container too
                    slots = self.slots()
                    slots.forget()
                    await slots.create_proxies(session, [(p, listen) for p, listen in self._slot_listens()])
                    await slots.point(session)
            elif admin is not None:
                await self._wait_health(session, component, admin, version)

    async def _redeploy(self, router_id: str, version: str) -> None:
        """`docker service update --image powerpeg-router:<version>`: the tag is the artifact;
        Swarm replaces the task (stop-first), the published port stays. Going back to the image
        of the service's previous spec is Swarm's own undo, `docker service rollback` (rollback_deploy)."""
        router = self.topology().router(router_id)  # KeyError for a router this fleet does not have
        if self.replicated:
            raise FleetError(f"{router_id} is a task of the replicated routers service: Swarm deploys it "
                             "only by rolling the whole service (partial_deploy mode: rolling)")
        image = self._image(router_image(version))
        previous = await asyncio.to_thread(self._previous_image, router_id)
        if previous == image:
            await self._update_with(router_id, "service", "rollback", "--detach")
            how = "docker service rollback"
        else:
            await self._update(router_id, "--image", image)
            how = "docker service update --image"
        await self._after_start(router_id, router.admin, version)
        self._log("deployed", target=router_id, version=version, service=self._service(router_id), how=how)

    def _previous_image(self, component: str) -> str:
        """The image of the service's previous spec ("" when it never changed): what a rollback restores."""
        with dk.docker_client() as engine:
            previous = engine.api.inspect_service(self._service(component)).get("PreviousSpec") or {}
        return str(((previous.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")).split("@")[0]

    async def _update_with(self, component: str, *command: str) -> None:
        """A docker command replacing the service's task (``service rollback``); waits for a new task."""
        service = self._service(component)
        before = await asyncio.to_thread(self._task_ids, service)
        await sw.docker_cli(*command, service)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while (await asyncio.to_thread(self._task_ids, service)) <= before:
            if time.monotonic() > deadline:
                raise FleetError(f"{service}: no new task within {HEALTH_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)

    def _slot_listens(self) -> list[tuple[str, str]]:
        from powerpeg.harness.backends.swarm.stack import slot_proxy, slot_proxy_port  # noqa: PLC0415 - replicated only

        return [(slot_proxy(r.id), f"0.0.0.0:{slot_proxy_port(r.id)}") for r in self.topology().routers]

    # -- the replicated routers: Swarm's rolling update and rollback -------
    async def rolling_deploy(self, version: str, updated: int) -> dict[str, Any]:
        """Roll ``version`` over the routers service; its gate fails on the task after ``updated``
        (slots.Slots.roll), Swarm pauses. The rollout record: which task and image serve each router."""
        check_version(version)
        slots = self.slots()
        async with aiohttp.ClientSession() as session:
            rollout = await slots.roll(session, self._image(router_image(version)), updated, self.ctx.log or _NoLog())
            versions = {rid: task["version"] for rid, task in rollout["tasks"].items()}
            await self._wait_versions(session, versions)
        self._record_versions(versions)
        self._log("rolled", version=version, update_state=rollout["update_state"], versions=versions)
        return rollout

    async def rollback_routers(self) -> dict[str, Any]:
        """`docker service rollback` of the routers service: its previous spec on every task."""
        slots = self.slots()
        async with aiohttp.ClientSession() as session:
            rollback = await slots.rollback(session, ROLLBACK_TIMEOUT_S)
            versions = {rid: task["version"] for rid, task in rollback["tasks"].items()}
            await self._wait_versions(session, versions)
        self._record_versions(versions)
        self._log("rolled_back", **rollback)
        return rollback

    async def _wait_versions(self, session: aiohttp.ClientSession, versions: dict[str, str]) -> None:
        topology = self.topology()
        await asyncio.gather(*(self._wait_health(session, rid, topology.router(rid).admin, version)
                               for rid, version in versions.items()))

    def _record_versions(self, versions: dict[str, str]) -> None:
        """The routers' versions in the fleet's state (`status --json`), as Backend.deploy does for one."""
        state = self._state()
        assert state.topology is not None
        routers = tuple(dataclasses.replace(r, version=versions.get(r.id, r.version)) for r in state.topology.routers)
        state.topology = dataclasses.replace(state.topology, routers=routers)
        state.save(self.ctx.state_file)


class _NoLog:
    """A logger that drops everything (a backend attached without one)."""

    def info(self, *_args: Any, **_kw: Any) -> None:
        return None


async def cleanup(home: Path, *, log: Any = None) -> list[str]:
    """Remove every swarm service, network, volume and secret labelled with this home (crashed
    runs, SIGKILLed CLIs), and leave the swarm if one of those runs initialised it; nothing
    when no engine answers. Runs before the state directories are removed (it reads them)."""
    if not dk.engine_answers():
        return []
    records = []
    for path in sorted((home / "runs").glob("*/swarm.json")):
        try:
            records.append(SwarmRecord.load(path))
        except (ValueError, KeyError, OSError):
            continue
    removed = await asyncio.to_thread(sw.remove_labelled, _filter(LABEL_HOME, str(home.resolve())))
    lines = [f"swarm: removed {what}" for what in removed]
    for record in records:  # the registries runs started (after their services: nothing pulls any more)
        if record.registry_process is not None and record.registry_process.alive():
            lines.append("swarm: " + await asyncio.to_thread(record.registry_process.stop))
    left = await sw.leave_swarm(any(r.initialised for r in records), str(home.resolve()))
    if left is not None:
        lines.append("swarm: " + left)
    if log is not None and lines:
        log.info("swarm_cleanup", removed=len(removed))
    return lines
