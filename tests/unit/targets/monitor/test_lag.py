"""Drop-copy lag: TransactTime(60) read at any precision, a fixed-size histogram of lags."""
import calendar
import time

import pytest

from powerpeg.targets.monitor.lag import BadTransactTime, LagHistogram, TransactClock

MS = 1_000_000
EPOCH_2026 = calendar.timegm(time.strptime("20260102-03:04:05", "%Y%m%d-%H:%M:%S")) * 1_000_000_000


@pytest.mark.parametrize(("text", "ns"), [
    ("20260102-03:04:05", EPOCH_2026),
    ("20260102-03:04:05.123", EPOCH_2026 + 123 * MS),
    ("20260102-03:04:05.123456", EPOCH_2026 + 123_456_000),
    ("20260102-03:04:05.123456789", EPOCH_2026 + 123_456_789),
])
def test_transact_time_is_read_at_the_precision_written(text: str, ns: int) -> None:
    """Seconds, milliseconds, microseconds and nanoseconds all become ns since the epoch."""
    assert ns == TransactClock().ns(text)


def test_the_cached_seconds_follow_the_clock() -> None:
    """A second later the cached prefix is replaced, not reused."""
    clock = TransactClock()
    first = clock.ns("20260102-03:04:05.999")
    assert 1 * MS == clock.ns("20260102-03:04:06.000") - first


@pytest.mark.parametrize("text", ["2026-01-02 03:04:05", "20260102-03:04:05.", "20260102-03:04:05.12x",
                                  "20260102-03:04:05.1234567890", "20261302-03:04:05.000", ""])
def test_a_malformed_transact_time_is_refused_naming_it(text: str) -> None:
    """Anything but YYYYMMDD-HH:MM:SS[.f{1,9}] raises BadTransactTime quoting the value."""
    with pytest.raises(BadTransactTime, match="TransactTime"):
        TransactClock().ns(text)


def test_an_empty_histogram_has_no_percentiles() -> None:
    """n = 0 gives null p50, p99 and max (the contract of GET /measurement/dropcopy)."""
    assert {"n": 0, "p50": None, "p99": None, "max": None} == LagHistogram().summary()


def test_percentiles_are_within_a_bucket_of_the_exact_ones() -> None:
    """1..1000 ms: p50 near 500 ms, p99 near 990 ms (buckets 6 % wide), max exact."""
    hist = LagHistogram()
    for ms in range(1, 1001):
        hist.observe(ms * MS)
    summary = hist.summary()
    assert (1000, True, True, 1.0) == (summary["n"], 0.500 <= summary["p50"] <= 0.500 * 1.07,
                                       0.990 <= summary["p99"] <= 0.990 * 1.07, summary["max"])


def test_a_percentile_never_exceeds_the_maximum() -> None:
    """One sample of 1.234 ms reads as 1.234 ms at every percentile, not its bucket's bound."""
    hist = LagHistogram()
    hist.observe(1_234_000)
    assert (0.001234, 0.001234) == (hist.quantile_s(0.5), hist.quantile_s(0.99))


def test_negative_lags_are_counted_apart() -> None:
    """A report stamped after its receipt (clocks apart) counts as 0 and in ``negative``."""
    hist = LagHistogram()
    hist.observe(-5 * MS)
    hist.observe(2 * MS)
    assert (2, 1, 0.0) == (hist.n, hist.negative, hist.quantile_s(0.01))


def test_memory_does_not_grow_with_samples() -> None:
    """A million samples leave the histogram as big as it was."""
    hist = LagHistogram()
    before = len(hist._counts)
    for i in range(1_000_000):
        hist.observe(i * 997)
    assert (before, 1_000_000) == (len(hist._counts), hist.n)


def test_prometheus_buckets_are_cumulative_at_the_conventional_bounds() -> None:
    """0.3 ms, 0.7 ms, 3 ms and 7 s land under le=0.0005, 0.001, 0.005 and 10 (cumulative), +Inf = n."""
    hist = LagHistogram()
    for ns in (300_000, 700_000, 3 * MS, 7_000 * MS):
        hist.observe(ns)
    samples = {s.labels["le"]: s.value for s in hist.metric("lag", "doc").samples if s.name == "lag_bucket"}
    assert (1, 2, 3, 3, 4, 4) == (samples["0.0005"], samples["0.001"], samples["0.005"], samples["5.0"],
                                  samples["10.0"], samples["+Inf"])
