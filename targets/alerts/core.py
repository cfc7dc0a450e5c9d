"""The alert sink's core, its state and logic: channels, routing by severity, delay, drop, ack.

Four channels stand for the ways a human hears about trouble: ``page``
(the pager), ``phone`` (the out-of-band escalation: an on-call phone tree on
another provider, so a pager blackout leaves it up), ``email`` (the
mailbox) and ``chat`` (a team chat room; like email, it wakes nobody, and
measurement does not count its deliveries as detection). "Delivery" is the ``alert_delivered``
log line plus ``delivered_ns`` on the in-memory record; the measurement side
reads ``detected_at`` from that field, so it must be stamped when delivery
really happens (after any delay), never at receipt.

Channel settings are the hook for alert blackouts: a channel switched off
records and never delivers, a downgraded page travels as email, and a delay
holds delivery on an event-loop timer (nothing blocks). The routing decision
is taken once, at receipt: an alert already in flight when a blackout starts
still arrives, as a message already handed to a pager provider would.

Alerts from outside senders (Alertmanager, PagerDuty: ``receivers.py``)
come with a dedup key and go through :meth:`AlertSink.notify`: the first
notification of a key is an alert like any other (same routing, same
blackouts); later ones while it is open fold into that record (``count``,
``last_seen_ns``) and page nobody again; a resolve closes it
(``resolved_ns``). A record its channel dropped does not hold its key: the
next notification is a new attempt, as a sender's repeat would reach a pager
that is back.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

CHANNELS = ("page", "phone", "email", "chat")
SEVERITIES = CHANNELS
# how an alert came in: the sink's own POST /alerts, or a receiver of an outside format
VIAS = ("webhook", "alertmanager", "pagerduty")

# (via, route, dedup key): one open incident of an outside sender
IncidentKey = tuple[str, str, str]


@dataclass
class ChannelConfig:
    enabled: bool = True
    downgrade_to: str | None = None
    delay_ms: int = 0


@dataclass
class Alert:
    id: str
    source: str
    severity: str
    text: str
    ts: int | None
    received_ns: int
    channel: str
    downgraded: bool
    status: str  # "delayed" | "delivered" | "dropped"
    delivered_ns: int | None = None
    dropped: bool = False
    acked_ns: int | None = None
    acked_by: str | None = None
    via: str = "webhook"
    route: str | None = None  # the Alertmanager receiver, or the PagerDuty routing key's hint
    dedup_key: str | None = None  # Alertmanager's groupKey, PagerDuty's dedup_key
    labels: dict[str, str] | None = None
    count: int = 1  # notifications of its dedup key folded into this record, the first included
    last_seen_ns: int = 0
    resolved_ns: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HeartbeatVerdict:
    """Whether a heartbeat is acknowledged, and after how long."""

    ack: bool
    delay_s: float = 0.0
    reason: str | None = None


class UnknownChannel(KeyError):
    pass


class BadField(ValueError):
    """A setting that validates on its own but not for this channel."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownAlert(KeyError):
    pass


@dataclass
class SinkMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels, registry = ["channel", "severity"], self.registry
        self.received = Counter("powerpeg_alerts_received", "Alerts received", labels, registry=registry)
        self.delivered = Counter("powerpeg_alerts_delivered", "Alerts delivered", labels, registry=registry)
        self.dropped = Counter("powerpeg_alerts_dropped", "Alerts dropped (channel off)", labels, registry=registry)
        self.acked = Counter("powerpeg_alerts_acked", "Alerts acknowledged", labels, registry=registry)
        self.heartbeats = Counter("powerpeg_alerts_heartbeats", "Pipeline heartbeats", ["result"], registry=registry)
        self.notifications = Counter("powerpeg_alerts_notifications", "Receiver notifications by outcome",
                                     ["via", "outcome"], registry=registry)
        self.evicted = Counter("powerpeg_alerts_evicted", "Alerts dropped from the history (over max_alerts)",
                               registry=registry)
        # the labelled children, looked up once: labels() costs a lock and a dict per alert in a burst
        self._children: dict[tuple[int, str, str], Any] = {}

    def count(self, which: Counter, channel: str, severity: str) -> None:
        key = (id(which), channel, severity)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = which.labels(channel, severity)
        child.inc()


