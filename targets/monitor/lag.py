"""Drop-copy lag: how long after the exchange stamped a report (TransactTime(60)) the monitor
evaluated it. Every run states this floor of its own TTD (issue 13), so it is measured on
every ExecutionReport — in a fixed-size histogram, never a list of samples: a trading day of
reports must not grow the monitor.

The histogram has log-spaced buckets (ratio ~1.06, 1 µs to 100 s), so a percentile read
from it is within ~6 % of the exact one; the maximum is kept exactly. Prometheus sees the
same counts folded into a few conventional bounds.
"""
from __future__ import annotations

import calendar
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import HistogramMetricFamily, Metric

# The bounds Prometheus sees (seconds): a subset of the fine bounds, so folding is exact.
PROMETHEUS_BOUNDS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _fine_bounds_ns() -> list[int]:
    bounds = {round(1_000 * 1.06 ** k) for k in range(int(1 + 8 / 0.0253))}  # 1 µs .. ~100 s
    bounds |= {round(b * 1e9) for b in PROMETHEUS_BOUNDS_S}
    bounds.add(0)  # a bucket of its own for 0 (and the negative lags counted as 0)
    return sorted(b for b in bounds if b <= 100 * 10**9)


_SCALE = {digits: 10 ** (9 - digits) for digits in range(1, 10)}  # fraction digits -> ns per unit


class BadTransactTime(ValueError):
    """A TransactTime(60) that is not a FIX UTCTimestamp (names the value)."""


class TransactClock:
    """FIX UTCTimestamp text → ns since the epoch, ``YYYYMMDD-HH:MM:SS`` plus an optional
    fraction of 1 to 9 digits (milliseconds, micro- or nanoseconds: whatever the exchange
    writes). The seconds part repeats for thousands of reports, so its conversion is cached:
    a report costs one slice, one comparison and one ``int``."""

    __slots__ = ("_prefix", "_prefix_ns")

    def __init__(self) -> None:
        self._prefix = ""
        self._prefix_ns = 0

    def ns(self, text: str) -> int:
        prefix = text[:17]
        if prefix != self._prefix:
            self._prefix_ns = self._seconds_ns(prefix, text)
            self._prefix = prefix
        frac = text[18:]
        scale = _SCALE.get(len(frac))
        if scale is None or text[17] != "." or not frac.isdigit():
            if len(text) == 17:
                return self._prefix_ns
            raise BadTransactTime(f"TransactTime(60) {text[:40]!r} has no valid fraction of a second")
        return self._prefix_ns + int(frac) * scale

    @staticmethod
    def _seconds_ns(prefix: str, text: str) -> int:
        try:
            parsed = time.strptime(prefix, "%Y%m%d-%H:%M:%S")
        except ValueError:
            raise BadTransactTime(f"TransactTime(60) {text[:40]!r} is not YYYYMMDD-HH:MM:SS[.fff]") from None
        return calendar.timegm(parsed) * 1_000_000_000


class LagHistogram:
    """Counts of lags (ns) in fixed log-spaced buckets; O(log buckets) per sample, fixed memory.

    A negative lag (the monitor's clock behind the exchange's, or TransactTime rounded up)
    counts in the lowest bucket and in ``negative``: it is a finding about clocks, not a
    speed."""

    __slots__ = ("_bounds", "_counts", "max_ns", "n", "negative", "sum_ns")

    def __init__(self) -> None:
        self._bounds = _fine_bounds_ns()
        self._counts = [0] * (len(self._bounds) + 1)  # the last: beyond the highest bound
        self.n = 0
        self.sum_ns = 0
        self.max_ns = 0
        self.negative = 0

    def observe(self, lag_ns: int) -> None:
        if lag_ns < 0:
            self.negative += 1
            lag_ns = 0
        self._counts[bisect_left(self._bounds, lag_ns)] += 1
        self.n += 1
        self.sum_ns += lag_ns
        if lag_ns > self.max_ns:
            self.max_ns = lag_ns

    def quantile_s(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (the exact maximum when that is lower)."""
        if self.n == 0:
            return None
        rank = max(1, int(q * self.n + 0.999999))
        seen = 0
        for i, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                upper = self._bounds[i] if i < len(self._bounds) else self.max_ns
                return min(upper, self.max_ns) / 1e9
        return self.max_ns / 1e9  # pragma: no cover - the counts add up to n

    def summary(self) -> dict[str, Any]:
        """``{"n", "p50", "p99", "max"}`` in seconds; None for each figure while n is 0."""
        if self.n == 0:
            return {"n": 0, "p50": None, "p99": None, "max": None}
        return {"n": self.n, "p50": self.quantile_s(0.50), "p99": self.quantile_s(0.99), "max": self.max_ns / 1e9}

    def metric(self, name: str, documentation: str) -> Metric:
        """A Prometheus histogram of the same counts (cumulative, at the conventional bounds)."""
        buckets: list[tuple[str, float]] = []
        cumulative, i = 0, 0
        bounds, counts = self._bounds, self._counts
        for bound_s in PROMETHEUS_BOUNDS_S:
            bound_ns = round(bound_s * 1e9)
            while i < len(bounds) and bounds[i] <= bound_ns:
                cumulative += counts[i]
                i += 1
            buckets.append((repr(bound_s), cumulative))
        buckets.append(("+Inf", self.n))
        family = HistogramMetricFamily(name, documentation)
        family.add_metric([], buckets, sum_value=self.sum_ns / 1e9)
        return family

    def metrics(self, name: str, documentation: str) -> Iterator[Metric]:
        yield self.metric(name, documentation)
