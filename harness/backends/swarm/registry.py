"""Images through a registry, for a swarm of more than one node.

`make images` builds on the manager; a worker cannot run an image only the
manager's engine holds. So on a multi-node swarm every powerpeg image is
pushed to a registry as ``<registry>/powerpeg-router:v1`` (etc.) and the
stack names those:

- ``POWERPEG_REGISTRY=host:port`` set: that registry (the firm's, or one
  started by hand), used whatever the node count; the backend only pushes.
- not set, one node: nothing changes (local names, ``--resolve-image never``).
- not set, several nodes: the backend starts Debian's ``docker-registry``
  (``/usr/bin/docker-registry``, distribution 2.8) on the manager, bound to
  its swarm address, its storage and config under the run's state directory,
  recorded (pid, config path) in the run's ``swarm.json`` so ``down`` and
  ``cleanup`` stop exactly that process. A host process rather than a
  container: the ``registry`` image would have to be pulled (this machine
  reaches no image registry) and the Debian binary is the registry the issue
  names; a process needs no published port or gwbridge of its own either.

Every node's engine must accept that registry: plain HTTP needs it in each
node's ``insecure-registries`` (docs/swarm.md); 127.0.0.0/8 is accepted
by default.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import structlog
import yaml

REGISTRY_ENV = "POWERPEG_REGISTRY"
REGISTRY_BIN = "/usr/bin/docker-registry"
START_TIMEOUT_S = 20.0  # the registry answers /v2/ within this after its start
STOP_TIMEOUT_S = 10.0
PUSH_TIMEOUT_S = 300.0  # one image push (several hundred MB on a slow link)
IMAGE_PREFIX = "powerpeg-"  # the images powerpeg builds (`make images`); only these are qualified

_HOSTPORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")
log = structlog.get_logger("powerpeg.swarm.registry")


def parse_registry(value: str) -> str:
    """``host:port`` of a registry (no scheme, no path); ValueError naming what is wrong."""
    text = value.strip()
    match = _HOSTPORT.match(text)
    if match is None:
        raise ValueError(f"{REGISTRY_ENV}={value!r}: expected host:port (e.g. 10.0.0.5:5000), "
                         "without a scheme or a path")
    port = int(match.group("port"))
    if not 0 < port < 65536:
        raise ValueError(f"{REGISTRY_ENV}={value!r}: port {port} is outside 1-65535")
    return text


@dataclasses.dataclass(frozen=True)
class RegistryChoice:
    """Where the fleet's images come from: ``address`` None = the engine's local images."""

    address: str | None = None
    start: bool = False  # powerpeg starts docker-registry on the manager (no registry configured, several nodes)

    @property
    def resolve_image(self) -> str:
        """`docker stack deploy --resolve-image`: ``never`` for local names (no registry to ask);
        ``always`` with a registry, so every node runs the digest the manager pushed."""
        return "never" if self.address is None else "always"


def decide(nodes: int, configured: str | None) -> RegistryChoice:
    """The registry for a swarm of ``nodes`` nodes, given ``POWERPEG_REGISTRY`` (or None/"")."""
    if nodes < 1:
        raise ValueError(f"a swarm has at least one node, not {nodes}")
    if configured:
        return RegistryChoice(parse_registry(configured), start=False)
    if nodes == 1:
        return RegistryChoice()
    return RegistryChoice(None, start=True)  # the address is known once it listens


def qualify(image: str, registry: str | None) -> str:
    """``powerpeg-router:v1`` → ``<registry>/powerpeg-router:v1``; other images and no registry: as is."""
    if not registry or not image.startswith(IMAGE_PREFIX):
        return image
    return f"{registry}/{image}"


def node_count(engine: Any) -> int:
    """The nodes of the engine's swarm (1 when it is in none: powerpeg makes a one-node swarm)."""
    info = engine.info().get("Swarm") or {}
    if (info.get("LocalNodeState") or "inactive") != "active":
        return 1
    return max(1, int(info.get("Nodes") or 1))


def manager_address(engine: Any) -> str:
    """The manager's swarm address: the one the other nodes reach it on."""
    address = str((engine.info().get("Swarm") or {}).get("NodeAddr") or "")
    if not address:
        raise ValueError("this engine reports no swarm NodeAddr: is it a swarm manager?")
    return address