class AlertSink:
    """Holds the channels and every alert received (up to ``max_alerts``)."""

    def __init__(
        self,
        *,
        log: Any,
        clock: Callable[[], int] = time.time_ns,
        max_alerts: int = 100_000,
        metrics: SinkMetrics | None = None,
    ) -> None:
        self.log = log
        self.clock = clock
        self.max_alerts = max_alerts
        self.metrics = metrics or SinkMetrics()
        self.channels: dict[str, ChannelConfig] = {name: ChannelConfig() for name in CHANNELS}
        self.alerts: OrderedDict[str, Alert] = OrderedDict()
        self._next_id = 1
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._open: dict[IncidentKey, str] = {}  # open incident → its alert's id
        self._key_of: dict[str, IncidentKey] = {}
        self.evicted = 0  # alerts dropped from the history, oldest first, to stay under max_alerts

    # -- alerts -----------------------------------------------------------
    def route(self, severity: str) -> tuple[str, bool]:
        """The channel an alert of ``severity`` goes to, and whether it was downgraded."""
        channel = severity
        cfg = self.channels[channel]
        if cfg.downgrade_to is not None and cfg.downgrade_to != channel:
            return cfg.downgrade_to, True
        return channel, False

    def submit(self, *, source: str, severity: str, text: str, ts: int | None = None, via: str = "webhook",
               route: str | None = None, dedup_key: str | None = None, labels: dict[str, str] | None = None) -> Alert:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
        received_ns = self.clock()
        channel, downgraded = self.route(severity)
        cfg = self.channels[channel]
        alert = Alert(
            id=f"a-{self._next_id:06d}", source=source, severity=severity, text=text, ts=ts,
            received_ns=received_ns, channel=channel, downgraded=downgraded, status="delayed",
            via=via, route=route, dedup_key=dedup_key, labels=labels, last_seen_ns=received_ns,
        )
        self._next_id += 1
        self._store(alert)
        self.metrics.count(self.metrics.received, channel, severity)
        if not cfg.enabled:
            alert.status = "dropped"
            alert.dropped = True
            self.metrics.count(self.metrics.dropped, channel, severity)
            self.log.warning("alert_dropped", alert_id=alert.id, channel=channel, source=source,
                             severity=severity, text=text, reason=f"{channel} channel is off")
        elif cfg.delay_ms > 0:
            loop = asyncio.get_running_loop()
            self._timers[alert.id] = loop.call_later(cfg.delay_ms / 1000, self._deliver_later, alert)
            self.log.info("alert_delayed", alert_id=alert.id, channel=channel, delay_ms=cfg.delay_ms)
        else:
            self._deliver(alert)
        return alert

    def _store(self, alert: Alert) -> None:
        self.alerts[alert.id] = alert
        while len(self.alerts) > self.max_alerts:
            evicted, _ = self.alerts.popitem(last=False)
            self.evicted += 1
            self.metrics.evicted.inc()
            key = self._key_of.pop(evicted, None)
            if key is not None and self._open.get(key) == evicted:
                del self._open[key]

    def _deliver_later(self, alert: Alert) -> None:
        self._timers.pop(alert.id, None)
        self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        alert.delivered_ns = self.clock()
        alert.status = "delivered"
        self.metrics.count(self.metrics.delivered, alert.channel, alert.severity)
        self.log.info(
            "alert_delivered", alert_id=alert.id, channel=alert.channel, source=alert.source,
            severity=alert.severity, text=alert.text, downgraded=alert.downgraded,
            received_ns=alert.received_ns, delivered_ns=alert.delivered_ns,
        )

    def list(self, *, channel: str | None = None, since_ns: int | None = None) -> list[Alert]:
        return [
            a for a in self.alerts.values()
            if (channel is None or a.channel == channel) and (since_ns is None or a.received_ns >= since_ns)
        ]

    def ack(self, alert_id: str, by: str | None = None) -> Alert:
        """Acknowledge once; a second ack keeps the first time and person."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise UnknownAlert(alert_id)
        if alert.acked_ns is None:
            alert.acked_ns = self.clock()
            alert.acked_by = by
            self.metrics.acked.labels(alert.channel, alert.severity).inc()
            self.log.info("alert_acked", alert_id=alert_id, by=by, acked_ns=alert.acked_ns)
        return alert

    # -- incidents of outside senders -------------------------------------------
    def incident(self, key: IncidentKey) -> Alert | None:
        """The open (unresolved) alert of ``key``, if any."""
        alert_id = self._open.get(key)
        return None if alert_id is None else self.alerts.get(alert_id)

    def notify(self, key: IncidentKey, *, route: str, source: str, severity: str, text: str, ts: int | None = None,
               labels: dict[str, str] | None = None) -> tuple[Alert, bool]:
        """A notification of an incident: a new alert (True), or the open one it repeats (False).
        ``route`` is how the record shows the key's route (a routing key only by its hint)."""
        via, _, dedup_key = key
        open_alert = self.incident(key)
        if open_alert is not None and not open_alert.dropped:
            self.touch(open_alert)
            self.metrics.notifications.labels(via, "repeat").inc()
            self.log.info("alert_repeated", alert_id=open_alert.id, via=via, dedup_key=dedup_key,
                          count=open_alert.count)
            return open_alert, False
        alert = self.submit(source=source, severity=severity, text=text, ts=ts, via=via,
                            route=route, dedup_key=dedup_key, labels=labels)
        self._open[key] = alert.id
        self._key_of[alert.id] = key
        self.metrics.notifications.labels(via, "new").inc()
        return alert, True

    def touch(self, alert: Alert) -> None:
        alert.count += 1
        alert.last_seen_ns = self.clock()

    def resolve(self, key: IncidentKey) -> Alert | None:
        """Close the open incident of ``key``: ``resolved_ns`` on its record, nothing delivered."""
        alert = self.incident(key)
        self._open.pop(key, None)
        if alert is None:
            self.metrics.notifications.labels(key[0], "unmatched").inc()
            self.log.info("resolve_unmatched", via=key[0], dedup_key=key[2])
            return None
        self.touch(alert)
        alert.resolved_ns = alert.last_seen_ns
        self.metrics.notifications.labels(key[0], "resolved").inc()
        self.log.info("alert_resolved", alert_id=alert.id, via=key[0], dedup_key=key[2],
                      resolved_ns=alert.resolved_ns)
        return alert

    # -- channels ---------------------------------------------------------
    def configure(self, name: str, changes: dict[str, Any]) -> ChannelConfig:
        """Apply the given settings; raises :class:`BadField` naming a bad one."""
        if name not in self.channels:
            raise UnknownChannel(name)
        cfg = self.channels[name]
        if "downgrade_to" in changes:
            target = changes["downgrade_to"]
            if target is not None and (target not in CHANNELS or target == name):
                raise BadField("downgrade_to", f"{name} channel cannot be downgraded to {target!r}")
        for key, value in changes.items():
            setattr(cfg, key, value)
        self.log.warning("channel_configured", channel=name, **asdict(cfg))
        return cfg

    def cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # -- pipeline heartbeat -------------------------------------------------
    def heartbeat_verdict(self) -> HeartbeatVerdict:
        """A heartbeat is the probe of "would a page reach the pager right now"."""
        cfg = self.channels["page"]
        if not cfg.enabled:
            verdict = HeartbeatVerdict(False, reason="page channel is off")
        elif cfg.downgrade_to is not None:
            verdict = HeartbeatVerdict(False, reason=f"page channel is downgraded to {cfg.downgrade_to}")
        else:
            verdict = HeartbeatVerdict(True, delay_s=cfg.delay_ms / 1000)
        self.metrics.heartbeats.labels("ack" if verdict.ack else "nack").inc()
        return verdict
