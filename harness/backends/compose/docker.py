"""The Docker side of the compose backend: the engine (Docker SDK), the
Compose command (v2 `docker compose`, else v1 `docker-compose`), and finding
or removing a run's containers, networks and volumes by label.

Everything here filters on powerpeg labels: nothing else on the host is
ever touched.
"""
from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from powerpeg.harness.backends.command import run_command
from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.backends.compose.env import LABEL_HOME, LABEL_RUN

COMPOSE_TIMEOUT_S = 120.0
MISSING_ENGINE = "Docker engine not available"


class DockerUnavailable(FleetError):
    """No engine answers, no Compose, or an image is missing (exit 3)."""


def client() -> Any:
    """A Docker SDK client to an engine that answers, or DockerUnavailable."""
    try:
        import docker  # noqa: PLC0415 - the local backend never needs it

        engine = docker.from_env(timeout=30)
        engine.ping()
    except Exception as exc:  # noqa: BLE001 - DockerException, connection refused, socket missing
        raise DockerUnavailable(f"{MISSING_ENGINE} ({type(exc).__name__}: {exc}); "
                                "start one with compose/ensure-docker.sh") from None
    return engine


@contextlib.contextmanager
def docker_client() -> Iterator[Any]:
    """``with docker_client() as engine:`` a client to an engine that answers
    (DockerUnavailable otherwise), closed on the way out."""
    engine = client()
    try:
        yield engine
    finally:
        engine.close()


def engine_answers() -> bool:
    try:
        with docker_client():
            pass
    except DockerUnavailable:
        return False
    return True


def require(images: list[str]) -> None:
    """DockerUnavailable unless an engine answers, holds every one of ``images``
    and a Compose command is installed."""
    with docker_client() as engine:
        missing = missing_images(engine, images)
        if missing:
            raise DockerUnavailable(f"Docker image{'s' if len(missing) > 1 else ''} missing: "
                                    f"{', '.join(missing)}; build them with `make images`")
        compose_command()


