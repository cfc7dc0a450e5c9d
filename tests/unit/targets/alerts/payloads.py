"""Bodies as Alertmanager and PagerDuty send them (Alertmanager's notify/webhook and notify/pagerduty)."""
from __future__ import annotations

from typing import Any

GROUP_KEY = '{}/{severity="critical"}:{alertname="RunawayOrders"}'
ROUTING_KEY = "0123456789abcdef0123456789abcdef"


def am_alert(*, name: str = "RunawayOrders", starts: str = "2026-12-01T14:30:00.000000001Z",
             firm: str | None = "KNIGHT", status: str = "firing", summary: str = "child orders over their parent",
             **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": name, "severity": "critical", **labels}
    if firm is not None:
        all_labels["firm"] = firm
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": summary},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-01T14:40:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=powerpeg_excess_shares+%3E+0",
        "fingerprint": "1a30ba71cca2921f",
    }


def notification(*alerts: dict[str, Any], receiver: str = "trading-pager", status: str | None = None,
                 group_key: str = GROUP_KEY) -> dict[str, Any]:
    """A v4 webhook body; status firing when any alert fires, as Alertmanager computes it."""
    alerts = alerts or (am_alert(),)
    if status is None:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "receiver": receiver,
        "status": status,
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


def pd_event(action: str = "trigger", *, dedup_key: str | None = "runaway-KNIGHT", routing_key: str = ROUTING_KEY,
             severity: str = "critical", summary: str = "child orders over their parent") -> dict[str, Any]:
    """An Events API v2 body as Alertmanager's pagerduty_configs send it (client, links and images included)."""
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "client": "Alertmanager",
                            "client_url": "http://alertmanager:9093", "images": [], "links": []}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    if action == "trigger":
        body["payload"] = {"summary": summary, "source": "prometheus", "severity": severity,
                           "custom_details": {"firing": "RunawayOrders"}}
    return body
