"""The alert sink's receivers of outside formats: an Alertmanager notification or a PagerDuty event
becomes an incident of the sink (``AlertSink.notify`` / ``resolve`` / ``ack``) on the channel its
route names (``config.Routes``).

Counting is the pager's, not the sender's: an Alertmanager group is one
alert however many alerts it holds and however often Alertmanager repeats
it, counted from the group's earliest firing alert; a PagerDuty dedup_key is
one alert however many triggers carry it. A resolve is recorded on the open
record (``resolved_ns``) and delivers nothing. A PagerDuty acknowledge is an
operator's ack on the record (``acked_ns``, the field the Chaos tab's Ack
sets): measurement takes it as a human detection.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from powerpeg.targets.common import alertmanager as am
from . import pagerduty as pd
from .config import Routes, key_hint
from .core import Alert, AlertSink, BadField


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a notification did: ``new`` (an alert, routed and delivered like any), ``repeat`` (folded
    into the open one), ``resolved``, ``acked``, ``unmatched`` (a resolve or ack with no open alert)."""

    outcome: str
    alert: Alert | None
    dedup_key: str

    def view(self) -> dict[str, Any]:
        alert = self.alert
        return {"outcome": self.outcome, "dedup_key": self.dedup_key,
                "id": None if alert is None else alert.id,
                "channel": None if alert is None else alert.channel,
                "status": None if alert is None else alert.status,
                "count": None if alert is None else alert.count}


class Receivers:
    """The Alertmanager and PagerDuty doors of one sink, with their routes."""

    def __init__(self, sink: AlertSink, routes: Routes) -> None:
        self.sink = sink
        self.routes = routes

    def alertmanager(self, notification: am.Notification) -> Outcome:
        """One webhook notification; :class:`BadField` when its receiver has no route or it fires nothing."""
        receiver = notification.receiver
        channel = self.routes.for_receiver(receiver)
        if channel is None:
            raise BadField("receiver", f"no route for Alertmanager receiver {receiver!r} "
                                       "(add --route alertmanager:RECEIVER=CHANNEL)")
        key = ("alertmanager", receiver, notification.group_key)
        if notification.status == "resolved":
            return self._resolved(key)
        firing = notification.firing()
        if not firing:
            raise BadField("alerts", "status is firing but no alert of the group is")
        first = firing[0][1]
        alert, new = self.sink.notify(
            key, route=receiver, source=f"alertmanager:{receiver}", severity=channel,
            text=am.summary(first, len(firing)), ts=first.starts_at, labels=dict(first.labels),
        )
        return Outcome("new" if new else "repeat", alert, notification.group_key)

    def pagerduty(self, event: pd.Event) -> Outcome:
        """One Events API v2 event; :class:`BadField` when its routing key is not configured."""
        channel = self.routes.for_routing_key(event.routing_key)
        if channel is None:
            raise BadField("routing_key", f"unknown routing key {event.routing_key!r}")
        hint = key_hint(event.routing_key)
        dedup_key = event.dedup_key or uuid.uuid4().hex  # PagerDuty makes one up for a trigger without
        key = ("pagerduty", event.routing_key, dedup_key)
        if event.event_action == "resolve":
            return self._resolved(key)
        if event.event_action == "acknowledge":
            alert = self.sink.incident(key)
            if alert is None:
                self.sink.metrics.notifications.labels("pagerduty", "unmatched").inc()
                return Outcome("unmatched", None, dedup_key)
            self.sink.touch(alert)
            self.sink.ack(alert.id, f"pagerduty:{hint}")
            self.sink.metrics.notifications.labels("pagerduty", "acked").inc()
            return Outcome("acked", alert, dedup_key)
        payload = event.payload
        assert payload is not None  # pd.parse refuses a trigger without one
        labels: dict[str, str] = {"severity": payload.severity}
        for name, value in (("component", payload.component), ("group", payload.group), ("class", payload.class_)):
            if value is not None:
                labels[name] = value
        alert, new = self.sink.notify(
            key, route=hint, source=f"pagerduty:{payload.source}", severity=channel, text=payload.summary,
            ts=payload.timestamp, labels=labels,
        )
        return Outcome("new" if new else "repeat", alert, dedup_key)

    def _resolved(self, key: tuple[str, str, str]) -> Outcome:
        alert = self.sink.resolve(key)
        return Outcome("unmatched" if alert is None else "resolved", alert, key[2])