@functools.cache
def compose_command() -> tuple[str, ...]:
    """Compose v2 where present (what users have), else Debian's v1."""
    docker_cli = shutil.which("docker")
    if docker_cli is not None:
        probe = subprocess.run([docker_cli, "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return (docker_cli, "compose")
    v1 = shutil.which("docker-compose")
    if v1 is not None:
        return (v1,)
    raise DockerUnavailable("Docker Compose not found: neither `docker compose` (v2) nor `docker-compose` (v1)")


def missing_images(engine: Any, images: list[str]) -> list[str]:
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    missing = []
    for image in images:
        try:
            engine.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    return missing


async def compose(project: str, file: str, env: dict[str, str], *args: str,
                  timeout: float = COMPOSE_TIMEOUT_S) -> str:
    """Run one Compose command for this project; its output, or FleetError with it."""
    argv = [*compose_command(), "--project-name", project, "--file", file, *args]
    return await run_command(argv, shown=f"{' '.join(compose_command())} {' '.join(args)}", env=env, timeout=timeout)


def run_filter(run_id: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_RUN}={run_id}"]}


def home_filter(home: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_HOME}={home}"]}


def containers(engine: Any, filters: dict[str, list[str]]) -> list[Any]:
    return engine.containers.list(all=True, filters=filters)


def service_container(engine: Any, run_id: str, service: str) -> Any:
    """The container of one service of this run (never another run's)."""
    found = engine.containers.list(all=True, filters={
        "label": [f"{LABEL_RUN}={run_id}", f"com.docker.compose.service={service}"]})
    if not found:
        raise FleetError(f"no container for {service} in run {run_id}")
    return found[0]


def extract_one(chunks: Iterable[bytes], dest: Path) -> None:
    """The one file of a ``get_archive`` tar stream, written to ``dest``; the tar goes through a
    temporary file beside it, not memory (a runaway's journal runs to hundreds of MB)."""
    tmp = dest.with_name(dest.name + ".tar")
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        with tarfile.open(tmp) as tar:
            member = next((m for m in tar if m.isfile()), None)
            source = tar.extractfile(member) if member is not None else None
            if source is None:
                raise FleetError("the archive holds no file")
            with dest.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    finally:
        tmp.unlink(missing_ok=True)


def copy_segments(container: Any, first: str, dest: Path) -> int:
    """The exchange journal's segments (``first``, then ``<stem>.1<suffix>``…: targets/exchange/journal.py)
    out of ``container`` into the one file ``dest``, in order, until a segment is missing; how many.
    A missing first segment is an error (the caller names it); a missing later one ends the series."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs the SDK

    base = PurePosixPath(first)
    dest.write_bytes(b"")
    part = dest.with_name(dest.name + ".part")
    index = 0
    try:
        while True:
            name = first if index == 0 else str(base.with_name(f"{base.stem}.{index}{base.suffix}"))
            try:
                stream, _stat = container.get_archive(name)
            except docker.errors.NotFound:
                if index == 0:
                    raise
                return index
            extract_one(stream, part)
            with dest.open("ab") as out, part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            index += 1
    except BaseException:
        dest.unlink(missing_ok=True)  # no half journal that a reader could take for the whole
        raise
    finally:
        part.unlink(missing_ok=True)


def remove_labelled(filters: dict[str, list[str]]) -> list[str]:
    """:func:`remove_resources` on a client of its own."""
    with docker_client() as engine:
        return remove_resources(engine, filters)


def remove_each(items: Any, kind: str, remove: Any) -> list[str]:
    """``remove(item)`` for each of ``items``, one line each for what was removed; gone already is fine."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    removed: list[str] = []
    for item in items:
        try:
            remove(item)
            removed.append(f"{kind} {item.name}")
        except docker.errors.NotFound:
            pass
    return removed


def remove_resources(engine: Any, filters: dict[str, list[str]]) -> list[str]:
    """Remove every container, network and volume matching ``filters``:
    what was removed, one line each."""
    return (remove_each(containers(engine, filters), "container", lambda c: c.remove(force=True, v=True))
            + remove_each(engine.networks.list(filters=filters), "network", lambda n: n.remove())
            + remove_each(engine.volumes.list(filters=filters), "volume", lambda v: v.remove(force=True)))


def leftovers(engine: Any, filters: dict[str, list[str]]) -> list[str]:
    """Containers, networks and volumes still matching ``filters``."""
    return ([f"container {c.name}" for c in containers(engine, filters)]
            + [f"network {n.name}" for n in engine.networks.list(filters=filters)]
            + [f"volume {v.name}" for v in engine.volumes.list(filters=filters)])


def recreate(engine: Any, old: Any, image: str) -> Any:
    """Replace a container by one from ``image`` with the same name, command,
    run environment, labels, published ports and network aliases, so Compose
    still owns it and every peer still reaches it at the same address.

    The image's own environment (PATH, the baked-in router version) is not
    copied over: it must come from the new image."""
    api = engine.api
    attrs = old.attrs
    config, host = attrs["Config"], attrs["HostConfig"]
    image_env = set(engine.images.get(config["Image"]).attrs["Config"].get("Env") or [])
    env = [e for e in config.get("Env") or [] if e not in image_env]
    networks = attrs["NetworkSettings"]["Networks"]
    name = attrs["Name"].lstrip("/")
    ports = [int(p.split("/")[0]) for p in (host.get("PortBindings") or {})]
    bindings = {int(p.split("/")[0]): [(b["HostIp"], int(b["HostPort"])) for b in v]
                for p, v in (host.get("PortBindings") or {}).items()}
    endpoints = {net: api.create_endpoint_config(aliases=list(info.get("Aliases") or []))
                 for net, info in networks.items()}
    old.remove(force=True, v=False)
    created = api.create_container(
        image, command=config.get("Cmd"), environment=env, labels=config.get("Labels") or {}, name=name,
        ports=ports, healthcheck=config.get("Healthcheck"),
        host_config=api.create_host_config(port_bindings=bindings, binds=host.get("Binds") or None,
                                           mounts=None),
        networking_config=api.create_networking_config(endpoints),
    )
    api.start(created["Id"])
    return engine.containers.get(created["Id"])


def act_on(container: Any, action: str, what: str, *, kill_wait_s: float, stop_timeout_s: float) -> None:
    """One fault action on a container (compose's, or a swarm task's): ``kill`` returns once it has
    stopped (the kill API returns when the signal is sent), ``pause``, ``resume``, ``restart``."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    try:
        if action == "kill":
            container.kill()
            container.wait(timeout=kill_wait_s, condition="not-running")
        elif action == "pause":
            container.pause()
        elif action == "resume":
            container.unpause()
        elif action == "restart":
            container.restart(timeout=stop_timeout_s)
    except docker.errors.APIError as exc:  # not running, already paused, ...
        raise FleetError(f"{action} {what}: {exc}") from None
