"""The Chaos tab inside Locust's own React UI: its rows, from the harness's status.

Pure (no Locust, no asyncio): the Locust process builds the rows from the
control API's status; the unit tests check them without importing Locust,
whose import monkey-patches the whole process for gevent.
"""
from __future__ import annotations

from typing import Any


def status_rows(status: dict[str, Any]) -> list[dict[str, str]]:
    """The Chaos tab's table: one row per item of the harness's status."""
    metrics = status.get("metrics") or {}
    rows = [
        {"item": "controls", "value": "open /chaos (link at the bottom right): Inject / Revert, Ack, KILL SWITCH"},
        {"item": "experiment", "value": str(status.get("experiment"))},
        {"item": "phase", "value": str(status.get("phase"))},
        {"item": "killed", "value": "yes" if status.get("killed") else "no"},
    ]
    for key in ("child_orders_per_s", "exposure_usd", "loss_usd", "excess_shares", "ttd_s", "ttk_s"):
        rows.append({"item": key, "value": str(metrics.get(key))})
    for fault in status.get("faults", []):
        rows.append({"item": f"fault {fault.get('index')}: {fault.get('name') or fault.get('kind')}",
                     "value": str(fault.get("state"))})
    for g in status.get("alert_groups", [])[:10]:  # grouped, pages first (harness/ui/alert_groups.py)
        rows.append({"item": f"alerts ({g.get('channel')}) {g.get('source')} ×{g.get('count')}",
                     "value": f"{g.get('kind')}{' [acked]' if g.get('acked') else ''}"})
    return rows
