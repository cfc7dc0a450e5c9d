"""The Chaos page's alerts, grouped the way Alertmanager and PagerDuty show them.

Tried as a game-day operator would, a runaway filled the page with 110 rows
of the same router email before the first fault was even injected, and the
one page that mattered was lost among them. Alerts are grouped by source,
channel and kind — Alertmanager's ``alertname`` when the alert came through
it, otherwise the text with its varying parts (ids, numbers) blanked, so
"Power Peg disabled (… parent P-17)" and "(… parent P-18)" are one kind —
with a count, the first and last time, and one Ack per group. Pages and
phone calls sort first: a person must see what wakes them before what only
fills a mailbox.
"""
from __future__ import annotations

import re
from typing import Any

# tokens with a digit in them vary between alerts of one kind (ids, counts, prices, times)
_VARYING = re.compile(r"[\w.,:/-]*\d[\w.,:/-]*")
URGENCY = {"page": 0, "phone": 1, "chat": 2, "email": 3}
TEXTS_KEPT = 20  # per group, the newest: enough to read what is repeating


def kind_of(alert: dict[str, Any]) -> str:
    labels = alert.get("labels")
    if isinstance(labels, dict) and labels.get("alertname"):
        return str(labels["alertname"])
    return _VARYING.sub("…", str(alert.get("text") or "")).strip()


def group(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of ``alerts`` (as the sink lists them), most urgent and most recent first."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for alert in alerts:
        key = (str(alert.get("source") or ""), str(alert.get("channel") or ""), kind_of(alert))
        at = alert.get("delivered_ns") or alert.get("received_ns") or 0
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"key": "|".join(key), "source": key[0], "channel": key[1], "kind": key[2],
                               "count": 0, "first_ns": at, "last_ns": at, "first_id": alert.get("id"),
                               "unacked_id": None, "acked": True, "texts": []}
        g["count"] += int(alert.get("count") or 1)
        if at and at < g["first_ns"]:
            g["first_ns"], g["first_id"] = at, alert.get("id")
        g["last_ns"] = max(g["last_ns"], at)
        if not alert.get("acked_ns"):
            g["acked"] = False
            g["unacked_id"] = g["unacked_id"] or alert.get("id")
        g["texts"] = [*g["texts"], str(alert.get("text") or "")][-TEXTS_KEPT:]
    return sorted(groups.values(), key=lambda g: (URGENCY.get(g["channel"], 9), -g["last_ns"]))
