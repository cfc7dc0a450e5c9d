"""Locust as Swarm services, for ``powerpeg run --backend swarm --load-workers N``: the compose
file's ``locust-master`` (one task) and ``locust-worker`` (a replicated service, N tasks) deployed
as a stack of their own, ``<fleet stack>-load``, on the fleet's overlay network.

The contract and the files are :class:`~powerpeg.harness.backends.compose.load.ComposeLoadRunner`'s
(the same load directory, bind-mounted at the same path): only the mechanism differs.

- The brokers reach each router by its service name on the fleet's network (``router-N``), or a
  replicated router through its slot's Toxiproxy proxy (``toxiproxy:<20200 + N>``), as the monitor does.
- Every task is pinned to this engine's node (``node.id``): the load directory the harness reads the
  parents and stats from is on this host. Spreading the workers over several nodes needs that
  directory on a filesystem every node mounts at the same path (docs/swarm.md).
- A worker that starts before the master's name resolves exits and is restarted (``on-failure``,
  bounded); the master waits ``--expect-workers`` for all of them.
- Stopping stops the master's container first (it tells its workers to quit and writes the final
  stats), keeps every task's log in the load directory (``master.log``, ``worker-<slot>.log``) and
  removes both services; the backend's teardown removes anything left by the run's label.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import yaml

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.env import COMPOSE_FILE, LABEL_HOME, LABEL_RUN
from powerpeg.harness.backends.compose.load import MASTER, WORKER, ComposeLoadRunner
from powerpeg.harness.backends.swarm import engine as sw
from powerpeg.harness.backends.swarm.stack import interpolate, slot_proxy_port
from powerpeg.harness.load.config import LoadConfig, RouterTarget
from powerpeg.harness.load.runner import STOP_GRACE_S, LoadError

SERVICE_NAME = "com.docker.swarm.service.name"
TASK_NAME = "com.docker.swarm.task.name"
ROUTER_PORT = 8080
# a worker up before the master resolves exits; Swarm starts it again this many times, this far apart
WORKER_RESTARTS = {"condition": "on-failure", "delay": "1s", "max_attempts": 10}


def load_stack(fleet_stack: str) -> str:
    return f"{fleet_stack}-load"


def swarm_routers(config: LoadConfig, *, replicated: bool) -> LoadConfig:
    """The config with each router's orders URL as a task on the fleet's network reaches it."""
    routers = tuple(
        RouterTarget(id=r.id, orders=(f"http://toxiproxy:{slot_proxy_port(r.id)}/orders" if replicated
                                      else f"http://{r.id}:{ROUTER_PORT}/orders"))
        for r in config.routers)
    return config.model_copy(update={"routers": routers})


def load_stack_file(env: dict[str, str], *, fleet_stack: str, workers: int, node_id: str,
                    labels: dict[str, str], source: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The stack file of the load: the compose file's two Locust services, made Swarm services."""
    data = yaml.safe_load(interpolate(source.read_text(), env))
    stack = load_stack(fleet_stack)
    services: dict[str, Any] = {}
    for name, replicas in ((MASTER, 1), (WORKER, workers)):
        svc = copy.deepcopy(data["services"][name])
        for key in ("profiles", "restart", "depends_on", "container_name", "ports"):
            svc.pop(key, None)
        if name == WORKER:  # the master by its full service name: the short one is the other stack's alias
            svc["command"] = [f"{stack}_{MASTER}" if arg == MASTER else arg for arg in svc["command"]]
        svc["healthcheck"] = {"disable": True}
        svc["labels"] = {**(svc.get("labels") or {}), **labels}
        svc["networks"] = ["fleet"]
        svc["deploy"] = {
            "replicas": replicas, "labels": labels, "endpoint_mode": "dnsrr",
            "restart_policy": dict(WORKER_RESTARTS) if name == WORKER else {"condition": "none"},
            # the load directory (config, control file, parents) is on this host
            "placement": {"constraints": [f"node.id == {node_id}"]},
        }
        services[name] = svc
    return {"services": services, "networks": {"fleet": {"external": True, "name": f"{fleet_stack}_default"}}}


class SwarmLoadRunner(ComposeLoadRunner):
    where = "swarm services"

    def __init__(self, config: LoadConfig, out_dir: Path, log: Any, *, fleet_stack: str, run_id: str,
                 home_label: str, replicated: bool) -> None:
        super().__init__(config, out_dir, log, project=load_stack(fleet_stack), file=str(COMPOSE_FILE),
                         env={"POWERPEG_RUN_ID": run_id, "POWERPEG_HOME_LABEL": home_label}, run_id=run_id)
        self.config = swarm_routers(config, replicated=replicated)  # not compose's service-name URLs
        self.fleet_stack = fleet_stack
        self.labels = {LABEL_RUN: run_id, LABEL_HOME: home_label}

    @property
    def stack_path(self) -> Path:
        return self.out_dir / "load-stack.yml"

    def _service(self, name: str) -> str:
        return f"{self.project}_{name}"

    async def _launch(self) -> None:
        if self.config.workers < 1:
            raise LoadError("the swarm load needs at least one worker")

        def node() -> str:
            with dk.docker_client() as engine:
                return str((engine.info().get("Swarm") or {}).get("NodeID") or "")

        node_id = await asyncio.to_thread(node)
        if not node_id:
            raise LoadError("this engine is not a swarm node: the fleet's stack is not up")
        stack = load_stack_file(self.compose_env(), fleet_stack=self.fleet_stack, workers=self.config.workers,
                                node_id=node_id, labels=self.labels)
        self.stack_path.write_text(yaml.safe_dump(stack, sort_keys=False))
        self._up = True
        await sw.docker_cli("stack", "deploy", "--resolve-image", "never", "-c", str(self.stack_path), self.project)
        self.log.info("load_services_up", stack=self.project, workers=self.config.workers)

    def _containers(self) -> list[Any]:
        wanted = {self._service(MASTER), self._service(WORKER)}
        with dk.docker_client() as engine:
            found = sw.containers(engine, {"label": [f"{LABEL_RUN}={self.run_id}"]})
        return [c for c in found if c.labels.get(SERVICE_NAME) in wanted]

    def _name(self, container: Any) -> str:
        if container.labels.get(SERVICE_NAME) == self._service(MASTER):
            return "master"
        # <service>.<slot>.<task id>; a restarted worker's earlier containers keep their own name
        parts = container.labels.get(TASK_NAME, "").split(".")
        slot = parts[-2] if len(parts) >= 3 else container.short_id
        return f"worker-{slot}"

    remove_containers = False  # removing the services takes their containers

    async def _halt(self) -> None:
        """Master's container first (its workers quit with it, the final stats are written), then the workers'."""

        def stop_kind(master: bool) -> None:
            for container in self._containers():
                if (self._name(container) == "master") == master and container.status in ("running", "paused"):
                    if container.status == "paused":
                        container.unpause()
                    container.stop(timeout=int(STOP_GRACE_S))

        await asyncio.to_thread(stop_kind, True)
        await asyncio.to_thread(stop_kind, False)

    async def _remove(self) -> dict[str, str]:
        try:
            await sw.docker_cli("service", "rm", self._service(MASTER), self._service(WORKER))
        except Exception as exc:  # noqa: BLE001 - the backend's teardown removes by label
            return {"services": f"remove failed: {exc}"}
        return {"services": "removed"}
