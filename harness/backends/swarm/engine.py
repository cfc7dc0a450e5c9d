"""The Docker side of the swarm backend: swarm membership (join as found,
init only when the engine is in none, leave only what powerpeg initialised),
the loopback-only ``docker_gwbridge``, the ``docker`` CLI, a service's task
containers, and removing everything carrying a label.

Everything here filters on powerpeg labels: nothing else on the host is ever
touched, and the swarm itself is left only when powerpeg created it and no
service at all is left in it.
"""
from __future__ import annotations

import shutil
import time
from typing import Any

from powerpeg.harness.backends.command import run_command
from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.backends.compose.docker import DockerUnavailable, docker_client, remove_each
from powerpeg.harness.backends.compose.env import LABEL_RUN
from powerpeg.harness.backends.swarm.stack import LABEL_GWBRIDGE

GWBRIDGE = "docker_gwbridge"
LOOPBACK_OPTION = "com.docker.network.bridge.host_binding_ipv4"
CLI_TIMEOUT_S = 120.0
GONE_TIMEOUT_S = 30.0  # a removed service's containers are gone within this


async def docker_cli(*args: str, stdin: bytes | None = None, timeout: float = CLI_TIMEOUT_S) -> str:
    """One ``docker`` command; its output, or FleetError with it."""
    cli = shutil.which("docker")
    if cli is None:
        raise DockerUnavailable("the `docker` command is not installed")
    return await run_command([cli, *args], shown=f"docker {' '.join(args[:3])}", stdin=stdin, timeout=timeout)


def swarm_state(engine: Any) -> tuple[str, bool]:
    """(LocalNodeState: inactive/active/pending/error/locked, this node is a manager)."""
    info = engine.info().get("Swarm") or {}
    return str(info.get("LocalNodeState") or "inactive"), bool(info.get("ControlAvailable"))


def gwbridge(engine: Any) -> Any | None:
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    try:
        return engine.networks.get(GWBRIDGE)
    except docker.errors.NotFound:
        return None


def gwbridge_loopback(network: Any) -> bool:
    """Whether host-mode ports published through this docker_gwbridge bind 127.0.0.1 only."""
    return (network.attrs.get("Options") or {}).get(LOOPBACK_OPTION) == "127.0.0.1"


def refusal(engine: Any) -> str | None:
    """Why this engine cannot run a loopback-only fleet, or None when it can."""
    state, manager = swarm_state(engine)
    bridge = gwbridge(engine)
    if state == "active" and not manager:
        return "this engine is a swarm worker: run powerpeg on a manager node"
    if state not in ("active", "inactive"):
        return f"this engine's swarm state is {state!r}; fix it (`docker info`) first"
    if bridge is not None and not gwbridge_loopback(bridge):
        return (f"{GWBRIDGE} exists without {LOOPBACK_OPTION}=127.0.0.1, so Swarm would publish the fleet's "
                "admin and FIX ports on every interface; docs/swarm.md says how to recreate it")
    return None


async def init_swarm(home: str) -> bool:
    """Make this engine a one-node swarm whose host-mode ports bind 127.0.0.1:
    docker_gwbridge first (created by powerpeg, labelled), then `swarm init`.
    True when powerpeg created the bridge."""
    with docker_client() as engine:
        created = gwbridge(engine) is None
    if created:
        await docker_cli("network", "create", "--driver", "bridge", "--label", f"{LABEL_GWBRIDGE}={home}",
                         "--opt", "com.docker.network.bridge.name=docker_gwbridge",
                         "--opt", "com.docker.network.bridge.enable_icc=false",
                         "--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
                         "--opt", f"{LOOPBACK_OPTION}=127.0.0.1", GWBRIDGE)
    # the control plane on loopback too: a one-node swarm needs no other interface (docs/swarm.md)
    await docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
    return created


def made_by_powerpeg(engine: Any, home: str) -> bool:
    """Whether this engine's swarm is one powerpeg initialised for runs of ``home``: its
    docker_gwbridge carries powerpeg's label with that home (created just before `swarm init`).
    Lets the last run down leave a swarm another run of the same home made and could not leave
    while this one still ran in it."""
    bridge = gwbridge(engine)
    return bridge is not None and (bridge.attrs.get("Labels") or {}).get(LABEL_GWBRIDGE) == home


