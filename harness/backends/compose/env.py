"""From a FleetSpec to what `docker compose` is given: the project name, the
interpolation variables of compose/docker-compose.yml, the services to start,
the proxies to create, and the Topology the host sees.

Pure (no Docker, no sockets except the host port allocation), so the whole
mapping is testable without an engine. Inside the project network services
are reached by service name on fixed ports; from the host only through the
ports published on 127.0.0.1, which are what the Topology carries.
"""
from __future__ import annotations

import json
import random
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.resources import compose_file
from powerpeg.harness.topology import (
    ALERTS_PROXY,
    DROPCOPY_PROXY,
    ExchangeEndpoints,
    ProxyInfo,
    RouterEndpoints,
    ServiceEndpoints,
    Topology,
    ToxiproxyEndpoints,
    fix_credentials,
    fix_password,
    fleet_comp_ids,
    pagerduty_routing_key,
    proxy_upstreams,
    router_proxy,
)

HOST = "127.0.0.1"
# the installed package's copy, or the checkout's (harness/resources.py): not a path relative to this file
COMPOSE_FILE = compose_file()
COMPOSE_ROUTERS = 8  # router-1 .. router-8 are services of the compose file

# fixed ports inside the project network (the compose file uses the same)
ADMIN_PORT = 8080
FIX_PORT = 9878
DROPCOPY_PORT = 9879
TOXIPROXY_API_PORT = 8474
ROUTER_PROXY_BASE = 20000  # router-N's proxy listens on 20000 + N
DROPCOPY_PROXY_PORT = 20100
ALERTS_PROXY_PORT = 20101

LABEL_RUN = "powerpeg.run_id"
LABEL_HOME = "powerpeg.home"

TARGETS_IMAGE = "powerpeg-targets:latest"
TOXIPROXY_IMAGE = "powerpeg-toxiproxy:latest"
PROMETHEUS_IMAGE = "powerpeg-prometheus:latest"  # Prometheus + Alertmanager (compose/Dockerfile.prometheus)
# a bundled control's services, an override of COMPOSE_FILE started after the fleet (harness/controls/placement.py)
CONTROL_FILES = {"prometheus": COMPOSE_FILE.parent / "control-prometheus.yml"}


def router_image(version: str) -> str:
    return f"powerpeg-router:{version}"


def _router_proxy_port(router_id: str) -> int:
    return ROUTER_PROXY_BASE + int(router_id.rsplit("-", 1)[1])


def project_name(run_id: str) -> str:
    """Compose project names are lower-case [a-z0-9_-]; a run id may hold more."""
    return "powerpeg-" + re.sub(r"[^a-z0-9_-]", "-", run_id.lower())


def _env_key(component: str) -> str:
    return "PP_" + component.upper().replace("-", "_")


