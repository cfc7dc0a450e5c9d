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

With replicated routers (``FleetSpec.replicated_routers``: an experiment's
``partial_deploy`` in ``mode: rolling``) the routers are ONE service,
``routers``, of N tasks, built from the compose file's ``router-1``:

- identity from the task's slot: Swarm templates ``{{.Task.Slot}}`` in
  ``hostname`` and ``environment`` only (not in ``command``), so the service's
  entrypoint is a few lines of Python (:data:`SLOT_ENTRY`) that read
  ``POWERPEG_SLOT`` and start ``router-<slot>`` with that router's flags and
  FIX password from ``POWERPEG_SLOTS`` (JSON, slot → both): the CompID
  ``ROUTER-<slot>`` the exchange admits, its own Toxiproxy link. A replaced
  task keeps its slot, so a rolled router keeps its id.
- addressing: N tasks cannot share one host-mode port on a node, and a task's
  address changes with every replacement, so each slot is fronted by a
  Toxiproxy proxy, ``router-<slot>-admin`` (listening on
  ``SLOT_PROXY_BASE + slot`` in the toxiproxy service, published on
  127.0.0.1 as the router's port). The backend points it at the slot's
  running task (its overlay address, from the task list) after every change;
  the harness, Locust and the monitor reach router-N through it, as a firm's
  per-instance service discovery would. The toxiproxy service therefore runs
  whenever the routers are replicated, links or not.
- the health gate: a healthcheck (``http-ok 8080 /health``) on this service
  only; Swarm reports a task RUNNING once it passes, and the rolling update
  waits for that (update_config: parallelism 1, ``start-first`` — the old
  task serves until its replacement passed the gate — ``failure_action:
  pause``, ``max_failure_ratio: 0``).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

from powerpeg.harness.backends.compose.env import (ADMIN_PORT, COMPOSE_FILE, LABEL_HOME, LABEL_RUN,
                                                   TOXIPROXY_IMAGE, ComposePlan, router_image)
from powerpeg.harness.backends.swarm.registry import qualify

ROUTERS_SERVICE = "routers"  # the replicated router service (FleetSpec.replicated_routers)
SLOT_PROXY_BASE = 20200  # router-N's admin/orders proxy listens on 20200 + N in the toxiproxy service
ENTRYPOINT = "/opt/powerpeg/entrypoint.py"  # compose/Dockerfile.targets
# The routers service's entrypoint: slot → router id, flags and password, then the image's own entrypoint.
# No "$" anywhere: `docker stack deploy` would interpolate it.
SLOT_ENTRY = (
    "import json, os, sys\n"
    "slot = os.environ.get('POWERPEG_SLOT', '')\n"
    "slots = json.loads(os.environ.get('POWERPEG_SLOTS') or '{}')\n"
    "if slot not in slots:\n"
    "    sys.exit(f'task slot {slot!r} has no router: the fleet has slots {sorted(slots)}')\n"
    "rid = 'router-' + slot\n"
    "os.environ['POWERPEG_ARGS'] = json.dumps(slots[slot]['args'])\n"
    "os.environ['POWERPEG_FIX_PASSWORD'] = slots[slot]['password']\n"
    "del os.environ['POWERPEG_SLOTS']\n"
    "os.execv(sys.executable, [sys.executable, '" + ENTRYPOINT + "', 'router', '--host', '0.0.0.0',"
    " '--admin-port', '8080', '--instance', rid, '--id', rid, '--run-id', os.environ['POWERPEG_RUN_ID']])\n"
)
# the gate of a rolling update: a task is RUNNING once its router answers /health (Swarm waits for it)
ROUTER_GATE = {"test": ["CMD", "http-ok", "8080", "/health"], "interval": "500ms", "timeout": "2s",
               "retries": 3, "start_period": "60s"}
# the rolling update's policy (docs/swarm.md "The rolling partial deploy")
ROUTERS_UPDATE = {"parallelism": 1, "delay": "0s", "order": "start-first", "failure_action": "pause",
                  "monitor": "2s", "max_failure_ratio": 0}
# `docker service rollback`: every task at once (the 2012 remedy was fleet-wide), start-first as above
ROUTERS_ROLLBACK = {"parallelism": 0, "order": "start-first", "failure_action": "pause", "monitor": "2s",
                    "max_failure_ratio": 0}
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


def slot_proxy(router_id: str) -> str:
    """The Toxiproxy proxy fronting a replicated router's task (not a network link: no faults on it)."""
    return f"{router_id}-admin"


def slot_proxy_port(router_id: str) -> int:
    return SLOT_PROXY_BASE + int(router_id.rsplit("-", 1)[1])


def router_slot(router_id: str) -> int:
    return int(router_id.rsplit("-", 1)[1])


def _host_ports(ports: list[str]) -> list[dict[str, Any]]:
    """"127.0.0.1:PUBLISHED:TARGET" (interpolated already) → Swarm's long syntax, mode host."""
    out = []
    for port in ports:
        _host, published, target = str(port).rsplit(":", 2)
        out.append({"target": int(target), "published": int(published), "protocol": "tcp", "mode": "host"})
    return out


class StackPlan:
    """One fleet on Swarm: the compose backend's plan (ports, flags, images) plus the stack around it."""

    def __init__(self, compose: ComposePlan, registry: str | None = None) -> None:
        self.compose = compose
        # host:port every node pulls powerpeg's images from (registry.py); None: the engine's own images
        self.registry = registry

    def image(self, image: str) -> str:
        """The name a service runs ``image`` by: ``<registry>/image`` with a registry, else as built."""
        return qualify(image, self.registry)

    def images(self) -> list[str]:
        """The local images this stack runs (what a registry must hold before the deploy)."""
        # the replicated routers' image is compose's router-N image: one version (backend._check)
        return list(dict.fromkeys(self.compose.images() + ([TOXIPROXY_IMAGE] if self.toxiproxy else [])))

    @property
    def replicated(self) -> bool:
        """The routers are one replicated service (a rolling partial deploy), not one service each."""
        return self.compose.spec.replicated_routers

    @property
    def toxiproxy(self) -> bool:
        """The toxiproxy service runs: for the network links, or to front replicated routers."""
        return self.compose.toxiproxy or self.replicated

    def first_services(self) -> list[str]:
        """What the rest dial at start (and the proxies need)."""
        first = self.compose.first_services()
        return first + (["toxiproxy"] if self.toxiproxy and "toxiproxy" not in first else [])

    def second_services(self) -> list[str]:
        return ["monitor", ROUTERS_SERVICE] if self.replicated else self.compose.second_services()

    def router_service(self, router_id: str) -> str:
        """The Swarm service running ``router_id``: its own, or the replicated one."""
        return self.service(ROUTERS_SERVICE if self.replicated else router_id)

    def slot_proxies(self) -> list[tuple[str, str]]:
        """(proxy, listen inside the toxiproxy service) fronting each replicated router's slot."""
        if not self.replicated:
            return []
        return [(slot_proxy(r), f"0.0.0.0:{slot_proxy_port(r)}") for r in self.compose.router_ids]

    def monitor_args(self) -> list[str]:
        """The monitor's flags, a replicated router reached through its slot's proxy."""
        args = self.compose.monitor_args()
        if not self.replicated:
            return args
        urls = {f"http://{r}:{ADMIN_PORT}": f"http://toxiproxy:{slot_proxy_port(r)}" for r in self.compose.router_ids}
        return [urls.get(arg, arg) for arg in args]

    def slots(self) -> dict[str, dict[str, Any]]:
        """POWERPEG_SLOTS: task slot → that router's flags and FIX Logon password."""
        env = self.compose.environment()
        out = {}
        for router_id in self.compose.router_ids:
            key = "PP_" + router_id.upper().replace("-", "_")
            out[str(router_slot(router_id))] = {"args": json.loads(env[f"{key}_ARGS"]),
                                                "password": env[f"{key}_FIX_PASSWORD"]}
        return out

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
        env["PP_MONITOR_ARGS"] = json.dumps(self.monitor_args())
        return env

    def stack_file(self, services: list[str], source: Path = COMPOSE_FILE) -> dict[str, Any]:
        """The stack file deploying ``services`` (a later deploy with more adds them)."""
        text = interpolate(source.read_text(), self.environment())
        data = yaml.safe_load(text)  # YAML merge keys (<<: *service) resolved here
        labels = self.labels()
        out: dict[str, Any] = {"services": {}, "secrets": {SECRET_KEY: {"external": True, "name": self.secret}}}
        for name in services:
            if name == ROUTERS_SERVICE:
                out["services"][name] = self._routers_service(data, labels)
                continue
            svc = copy.deepcopy(data["services"][name])
            for key in ("profiles", "restart", "depends_on", "container_name"):
                svc.pop(key, None)
            svc["image"] = self.image(str(svc["image"]))
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
            self._place(deploy, "routers" if name.startswith("router-") else name)
            if name == "toxiproxy":
                svc["ports"] += [{"target": slot_proxy_port(r), "published": self.compose.ports.router(r),
                                  "protocol": "tcp", "mode": "host"}
                                 for r in self.compose.router_ids if self.replicated]
            out["services"][name] = svc
        out["networks"] = {"default": {"driver": "overlay", "labels": labels}}
        volumes = {v: {**(spec or {}), "labels": labels} for v, spec in (data.get("volumes") or {}).items()
                   if any(str(m).startswith(v + ":") for s in out["services"].values() for m in s.get("volumes", []))}
        if volumes:
            out["volumes"] = volumes
        return out

    def _place(self, deploy: dict[str, Any], kind: str) -> None:
        constraint = self.compose.spec.placement.get(kind)
        if constraint:
            deploy.setdefault("placement", {})["constraints"] = [constraint]

    def _routers_service(self, data: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
        """The replicated router service, from the compose file's router-1 (module docstring says why so)."""
        svc = copy.deepcopy(data["services"]["router-1"])
        for key in ("profiles", "restart", "depends_on", "container_name", "command", "ports"):
            svc.pop(key, None)
        svc["image"] = self.image(router_image(self.compose.spec.version))
        svc["entrypoint"] = ["python", "-c", SLOT_ENTRY]
        svc["hostname"] = "router-{{.Task.Slot}}"
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()
               if k not in ("POWERPEG_TOKEN", "POWERPEG_ARGS", "POWERPEG_FIX_PASSWORD")}
        env.update({"POWERPEG_TOKEN_FILE": TOKEN_FILE, "POWERPEG_SLOT": "{{.Task.Slot}}",
                    "POWERPEG_SLOTS": json.dumps(self.slots(), separators=(",", ":"))})
        svc["environment"] = env
        svc["healthcheck"] = dict(ROUTER_GATE)
        svc["secrets"] = [{"source": SECRET_KEY, "target": SECRET_KEY}]
        svc["labels"] = {**(svc.get("labels") or {}), **labels}
        deploy = svc.setdefault("deploy", {})
        deploy["labels"] = {**(deploy.get("labels") or {}), **labels}
        deploy["replicas"] = len(self.compose.router_ids)
        deploy["restart_policy"] = {"condition": "none"}
        deploy["update_config"] = dict(ROUTERS_UPDATE)
        deploy["rollback_config"] = dict(ROUTERS_ROLLBACK)
        deploy["endpoint_mode"] = "dnsrr"
        self._place(deploy, "routers")
        return svc

    def write(self, path: Path, services: list[str]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.stack_file(services), sort_keys=False))
        tmp.chmod(0o600)  # flags may carry credentials
        tmp.replace(path)
        return path
