"""A real alerting pipeline as a firm runs one: Prometheus scraping the venue's and the
routers' ``/metrics``, alert rules in PromQL for a Knight runaway, and Alertmanager
paging the alert sink (``POST /alertmanager``) and pulling the exchange's kill switch
(``POST /kill/alertmanager``).

Both are the Debian binaries (``prometheus``, ``prometheus-alertmanager``): processes of
the run on the local backend, containers of the ``powerpeg-prometheus`` image on the
fleet's network on compose (:mod:`.placement` says where and with which addresses). Their
configuration is written under the run's state directory (``controls/prometheus/``);
they are stopped with the fleet on every exit path and by ``powerpeg cleanup`` after a
SIGKILL (each backend records them like its own).

The rules read only what the targets expose (docs/targets.md): no rule reads the
harness's state. ``GET /metrics`` needs no token (only state-changing requests do), so
the scrape configs carry none; the two webhooks do, from a file (``credentials_file``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import yaml
from pydantic import Field, model_validator

from powerpeg.harness.experiment.durations import Duration, format_duration

from .base import Control, ControlContext, ControlError, Params as BaseParams
from .placement import ALERTMANAGER_BINARIES, PLACEMENTS, PROMETHEUS_BINARIES, Wiring
from .timestamps import rfc3339_ns

PAGE_RECEIVER = "trading-pager"
KILL_RECEIVER = "venue-kill"
RULE_GROUP = "knight-runaway"
READ_TIMEOUT = aiohttp.ClientTimeout(total=3)
MAX_POINTS = 10_000  # Prometheus refuses a query_range of more than 11,000 points per series


class PrometheusParams(BaseParams):
    """Defaults are what most firms run: Prometheus's shipped example config (scrape and
    evaluate every 15 s) and Alertmanager's own defaults (group_wait 30 s, group_interval
    5 m, repeat_interval 4 h). A rule's ``for`` defaults to 0 s: the rules below fire on
    the first evaluation that sees the condition."""

    scrape_interval: Duration = Field(15.0, description="Prometheus global scrape_interval")
    evaluation_interval: Duration = Field(15.0, description="Prometheus global evaluation_interval")
    for_: Duration = Field(0.0, alias="for", description="every rule's `for`: how long it must hold before firing")
    group_wait: Duration = Field(30.0, description="Alertmanager route group_wait")
    group_interval: Duration = Field(300.0, description="Alertmanager route group_interval")
    repeat_interval: Duration = Field(4 * 3600.0, description="Alertmanager route repeat_interval")
    kill: bool = Field(True, description="alerts labelled action=kill also go to the exchange's "
                                         "POST /kill/alertmanager")
    overfill_shares: int = Field(0, ge=0, description="executed shares a session may have above the quantity of "
                                                      "the parents its router accepted")
    max_child_parent_ratio: float = Field(20.0, gt=0, description="child orders per parent (both as rates)")
    min_child_rate: float = Field(50.0, ge=0, description="child orders/s a session must send for the ratio to count")
    max_fill_rate: float = Field(20_000.0, gt=0, description="shares executed per second per session (pages only)")
    rate_window: Duration | None = Field(None, description="rate() window; default 4 scrape intervals")

    @model_validator(mode="after")
    def _bounds(self) -> PrometheusParams:
        for name in ("scrape_interval", "evaluation_interval", "group_interval", "repeat_interval"):
            if getattr(self, name) < 0.1:
                raise ValueError(f"{name} must be at least 100ms, got {format_duration(getattr(self, name))}")
        if self.rate_window is not None and self.rate_window < 2 * self.scrape_interval:
            raise ValueError(f"rate_window {format_duration(self.rate_window)} holds fewer than two scrapes "
                             f"(scrape_interval {format_duration(self.scrape_interval)})")
        return self

    @property
    def window(self) -> float:
        return self.rate_window if self.rate_window is not None else 4 * self.scrape_interval

    def settings(self) -> dict[str, Any]:
        """As journal.json's pipeline section shows them."""
        return {"scrape_interval_s": self.scrape_interval, "evaluation_interval_s": self.evaluation_interval,
                "for_s": self.for_, "group_wait_s": self.group_wait, "group_interval_s": self.group_interval,
                "repeat_interval_s": self.repeat_interval, "rate_window_s": self.window, "kill": self.kill}


