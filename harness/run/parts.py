"""The parts a run depends on — the exchange, the monitor, the alert sink — up or down, as the
harness's own reads find them.

A part is declared down at the first failed read when the backend says its process is not running
(it exited: no doubt to wait out), else after :data:`DOWN_AFTER` failed reads in a row (one slow
answer on a busy machine is not an outage); it is down from its first failed read. It is up again
at its next good read. Each transition is a run event (``part_down`` / ``part_up``) — what the
reports are built from (harness/outages.py). A part a fault has down on purpose is marked
``planned``: reported as that, never as a finding.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from powerpeg.harness.events import EventLog, RunEvent
from powerpeg.harness.outages import MEANING, PARTS, PASSIVE_MONITOR

DOWN_AFTER = 2  # failed reads in a row that make a part down (when the backend cannot say it exited)


@dataclass
class _Part:
    failures: int = 0
    since_ns: int | None = None  # the first failed read of the current streak
    down: bool = False
    planned: bool = False
    exited: bool = False
    reason: str = ""
    fault: str | None = None


class Parts:
    """Up/down state of :data:`powerpeg.harness.outages.PARTS`, fed by reads that succeed or fail.

    ``fault_on(part)``: the fault that has it down on purpose ("kill monitor"), or None;
    ``probe(part)``: the backend's word on its process — None when running (or it cannot tell),
    else why not ("exited"); ``monitor_control``: the monitor is a control under test (not passive).
    """

    def __init__(self, events: EventLog, *, fault_on: Callable[[str], str | None],
                 probe: Callable[[str], Awaitable[str | None]], monitor_control: bool) -> None:
        self._events = events
        self._fault_on = fault_on
        self._probe = probe
        self._monitor_control = monitor_control
        self._parts = {part: _Part() for part in PARTS}

    def is_down(self, part: str) -> bool:
        return self._parts[part].down

    def unplanned(self, part: str) -> bool:
        """Down, and no fault meant it: a finding."""
        state = self._parts[part]
        return state.down and not state.planned

    def exited(self, part: str) -> bool:
        """Down because its process is not running (not merely silent)."""
        return self._parts[part].exited

    def silent_s(self, part: str) -> float:
        """How long its reads have been failing (0 while they succeed)."""
        since = self._parts[part].since_ns
        return 0.0 if since is None else (time.time_ns() - since) / 1e9

    def view(self) -> dict[str, dict[str, Any]]:
        """Each part as the Chaos page shows it: ``state`` up or down; when down, ``since_ns``,
        ``reason``, ``planned`` and ``fault``."""
        out: dict[str, dict[str, Any]] = {}
        for part, st in self._parts.items():
            out[part] = ({"state": "down", "since_ns": st.since_ns, "reason": st.reason, "planned": st.planned,
                          "fault": st.fault} if st.down else {"state": "up"})
        return out

    async def ok(self, part: str) -> None:
        """A read of ``part`` succeeded."""
        state = self._parts[part]
        if state.down:
            assert state.since_ns is not None  # set with down
            self._events.emit(RunEvent.PART_UP, part=part, down_s=round((time.time_ns() - state.since_ns) / 1e9, 3))
        self._parts[part] = _Part()

    async def failed(self, part: str, error: BaseException | str, *, report: bool = True) -> bool:
        """A read of ``part`` failed; whether the part is (now) down. ``report``: write the failed
        read as a ``watch_read_failed`` event while the part is not down yet."""
        state = self._parts[part]
        now = time.time_ns()
        state.since_ns = state.since_ns or now
        state.failures += 1
        if state.down:
            return True
        why = error if isinstance(error, str) else f"{type(error).__name__}: {error}".rstrip(": ")
        if report:
            self._events.warning(RunEvent.WATCH_READ_FAILED, part=part, error=why)
        exited = await self._ask(part)
        if exited is None and state.failures < DOWN_AFTER:
            return False
        fault = self._fault_on(part)
        reason = exited if exited is not None else f"not answering ({why})"
        state.down, state.planned, state.exited, state.reason, state.fault = (
            True, fault is not None, exited is not None, reason, fault)
        control = self._monitor_control if part == "monitor" else part == "alerts"
        meaning = PASSIVE_MONITOR if part == "monitor" and not control else MEANING[part]
        self._events.warning(RunEvent.PART_DOWN, part=part, since_ns=state.since_ns, reason=reason,
                             planned=fault is not None, fault=fault, control=control, meaning=meaning)
        return True

    async def check(self, part: str) -> bool:
        """Ask the backend alone (no read of the part): a part whose process is gone is down."""
        if self._parts[part].down:
            return True
        exited = await self._ask(part)
        if exited is None:
            return False
        return await self.failed(part, exited, report=False)

    async def _ask(self, part: str) -> str | None:
        try:
            return await self._probe(part)
        except Exception:  # noqa: BLE001 - the backend's word is a bonus: without it, failed reads decide
            return None
