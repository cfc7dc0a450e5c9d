"""Soak: the local fleet under steady flow for a long while; is every component's memory flat?

Stands up the local fleet as the other fleet benches do (8 routers on v2, the
monitor and the alert sink, no Toxiproxy), then sends parent orders at a
fixed rate (default 50/s, round robin over the routers, drawn by the load's
own ``Broker``: the same symbols, sides, sizes and limits Locust sends) for
``--minutes`` (default 60). Every ``--sample-s`` (30 s) it reads the resident
set size of every process of the fleet (``/proc/<pid>/status`` VmRSS) and the
size of the exchange's journal (all segments) and FIX stores.

At the end, per component: RSS at the end of the warm-up and at the end, and
the slope in MiB/min of an ordinary least-squares line through the samples
after the warm-up (``--warmup-min``, default 15: the bounded memories fill
in the first minutes at this rate, the exchange's ORDER_MEMORY in about 3,
the routers' FIX MemoryStores (20,000 messages) in about 13; the slope is
what is left once they have). Also the journal's growth in
bytes/hour and the FIX stores'. Exit 1 when a component's slope exceeds
``--max-slope`` (0.5 MiB/min, issue 11), 3 when the fleet could not be stood
up or the flow could not be kept (more than 1% of parents refused or failed).

``--trading-day``: a 6.5-hour trading day compressed by rate: the day's
parents at 50/s (1,170,000) sent at ``--rate`` (default 250/s: 78 minutes),
so every per-order structure sees a whole day's orders; the slopes are then
per wall minute at 5x the flow, and each component's growth is also given
per 100,000 parents (the day-independent figure). The exchange's clock is
not sped up: the market makers' random walk and the heartbeats run in real
time, so their share of the day is 1/5 of a real one.

    python -m bench.soak [--minutes 60] [--rate 50] [--warmup-min 10] [--max-slope 0.5]
    python -m bench.soak --trading-day [--rate 250]

The machine is shared: each sample is one reading, and a slope through 100
readings is little moved by one noisy one, but a fleet that starves for CPU
can queue (the refused/failed parents and the flow actually sent are printed).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.harness.load.config import LoadConfig, RouterTarget, SymbolRef
from powerpeg.harness.load.orders import Broker
from powerpeg.harness.state import FleetState
from powerpeg.targets.exchange.journal import segments

MIB = 1 << 20
TRADING_DAY_S = 6.5 * 3600
DAY_RATE = 50.0  # parents/s of the real day the --trading-day mode compresses
IN_FLIGHT = 64  # parents posted and not answered yet, at most (open loop below this)
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
SKIP = ("launcher", "toxiproxy")  # processes of the harness, not components under test


@dataclass
class Flow:
    """What the sender did: parents sent, answered 202, refused (4xx/5xx) or failed (no answer)."""

    sent: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class Samples:
    t_min: list[float] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    rss_mib: dict[str, list[float]] = field(default_factory=dict)
    journal_bytes: list[int] = field(default_factory=list)
    store_bytes: list[int] = field(default_factory=list)


def rss_mib(pid: int) -> float | None:
    """VmRSS of a process in MiB, None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def slope(xs: list[float], ys: list[float]) -> float:
    """Ordinary least squares: the slope of the best line through (xs, ys); 0 with fewer than 2 points."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


async def send(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], flow: Flow, gate: asyncio.Semaphore,
) -> None:
    try:
        async with http.post(url, json=body, timeout=HTTP_TIMEOUT) as resp:
            await resp.read()
            if resp.status == 202:
                flow.accepted += 1
            else:
                flow.refused += 1
                flow.error(f"HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        flow.failed += 1
        flow.error(type(exc).__name__)
    finally:
        gate.release()


async def pump(http: aiohttp.ClientSession, broker: Broker, rate: float, count: int, flow: Flow) -> None:
    """``count`` parents at ``rate``/s on a fixed schedule (a late one goes at once, the next ones keep
    the schedule: the mean rate holds while the fleet keeps up)."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    tasks: set[asyncio.Task] = set()
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        order = broker.next_order(rlp_share=0.0)
        flow.sent += 1
        task = asyncio.create_task(send(http, order.router.orders, order.body(), flow, gate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)


PROGRESS_EVERY = 10  # samples between progress lines (5 minutes at the default 30 s)


async def sample_loop(backend: LocalBackend, samples: Samples, flow: Flow, every_s: float, t0: float,
                      stop: asyncio.Event) -> None:
    ctx = backend.ctx
    state = FleetState.load(ctx.state_file)
    pids = {p.component: p.ident.pid for p in state.processes if p.component not in SKIP}
    while True:
        samples.t_min.append((time.monotonic() - t0) / 60)
        samples.parents.append(flow.sent)
        for component, pid in pids.items():
            value = rss_mib(pid)
            samples.rss_mib.setdefault(component, []).append(value if value is not None else float("nan"))
        samples.journal_bytes.append(sum(p.stat().st_size for p in segments(ctx.journal_path)))
        samples.store_bytes.append(tree_bytes(ctx.state_dir / "fixstore"))
        if len(samples.t_min) % PROGRESS_EVERY == 1:  # a long run shows it is moving: RSS now, not a slope yet
            rss = {c: v[-1] for c, v in samples.rss_mib.items()}
            print(f"soak: +{samples.t_min[-1]:.1f} min, {flow.sent:,} parents sent, RSS MiB: exchange "
                  f"{rss.get('exchange', float('nan')):.1f}, monitor {rss.get('monitor', float('nan')):.1f}, "
                  f"routers max {max((v for c, v in rss.items() if c.startswith('router')), default=float('nan')):.1f}",
                  flush=True)
        try:
            await asyncio.wait_for(stop.wait(), every_s)
            return
        except TimeoutError:
            continue


def load_config(topo: Any, symbols: list[dict[str, Any]], home: Path, run_id: str) -> LoadConfig:
    """The load's config as the harness writes it for Locust; only what a Broker reads matters here."""
    placeholder = str(home / "unused")
    return LoadConfig(
        run_id=run_id, routers=tuple(RouterTarget(id=r.id, orders=r.orders) for r in topo.routers), token=topo.token,
        symbols=tuple(SymbolRef(symbol=s["symbol"], ref_price=s["ref_price"]) for s in symbols[:20]),
        users=1, spawn_rate=1, wait=0, open_at_ns=0, run_time=1, max_parents_per_user=10**9,
        parents_dir=placeholder, control_file=placeholder, ready_file=placeholder, final_stats_file=placeholder)


def report(samples: Samples, flow: Flow, *, warmup_min: float, max_slope: float, wall_min: float,
           per_parents: bool) -> tuple[dict[str, Any], bool]:
    after = [i for i, t in enumerate(samples.t_min) if t >= warmup_min]
    if len(after) < 3:  # too short a run for its warm-up: use its second half
        after = list(range(len(samples.t_min) // 2, len(samples.t_min)))
    xs = [samples.t_min[i] for i in after]
    result: dict[str, Any] = {"components": {}, "regression": "ordinary least squares of RSS on wall minutes, "
                              f"samples from minute {xs[0]:.1f} to {xs[-1]:.1f} ({len(xs)} samples)" if xs else "none"}
    ok = True
    print(f"\nsoak: {wall_min:.1f} min, parents sent {flow.sent:,} ({flow.sent / max(wall_min * 60, 1e-9):.1f}/s), "
          f"accepted {flow.accepted:,}, refused {flow.refused:,}, failed {flow.failed:,} {flow.errors or ''}")
    print(f"slopes: {result['regression']}; limit {max_slope} MiB/min")
    print(f"{'component':<12} {'RSS start':>10} {'RSS end':>9} {'MiB/min':>8}"
          + ("  KiB/100k parents" if per_parents else ""))
    for component, values in sorted(samples.rss_mib.items()):
        ys = [values[i] for i in after]
        if any(v != v for v in ys):  # NaN: the process went away
            print(f"{component:<12} process ended during the soak")
            result["components"][component] = {"ended": True}
            ok = False
            continue
        s = slope(xs, ys)
        per = slope([samples.parents[i] for i in after], ys) * 100_000 * 1024 if per_parents else None
        result["components"][component] = {"rss_start_mib": round(ys[0], 1), "rss_end_mib": round(ys[-1], 1),
                                           "slope_mib_per_min": round(s, 3)}
        if per is not None:
            result["components"][component]["kib_per_100k_parents"] = round(per, 1)
        flag = "  FAIL" if s > max_slope else ""
        ok = ok and s <= max_slope
        print(f"{component:<12} {ys[0]:>10.1f} {ys[-1]:>9.1f} {s:>8.3f}"
              + (f"  {per:>17.1f}" if per is not None else "") + flag)
    hours = (samples.t_min[-1] - samples.t_min[0]) / 60 if len(samples.t_min) > 1 else 0
    if hours > 0:
        journal_rate = (samples.journal_bytes[-1] - samples.journal_bytes[0]) / hours
        store_rate = (samples.store_bytes[-1] - samples.store_bytes[0]) / hours
        result["journal_bytes_per_hour"] = round(journal_rate)
        result["fix_store_bytes_per_hour"] = round(store_rate)
        print(f"journal: {samples.journal_bytes[-1] / MIB:,.1f} MiB at the end, {journal_rate / MIB:,.0f} MiB/hour; "
              f"FIX stores {samples.store_bytes[-1] / MIB:,.1f} MiB, {store_rate / MIB:,.0f} MiB/hour")
    result["flow"] = {"sent": flow.sent, "accepted": flow.accepted, "refused": flow.refused, "failed": flow.failed}
    return result, ok


async def soak(minutes: float, rate: float, sample_s: float, home: Path, seed: int) -> tuple[Samples, Flow, float]:
    ctx = RunContext.create(home=home)
    backend = LocalBackend(ctx)
    topo = await backend.up(FleetSpec(routers=8, toxiproxy=False))
    samples, flow = Samples(), Flow()
    try:
        headers = {"Authorization": f"Bearer {topo.token}"}
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
            async with http.get(f"{topo.exchange.admin}/symbols") as resp:
                symbols = await resp.json()
            broker = Broker(load_config(topo, symbols, home, ctx.run_id).model_copy(update={"seed": seed}), 0)
            stop = asyncio.Event()
            t0 = time.monotonic()
            sampler = asyncio.create_task(sample_loop(backend, samples, flow, sample_s, t0, stop))
            await pump(http, broker, rate, int(minutes * 60 * rate), flow)
            wall_min = (time.monotonic() - t0) / 60
            stop.set()
            await sampler
        return samples, flow, wall_min
    finally:
        await backend.down()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="how long the flow lasts (default 60)")
    p.add_argument("--rate", type=float, default=None, help="parents/s (default 50; 250 with --trading-day)")
    p.add_argument("--warmup-min", type=float, default=15.0, help="minutes left out of the slopes (default 15)")
    p.add_argument("--sample-s", type=float, default=30.0, help="seconds between RSS samples (default 30)")
    p.add_argument("--max-slope", type=float, default=0.5, help="MiB/min a component may grow (default 0.5)")
    p.add_argument("--trading-day", action="store_true",
                   help="a 6.5-hour day's parents at 50/s, sent at --rate: compressed by rate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    rate = args.rate if args.rate is not None else (250.0 if args.trading_day else 50.0)
    minutes = TRADING_DAY_S * DAY_RATE / rate / 60 if args.trading_day else args.minutes
    for name, value in (("--rate", rate), ("--minutes", minutes), ("--sample-s", args.sample_s)):
        if not 0 < value < 1e6:  # NaN fails this too
            p.error(f"{name} must be > 0, got {value}")
    if not 0 <= args.warmup_min < minutes:
        p.error(f"--warmup-min must be >= 0 and less than the soak ({minutes:.1f} min), got {args.warmup_min}")
    print(f"soak: {'trading day, ' if args.trading_day else ''}{minutes:.1f} min at {rate:g} parents/s "
          f"({int(minutes * 60 * rate):,} parents), RSS every {args.sample_s:g} s, warm-up {args.warmup_min:g} min",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="powerpeg-soak-") as home:
        try:
            samples, flow, wall_min = asyncio.run(soak(minutes, rate, args.sample_s, Path(home), args.seed))
        except Exception as exc:  # noqa: BLE001 - the fleet or the flow broke: say so and exit 3, not a traceback
            print(f"soak: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
            sys.exit(3)
    result, ok = report(samples, flow, warmup_min=args.warmup_min, max_slope=args.max_slope, wall_min=wall_min,
                        per_parents=args.trading_day)
    result.update(mode="trading-day" if args.trading_day else "soak", rate=rate, minutes=minutes,
                  samples={"t_min": samples.t_min, "parents": samples.parents, "rss_mib": samples.rss_mib,
                           "journal_bytes": samples.journal_bytes, "store_bytes": samples.store_bytes})
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    if flow.sent and (flow.refused + flow.failed) > 0.01 * flow.sent:
        print(f"soak: the flow was not kept: {flow.refused + flow.failed:,} of {flow.sent:,} parents refused or failed",
              file=sys.stderr)
        sys.exit(3)
    if not ok:
        print(f"soak: FAILED: a component grew faster than {args.max_slope} MiB/min after the warm-up", file=sys.stderr)
        sys.exit(1)
    return {k: v for k, v in result.items() if k != "samples"}


if __name__ == "__main__":
    main()