async def leave_swarm(initialised: bool, home: str) -> str | None:
    """Leave the swarm when powerpeg initialised it (this run's record, or the bridge's label)
    and nothing is left in it: no service (anyone's), no powerpeg run's secret (a run still
    tearing down removes its services first); what was done, or None when it was not ours."""
    with docker_client() as engine:
        state, _manager = swarm_state(engine)
        if state != "active":
            return None
        ours = made_by_powerpeg(engine, home)
        if not (initialised or ours):
            return None
        left = engine.services.list()
        if left:
            return f"swarm kept: {len(left)} service(s) still run in it"
        runs = engine.secrets.list(filters={"label": [LABEL_RUN]})
        if runs:
            return f"swarm kept: {len(runs)} powerpeg run(s) still tearing down in it"
    await docker_cli("swarm", "leave", "--force")
    if ours:
        with docker_client() as engine:
            bridge = gwbridge(engine)
            if bridge is not None and LABEL_GWBRIDGE in (bridge.attrs.get("Labels") or {}):
                bridge.remove()
    return "left the swarm powerpeg initialised"


def containers(engine: Any, filters: dict[str, list[str]]) -> list[Any]:
    """``containers.list``, retried when Swarm removes one between the list and its inspect."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    for _attempt in range(20):
        try:
            return list(engine.containers.list(all=True, filters=filters))
        except docker.errors.NotFound:
            time.sleep(0.05)
    return list(engine.containers.list(all=True, filters=filters, sparse=True))


def task_containers(engine: Any, service: str) -> list[Any]:
    """The containers of one service's tasks on this engine, newest first."""
    found = containers(engine, {"label": [f"com.docker.swarm.service.name={service}"]})
    return sorted(found, key=lambda c: c.attrs.get("Created", ""), reverse=True)


def running_task(engine: Any, service: str) -> Any:
    """The running (or paused) task container of ``service`` on this engine; FleetError naming
    the node when its task runs elsewhere (faults on containers act on this engine only)."""
    for container in task_containers(engine, service):
        if container.status in ("running", "paused"):
            return container
    tasks = engine.services.get(service).tasks(filters={"desired-state": "running"})
    nodes = {t.get("NodeID", "?") for t in tasks if t.get("Status", {}).get("State") == "running"}
    if nodes:
        raise FleetError(f"{service}'s task runs on node {', '.join(sorted(nodes))}, not on this engine: "
                         "kill/pause/restart act on this node's containers only")
    raise FleetError(f"{service} has no running task")


def node_name(engine: Any) -> str:
    """This engine's swarm node: its hostname and node id (the task ran here: faults act locally)."""
    info = engine.info()
    return f"{info.get('Name') or '?'} ({(info.get('Swarm') or {}).get('NodeID') or '?'})"


def remove_labelled(filters: dict[str, list[str]]) -> list[str]:
    """Remove every service, then (once their containers are gone) every network,
    volume, secret and config matching ``filters``: what was removed, one line each."""

    removed: list[str] = []
    with docker_client() as engine:
        state, manager = swarm_state(engine)
        if state == "active" and manager:
            removed += remove_each(engine.services.list(filters=filters), "service", lambda x: x.remove())
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while containers(engine, filters) and time.monotonic() < deadline:
            time.sleep(0.2)
        # a task's container Swarm did not remove in time
        removed += remove_each(containers(engine, filters), "container", lambda c: c.remove(force=True, v=True))
        removed += _remove_networks(engine, filters)
        removed += remove_each(engine.volumes.list(filters=filters), "volume", lambda v: v.remove(force=True))
        if state == "active" and manager:
            for kind in ("secrets", "configs"):
                removed += remove_each(getattr(engine, kind).list(filters=filters), kind[:-1], lambda x: x.remove())
    return removed


def _remove_networks(engine: Any, filters: dict[str, list[str]]) -> list[str]:
    """An overlay network is refused while a removed task still holds an endpoint: retry (bounded)."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    removed: list[str] = []
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while True:
        pending = []
        for network in engine.networks.list(filters=filters):
            try:
                network.remove()
                removed.append(f"network {network.name}")
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                pending.append(network.name)
        if not pending:
            return removed
        if time.monotonic() > deadline:
            return removed + [f"network {name} NOT removed (still in use)" for name in pending]
        time.sleep(0.5)


def leftovers(engine: Any, filters: dict[str, list[str]]) -> list[str]:
    """Services, containers, networks, volumes and secrets still matching ``filters``."""
    state, manager = swarm_state(engine)
    swarm = state == "active" and manager
    return ([f"service {s.name}" for s in (engine.services.list(filters=filters) if swarm else [])]
            + [f"container {c.name}" for c in containers(engine, filters)]
            + [f"network {n.name}" for n in engine.networks.list(filters=filters)]
            + [f"volume {v.name}" for v in engine.volumes.list(filters=filters)]
            + [f"secret {s.name}" for s in (engine.secrets.list(filters=filters) if swarm else [])])