def prom_duration(seconds: float) -> str:
    """Prometheus's and Alertmanager's duration syntax (``15s``, ``1500ms``, ``0s``)."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# -- configuration -------------------------------------------------------------------------
def rules(params: PrometheusParams, firm: str) -> dict[str, Any]:
    """The alert rules: the venue's executions and orders per FIX session (the exchange's
    /metrics) against the parents each router accepted (the routers' /metrics)."""
    f = f'{{firm="{firm}"}}'
    by = "sum by (session, firm)"
    executed = f"powerpeg_exchange_session_executed_shares_total{f}"
    orders = f"powerpeg_exchange_session_orders_total{f}"
    lag = prom_duration(params.scrape_interval)
    window = prom_duration(params.window)
    allowed = f" + {params.overfill_shares}" if params.overfill_shares else ""
    # Scrapes of two targets are up to one interval apart: the venue's count may be newer than the
    # router's and hold fills of parents the router's sample does not have yet. The venue's count one
    # scrape interval ago is older than the router's latest, so a correct router never trips it. And
    # the two are compared within one day only: the venue's day of the session (from that same
    # sample) must have begun after the router process started — a restarted router (a deploy)
    # counts from zero while the venue may still show the previous process's day.
    overfill = (f"{by} ({executed} offset {lag})\n"
                f"  > on (session, firm) ({by} (powerpeg_router_accepted_parent_shares_total{f}){allowed})\n"
                f"and on (session, firm)\n"
                f"max by (session, firm) (powerpeg_exchange_session_day_start_time_seconds{f} offset {lag})\n"
                f"  >= on (session, firm) max by (session, firm) (powerpeg_router_start_time_seconds{f})")
    child_rate = f"{by} (rate({orders}[{window}]))"
    ratio = (f"{child_rate}\n  / on (session, firm) {by} (rate(powerpeg_router_accepted_parents_total{f}[{window}]))\n"
             f"  > {params.max_child_parent_ratio:g}\n"
             f"and on (session, firm) {child_rate} > {params.min_child_rate:g}")
    fill_rate = f"{by} (rate({executed}[{window}])) > {params.max_fill_rate:g}"
    for_ = prom_duration(params.for_)
    kill = {"action": "kill"} if params.kill else {}
    return {"groups": [{"name": RULE_GROUP, "rules": [
        {"alert": "KnightExecutedAboveParents", "expr": overfill, "for": for_,
         "labels": {"severity": "page", **kill},
         "annotations": {"summary": "{{ $labels.session }} executed {{ $value }} shares: more than the "
                                    "parents its router accepted"}},
        {"alert": "KnightChildOrdersPerParent", "expr": ratio, "for": for_,
         "labels": {"severity": "page", **kill},
         "annotations": {"summary": "{{ $labels.session }} sends {{ $value | printf \"%.0f\" }} child orders "
                                    "per parent"}},
        {"alert": "KnightFillRate", "expr": fill_rate, "for": for_,
         "labels": {"severity": "page"},
         "annotations": {"summary": "{{ $labels.session }} executes {{ $value | printf \"%.0f\" }} shares/s"}},
    ]}]}


def prometheus_config(params: PrometheusParams, wiring: Wiring) -> dict[str, Any]:
    interval = prom_duration(params.scrape_interval)
    routers = [{"targets": [target], "labels": {"router": rid}} for rid, target in wiring.routers]
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": prom_duration(min(10.0, params.scrape_interval)),
                   "evaluation_interval": prom_duration(params.evaluation_interval)},
        "rule_files": ["rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [wiring.alertmanager]}]}]},
        # GET /metrics needs no token (only state-changing requests do): no authorization here
        "scrape_configs": [
            {"job_name": "exchange", "static_configs": [{"targets": [wiring.exchange]}]},
            {"job_name": "routers", "static_configs": routers},
        ],
    }


