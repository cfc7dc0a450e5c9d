"""targets/common/looplag.py: the loop-lag histogram, the sampler, and GET /measurement/loop on every
service's admin site."""
from __future__ import annotations

import asyncio
import contextvars
import time

import aiohttp
import pytest
from aiohttp import web

from powerpeg.targets.common.looplag import BOUNDS, GROWTH, IDENTITY, LagHistogram, LoopLag
from powerpeg.targets.common.service import AdminSite


def test_an_empty_histogram_has_no_quantiles() -> None:
    """Nothing sampled: n 0 and every figure null (never a made-up 0)."""
    assert {"n": 0, "p50": None, "p99": None, "max": None} == LagHistogram().summary()


def test_a_quantile_is_its_buckets_upper_bound_never_above_the_max() -> None:
    """99 samples of 1 ms and one of 300 ms: p50 within a bucket above 1 ms, p99 too, max exact."""
    hist = LagHistogram()
    for _ in range(99):
        hist.record(0.001)
    hist.record(0.3)
    p50, p99, p100 = hist.quantile(0.5), hist.quantile(0.99), hist.quantile(1.0)
    assert p50 is not None and p99 is not None
    assert (True, True, 0.3, 0.3) == (0.001 <= p50 < 0.001 * GROWTH, p50 == p99, p100, hist.max)


def test_a_stall_also_records_the_samples_it_swallowed() -> None:
    """One wake-up 105 ms late at a 10 ms interval stands for 11 samples: 105, 95, ..., 5 ms."""
    hist = LagHistogram()
    hist.record(0.105, interval_s=0.010)
    p50 = hist.quantile(0.5)
    assert p50 is not None
    assert (11, 0.105, True) == (hist.n, hist.max, 0.055 <= p50 < 0.055 * GROWTH)


def test_a_negative_lag_counts_as_none() -> None:
    """A timer that fired early is no lag at all."""
    hist = LagHistogram()
    hist.record(-0.002)
    assert (1, 0.0, 0.0) == (hist.n, hist.max, hist.quantile(0.5))


def test_a_lag_past_the_last_bucket_keeps_its_max() -> None:
    """Beyond the last bound the sample lands in the last bucket; max still says how long it was."""
    hist = LagHistogram()
    hist.record(BOUNDS[-1] * 10)
    assert (BOUNDS[-1] * 10, hist.max) == (hist.quantile(1.0), BOUNDS[-1] * 10)


@pytest.mark.parametrize("q", [0, -0.5, 1.5])
def test_a_quantile_outside_0_1_is_refused(q: float) -> None:
    """A bad quantile is an error naming it, not a silent answer."""
    with pytest.raises(ValueError, match="quantile must be in"):
        LagHistogram().quantile(q)


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopLag(component="x", instance="x", interval_s=0)


async def test_the_sampler_sees_a_blocked_loop() -> None:
    """A callback that holds the loop for 200 ms shows as a lag of at least most of that."""
    lag = LoopLag(component="exchange", instance="exchange", interval_s=0.005)
    lag.start()
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.2)  # the blocking call under test: the loop cannot run the sampler meanwhile
        await asyncio.sleep(0.02)
    finally:
        await lag.stop()
    summary = lag.view()["loop_lag_s"]
    assert summary["max"] >= 0.15 and summary["n"] >= 30, summary


async def test_stop_is_idempotent_and_start_twice_runs_one_task() -> None:
    lag = LoopLag(component="c", instance="i")
    lag.start()
    first = lag._task
    lag.start()
    assert first is lag._task
    await lag.stop()
    await lag.stop()
    assert lag._task is None


async def _serve_site() -> AdminSite:
    site = AdminSite(web.Application(), "127.0.0.1", 0)
    await site.start()
    return site


async def test_every_admin_site_serves_its_loop_lag_without_a_token() -> None:
    """GET /measurement/loop needs no token and names the process as serve_main declared it."""
    ctx = contextvars.copy_context()
    ctx.run(IDENTITY.set, ("router", "router-3"))
    site = await asyncio.get_running_loop().create_task(_serve_site(), context=ctx)
    try:
        await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{site.port}/measurement/loop") as resp:
            body = await resp.json()
            status = resp.status
    finally:
        await site.stop()
    assert (200, "router", "router-3") == (status, body["component"], body["instance"])
    assert body["loop_lag_s"]["n"] > 0 and set(body["loop_lag_s"]) == {"n", "p50", "p99", "max"}


async def test_the_site_stops_its_sampler() -> None:
    """Everything a site starts, it stops: no sampler task left once it is stopped."""
    site = await _serve_site()
    await site.stop()
    assert site.looplag._task is None
