"""The Chaos tab inside Locust's own React UI: its rows, from the harness's status.

Pure (no Locust, no asyncio): the Locust process builds the rows from the
control API's status; the unit tests check them without importing Locust,
whose import monkey-patches the whole process for gevent.
"""
from __future__ import annotations

from typing import Any


def killed(status: dict[str, Any]) -> str:
    """"yes (by whom)" whoever pulled the kill switch — the operator, a control, the harness's abort — or "no"."""
    if not status.get("killed"):
        return "no"
    by = status.get("killed_by")
    return f"yes ({by})" if by else "yes"


def status_rows(status: dict[str, Any]) -> list[dict[str, str]]:
    """The Chaos tab's table: one row per item of the harness's status."""
    metrics = status.get("metrics") or {}
    rows = [
        {"item": "controls", "value": "open /chaos (link at the bottom right): Inject / Revert, Ack, KILL SWITCH"},
        {"item": "experiment", "value": str(status.get("experiment"))},
        {"item": "phase", "value": str(status.get("phase"))},
        {"item": "killed", "value": killed(status)},
    ]
    abort = status.get("abort") or {}
    if abort.get("triggered"):
        rows.append({"item": "aborted", "value": f"{abort.get('reason')}: Inject is refused"})
    for part, view in (status.get("parts") or {}).items():
        if view.get("state") == "down":
            why = f"on purpose ({view.get('fault')})" if view.get("planned") else str(view.get("reason"))
            rows.append({"item": f"{part} DOWN", "value": why})
    for key in ("child_orders_per_s", "exposure_usd", "loss_usd", "excess_shares", "ttd_s", "ttk_s"):
        rows.append({"item": key, "value": str(metrics.get(key))})
    if metrics.get("ttd_s") is None and metrics.get("pages_before_fault"):
        rows.append({"item": "pages before the first fault",
                     "value": f"{metrics['pages_before_fault']} (not counted as detection)"})
    for fault in status.get("faults", []):
        rows.append({"item": f"fault {fault.get('index')}: {fault.get('name') or fault.get('kind')}",
                     "value": str(fault.get("state"))})
    for g in status.get("alert_groups", [])[:10]:  # grouped, pages first (harness/ui/alert_groups.py)
        rows.append({"item": f"alerts ({g.get('channel')}) {g.get('source')} ×{g.get('count')}",
                     "value": f"{g.get('kind')}{' [acked]' if g.get('acked') else ''}"})
    return rows
