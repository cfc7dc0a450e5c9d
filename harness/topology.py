"""What a fleet looks like from outside: its endpoints, and how `status`
shows them (``--json`` for tools, a table for people)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

# The fleet's Toxiproxy links, by name: every router's FIX session to the
# exchange, the drop copy to the monitor, and what routers and monitor send to
# the alert sink. Backends create them under these names, experiments name them
# in `network` faults, `status --json` lists them.
DROPCOPY_PROXY = "exchange->monitor"
ALERTS_PROXY = "->alerts"


def router_proxy(router_id: str) -> str:
    return f"{router_id}->exchange"


def proxy_names(router_ids: Iterable[str]) -> list[str]:
    """Every link of a fleet with these routers, in the order they are created."""
    return [router_proxy(r) for r in router_ids] + [DROPCOPY_PROXY, ALERTS_PROXY]


def proxy_upstreams(router_ids: Iterable[str], *, exchange_fix: str, dropcopy: str,
                    alerts: str) -> list[tuple[str, str]]:
    """(link, the address it forwards to) for every link, in the order of :func:`proxy_names`."""
    upstream = {DROPCOPY_PROXY: dropcopy, ALERTS_PROXY: alerts}
    return [(name, upstream.get(name, exchange_fix)) for name in proxy_names(router_ids)]


@dataclass(frozen=True)
class ExchangeEndpoints:
    comp_id: str
    fix: str  # HOST:PORT, the exchange's own port (never a proxy)
    dropcopy: str
    admin: str


@dataclass(frozen=True)
class RouterEndpoints:
    id: str
    version: str
    orders: str
    admin: str
    exchange_via: str = ""  # HOST:PORT the router dials (a proxy when toxiproxy runs)


@dataclass(frozen=True)
class ServiceEndpoints:
    admin: str


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str


@dataclass(frozen=True)
class ToxiproxyEndpoints:
    api: str
    proxies: tuple[ProxyInfo, ...] = ()

    def proxy(self, name: str) -> ProxyInfo:
        for proxy in self.proxies:
            if proxy.name == name:
                return proxy
        raise KeyError(f"no proxy {name!r}; known: {', '.join(p.name for p in self.proxies)}")


@dataclass(frozen=True)
class Topology:
    backend: str
    run_id: str
    token: str
    firm: str
    state_dir: str
    journal: str
    exchange: ExchangeEndpoints
    routers: tuple[RouterEndpoints, ...]
    monitor: ServiceEndpoints
    alerts: ServiceEndpoints
    toxiproxy: ToxiproxyEndpoints | None = None
    logs: dict[str, str] = field(default_factory=dict)

    def router(self, router_id: str) -> RouterEndpoints:
        for router in self.routers:
            if router.id == router_id:
                return router
        raise KeyError(f"no router {router_id!r}; known: {', '.join(r.id for r in self.routers)}")

    def admin_urls(self) -> dict[str, str]:
        """component → admin base URL, for everything serving /health."""
        urls = {"alerts": self.alerts.admin, "exchange": self.exchange.admin, "monitor": self.monitor.admin}
        urls.update({r.id: r.admin for r in self.routers})
        return urls

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Topology:
        toxi = data.get("toxiproxy")
        return cls(
            backend=data["backend"],
            run_id=data["run_id"],
            token=data["token"],
            firm=data["firm"],
            state_dir=data["state_dir"],
            journal=data["journal"],
            exchange=ExchangeEndpoints(**data["exchange"]),
            routers=tuple(RouterEndpoints(**r) for r in data["routers"]),
            monitor=ServiceEndpoints(**data["monitor"]),
            alerts=ServiceEndpoints(**data["alerts"]),
            toxiproxy=None if toxi is None else ToxiproxyEndpoints(
                api=toxi["api"], proxies=tuple(ProxyInfo(**p) for p in toxi.get("proxies", ()))
            ),
            logs=dict(data.get("logs", {})),
        )

    def status_json(self) -> dict[str, Any]:
        """The `status --json` contract (docs: harness brief); extra keys are allowed."""
        return {
            "backend": self.backend,
            "run_id": self.run_id,
            "token": self.token,
            "firm": self.firm,
            "state_dir": self.state_dir,
            "journal": self.journal,
            "exchange": asdict(self.exchange),
            "routers": [
                {"id": r.id, "version": r.version, "orders": r.orders, "admin": r.admin} for r in self.routers
            ],
            "monitor": {"admin": self.monitor.admin},
            "alerts": {"admin": self.alerts.admin},
            "toxiproxy": None if self.toxiproxy is None else {
                "api": self.toxiproxy.api,
                "proxies": {p.name: {"listen": p.listen, "upstream": p.upstream} for p in self.toxiproxy.proxies},
            },
        }


def render_table(topology: Topology, health: dict[str, str]) -> str:
    """A plain-text table: one row per component with its health and address."""
    rows: list[tuple[str, str, str, str]] = [
        ("alerts", "", topology.alerts.admin, ""),
        ("exchange", "", topology.exchange.admin,
         f"fix {topology.exchange.fix}  dropcopy {topology.exchange.dropcopy}"),
    ]
    if topology.toxiproxy is not None:
        rows.append(("toxiproxy", "", topology.toxiproxy.api, f"{len(topology.toxiproxy.proxies)} proxies"))
    rows.append(("monitor", "", topology.monitor.admin, ""))
    rows.extend((r.id, r.version, r.admin, f"orders {r.orders}") for r in topology.routers)
    header = ("COMPONENT", "VERSION", "HEALTH", "ADMIN", "DETAIL")
    table = [header] + [(name, ver, health.get(name, "?"), admin, detail) for name, ver, admin, detail in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = [
        f"run {topology.run_id}  backend {topology.backend}  firm {topology.firm}  state {topology.state_dir}",
    ]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(lines)