def alertmanager_config(params: PrometheusParams, wiring: Wiring) -> dict[str, Any]:
    auth = {"authorization": {"type": "Bearer", "credentials_file": wiring.token_file}}
    timing = {"group_wait": prom_duration(params.group_wait), "group_interval": prom_duration(params.group_interval),
              "repeat_interval": prom_duration(params.repeat_interval)}
    routes: list[dict[str, Any]] = []
    if params.kill:
        # one group per firm, and `continue`: the page route below still sees the alert
        routes.append({"matchers": ['action="kill"'], "receiver": KILL_RECEIVER, "group_by": ["firm"],
                       "continue": True})
    routes.append({"matchers": ['severity="page"'], "receiver": PAGE_RECEIVER})
    receivers: list[dict[str, Any]] = [
        {"name": PAGE_RECEIVER, "webhook_configs": [
            {"url": wiring.page_url, "send_resolved": True, "http_config": auth}]},
    ]
    if params.kill:
        receivers.append({"name": KILL_RECEIVER, "webhook_configs": [
            {"url": wiring.kill_url, "send_resolved": False, "http_config": auth}]})
    return {"route": {"receiver": PAGE_RECEIVER, "group_by": ["alertname", "session"], **timing, "routes": routes},
            "receivers": receivers}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the rules' PromQL) as literal blocks, readable in the written file."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def write_yaml(path: Path, header: str, data: dict[str, Any]) -> None:
    path.write_text(header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120))


