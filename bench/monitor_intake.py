"""The monitor's drop-copy intake on one core: reports/s through the real path.

Pre-encoded FIX ExecutionReports (the exchange's own body format, its
``exec_report_body``, plus the drop copy's 115) are fed in socket-sized
chunks to a logged-on drop-copy :class:`FixSession` — framing, CheckSum,
header and sequence checks, :class:`DropCopyApp`, ``Execution`` decoding,
the book and every limit check, with JSON logging to /dev/null — on one
event loop, no network. The stream is what a runaway's open looks like to a
drop copy: parents registered as routers register them, each child an ack
then one or two fills, some cancels, and a share of runaway parents whose
children keep coming past the parent's quantity (every such fill is an
over-fill breach, as in the Knight replay). Goal (issue 13): ≥ 50,000
reports/s.

``--memory`` instead streams many million reports (parents retired as
they finish) and prints RSS and the tracemalloc total every so often: flat
after warm-up is the goal (issue 11, group 3).

    python -m bench.monitor_intake [--runs 5] [--reports 200000] [--profile]
    python -m bench.monitor_intake --memory --reports 5000000
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import random
import resource
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from powerpeg.targets.exchange.book import Order
from powerpeg.targets.exchange.reports import EXEC_CANCELED, EXEC_NEW, EXEC_TRADE, exec_report_body
from powerpeg.targets.fix.codec import frame_body, utc_timestamp
from powerpeg.targets.fix.session import FixSession
from powerpeg.targets.fix.store import MemoryStore
from powerpeg.targets.monitor.actions import Actions
from powerpeg.targets.monitor.book import Parent
from powerpeg.targets.monitor.config import MonitorConfig
from powerpeg.targets.monitor.core import Monitor
from powerpeg.targets.monitor.dropcopy import DropCopyApp
from powerpeg.targets.monitor.limits import Limits

CHUNK = 64 * 1024  # what one socket read hands data_received under a backlog (asyncio reads up to 256 KiB)
SYMBOLS = [f"SYM{i:03d}" for i in range(100)]
ROUTERS = [f"ROUTER-{i}" for i in range(1, 9)]


class NullTransport:
    """What the session writes (its flushes) goes nowhere: the bench measures intake."""

    def write(self, data: bytes) -> None:
        pass

    def writelines(self, data: list[bytes]) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _log(devnull: Any) -> Any:
    """The services' JSON logging, into /dev/null: what a log call costs is part of intake."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(),
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.PrintLoggerFactory(file=devnull),
        cache_logger_on_first_use=True,
    )
    return structlog.get_logger()


def stream(parents: int, seed: int, runaway_share: float, first_parent: int = 0,
           ) -> Iterator[tuple[str | None, Parent | None]]:
    """(ER body, None) per report and (None, Parent) where a router would register a parent.

    A parent of 1,000 shares is sent as 100-share children; each child is
    acked, then filled in one or two fills or partly filled and cancelled.
    A runaway parent (Power Peg: fills not counted) sends three times its
    quantity."""
    rng = random.Random(seed)
    exec_seq = 0
    for p in range(first_parent, first_parent + parents):
        router = ROUTERS[p % len(ROUTERS)]
        parent_id = f"{router.lower()}-{p:06d}"
        symbol = SYMBOLS[rng.randrange(len(SYMBOLS))]
        side = 1 if rng.random() < 0.5 else 2
        qty = 1000
        yield None, Parent(parent_id, router.lower(), symbol, "buy" if side == 1 else "sell", qty, 0)
        children = 30 if rng.random() < runaway_share else 10
        for c in range(children):
            price = 10_000 + rng.randrange(-50, 50)
            order = Order(f"O{p}.{c}", f"{parent_id}.{c}", router, "KNIGHT", symbol, side, 100, price)
            now = utc_timestamp()
            exec_seq += 1
            yield exec_report_body(order, f"E{exec_seq}", EXEC_NEW, "0", 0, None, None, None, None, now) \
                + f"115={router}\x01", None
            first = 100 if rng.random() < 0.6 else 40
            for fill_qty in (first, 100 - first) if first < 100 else (100,):
                order.cum_qty += fill_qty
                order.leaves -= fill_qty
                order.notional += fill_qty * price
                exec_seq += 1
                if rng.random() < 0.1 and order.leaves:
                    yield exec_report_body(order, f"E{exec_seq}", EXEC_TRADE, "1", fill_qty, price, None, None,
                                           None, now) + f"115={router}\x01", None
                    exec_seq += 1
                    order.leaves = 0
                    yield exec_report_body(order, f"E{exec_seq}", EXEC_CANCELED, "4", 0, None, None, None, None,
                                           now) + f"115={router}\x01", None
                    break
                status = "2" if order.leaves == 0 else "1"
                yield exec_report_body(order, f"E{exec_seq}", EXEC_TRADE, status, fill_qty, price, None, None,
                                       None, now) + f"115={router}\x01", None


