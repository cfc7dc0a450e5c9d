"""How late this process's event loop runs: a sampler every service starts with its admin site, and
the ``GET /measurement/loop`` that reports it (token-free: it changes nothing).

Every time the harness measures (a TTD, a kill's transit) includes the queueing of the parts it
passed through. A part whose loop is late by 200 ms delays everything it handles by up to that much,
and the run must say so rather than charge it to the control (docs/harness.md, "The measurement
floor"). The sampler sleeps :data:`INTERVAL_S` (25 ms) and records by how much the wake-up overshot.

A stalled loop takes one sample where it should have taken many (coordinated omission: the stall
is the very thing that stops the sampler), so a lag of L also records L − I, L − 2I, … down to 0 —
the samples the stall swallowed, as HdrHistogram corrects for an expected interval. The histogram
has fixed, log-spaced buckets: a run of any length costs the same memory, and a quantile is the
upper bound of its bucket (at most :data:`GROWTH` − 1 = 19 % above the truth; never above ``max``).
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from contextvars import ContextVar
from typing import Any

from aiohttp import web

# The sampler's sleep. Each wake-up of an idle process costs ~130-170 µs of CPU on the 2-core reference
# machine (mostly the kernel's wake-up, not the recording): 10 ms made that 1.1 % of a core per service,
# 25 ms makes it 0.6 % — eleven services on two cores. The coordinated-omission correction keeps a stall
# weighed right at any interval; the lag's resolution does not depend on it.
INTERVAL_S = 0.025
PATH = "/measurement/loop"
LOWEST_S = 50e-6  # the first bucket's upper bound: below it is timer noise, not lag
GROWTH = 2 ** 0.25  # each bucket's bound is this much above the previous one's
BUCKETS = 96  # up to LOWEST_S × GROWTH^95 ≈ 720 s; anything later lands in the last bucket
MAX_CORRECTIONS = 100_000  # a stall of 2,500 s at 25 ms: past it the back-filled samples stop
BOUNDS = tuple(LOWEST_S * GROWTH ** i for i in range(BUCKETS))

IDENTITY: ContextVar[tuple[str, str]] = ContextVar("powerpeg_loop_identity", default=("-", "-"))
"""(component, instance) that ``GET /measurement/loop`` names: set by ``serve_main`` before the
loop starts, so every site made in the process (a router makes its own in ``start()``) inherits it."""


class LagHistogram:
    """Lags in seconds, counted in :data:`BOUNDS` buckets; the exact maximum kept beside them."""

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.n = 0
        self.max = 0.0

    def record(self, lag_s: float, *, interval_s: float | None = None) -> None:
        """One lag (a negative one is 0: the timer fired early); with ``interval_s``, also the samples a
        stall of this length swallowed (``lag − interval``, ``lag − 2·interval``, … above 0)."""
        lag_s = max(0.0, lag_s)
        self._add(lag_s)
        if interval_s is not None and interval_s > 0:
            missed = min(int(lag_s / interval_s), MAX_CORRECTIONS)
            for k in range(1, missed + 1):
                self._add(lag_s - k * interval_s)

    def _add(self, lag_s: float) -> None:
        # most wake-ups are on time: the first bucket without the search
        self.counts[0 if lag_s <= LOWEST_S else min(bisect.bisect_left(BOUNDS, lag_s), BUCKETS - 1)] += 1
        self.n += 1
        if lag_s > self.max:
            self.max = lag_s

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 < q ≤ 1) as its bucket's upper bound, capped at the maximum; None when empty."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], not {q!r}")
        if self.n == 0:
            return None
        rank = math.ceil(q * self.n)
        seen = 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= rank:  # the last bucket is open-ended: its bound is the max itself
                return min(BOUNDS[i], self.max) if i < BUCKETS - 1 else self.max
        return self.max  # pragma: no cover - the counts add up to n

    def summary(self) -> dict[str, Any]:
        """``{"n", "p50", "p99", "max"}`` in seconds (rounded to the µs); the quantiles null when empty."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {"n": self.n, "p50": r(self.quantile(0.5)), "p99": r(self.quantile(0.99)),
                "max": r(self.max) if self.n else None}


class LoopLag:
    """The sampler: ``start()`` on the running loop, ``stop()`` to end it; ``handle`` answers
    ``GET /measurement/loop`` with ``{"component", "instance", "loop_lag_s": {...}}``."""

    def __init__(self, *, component: str, instance: str, interval_s: float = INTERVAL_S) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be above 0, not {interval_s!r}")
        self.component = component
        self.instance = instance
        self.interval_s = interval_s
        self.histogram = LagHistogram()
        self._task: asyncio.Task | None = None

    @classmethod
    def for_this_process(cls) -> LoopLag:
        component, instance = IDENTITY.get()
        return cls(component=component, instance=instance)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sample(), name="looplag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        interval, record = self.interval_s, self.histogram.record
        while True:
            before = loop.time()
            await asyncio.sleep(interval)
            record(loop.time() - before - interval, interval_s=interval)

    def view(self) -> dict[str, Any]:
        return {"component": self.component, "instance": self.instance, "interval_s": self.interval_s,
                "loop_lag_s": self.histogram.summary()}

    async def handle(self, _request: web.Request) -> web.Response:
        return web.json_response(self.view())
