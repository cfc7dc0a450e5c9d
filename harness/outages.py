"""Parts of the fleet that went down during a run — the exchange, the monitor, the alert sink — and
what that meant.

powerpeg exists to tell a firm the truth about its controls: a monitor that was dead is not a slow
monitor, and a run in which the venue died measured only what came before. An outage nothing meant
(``planned`` false) is a finding, reported as such; one a fault caused on purpose (a ``kill`` of the
monitor) is reported as that. Pure: built from the run's event log (``part_down`` / ``part_up``,
harness/events.py), read by the verdict and every report.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from powerpeg.harness.events import RunEvent

PARTS = ("exchange", "monitor", "alerts")
"""The parts whose death changes what a run can say (routers are the system under test, not its judges)."""

MEANING = {
    "exchange": "the venue was gone: nothing traded and the journal stops there",
    "monitor": "nothing was watching",
    "alerts": "no alert could reach anyone",
}
PASSIVE_MONITOR = "the monitor was passive in this experiment: no monitor control was under test"


@dataclass(frozen=True)
class Outage:
    """One part down from ``down_at`` (its first failed read) until ``up_at`` (None: to the end)."""

    part: str
    down_at: int
    up_at: int | None = None
    planned: bool = False
    fault: str | None = None  # the fault that took it down on purpose, e.g. "kill monitor"
    reason: str = ""  # "exited", "not answering (ClientConnectorError)"
    meaning: str = ""
    control: bool = False  # a control under test: the alert sink, the monitor unless passive

    @property
    def finding(self) -> bool:
        """Nothing meant it: the part died or went silent by itself."""
        return not self.planned

    def overlaps(self, start: int, end: int) -> bool:
        """Down at some instant of [start, end]."""
        return self.down_at <= end and (self.up_at is None or self.up_at >= start)

    def text(self, t0_ns: int | None = None) -> str:
        """``monitor down from +4.5 s (exited): nothing was watching``; a planned one says whose doing it was."""
        span = f"from {_at(self.down_at, t0_ns)}" + (f" to {_at(self.up_at, t0_ns)}" if self.up_at else "")
        reason = f" ({self.reason})" if self.reason else ""
        if self.planned:
            return f"{self.part} down {span} on purpose ({self.fault or 'a fault'}){reason}"
        return f"{self.part} down {span}{reason}: {self.meaning or MEANING.get(self.part, 'down')}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outage:
        """From :meth:`to_dict`'s output (its derived keys dropped)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self, t0_ns: int | None = None) -> dict[str, Any]:
        """journal.json's view: the fields, the seconds from the method's start and the sentence."""
        down_s = None if t0_ns is None else round((self.down_at - t0_ns) / 1e9, 3)
        up_s = None if t0_ns is None or self.up_at is None else round((self.up_at - t0_ns) / 1e9, 3)
        return {**asdict(self), "finding": self.finding, "down_s": down_s, "up_s": up_s, "text": self.text(t0_ns)}


def _at(ts_ns: int, t0_ns: int | None) -> str:
    return f"+{(ts_ns - t0_ns) / 1e9:.1f} s" if t0_ns is not None else f"{ts_ns} ns"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def from_events(events: Iterable[dict[str, Any]]) -> list[Outage]:
    """Every outage of the run's event log, in the order they began."""
    open_: dict[str, Outage] = {}
    done: list[Outage] = []
    for event in events:
        name, part, ts = event.get("event"), event.get("part"), _int(event.get("ts_ns"))
        if not isinstance(part, str) or ts is None:
            continue
        if name == RunEvent.PART_DOWN and part not in open_:
            since = _int(event.get("since_ns"))
            open_[part] = Outage(part=part, down_at=since if since is not None else ts,
                                 planned=bool(event.get("planned")), fault=event.get("fault"),
                                 reason=str(event.get("reason") or ""), meaning=str(event.get("meaning") or ""),
                                 control=bool(event.get("control")))
        elif name == RunEvent.PART_UP and part in open_:
            outage = open_.pop(part)
            done.append(Outage(**{**asdict(outage), "up_at": ts}))
    return sorted(done + list(open_.values()), key=lambda o: o.down_at)


def findings(outages: Iterable[Outage]) -> list[Outage]:
    """The outages nothing meant."""
    return [o for o in outages if o.finding]
