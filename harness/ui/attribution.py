"""Who made TTD and TTK: a person (``human``) or the controls (``automated``).

Pure (no aiohttp, no Locust): `powerpeg ui` writes it into ``ui.json`` and the
game day's index shows it for every run.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from powerpeg.harness import measure
from powerpeg.harness.events import RunEvent

OPERATOR = "operator"


def attribution(metrics: measure.Metrics | None, events: Iterable[dict[str, Any]]) -> dict[str, str | None]:
    """Which of TTD and TTK a person made (``human``) and which the controls did (``automated``).

    TTD is human when the detection was an operator's acknowledgement
    (``detected_by == "operator"``); TTK is human when the first kill is an
    ``operator_kill`` event of the run's event log (the KILL SWITCH press).
    ``None``: nothing was detected / no kill was issued.
    """
    if metrics is None:
        return {"ttd": None, "ttk": None}
    ttd = None if metrics.detected_by is None else ("human" if metrics.detected_by == OPERATOR else "automated")
    ttk = None
    if metrics.kill_issued_at is not None:
        operator_kills = {e.get("ts_ns") for e in events if e.get("event") == RunEvent.OPERATOR_KILL}
        ttk = "human" if metrics.kill_issued_at in operator_kills else "automated"
    return {"ttd": ttd, "ttk": ttk}