def encode(items: list[tuple[str | None, Parent | None]], first_seq: int,
           ) -> tuple[list[tuple[bytes, list[Parent]]], int, int]:
    """Frame every report as the exchange's drop-copy session would and cut the bytes into
    socket-sized chunks; each chunk carries the parents registered before it. Returns the
    chunks, the number of reports and the next MsgSeqNum."""
    chunks: list[tuple[bytes, list[Parent]]] = []
    buf: list[bytes] = []
    size = 0
    parents: list[Parent] = []
    seq = first_seq
    sending = utc_timestamp()
    reports = 0
    for body, parent in items:
        if parent is not None:
            parents.append(parent)
            continue
        assert body is not None
        msg = frame_body(f"35=8\x0149=EXCHANGE\x0156=KNIGHT\x0134={seq}\x0152={sending}\x01{body}")
        seq += 1
        reports += 1
        buf.append(msg)
        size += len(msg)
        if size >= CHUNK:
            chunks.append((b"".join(buf), parents))
            buf, size, parents = [], 0, []
    if buf:
        chunks.append((b"".join(buf), parents))
    return chunks, reports, seq


def make_session(monitor: Monitor) -> FixSession:
    session = FixSession(DropCopyApp(monitor), comp_id="KNIGHT", role="initiator", target_comp_id="EXCHANGE",
                         heartbeat_s=30, log=monitor.log, store=MemoryStore())
    session.connection_made(NullTransport())  # type: ignore[arg-type]
    session.peer_comp_id = "EXCHANGE"
    session.logged_on = True  # as after the Logon exchange; the bench starts at the first report
    return session


def end_session(session: FixSession) -> None:
    session.abort()
    session.connection_lost(None)  # stops its heartbeat task


def make_monitor(log: Any) -> Monitor:
    """The monitor as a fleet runs it (over-fill always on, the usual limits), but with nowhere
    to page or kill: the bench measures intake, not the network."""
    cfg = MonitorConfig(limits=Limits(max_gross_notional=1e12, max_net_notional=1e12, max_position=10**9,
                                      max_child_rate=10**9, max_fill_rate=10**9, unregistered_grace_ms=1000))
    actions = Actions(token="bench", source="monitor", alerts=None, exchange_admin=None, routers=[])
    return Monitor(cfg, actions=actions, log=log)


async def feed(session: FixSession, monitor: Monitor, chunks: list[tuple[bytes, list[Parent]]]) -> None:
    for data, parents in chunks:
        for parent in parents:
            if parent.parent_id not in monitor.book.parents:
                monitor.register_parent(parent)
        session.data_received(data)
        await asyncio.sleep(0)  # the loop's turn: the session's flush, timers, as between socket reads


