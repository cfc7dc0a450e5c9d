"""What the rules firms are held to ask of a kill switch and an alert, read off the evidence.

The preset assertions (``kill_blocks_within``, ``cancel_all_within``,
``alert_within``, ``kill_latched``, ``max_child_per_parent``: docs/harness.md
"Assertion presets" cites the rule behind each) need facts the core metrics
do not keep: which orders the firm had working at the kill, what the venue
accepted after it, when the first alert of any channel was delivered, how
many children each parent had. One pure pass over the firm's journal
records, separate from :mod:`powerpeg.harness.measure`'s hot walk so a run that sets
none of these pays nothing for them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from powerpeg.targets.exchange.records import JournalRecord

DONE_KINDS = frozenset({"canceled"})


@dataclass
class KillFacts:
    """The firm's orders around its first kill (``kill_at``)."""

    kill_at: int
    working_at_kill: int = 0  # the firm's orders working when the kill came
    still_working: int = 0  # ... of which never ended before the journal's end
    last_ended_at: int | None = None  # when the last of them ended (cancel or fill)
    accepted_after: list[int] = field(default_factory=list)  # the firm's orders accepted after the kill
    rejected_after: int = 0  # ... and refused after it
    reinstated_at: int | None = None  # the firm's first reinstate after the kill


@dataclass
class Obligations:
    kill: KillFacts | None
    first_alert_at: int | None  # first alert delivered on any channel at or after the first violation
    first_alert_channel: str | None
    children: Counter[str]  # parent → children accepted


def read(journal: list[JournalRecord], firm: str, kill_at: int | None, first_violation_at: int | None,
         alerts: list[dict[str, Any]], parents: set[str]) -> Obligations:
    """The facts, for the firm's first kill at ``kill_at`` (None: no kill was issued)."""
    working: dict[str, int] = {}  # the firm's working orders: cl_ord_id → accepted at
    children: Counter[str] = Counter()
    kill = KillFacts(kill_at) if kill_at is not None else None
    at_kill: set[str] | None = None  # the firm's orders working when the kill came, until each ends
    sessions: set[str] = set()
    for rec in journal:
        kind, ts = rec["kind"], rec["ts_ns"]
        if kill is not None and at_kill is None and ts >= kill.kill_at:
            at_kill = set(working)
            kill.working_at_kill = len(at_kill)
        if kind == "reinstate":
            if (kill is not None and ts >= kill.kill_at and kill.reinstated_at is None
                    and rec.get("id") in (firm, *sessions)):
                kill.reinstated_at = ts
            continue
        if rec.get("firm") != firm:
            continue
        after_kill = kill is not None and ts > kill.kill_at and kill.reinstated_at is None
        cl = rec["cl_ord_id"]
        if cl is None:  # the venue's own records (open, kill, reinstate) carry no order
            continue
        if kind == "accepted":
            sessions.add(rec["session"] or "")
            working[cl] = ts
            parent = cl.rsplit(".", 1)[0]
            if parent in parents:
                children[parent] += 1
            if after_kill and kill is not None:
                kill.accepted_after.append(ts)
        elif kind == "rejected":
            if after_kill and kill is not None:
                kill.rejected_after += 1
        elif kind in DONE_KINDS or (kind == "fill" and rec.get("leaves_qty") == 0):
            working.pop(cl, None)
            if at_kill is not None and cl in at_kill and kill is not None:
                at_kill.discard(cl)
                kill.last_ended_at = ts
    if kill is not None:
        if at_kill is None:  # the kill came after the journal's last record
            at_kill = set(working)
            kill.working_at_kill = len(at_kill)
        kill.still_working = len(at_kill)
    first_alert, channel = None, None
    if first_violation_at is not None:
        for alert in alerts:
            delivered = alert.get("delivered_ns")
            if isinstance(delivered, int) and delivered >= first_violation_at and (
                    first_alert is None or delivered < first_alert):
                first_alert, channel = delivered, alert.get("channel")
    return Obligations(kill, first_alert, channel, children)