# Published ports come from below the kernel's ephemeral range (ip_local_port_range), which the kernel
# draws from for every outgoing connection and every bind to port 0 on the machine: a port chosen inside
# it could be taken in the moment between our choice and Docker's bind (seen in CI, a swarm test beside
# tests running local fleets: "Error starting userland proxy: listen tcp4 127.0.0.1:44511: bind: address
# already in use"). Below the range only a process that names the port can take it.
PUBLISH_MIN = 20_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port free on 127.0.0.1 right now, for Docker to publish on. Chosen by
    us, not by Docker, so a recreated container (a deploy) keeps its address;
    below the ephemeral range when there is room (why: above)."""
    low = _ephemeral_low()
    if low - PUBLISH_MIN >= 1_000:
        for port in random.sample(range(PUBLISH_MIN, low), 200):
            if _bindable(port):
                return port
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class HostPorts:
    """Host side of every published port."""

    exchange_admin: int
    exchange_fix: int
    exchange_dropcopy: int
    alerts: int
    monitor: int
    toxiproxy: int
    routers: tuple[tuple[str, int], ...]

    @classmethod
    def allocate(cls, router_ids: list[str]) -> HostPorts:
        ports: set[int] = set()

        def one() -> int:
            while (port := free_port()) in ports:
                pass
            ports.add(port)
            return port

        return cls(one(), one(), one(), one(), one(), one(), tuple((rid, one()) for rid in router_ids))

    def router(self, router_id: str) -> int:
        return dict(self.routers)[router_id]

    def to_json(self) -> dict[str, Any]:
        return {"exchange_admin": self.exchange_admin, "exchange_fix": self.exchange_fix,
                "exchange_dropcopy": self.exchange_dropcopy, "alerts": self.alerts, "monitor": self.monitor,
                "toxiproxy": self.toxiproxy, "routers": [list(r) for r in self.routers]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostPorts:
        return cls(data["exchange_admin"], data["exchange_fix"], data["exchange_dropcopy"], data["alerts"],
                   data["monitor"], data["toxiproxy"], tuple((rid, int(p)) for rid, p in data["routers"]))


@dataclass(frozen=True)
class ComposePlan:
    """One fleet on Compose: everything `up` needs, derived from the spec."""

    run_id: str
    home: str
    token: str
    spec: FleetSpec
    ports: HostPorts

    @property
    def project(self) -> str:
        return project_name(self.run_id)

    @property
    def router_ids(self) -> list[str]:
        return self.spec.router_ids()

    @property
    def toxiproxy(self) -> bool:
        return self.spec.toxiproxy

    def images(self) -> list[str]:
        images = [TARGETS_IMAGE] + sorted({router_image(self.spec.version_of(r)) for r in self.router_ids})
        return images + ([TOXIPROXY_IMAGE] if self.toxiproxy else [])

    # -- wiring (addresses inside the project network) --------------------
    def exchange_via(self, router_id: str) -> str:
        if self.toxiproxy:
            return f"toxiproxy:{_router_proxy_port(router_id)}"
        return f"exchange:{FIX_PORT}"

    def dropcopy_via(self) -> str:
        return f"toxiproxy:{DROPCOPY_PROXY_PORT}" if self.toxiproxy else f"exchange:{DROPCOPY_PORT}"

    def alerts_url(self) -> str:
        return f"http://toxiproxy:{ALERTS_PROXY_PORT}" if self.toxiproxy else f"http://alerts:{ADMIN_PORT}"

    def proxies(self) -> list[ProxyInfo]:
        """(name, listen, upstream) of every proxy, the listen address as the toxiproxy container binds it."""
        if not self.toxiproxy:
            return []
        ports = {router_proxy(r): _router_proxy_port(r) for r in self.router_ids}
        ports.update({DROPCOPY_PROXY: DROPCOPY_PROXY_PORT, ALERTS_PROXY: ALERTS_PROXY_PORT})
        wanted = proxy_upstreams(self.router_ids, exchange_fix=f"exchange:{FIX_PORT}",
                                 dropcopy=f"exchange:{DROPCOPY_PORT}", alerts=f"alerts:{ADMIN_PORT}")
        return [ProxyInfo(name, f"0.0.0.0:{ports[name]}", upstream) for name, upstream in wanted]

    # -- per-service flags (POWERPEG_ARGS) -------------------------------
    def exchange_args(self) -> list[str]:
        return ["--comp-id", self.spec.exchange_comp_id, "--open-in", str(self.spec.open_in),
                *self.spec.exchange_args]

    @property
    def network(self) -> str:
        """The project network by name (compose/docker-compose.yml `networks.default.name`): what a
        firm's own containers join (compose/external-control.yml)."""
        return self.project

    def alerts_args(self) -> list[str]:
        # inside the container's argv only (the compose record holding it is 0600, like the token)
        route = [f"--route=pagerduty:{pagerduty_routing_key(self.token)}=page"] if self.spec.pagerduty_route else []
        return route + list(self.spec.alerts_args)

    def monitor_args(self) -> list[str]:
        if self.spec.monitor_detached:
            return ["--firm", self.spec.firm, *self.spec.monitor_args]
        args = ["--dropcopy", self.dropcopy_via(), "--exchange-comp-id", self.spec.exchange_comp_id,
                "--firm", self.spec.firm, "--exchange-admin", f"http://exchange:{ADMIN_PORT}",
                "--alerts", self.alerts_url()]
        for router_id in self.router_ids:
            args += ["--router", f"http://{router_id}:{ADMIN_PORT}"]
        return args + list(self.spec.monitor_args)

    def router_args(self, router_id: str) -> list[str]:
        return ["--exchange", self.exchange_via(router_id), "--exchange-comp-id", self.spec.exchange_comp_id,
                "--exchange-admin", f"http://exchange:{ADMIN_PORT}", "--firm", self.spec.firm,
                "--alerts", self.alerts_url(), "--monitor", f"http://monitor:{ADMIN_PORT}",
                *self.spec.router_args]

    def environment(self) -> dict[str, str]:
        """The compose file's interpolation variables for this run."""
        env = {
            "POWERPEG_RUN_ID": self.run_id,
            "POWERPEG_HOME_LABEL": self.home,
            "POWERPEG_TOKEN": self.token,
            "PP_EXCHANGE_ADMIN_PORT": str(self.ports.exchange_admin),
            "PP_EXCHANGE_FIX_PORT": str(self.ports.exchange_fix),
            "PP_EXCHANGE_DROPCOPY_PORT": str(self.ports.exchange_dropcopy),
            "PP_ALERTS_PORT": str(self.ports.alerts),
            "PP_MONITOR_PORT": str(self.ports.monitor),
            "PP_TOXIPROXY_PORT": str(self.ports.toxiproxy),
            "PP_EXCHANGE_ARGS": json.dumps(self.exchange_args()),
            "PP_ALERTS_ARGS": json.dumps(self.alerts_args()),
            "PP_NETWORK": self.network,
            "PP_MONITOR_ARGS": json.dumps(self.monitor_args()),
            # FIX Logon credentials, derived from the token: the exchange's table, each client's password
            "PP_FIX_CREDENTIALS": json.dumps(fix_credentials(self.token, self.fix_comp_ids(), self.spec.firm)),
            "PP_MONITOR_FIX_PASSWORD": fix_password(self.token, self.spec.firm),
        }
        for router_id in self.router_ids:
            key = _env_key(router_id)
            env[f"{key}_PORT"] = str(self.ports.router(router_id))
            env[f"{key}_VERSION"] = self.spec.version_of(router_id)
            env[f"{key}_ARGS"] = json.dumps(self.router_args(router_id))
            env[f"{key}_FIX_PASSWORD"] = fix_password(self.token, router_id.upper())
        return env

    def fix_comp_ids(self) -> list[str]:
        return fleet_comp_ids(self.router_ids, self.spec.firm, self.spec.fix_clients)

    def first_services(self) -> list[str]:
        """Started first: what the rest dial at start (and the proxies need)."""
        return ["alerts", "exchange"] + (["toxiproxy"] if self.toxiproxy else [])

    def second_services(self) -> list[str]:
        return ["monitor", *self.router_ids]

    # -- what the host sees -----------------------------------------------
    def topology(self, state_dir: str, logs: dict[str, str]) -> Topology:
        exchange_admin = f"http://{HOST}:{self.ports.exchange_admin}"
        toxiproxy = None
        if self.toxiproxy:
            # listen/upstream are addresses inside the project network, where the proxies live
            proxies = tuple(ProxyInfo(p.name, f"toxiproxy:{p.listen.rsplit(':', 1)[1]}", p.upstream)
                            for p in self.proxies())
            toxiproxy = ToxiproxyEndpoints(api=f"http://{HOST}:{self.ports.toxiproxy}", proxies=proxies)
        routers = tuple(
            RouterEndpoints(id=r, version=self.spec.version_of(r),
                            orders=f"http://{HOST}:{self.ports.router(r)}/orders",
                            admin=f"http://{HOST}:{self.ports.router(r)}", exchange_via=self.exchange_via(r))
            for r in self.router_ids
        )
        return Topology(
            backend="compose", run_id=self.run_id, token=self.token, firm=self.spec.firm, state_dir=state_dir,
            # the journal lives in the exchange container's volume: the host reads it over HTTP
            journal=f"{exchange_admin}/journal",
            exchange=ExchangeEndpoints(comp_id=self.spec.exchange_comp_id,
                                       fix=f"{HOST}:{self.ports.exchange_fix}",
                                       dropcopy=f"{HOST}:{self.ports.exchange_dropcopy}", admin=exchange_admin),
            routers=routers,
            monitor=ServiceEndpoints(f"http://{HOST}:{self.ports.monitor}"),
            alerts=ServiceEndpoints(f"http://{HOST}:{self.ports.alerts}"),
            toxiproxy=toxiproxy, logs=logs, network=self.network, fix_clients=tuple(self.spec.fix_clients),
        )


def check_spec(spec: FleetSpec) -> None:
    """What the compose backend cannot do, as ValueError naming the setting."""
    spec.validate()
    if spec.routers > COMPOSE_ROUTERS:
        raise ValueError(f"the compose backend runs at most {COMPOSE_ROUTERS} routers "
                         f"(services router-1..router-{COMPOSE_ROUTERS}), got {spec.routers}")
    if spec.commands:
        raise ValueError("the compose backend runs the images' services; FleetSpec.commands is for local fakes")