@dataclasses.dataclass
class RegistryProcess:
    """A docker-registry powerpeg started: enough for another process to stop exactly it."""

    address: str
    pid: int
    config: str  # its config file: in its command line, so a reused pid is never signalled

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistryProcess:
        return cls(str(data["address"]), int(data["pid"]), str(data["config"]))

    def alive(self) -> bool:
        """Whether ``pid`` is still this registry (its command line names our config)."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return self.config.encode() in cmdline

    def stop(self) -> str:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; what was done."""
        if not self.alive():
            return f"registry {self.address} (pid {self.pid}) already gone"
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.alive() and time.monotonic() < deadline:
            _reap(self.pid)
            time.sleep(0.1)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            _reap(self.pid)
        return f"registry {self.address} (pid {self.pid}) stopped"


def _reap(pid: int) -> None:
    """Collect the exit status when this process started it (else it stays a zombie, 'alive')."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def write_config(directory: Path, listen: str) -> Path:
    """docker-registry's config: plain HTTP on ``listen``, storage under ``directory``, no auth."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"version": 0.1, "log": {"level": "info", "fields": {"service": "powerpeg-registry"}},
              "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
              "http": {"addr": listen}}
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def start(directory: Path, host: str, port: int, *, binary: str = REGISTRY_BIN) -> RegistryProcess:
    """Start docker-registry on ``host:port`` in its own session (it outlives `powerpeg up`,
    as the fleet does), and wait until /v2/ answers; ValueError/RuntimeError saying why not."""
    if not Path(binary).is_file():
        raise RuntimeError(f"{binary} not found: `apt-get install docker-registry` on the manager, "
                           f"or set {REGISTRY_ENV}=host:port to a registry every node reaches")
    address = f"{host}:{port}"
    config = write_config(directory, address)
    with open(directory / "registry.log", "ab") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    registry = RegistryProcess(address, proc.pid, str(config))
    log.info("registry_started", address=address, pid=proc.pid, config=str(config))
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (directory / "registry.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"docker-registry on {address} exited ({proc.returncode}): {tail}")
            try:
                async with session.get(f"http://{address}/v2/", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return registry
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1)
    await asyncio.to_thread(registry.stop)
    raise RuntimeError(f"docker-registry on {address} did not answer /v2/ within {START_TIMEOUT_S:.0f} s")


async def push(images: list[str], registry: str, cli: Any) -> list[str]:
    """Tag each local image as ``<registry>/<image>`` and push it; the references pushed.
    ``cli`` is engine.docker_cli (passed in: engine imports stack, stack imports us)."""
    pushed = []
    for image in images:
        ref = qualify(image, registry)
        if ref == image:
            continue
        await cli("tag", image, ref)
        started = time.monotonic()
        await cli("push", ref, timeout=PUSH_TIMEOUT_S)
        log.info("image_pushed", image=ref, seconds=round(time.monotonic() - started, 1))
        pushed.append(ref)
    return pushed


async def catalog(registry: str) -> list[str]:
    """The repositories the registry holds (its HTTP API, /v2/_catalog)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{registry}/v2/_catalog", timeout=aiohttp.ClientTimeout(total=5)) as resp:
            resp.raise_for_status()
            body = await resp.json()
    return list(body.get("repositories") or [])


def free_port(host: str) -> int:
    """A TCP port free on ``host`` now (the registry binds it a moment later)."""
    import socket  # noqa: PLC0415 - only when a registry is started

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host.strip("[]"), 0))
        return int(sock.getsockname()[1])


def router_tags(engine: Any) -> list[str]:
    """Every local ``powerpeg-router:<version>`` (a deploy may go to any of them, so each is pushed)."""
    tags = {tag for image in engine.images.list(name="powerpeg-router") for tag in image.tags}
    return sorted(t for t in tags if t.startswith("powerpeg-router:"))


async def tags(registry: str, repository: str) -> list[str]:
    """The tags of one repository in the registry (/v2/<name>/tags/list)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{registry}/v2/{repository}/tags/list",
                               timeout=aiohttp.ClientTimeout(total=5)) as resp:
            resp.raise_for_status()
            body = await resp.json()
    return sorted(body.get("tags") or [])
