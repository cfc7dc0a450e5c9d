"""What a fleet looks like from outside: its endpoints, and how `status`
shows them (``--json`` for tools, a table for people)."""
from __future__ import annotations

import hashlib
import hmac
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


def pagerduty_routing_key(token: str) -> str:
    """The PagerDuty routing key the fleet's alert sink takes (channel page), derived from the
    fleet's token: 32 hex characters, like PagerDuty's own, secret as the token is."""
    return hashlib.sha256(f"powerpeg-pagerduty:{token}".encode()).hexdigest()[:32]


def fix_password(token: str, comp_id: str) -> str:
    """The FIX Logon password of ``comp_id`` in the fleet of ``token``: derived from the token (an
    HMAC), so each run has its own and whoever holds the token (`status --json`) can tell any of
    them; 32 hex characters."""
    return hmac.new(token.encode(), f"powerpeg-fix:{comp_id}".encode(), hashlib.sha256).hexdigest()[:32]


def fleet_comp_ids(router_ids: Iterable[str], firm: str, clients: Iterable[str] = ()) -> list[str]:
    """The CompIDs a fleet's exchange admits: every router's (its id in upper case), the firm's own
    (its drop copy and a FIX kill, 35=q, as the firm) and any outside client's, in that order."""
    return list(dict.fromkeys([*(r.upper() for r in router_ids), firm, *clients]))


def fix_credentials(token: str, comp_ids: Iterable[str], firm: str) -> dict[str, Any]:
    """The exchange's credentials table (targets/fix/credentials.py): a password per CompID, the firm's
    drop copy for the firm's own CompID only (the monitor's, or the firm's own surveillance), and the
    firm's account for every CompID of the fleet, and its own (an order without Account(1) is booked to its
    CompID, as on an open venue): no session may book to any other firm."""
    comp_ids = list(comp_ids)
    accounts: dict[str, list[str]] = {c: [c] for c in comp_ids}
    accounts[firm] = comp_ids
    return {"passwords": {c: fix_password(token, c) for c in comp_ids}, "drop_copy": {firm: [firm]},
            "accounts": accounts}


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
    controls: dict[str, str] = field(default_factory=dict)  # bundled controls' endpoints: name → URL
    fix_clients: tuple[str, ...] = ()  # CompIDs admitted besides the routers' and the firm's (outside engines)
    network: str = ""  # compose: the network a firm's own containers join

    @property
    def pagerduty_routing_key(self) -> str:
        return pagerduty_routing_key(self.token)

    def dropcopy_for_controls(self) -> str:
        """HOST:PORT a firm's drop-copy reader dials: through the drop-copy link when Toxiproxy runs
        on this host (so a fault on ``exchange->monitor`` reaches it as it reaches the monitor)."""
        return self._via(DROPCOPY_PROXY, self.exchange.dropcopy)

    def alerts_for_controls(self) -> str:
        """Base URL a firm's alerting posts to: through the ``->alerts`` link when Toxiproxy runs here."""
        return "http://" + self._via(ALERTS_PROXY, self.alerts.admin.removeprefix("http://"))

    def _via(self, link: str, direct: str) -> str:
        if self.toxiproxy is None or self.backend != "local":
            return direct  # on compose the proxies listen inside the project network only
        return next((p.listen for p in self.toxiproxy.proxies if p.name == link), direct)

    def for_controls(self) -> dict[str, Any]:
        """Everything a firm's own controls need (`status --json` "controls", `powerpeg env`): the
        drop copy, the kill switch's three doors, the routers' halts, the alert receivers, the
        metrics to scrape. The token is the fleet's (top level)."""
        ex, alerts = self.exchange, self.alerts_for_controls()
        return {
            "firm": self.firm,
            "dropcopy": {"address": self.dropcopy_for_controls(), "sender_comp_id": self.firm,
                         "target_comp_id": ex.comp_id, "password": self.fix_password(self.firm)},
            "kill": {
                "http": f"{ex.admin}/kill",
                "alertmanager": f"{ex.admin}/kill/alertmanager",
                "fix": {"address": ex.fix, "sender_comp_id": self.firm, "target_comp_id": ex.comp_id,
                        "password": self.fix_password(self.firm), "msg_type": "q", "account": self.firm},
            },
            "halt": {r.id: f"{r.admin}/halt" for r in self.routers},
            "receivers": {"alertmanager": f"{alerts}/alertmanager", "pagerduty": f"{alerts}/v2/enqueue",
                          "webhook": f"{alerts}/alerts"},
            "pagerduty_routing_key": self.pagerduty_routing_key,
            "metrics": {"exchange": f"{ex.admin}/metrics", **{r.id: f"{r.admin}/metrics" for r in self.routers}},
            "sessions": f"{ex.admin}/sessions",
            "bundled": dict(self.controls),
            "network": self.network or None,
        }

    def fix_comp_ids(self) -> list[str]:
        """Every CompID the exchange admits (:func:`fleet_comp_ids`)."""
        return fleet_comp_ids((r.id for r in self.routers), self.firm, self.fix_clients)

    def fix_password(self, comp_id: str) -> str:
        return fix_password(self.token, comp_id)

    def fix_logon(self, comp_id: str) -> list[tuple[int, object]]:
        """Username(553) and Password(554) of a Logon as ``comp_id`` (one the exchange admits)."""
        return [(553, comp_id), (554, self.fix_password(comp_id))]

    def fix_status(self) -> dict[str, Any]:
        """What an outside FIX engine needs to log on (`status --json` "fix"): the doors, the
        exchange's CompID, and per CompID its password (Username = the CompID) and doors."""
        firm_doors = ["order-entry", "drop-copy"]
        return {
            "order_entry": self.exchange.fix, "drop_copy": self.exchange.dropcopy,
            "target_comp_id": self.exchange.comp_id,
            "logons": {c: {"username": c, "password": self.fix_password(c),
                           "doors": firm_doors if c == self.firm else ["order-entry"]}
                       for c in self.fix_comp_ids()},
            "drop_copy_subscribers": {self.firm: [self.firm]},
        }

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
            controls=dict(data.get("controls", {})),
            fix_clients=tuple(data.get("fix_clients", ())),
            network=data.get("network", ""),
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
            "controls": self.for_controls(),
            "fix": self.fix_status(),
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
    rows.extend((name, "", url, "bundled control") for name, url in sorted(topology.controls.items()))
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
