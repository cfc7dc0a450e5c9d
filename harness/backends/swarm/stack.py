"""From a FleetSpec to the stack file `docker stack deploy` is given: the
compose file (compose/docker-compose.yml, the one source of the services),
its variables resolved with the compose backend's mapping, and what Swarm
needs differently.

Pure (no Docker), so the whole mapping is testable without an engine. What
differs from Compose, and why:

- ports: long syntax, ``mode: host``. Swarm's port config has no host IP (the
  short syntax's ``127.0.0.1:`` is dropped) and ingress publishes on every
  interface; a host-mode port goes through ``docker_gwbridge``, whose
  ``host_binding_ipv4`` option the backend sets to 127.0.0.1 (docs/swarm.md).
- the admin token: a Swarm secret mounted at /run/secrets/powerpeg_token,
  read through ``POWERPEG_TOKEN_FILE``; ``POWERPEG_TOKEN`` is not set.
- healthchecks off: Swarm keeps a task out of its service's virtual IP until
  its first check passes (``interval`` after start), which would hold every
  peer's connection for seconds; the backend waits on /health itself.
- ``endpoint_mode: dnsrr``: a peer's name resolves to its task's address;
  Swarm's virtual IPs need IPVS, which not every kernel has (this one lacks it).
- no ``profiles`` (Locust's containers), ``restart`` or ``depends_on``: the
  stack runs the fleet, the harness orders its start (two deploys).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from harness.backends.compose.env import COMPOSE_FILE, LABEL_HOME, LABEL_RUN, ComposePlan

SECRET_KEY = "powerpeg_token"  # the secret's name inside the stack and its file under /run/secrets
TOKEN_FILE = f"/run/secrets/{SECRET_KEY}"
LABEL_GWBRIDGE = "powerpeg.gwbridge"  # on a docker_gwbridge powerpeg created (removed when it leaves)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")


def stack_name(run_id: str) -> str:
    """`docker stack` names: [a-zA-Z0-9_-]; a service is ``<stack>_<service>``."""
    return "pp-" + re.sub(r"[^a-z0-9_-]", "-", run_id.lower())


def secret_name(run_id: str) -> str:
    return f"{stack_name(run_id)}-token"


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``, from ``env`` only."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name, "")
        if value:
            return value
        if op == "?":
            raise ValueError(f"compose file variable {name} is not set: {arg}")
        return arg if op == "-" else ""

    return _VAR.sub(one, text)


def _host_ports(ports: list[str]) -> list[dict[str, Any]]:
    """"127.0.0.1:PUBLISHED:TARGET" (interpolated already) → Swarm's long syntax, mode host."""
    out = []
    for port in ports:
        _host, published, target = str(port).rsplit(":", 2)
        out.append({"target": int(target), "published": int(published), "protocol": "tcp", "mode": "host"})
    return out


class StackPlan:
    """One fleet on Swarm: the compose backend's plan (ports, flags, images) plus the stack around it."""

    def __init__(self, compose: ComposePlan) -> None:
        self.compose = compose

    @property
    def stack(self) -> str:
        return stack_name(self.compose.run_id)

    @property
    def secret(self) -> str:
        return secret_name(self.compose.run_id)

    def labels(self) -> dict[str, str]:
        return {LABEL_RUN: self.compose.run_id, LABEL_HOME: self.compose.home}

    def service(self, component: str) -> str:
        """The Swarm service of a component (``<stack>_<component>``)."""
        return f"{self.stack}_{component}"

    def environment(self) -> dict[str, str]:
        """The compose file's variables, without the token (it is the secret)."""
        env = dict(self.compose.environment())
        env["POWERPEG_TOKEN"] = ""
        return env

    def stack_file(self, services: list[str], source: Path = COMPOSE_FILE) -> dict[str, Any]:
        """The stack file deploying ``services`` (a later deploy with more adds them)."""
        text = interpolate(source.read_text(), self.environment())
        data = yaml.safe_load(text)  # YAML merge keys (<<: *service) resolved here
        labels = self.labels()
        out: dict[str, Any] = {"services": {}, "secrets": {SECRET_KEY: {"external": True, "name": self.secret}}}
        for name in services:
            svc = copy.deepcopy(data["services"][name])
            for key in ("profiles", "restart", "depends_on", "container_name"):
                svc.pop(key, None)
            svc["healthcheck"] = {"disable": True}
            svc["ports"] = _host_ports(svc.get("ports") or [])
            env = {k: str(v) for k, v in (svc.get("environment") or {}).items() if k != "POWERPEG_TOKEN"}
            env["POWERPEG_TOKEN_FILE"] = TOKEN_FILE
            svc["environment"] = env
            svc["secrets"] = [{"source": SECRET_KEY, "target": SECRET_KEY}]
            svc["labels"] = {**(svc.get("labels") or {}), **labels}
            deploy = svc.setdefault("deploy", {})
            deploy["labels"] = {**(deploy.get("labels") or {}), **labels}
            deploy.setdefault("replicas", 1)
            deploy.setdefault("restart_policy", {"condition": "none"})
            # peers resolve a service's task by DNS: no virtual IP (IPVS, absent on hosts without the
            # ip_vs module, such as this one), and host-mode ports need no ingress
            deploy["endpoint_mode"] = "dnsrr"
            out["services"][name] = svc
        out["networks"] = {"default": {"driver": "overlay", "labels": labels}}
        volumes = {v: {**(spec or {}), "labels": labels} for v, spec in (data.get("volumes") or {}).items()
                   if any(str(m).startswith(v + ":") for s in out["services"].values() for m in s.get("volumes", []))}
        if volumes:
            out["volumes"] = volumes
        return out

    def write(self, path: Path, services: list[str]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.stack_file(services), sort_keys=False))
        tmp.chmod(0o600)  # flags may carry credentials
        tmp.replace(path)
        return path
