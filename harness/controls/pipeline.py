"""Where the detection time went, stage by stage: pure, from a bundled control's own
account (:meth:`powerpeg.harness.controls.base.Control.pipeline`), the run's metrics and the
alert sink's records.

The stages of an alerting pipeline, each ending at a time a different party recorded:

- ``scrape`` — the first violation (exchange journal) → the first moment the rule's own
  expression held on the scraped data (Prometheus, the rule's query over the run);
- ``rule`` — → the alert firing (Prometheus ``activeAt`` + the rule's ``for``): the
  evaluation interval and ``for``;
- ``alertmanager`` — → the sink receiving the notification (its ``received_ns``):
  Prometheus's push, then ``group_wait`` (Alertmanager's first ``updatedAt`` splits the two);
- ``delivery`` — → the page delivered (the sink's ``delivered_ns``: a delayed channel).

Their sum is the TTD measured from the sink (harness/measure.py); this only says where
it went. A stage not reached by the end of the run is null, and ``reached`` says how far
the alert got.
"""
from __future__ import annotations

from typing import Any

from powerpeg.harness.measure import WAKE_CHANNELS, Metrics

STAGES = ("scrape", "rule", "alertmanager", "delivery")


def _s(later: int | None, earlier: int | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) / 1e9, 3)


def _page_record(alerts: list[dict[str, Any]], metrics: Metrics) -> dict[str, Any] | None:
    """The sink's record of the alert that detected the runaway, else its first from Alertmanager."""
    from_am = [a for a in alerts if str(a.get("source", "")).startswith("alertmanager:")]
    detecting = [a for a in from_am if a.get("channel") in WAKE_CHANNELS and a.get("delivered_ns") is not None
                 and a.get("delivered_ns") == metrics.detected_at]
    if detecting:
        return detecting[0]
    return min(from_am, key=lambda a: a.get("received_ns") or 0, default=None)


def _matching(raw_alerts: list[dict[str, Any]], page: dict[str, Any] | None) -> dict[str, Any] | None:
    """The control's alert the sink's record is of (same alertname and session), else its first."""
    if page is not None:
        labels = page.get("labels") or {}
        for alert in raw_alerts:
            mine = alert.get("labels") or {}
            if mine.get("alertname") == labels.get("alertname") and mine.get("session") == labels.get("session"):
                return alert
    started = [a for a in raw_alerts if a.get("active_at_ns") is not None]
    return min(started, key=lambda a: a["active_at_ns"], default=None)


def stages(raw: dict[str, Any], metrics: Metrics, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """The pipeline section of journal.json for one bundled control."""
    page = _page_record(alerts, metrics)
    alert = _matching(raw.get("alerts") or [], page)
    violation = metrics.first_violation_at
    active = alert.get("active_at_ns") if alert else None
    fired = alert.get("fired_at_ns") if alert else None
    data = alert.get("expr_true_at_ns") if alert else None
    if data is not None and active is not None:
        data = min(data, active)  # the query's step is coarser than the evaluation that saw it
    am_at = alert.get("alertmanager_at_ns") if alert else None
    received = page.get("received_ns") if page else None
    delivered = page.get("delivered_ns") if page else None
    durations = {
        "scrape": _s(data, violation),
        "rule": _s(fired, data),
        "alertmanager": _s(received, fired),
        "delivery": _s(delivered, received),
    }
    times = {"first_violation_at": violation, "data_at": data, "active_at": active, "fired_at": fired,
             "alertmanager_at": am_at, "sink_received_at": received, "delivered_at": delivered}
    reached = "none"
    for name, ts in (("violation", violation), ("data", data), ("fired", fired), ("alertmanager", am_at),
                     ("sink", received), ("delivered", delivered)):
        if ts is not None:
            reached = name
    kill_by = metrics.kill_issued_by or ""
    kill = None
    if kill_by.startswith("alertmanager:"):
        kill = {"by": kill_by, "at": metrics.kill_issued_at, "after_fired_s": _s(metrics.kill_issued_at, fired),
                "after_violation_s": _s(metrics.kill_issued_at, violation)}
    group_wait = (raw.get("settings") or {}).get("group_wait_s")
    projection = None
    if delivered is None and am_at is not None and group_wait is not None:
        # not delivered by the end: Alertmanager's first notification of a new group waits group_wait
        # from its receipt (an estimate, from its settings: nothing was measured past the end)
        expected = am_at + int(group_wait * 1e9)
        projection = {"page_expected_at": expected, "after_violation_s": _s(expected, violation),
                      "basis": f"Alertmanager's receipt + group_wait {group_wait:g} s"}
    out: dict[str, Any] = {
        "control": raw.get("control"),
        "settings": raw.get("settings", {}),
        "alert": (alert.get("labels") or {}) if alert else None,
        **times,
        "stages_s": durations,
        "alertmanager_split_s": {"push": _s(am_at, fired), "group_wait": _s(received, am_at)},
        "reached": reached,
        "kill": kill,
        "projection": projection,
        "rule_groups": raw.get("groups", []),
        "alerts": raw.get("alerts", []),
    }
    if raw.get("error") or raw.get("errors"):
        out["errors"] = [e for e in [raw.get("error"), *raw.get("errors", [])] if e]
    out["summary"] = summary(out)
    return out


def summary(p: dict[str, Any]) -> str:
    """One line for the terminal summary."""
    name = p.get("control") or "control"
    st = p["stages_s"]
    known = {k: v for k, v in st.items() if v is not None}
    if p["first_violation_at"] is None:
        return f"pipeline ({name}): no violation to detect"
    parts = " · ".join(f"{k} {v:.2f} s" for k, v in known.items())
    if p["delivered_at"] is not None:
        top = max(known, key=lambda k: known[k]) if known else None
        alertname = (p.get("alert") or {}).get("alertname", "?")
        return f"pipeline ({name}, {alertname}): {parts}; most in {top}"
    where = {"none": "nothing seen", "violation": "the scraped data never showed it",
             "data": "the data showed it, no alert fired", "fired": "fired, Alertmanager never had it",
             "alertmanager": "Alertmanager held it (group_wait), nothing reached the sink",
             "sink": "the sink got it, not delivered"}[p["reached"]]
    line = f"pipeline ({name}): not detected by the end — {where}" + (f" ({parts})" if parts else "")
    projection = p.get("projection")
    if projection is not None and projection.get("after_violation_s") is not None:
        line += (f"; the page was due {projection['after_violation_s']:.1f} s after the first violation "
                 f"({projection['basis']})")
    return line
