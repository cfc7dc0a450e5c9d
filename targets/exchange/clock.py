"""The market clock: pre-open until ``open_at_ns``, then open for good.

The clock only decides *when*; what opening means (journal the ``open``
record, run the queued orders, start the market makers) is the
``on_open`` callback's business.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PRE_OPEN = "pre-open"
OPEN = "open"


class MarketClock:
    def __init__(self, open_at_ns: int, preopen: str, on_open: Callable[[], None]) -> None:
        if preopen not in ("queue", "reject"):
            raise ValueError(f"preopen must be queue or reject, got {preopen!r}")
        self.open_at_ns = open_at_ns
        self.preopen = preopen
        self.phase = PRE_OPEN
        self._on_open = on_open
        self._timer: asyncio.TimerHandle | None = None

    @property
    def is_open(self) -> bool:
        return self.phase == OPEN

    def start(self) -> None:
        """Arm the timer (or open now when the time has passed)."""
        self._arm()

    def reschedule(self, open_in_s: float) -> None:
        if self.is_open:
            raise RuntimeError("market already open")
        self.open_at_ns = time.time_ns() + int(open_in_s * 1e9)
        self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def snapshot(self) -> dict:
        return {"phase": self.phase, "open_at_ns": self.open_at_ns, "now_ns": time.time_ns(), "preopen": self.preopen}

    def _arm(self) -> None:
        self.stop()
        delay = (self.open_at_ns - time.time_ns()) / 1e9
        if delay <= 0:
            self._open()
        else:
            self._timer = asyncio.get_running_loop().call_later(delay, self._open)

    def _open(self) -> None:
        self._timer = None
        if self.is_open:
            return
        self.phase = OPEN
        self._on_open()