async def one_run(reports_target: int, seed: int, runaway_share: float, profile: cProfile.Profile | None,
                  devnull: Any) -> tuple[float, float]:
    """(reports per CPU-second of this process, reports per wall second) over one stream.

    CPU time is the figure "on one core" means: on a shared machine the wall-clock rate says
    as much about the neighbours as about the monitor; both are printed."""
    items = list(stream(max(1, reports_target // 21), seed, runaway_share))
    chunks, reports, _ = encode(items, 1)
    monitor = make_monitor(_log(devnull))
    session = make_session(monitor)
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    await feed(session, monitor, chunks)
    if profile is not None:
        profile.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert monitor.book.messages == reports, (monitor.book.messages, reports)
    end_session(session)
    await monitor.drain()
    await monitor.actions.close()
    return reports / cpu, reports / elapsed


def rss_mib() -> float:
    """Resident set size now (not the peak), from /proc."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * resource.getpagesize() / 2**20


async def memory_run(total: int, seed: int, runaway_share: float, devnull: Any, every: int,
                     traced: bool) -> dict[str, Any]:
    """Stream ``total`` reports in batches (fresh parents each), sampling RSS (and with ``traced``
    what tracemalloc holds, at about a third of the speed)."""
    monitor = make_monitor(_log(devnull))
    # A day compressed: the monitor's clock runs at 1 ms per report (1,000 reports/s, 50 parents/s as in
    # issue 11), so retention and rate windows see hours pass in minutes.
    day = iter(range(time.time_ns(), 2**62, 1_000_000))
    monitor.clock = day.__next__
    session = make_session(monitor)
    if traced:
        tracemalloc.start()
    samples: list[tuple[int, float, float]] = []
    done, seq, parent_no, batch = 0, 1, 0, 0
    started = time.perf_counter()
    while done < total:
        items = list(stream(every // 21, seed + batch, runaway_share, first_parent=parent_no))
        parent_no += every // 21
        batch += 1
        chunks, reports, seq = encode(items, seq)
        del items
        await feed(session, monitor, chunks)
        del chunks
        done += reports
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] if traced else 0
        samples.append((done, rss_mib(), held / 2**20))
        print(f"  {done:>10,} reports  rss={samples[-1][1]:7.1f} MiB  traced={samples[-1][2]:7.1f} MiB  "
              f"parents={len(monitor.book.parents):,}  {done / (time.perf_counter() - started):,.0f}/s", flush=True)
    end_session(session)
    if traced:
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        for stat in snapshot.statistics("lineno")[:8]:
            print(f"  {stat}")
    await monitor.drain()
    await monitor.actions.close()
    warm = samples[len(samples) // 4]
    last = samples[-1]
    return {"reports": done, "rss_mib_after_warmup": warm[1], "rss_mib_end": last[1],
            "traced_mib_after_warmup": warm[2], "traced_mib_end": last[2]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_intake")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--runaway-share", type=float, default=0.05, help="share of parents that run away")
    parser.add_argument("--profile", action="store_true", help="cProfile one more run, print the top functions")
    parser.add_argument("--memory", action="store_true", help="stream --reports through one monitor, sample memory")
    parser.add_argument("--every", type=int, default=250_000, help="--memory: reports between samples")
    parser.add_argument("--tracemalloc", action="store_true", help="--memory: sample tracemalloc's total too")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the services run asyncio's own loop then, and so does this
        runner = asyncio.run
    else:
        runner = uvloop.run
    with open("/dev/null", "w") as devnull:
        if args.memory:
            result = runner(memory_run(args.reports, 7, args.runaway_share, devnull, args.every,
                                           args.tracemalloc))
            print(f"monitor_intake memory: {result}")
            return result
        runs = [runner(one_run(args.reports, seed, args.runaway_share, None, devnull)) for seed in range(args.runs)]
        if args.profile:
            profile = cProfile.Profile()
            runner(one_run(args.reports, 99, args.runaway_share, profile, devnull))
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
    cpu = [c for c, _ in runs]
    wall = [w for _, w in runs]
    result = {"monitor_intake_reports_per_cpu_s_median": statistics.median(cpu), "cpu_min": min(cpu),
              "cpu_max": max(cpu), "wall_median": statistics.median(wall)}
    print(f"monitor_intake reports per CPU-second median={result['monitor_intake_reports_per_cpu_s_median']:,.0f} "
          f"(min {min(cpu):,.0f}, max {max(cpu):,.0f}); per wall second median={statistics.median(wall):,.0f}; "
          f"runs={args.runs} reports/run={args.reports:,} runaway_share={args.runaway_share} "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return result


if __name__ == "__main__":
    main()
