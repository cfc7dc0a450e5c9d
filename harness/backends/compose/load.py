"""Locust in containers: the compose file's ``load`` profile, for
``powerpeg run --backend compose --load-workers N``.

The same contract as :class:`powerpeg.harness.load.runner.LoadRunner` (``start``,
``control``, ``stats``, ``parents``, ``stop``) and the same files in the run's
load directory; only where Locust runs differs: a master and N worker
containers on the project network (``compose up --scale locust-worker=N``),
reaching the routers by service name. The load directory is mounted at the
same path, so the config, the control file, the parents the workers got
accepted, Locust's CSV and its ready/final files are where the harness reads
them. Stopping saves each container's log there (``master.log``,
``worker-N.log``) and removes the containers; the backend's teardown removes
any left by label.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.load.config import LoadConfig, RouterTarget
from powerpeg.harness.load.runner import STOP_GRACE_S, LoadError, LoadRunner

MASTER, WORKER = "locust-master", "locust-worker"
SERVICE_LABEL = "com.docker.compose.service"
ROUTER_PORT = 8080  # every router's HTTP port inside the project network (compose/docker-compose.yml)
START_TIMEOUT_S = 60.0  # containers, then Locust's workers connecting


def in_network(config: LoadConfig) -> LoadConfig:
    """The config with each router's orders URL as the containers reach it (its service name)."""
    routers = tuple(RouterTarget(id=r.id, orders=f"http://{r.id}:{ROUTER_PORT}/orders") for r in config.routers)
    return config.model_copy(update={"routers": routers})


class ComposeLoadRunner(LoadRunner):
    where = "containers"

    def __init__(self, config: LoadConfig, out_dir: Path, log: Any, *, project: str, file: str,
                 env: dict[str, str], run_id: str, start_timeout: float = START_TIMEOUT_S) -> None:
        super().__init__(in_network(config), out_dir, log, start_timeout=start_timeout)
        self.project, self.file, self.fleet_env, self.run_id = project, file, env, run_id
        self._up = False

    def compose_env(self) -> dict[str, str]:
        """The fleet's compose variables plus the load profile's (compose/docker-compose.yml)."""
        cfg = self.config
        return {
            **self.fleet_env,
            "PP_LOAD_DIR": str(self.out_dir.resolve()),
            "PP_LOAD_CONFIG": str(self.config_path.resolve()),
            "PP_LOAD_WORKERS": str(cfg.workers),
            "PP_LOAD_START_TIMEOUT": str(int(self.start_timeout)),
            # whole seconds, rounded up: the bound must never cut the run short
            "PP_LOAD_RUN_TIME": f"{int(-(-cfg.run_time // 1))}s",
            "PP_LOAD_USERS": str(cfg.users),
            "PP_LOAD_SPAWN_RATE": f"{cfg.spawn_rate:g}",
            # files in the report belong to whoever runs powerpeg, not to root
            "PP_LOAD_USER": f"{os.getuid()}:{os.getgid()}",
        }

    async def _compose(self, *args: str) -> str:
        return await dk.compose(self.project, self.file, self.compose_env(), "--profile", "load", *args)

    async def _launch(self) -> None:
        if self.config.workers < 1:
            raise LoadError("the compose load profile needs at least one worker")
        self._up = True
        await self._compose("up", "--detach", "--no-deps", "--scale", f"{WORKER}={self.config.workers}",
                            MASTER, WORKER)
        self.log.info("load_containers_up", project=self.project, workers=self.config.workers)

    def _containers(self) -> list[Any]:
        with dk.docker_client() as engine:
            found = dk.containers(engine, dk.run_filter(self.run_id))
        return [c for c in found if c.labels.get(SERVICE_LABEL) in (MASTER, WORKER)]

    def _name(self, container: Any) -> str:  # an instance method: the swarm runner's needs its stack
        if container.labels.get(SERVICE_LABEL) == MASTER:
            return "master"
        return f"worker-{container.labels.get('com.docker.compose.container-number', container.short_id)}"

    async def _wait_ready(self) -> None:
        ready = Path(self.config.ready_file)
        deadline = time.monotonic() + self.start_timeout
        while not ready.exists():
            for container in await asyncio.to_thread(self._containers):
                if container.status in ("exited", "dead"):
                    logs = container.logs(tail=30).decode(errors="replace")
                    raise LoadError(f"Locust {self._name(container)} container {container.name} exited before the "
                                    f"load started\n--- its last lines ---\n{logs}")
            if time.monotonic() > deadline:
                raise LoadError(f"Locust in containers did not start the load within {self.start_timeout:.0f} s "
                                f"(logs: docker logs of the {MASTER}/{WORKER} containers of {self.project})")
            await asyncio.sleep(0.2)

    def running(self) -> bool:
        return any(c.status == "running" for c in self._containers())

    async def stop(self) -> None:
        """Stop the master (it tells its workers to quit and writes the final stats), keep every
        container's log in the load directory, remove the containers. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if not self._up:
            return
        outcomes: dict[str, str] = {}
        try:
            await self._halt()
        except Exception as exc:  # noqa: BLE001 - the logs and the removal below must still run
            outcomes["stop"] = f"failed: {exc}"
        outcomes.update(await self._keep_logs(remove=self.remove_containers))
        outcomes.update(await self._remove())
        self.log.info("load_stopped", outcomes=outcomes, where=self.where)

    # the swarm runner's services take their containers with them: it removes those instead
    remove_containers = True

    async def _halt(self) -> None:
        """The master first (it tells its workers to quit and writes the final stats), then the workers."""
        await self._compose("stop", "--timeout", str(int(STOP_GRACE_S)), MASTER)
        await self._compose("stop", "--timeout", str(int(STOP_GRACE_S)), WORKER)

    async def _remove(self) -> dict[str, str]:
        """What is left to remove once the logs are kept (compose: nothing, the containers went with them)."""
        return {}

    async def _keep_logs(self, *, remove: bool) -> dict[str, str]:
        """Each Locust container's log into the load directory (``<name>.log``), the container removed
        when ``remove``: its outcome by name."""
        outcomes: dict[str, str] = {}
        for container in await asyncio.to_thread(self._containers):
            name = self._name(container)
            try:
                await asyncio.to_thread(container.reload)
                log = await asyncio.to_thread(container.logs)
                (self.out_dir / f"{name}.log").write_bytes(log)
                outcomes[name] = f"exit {container.attrs.get('State', {}).get('ExitCode')}"
                if remove:
                    await asyncio.to_thread(container.remove, force=True)
                    outcomes[name] += ", removed"
            except Exception as exc:  # noqa: BLE001 - the backend's teardown removes by label anyway
                outcomes[name] = f"log or removal failed: {exc}"
        return outcomes