# -- the control ---------------------------------------------------------------------------
class Prometheus(Control[PrometheusParams]):
    """Prometheus + Alertmanager, configured for the run."""

    kind = "prometheus"
    Params: ClassVar[type[BaseParams]] = PrometheusParams
    requires: ClassVar[dict[str, tuple[str, ...]]] = {"prometheus": PROMETHEUS_BINARIES,
                                                      "alertmanager": ALERTMANAGER_BINARIES}
    backends: ClassVar[frozenset[str]] = frozenset(PLACEMENTS)

    def __init__(self, params: PrometheusParams) -> None:
        super().__init__(params)
        self.seen: dict[tuple[str, str], dict[str, Any]] = {}  # (alertname, session) → first-seen facts

    @property
    def prometheus(self) -> str:
        return self.endpoints["prometheus"]

    @property
    def alertmanager(self) -> str:
        return self.endpoints["alertmanager"]

    @classmethod
    def unavailable(cls, backend: str) -> str | None:
        placement = PLACEMENTS.get(backend)
        return None if placement is None else placement.unavailable()

    async def start(self, ctx: ControlContext) -> None:
        """The token file and the rules, then the placement of ``ctx.backend`` writes the two
        configs with the addresses where the daemons run, and starts them."""
        d = ctx.directory
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / "token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(ctx.topology.token)
        header = f"# written by powerpeg for run {ctx.topology.run_id} (harness/controls/prometheus.py)\n"
        write_yaml(d / "rules.yml", header, rules(self.params, ctx.topology.firm))

        def write(wiring: Wiring) -> None:
            write_yaml(d / "prometheus.yml", header, prometheus_config(self.params, wiring))
            write_yaml(d / "alertmanager.yml", header, alertmanager_config(self.params, wiring))

        placement = PLACEMENTS.get(ctx.backend.name)
        if placement is None:  # refused before the fleet started (harness/controls/external.py); a guard
            raise ControlError(f"prometheus control: the {ctx.backend.name} backend cannot run it")
        self.endpoints = await placement.start(ctx, write)

    async def ready(self, ctx: ControlContext) -> str | None:
        """Ready when every target has been scraped once and the rules are loaded."""
        try:
            targets = await _get(ctx.http, f"{self.prometheus}/api/v1/targets?state=active")
            groups = await _get(ctx.http, f"{self.prometheus}/api/v1/rules?type=alert")
            async with ctx.http.get(f"{self.alertmanager}/-/ready", timeout=READ_TIMEOUT) as resp:
                am_ready = resp.status == 200
        except (TimeoutError, aiohttp.ClientError, ControlError) as exc:
            return f"prometheus/alertmanager not answering ({exc!r})"
        active = targets.get("activeTargets", [])
        down = [t.get("labels", {}).get("router") or t.get("labels", {}).get("job", "?")
                for t in active if t.get("health") != "up"]
        if not active or down:
            return f"prometheus: {len(active) - len(down)} of {len(active)} targets scraped (waiting for " \
                   f"{', '.join(down[:4]) or 'targets'})"
        if not any(g.get("name") == RULE_GROUP for g in groups.get("groups", [])):
            return f"prometheus: rule group {RULE_GROUP} not loaded"
        return None if am_ready else "alertmanager: not ready"

    async def observe(self, ctx: ControlContext) -> None:
        """First-seen times: Alertmanager's ``updatedAt`` moves with every re-send from Prometheus,
        so the first one (its receipt of the alert) is kept as seen."""
        if not self.endpoints:  # it did not start: nothing to look at
            return
        now = time.time_ns()
        try:
            prom = await _get(ctx.http, f"{self.prometheus}/api/v1/alerts")
            async with ctx.http.get(f"{self.alertmanager}/api/v2/alerts", timeout=READ_TIMEOUT) as resp:
                am = await resp.json() if resp.status == 200 else []
        except (TimeoutError, aiohttp.ClientError, ControlError, ValueError):
            return
        for alert in prom.get("alerts", []):
            seen = self._seen(alert.get("labels", {}))
            seen.setdefault("active_at_ns", rfc3339_ns(alert.get("activeAt")))
            if alert.get("state") == "firing":
                seen.setdefault("firing_seen_ns", now)
        for alert in am if isinstance(am, list) else []:
            seen = self._seen(alert.get("labels", {}))
            if "alertmanager_at_ns" not in seen:
                seen["alertmanager_at_ns"] = rfc3339_ns(alert.get("updatedAt"))
                seen["alertmanager_starts_at_ns"] = rfc3339_ns(alert.get("startsAt"))
                seen["alertmanager_receivers"] = [r.get("name") for r in alert.get("receivers", [])]

    def _seen(self, labels: dict[str, str]) -> dict[str, Any]:
        key = (labels.get("alertname", ""), labels.get("session", ""))
        return self.seen.setdefault(key, {"alertname": key[0], "labels": dict(labels)})

    async def pipeline(self, ctx: ControlContext) -> dict[str, Any]:
        """What Prometheus and Alertmanager say: the rule group's cadence, every alert's activeAt,
        when Alertmanager first had it, and when each rule's expression first held on the scraped
        data (the rule's own query over the run, from Prometheus)."""
        if not self.endpoints:  # it did not start (the run's error says why): no account to give
            return {}
        await self.observe(ctx)
        out: dict[str, Any] = {"control": self.kind, "settings": self.params.settings(), **self.endpoints,
                               "groups": [], "alerts": []}
        try:
            groups = (await _get(ctx.http, f"{self.prometheus}/api/v1/rules")).get("groups", [])
        except (TimeoutError, aiohttp.ClientError, ControlError) as exc:
            out["error"] = f"prometheus /api/v1/rules: {exc!r}"
            return out
        queries: dict[str, str] = {}
        for group in groups:
            out["groups"].append({"name": group.get("name"), "interval_s": group.get("interval"),
                                  "last_evaluation_ns": rfc3339_ns(group.get("lastEvaluation"))})
            for rule in group.get("rules", []):
                if rule.get("type") == "alerting":
                    queries[rule["name"]] = rule["query"]
        end = time.time()
        start = (ctx.method_start_ns / 1e9) if ctx.method_start_ns else end - 300
        step = max(0.1, (end - start) / MAX_POINTS)
        true_at: dict[tuple[str, str], int] = {}
        for name, query in queries.items():
            if not any(alertname == name for alertname, _ in self.seen):
                continue
            try:
                result = await _get(ctx.http, f"{self.prometheus}/api/v1/query_range", params={
                    "query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
            except (TimeoutError, aiohttp.ClientError, ControlError) as exc:
                out.setdefault("errors", []).append(f"query_range {name}: {exc!r}")
                continue
            for series in result.get("result", []):
                values = series.get("values") or []
                if values:
                    true_at[(name, series.get("metric", {}).get("session", ""))] = int(float(values[0][0]) * 1e9)
        for key, seen in sorted(self.seen.items(), key=lambda kv: kv[1].get("active_at_ns") or 0):
            active = seen.get("active_at_ns")
            out["alerts"].append({
                **seen, "expr_true_at_ns": true_at.get(key),
                "fired_at_ns": None if active is None else active + int(self.params.for_ * 1e9)})
        return out


async def _get(http: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    """A Prometheus API answer's ``data``; ControlError when it says error."""
    async with http.get(url, params=params, timeout=READ_TIMEOUT) as resp:
        body = await resp.json(content_type=None)
    if not isinstance(body, dict) or body.get("status") != "success":
        raise ControlError(f"{url}: {body.get('error') if isinstance(body, dict) else body!r}")
    data = body.get("data")
    return data if isinstance(data, dict) else {"alerts": data} if isinstance(data, list) else {}
