"""What a firm's own control is told, as environment lines (`powerpeg env`): the same
as `powerpeg status --json`'s ``controls`` section (:meth:`Topology.for_controls`), in
``KEY=value`` lines that are both a dotenv file and shell (``--export`` for ``eval``).

On compose, ``--inside`` gives the addresses inside the fleet's network instead, for a
firm's containers that join it (compose/external-control.yml).
"""
from __future__ import annotations

import shlex
from typing import Any

from powerpeg.harness.topology import Topology

# inside the compose project network (compose/docker-compose.yml)
INSIDE_ADMIN, INSIDE_FIX, INSIDE_DROPCOPY = 8080, 9878, 9879
# the bundled controls' services inside that network (compose/control-*.yml: each endpoint's name is
# its service's, and this its --web.listen-address port); published on 127.0.0.1 for the harness only
INSIDE_BUNDLED = {"prometheus": 9090, "alertmanager": 9093}


def _host(hostport: str) -> tuple[str, str]:
    host, _, port = hostport.rpartition(":")
    return host, port


def in_network(topology: Topology) -> dict[str, Any]:
    """The controls section with the addresses a container on the fleet's network dials (a firm's
    own, and the bundled Prometheus control's on compose: harness/controls/placement.py)."""
    def admin(name: str) -> str:
        return f"http://{name}:{INSIDE_ADMIN}"

    via = {p.name: p.listen for p in topology.toxiproxy.proxies} if topology.toxiproxy else {}
    out = topology.for_controls()
    alerts = f"http://{via['->alerts']}" if "->alerts" in via else admin("alerts")
    out["dropcopy"]["address"] = via.get("exchange->monitor", f"exchange:{INSIDE_DROPCOPY}")
    out["kill"]["http"] = f"{admin('exchange')}/kill"
    out["kill"]["alertmanager"] = f"{admin('exchange')}/kill/alertmanager"
    out["kill"]["fix"]["address"] = f"exchange:{INSIDE_FIX}"
    out["halt"] = {r.id: f"{admin(r.id)}/halt" for r in topology.routers}
    out["receivers"] = {"alertmanager": f"{alerts}/alertmanager", "pagerduty": f"{alerts}/v2/enqueue",
                        "webhook": f"{alerts}/alerts"}
    out["metrics"] = {"exchange": f"{admin('exchange')}/metrics",
                      **{r.id: f"{admin(r.id)}/metrics" for r in topology.routers}}
    out["sessions"] = f"{admin('exchange')}/sessions"
    out["bundled"] = bundled_in_network(topology.controls)
    return out


def bundled_in_network(controls: dict[str, str]) -> dict[str, str]:
    """The bundled controls' endpoints as their service names inside the network. One whose
    in-network port is not known is left out: its host URL (127.0.0.1) would name the dialling
    container itself, a wrong address that looks right."""
    return {name: f"http://{name}:{INSIDE_BUNDLED[name]}" for name in sorted(controls) if name in INSIDE_BUNDLED}


def env_pairs(topology: Topology, *, inside: bool = False) -> list[tuple[str, str]]:
    """(name, value) in a stable order."""
    c = in_network(topology) if inside else topology.for_controls()
    dc_host, dc_port = _host(c["dropcopy"]["address"])
    fix = c["kill"]["fix"]
    exchange_metrics = c["metrics"]["exchange"]
    router_metrics = [c["metrics"][r.id] for r in topology.routers]
    pairs = [
        ("POWERPEG_RUN_ID", topology.run_id),
        ("POWERPEG_BACKEND", topology.backend),
        ("POWERPEG_TOKEN", topology.token),
        ("POWERPEG_FIRM", topology.firm),
        ("POWERPEG_EXCHANGE_COMP_ID", topology.exchange.comp_id),
        ("POWERPEG_DROPCOPY", c["dropcopy"]["address"]),
        ("POWERPEG_DROPCOPY_HOST", dc_host),
        ("POWERPEG_DROPCOPY_PORT", dc_port),
        ("POWERPEG_DROPCOPY_SENDER_COMP_ID", c["dropcopy"]["sender_comp_id"]),
        ("POWERPEG_DROPCOPY_TARGET_COMP_ID", c["dropcopy"]["target_comp_id"]),
        # the Logon's Password(554) as the firm (Username = its CompID), on the drop copy and order entry
        ("POWERPEG_FIX_PASSWORD", c["dropcopy"]["password"]),
        ("POWERPEG_ORDER_ENTRY", fix["address"]),
        ("POWERPEG_KILL_URL", c["kill"]["http"]),
        ("POWERPEG_KILL_ALERTMANAGER_URL", c["kill"]["alertmanager"]),
        ("POWERPEG_SESSIONS_URL", c["sessions"]),
        ("POWERPEG_ROUTERS", " ".join(r.id for r in topology.routers)),
        ("POWERPEG_ROUTER_HALT_URLS", " ".join(c["halt"][r.id] for r in topology.routers)),
        ("POWERPEG_EXCHANGE_METRICS_URL", exchange_metrics),
        ("POWERPEG_ROUTER_METRICS_URLS", " ".join(router_metrics)),
        # host:port, as Prometheus's static_configs want them
        ("POWERPEG_EXCHANGE_METRICS_TARGET", metrics_target(exchange_metrics)),
        ("POWERPEG_ROUTER_METRICS_TARGETS", ",".join(metrics_target(u) for u in router_metrics)),
        ("POWERPEG_ALERTMANAGER_WEBHOOK_URL", c["receivers"]["alertmanager"]),
        ("POWERPEG_PAGERDUTY_URL", c["receivers"]["pagerduty"]),
        ("POWERPEG_PAGERDUTY_ROUTING_KEY", c["pagerduty_routing_key"]),
        ("POWERPEG_WEBHOOK_URL", c["receivers"]["webhook"]),
    ]
    if topology.network:
        pairs.append(("POWERPEG_NETWORK", topology.network))
    pairs += [(f"POWERPEG_{name.upper()}_URL", url) for name, url in sorted(c["bundled"].items())]
    return pairs


def metrics_target(url: str) -> str:
    """``http://host:port/metrics`` → ``host:port``, as Prometheus's static_configs want it."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def env_lines(topology: Topology, *, export: bool = False, inside: bool = False) -> list[str]:
    """``KEY=value`` lines, values shell-quoted where needed (valid dotenv too)."""
    prefix = "export " if export else ""
    head = (f"# powerpeg env: run {topology.run_id} ({topology.backend})"
            + (", addresses inside the fleet's network" if inside else "")
            + "; the token and the routing key are secrets")
    return [head] + [f"{prefix}{key}={shlex.quote(value)}" for key, value in env_pairs(topology, inside=inside)]
