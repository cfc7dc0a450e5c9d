"""Prometheus exposition of the router's counters, read at scrape time."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

if TYPE_CHECKING:
    from .core import Router


class RouterCollector:
    def __init__(self, router: Router) -> None:
        self.router = router

    def collect(self) -> Iterator[Metric]:
        r = self.router
        s = r.stats
        yield InfoMetricFamily("powerpeg_router", "router build", value={"id": r.cfg.id, "version": r.cfg.version})
        parents = CounterMetricFamily("powerpeg_router_parents", "parents accepted", labels=["path"])
        for path, n in s.parents_by_path.items():
            parents.add_metric([path], n)
        yield parents
        # What the router was asked to trade, labelled with its FIX SenderCompID (the session the
        # venue knows it by), so an alert rule can hold the venue's executions per session
        # (powerpeg_exchange_session_executed_shares_total) against it. Since the process started:
        # a restarted router begins a new FIX day (141=Y), and the venue's session counters with it.
        session = {"session": r.cfg.comp_id, "firm": r.cfg.firm}
        accepted = CounterMetricFamily("powerpeg_router_accepted_parents", "parents accepted",
                                       labels=list(session))
        accepted.add_metric(list(session.values()), s.parents)
        yield accepted
        shares = CounterMetricFamily("powerpeg_router_accepted_parent_shares",
                                     "quantity of the parents accepted (shares)", labels=list(session))
        shares.add_metric(list(session.values()), s.parent_qty)
        yield shares
        # a rule compares the two only within one day: the venue's day of this session must have begun
        # after this process started (a restart's first Logon sends 141=Y), else the venue still counts
        # the previous process's executions
        started = GaugeMetricFamily("powerpeg_router_start_time_seconds",
                                    "when this router process started (Unix time)", labels=list(session))
        started.add_metric(list(session.values()), r.started_ns / 1e9)
        yield started
        for name, doc, value in (
            ("powerpeg_router_entry_rejections", "parents refused at entry", s.entry_rejections),
            ("powerpeg_router_children_sent", "child orders sent", s.children_sent),
            ("powerpeg_router_cancels_sent", "cancel requests sent", s.cancels_sent),
            ("powerpeg_router_fills", "executions received", s.fills),
            ("powerpeg_router_filled_shares", "shares executed", s.filled_qty),
            ("powerpeg_router_child_rejects", "children rejected by the exchange", s.child_rejects),
            ("powerpeg_router_blocked_children", "children refused by pre-trade checks", s.blocked_children),
            ("powerpeg_router_halts", "times the router was halted", s.halts),
            ("powerpeg_router_notify_failed", "alert/registration posts that failed", r.notifier.failed),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily("powerpeg_router_halted", "1 while halted", value=int(r.halted))
        yield GaugeMetricFamily("powerpeg_router_fix_up", "1 while the FIX session is logged on",
                                value=int(r.gateway.up))
        yield GaugeMetricFamily("powerpeg_router_active_parents", "parents still working", value=len(r.active))
        yield GaugeMetricFamily("powerpeg_router_working_children", "children working at the exchange",
                                value=len({id(c) for c in r.gateway.children.values()}))


def make_registry(router: Router) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RouterCollector(router))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
