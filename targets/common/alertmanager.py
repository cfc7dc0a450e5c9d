"""Prometheus Alertmanager's webhook payload, version 4, parsed strictly at the edge.

This is what Alertmanager's ``webhook_configs`` POST (``notify/webhook`` in
its source: the template data plus ``version``, ``groupKey`` and
``truncatedAlerts``). One notification carries one *group* of alerts; the
``groupKey`` names the group across notifications, and ``status`` is
``firing`` while any alert of the group fires.

Two doors take it: the alert sink's ``POST /alertmanager`` (an alert a human
hears about) and the exchange's ``POST /kill/alertmanager`` (a kill switch a
rule can pull), so the model stands on its own: pydantic only, nothing of the
sink.

Unknown fields are ignored, not refused: Alertmanager adds fields to v4 over
releases (``truncatedAlerts`` and ``fingerprint`` came late) and senders that
speak the format (Grafana, Thanos ruler) add their own. Every field this
module names is checked for its type; a bad one is a 400 naming it.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d\d):(\d\d))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Go's zero time.Time: what Alertmanager sends as endsAt for an alert with no end yet
_GO_ZERO_YEAR = 1


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time; Go writes up to 9 fractional digits,
    more than ``datetime`` keeps, so the fraction is read here."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"must be an RFC 3339 time (2024-08-01T13:30:00.123Z), not {text[:64]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        wall = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"must be an RFC 3339 time: {exc}") from None
    if m.group(8) is not None:
        offset = timedelta(hours=int(m.group(9)), minutes=int(m.group(10)))
        wall = wall - offset if m.group(8) == "+" else wall + offset
    fraction = int((m.group(7) or "").ljust(9, "0"))
    return (wall - _EPOCH) // timedelta(seconds=1) * 1_000_000_000 + fraction


def _time(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time string")
    return rfc3339_ns(value)


def _end_time(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("0001-01-01"):
        return None  # Go's zero time: the alert has no end yet
    return _time(value)


Timestamp = Annotated[int, BeforeValidator(_time)]
EndTimestamp = Annotated[int | None, BeforeValidator(_end_time)]
Labels = dict[Annotated[str, Field(max_length=1024)], Annotated[str, Field(max_length=10_000)]]


class Alert(BaseModel):
    """One alert of the group."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: Timestamp = Field(alias="startsAt")
    ends_at: EndTimestamp = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL", max_length=10_000)
    fingerprint: str = Field(default="", max_length=256)


class Notification(BaseModel):
    """One webhook notification: a group of alerts, firing or resolved."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1, max_length=10_000)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(min_length=1, max_length=200)
    group_labels: Labels = Field(alias="groupLabels")
    common_labels: Labels = Field(alias="commonLabels")
    common_annotations: Labels = Field(alias="commonAnnotations")
    external_url: str = Field(alias="externalURL", max_length=10_000)
    alerts: list[Alert] = Field(min_length=1, max_length=10_000)

    def firing(self) -> list[tuple[int, Alert]]:
        """The group's firing alerts with their index in ``alerts``, earliest ``startsAt`` first."""
        return sorted(((i, a) for i, a in enumerate(self.alerts) if a.status == "firing"),
                      key=lambda pair: (pair[1].starts_at, pair[0]))


def first_firing(notification: Notification) -> Alert | None:
    """The alert a firing notification is counted from: the earliest to start; None when none fires."""
    firing = notification.firing()
    return firing[0][1] if firing else None


def summary(alert: Alert, group_size: int = 1) -> str:
    """A one-line text for an alert: ``alertname: summary`` (or description), and how many more the group holds."""
    name = alert.labels.get("alertname", "")
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    line = f"{name}: {text}" if name and text else (name or text or "alert without alertname or summary")
    return line if group_size <= 1 else f"{line} (+{group_size - 1} more in the group)"
