"""Exchange throughput: pipelined NewOrderSingles on one FIX session.

Starts ``python -m powerpeg.targets.exchange`` as a real subprocess, logs on with a
raw asyncio client, writes N pre-encoded orders back to back and times from
the first byte written to the last report read. Three variants:

- resting, no liquidity: non-crossing limits, time to the last ack (ER new);
- resting, with market makers quoting all 154 books in the background;
- crossing, with market makers: market orders that each fill against the
  makers; time until every order has its final report, reported as execs/s;
- kill during a burst: the resting burst again, and meanwhile an admin
  ``POST /kill`` (of another session: the burst goes on) every 20 ms, timed
  from request to answer: how long the kill switch waits behind the order
  flow on the one event loop (median and max per run, in ms);
- drop copy during a crossing burst: the crossing variant with the firm's
  drop copy logged on; each copied report's lag from its TransactTime (60,
  stamped by the exchange, milliseconds) to its arrival at the listener
  (p50 and p99 over the run, in ms: the floor a drop-copy monitor sees).

Each variant runs ``--repeats`` times (a fresh session each time) and the
median is printed as one plain line. Bounded: N orders, a timeout per run.

The exchange keeps its FIX message store on (files under the run's
directory, as in a fleet): every report is written to the store before the
socket. ``--store memory`` runs it with the in-memory store instead, to
measure what the files cost.

    python -m bench.exchange_throughput [--orders 50000] [--repeats 5] [--store file|memory]
"""
from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from powerpeg.targets.fix.codec import encode

COMP = "EXCHANGE"
RUN_TIMEOUT_S = 60.0
KILL_EVERY_S = 0.02
EXCHANGE_ARGS: list[str] = []  # --exchange-arg: extra flags of the exchange (A/B of its settings)
TERMINAL = (b"\x0139=2\x01", b"\x0139=4\x01", b"\x0139=8\x01")


def start_exchange(workdir: Path, *, liquidity: bool, store: str = "file") -> tuple[subprocess.Popen, dict]:
    ready = workdir / f"ready-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "powerpeg.targets.exchange", "--ready-file", str(ready),
           "--journal", str(workdir / f"journal-{ready.stem}.ndjson"), *EXCHANGE_ARGS]
    if store == "memory":
        cmd += ["--store", "memory"]
    if not liquidity:
        cmd.append("--no-liquidity")
    env = {**os.environ, "POWERPEG_TOKEN": "bench", "POWERPEG_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("exchange did not start")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def symbols(admin_port: int) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/symbols", timeout=5) as resp:
        return [s["symbol"] for s in json.load(resp)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (Linux /proc): what the exchange
    spent, separate from the client on the other core and from idle waits."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def orders(comp_id: str, n: int, syms: list[str], *, crossing: bool) -> bytes:
    out = []
    for i in range(n):
        sym = syms[i % len(syms)]
        if crossing:
            fields = [(11, f"c{i}"), (55, sym), (54, 1 + (i // len(syms)) % 2), (38, 100), (40, 1),
                      (60, "20240101-00:00:00.000")]
        else:
            px = f"1.{i % 100:02d}"  # $1.00-$1.99: below every maker's bid
            fields = [(11, f"c{i}"), (1, "BENCH"), (55, sym), (54, 1), (38, 100), (40, 2), (44, px),
                      (60, "20240101-00:00:00.000")]
        out.append(encode("D", comp_id, COMP, i + 2, fields))
    return b"".join(out)


async def one_run(port: int, comp_id: str, payload: bytes, n: int, *, crossing: bool) -> tuple[float, int]:
    """Seconds from first order byte to the last needed report, and fills seen."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode("A", comp_id, COMP, 1, [(98, 0), (108, 30)]))
    first = await asyncio.wait_for(reader.read(4096), 5)
    assert b"\x0135=A\x01" in first, first
    done = 0
    fills = 0
    tail = b""
    start = time.perf_counter()
    writer.write(payload)

    async def read_all() -> None:
        nonlocal done, fills, tail
        while done < n:
            data = await reader.read(1 << 20)
            if not data:
                raise ConnectionError("exchange closed the session")
            # Markers may straddle reads: keep a short tail for counting.
            window = tail + data
            if crossing:
                done += sum(window.count(m) for m in TERMINAL) - sum(tail.count(m) for m in TERMINAL)
                fills += window.count(b"\x01150=F\x01") - tail.count(b"\x01150=F\x01")
            else:
                done += window.count(b"\x01150=0\x01") - tail.count(b"\x01150=0\x01")
            tail = window[-8:]

    await asyncio.wait_for(read_all(), RUN_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    writer.write(encode("5", comp_id, COMP, n + 2, []))
    await writer.drain()
    writer.close()
    return elapsed, fills


async def kill_run(port: int, admin_port: int, comp_id: str, payload: bytes, n: int) -> tuple[float, list[float]]:
    """The resting burst, with POST /kill every KILL_EVERY_S while it lasts: (burst seconds, kill round trips)."""
    import aiohttp

    times: list[float] = []
    done = asyncio.Event()

    async def kills() -> None:
        url = f"http://127.0.0.1:{admin_port}/kill"
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer bench"}) as http:
            await asyncio.sleep(KILL_EVERY_S)
            while not done.is_set():
                start = time.perf_counter()
                async with http.post(url, json={"session": "NOT-THE-BURST", "by": "bench"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"POST /kill -> {resp.status}")
                times.append(time.perf_counter() - start)
                await asyncio.sleep(KILL_EVERY_S)

    killer = asyncio.create_task(kills())
    try:
        elapsed, _ = await one_run(port, comp_id, payload, n, crossing=False)
    finally:
        done.set()
        await killer
    return elapsed, times


async def dropcopy_run(port: int, dc_port: int, comp_id: str, payload: bytes, n: int) -> tuple[float, list[float]]:
    """The crossing burst with the firm's drop copy listening: (burst seconds, lag of each copied report in s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", dc_port)
    writer.write(encode("A", comp_id, COMP, 1, [(98, 0), (108, 30)]))
    first = await asyncio.wait_for(reader.read(4096), 5)
    assert b"\x0135=A\x01" in first, first
    lags: list[float] = []
    stop = asyncio.Event()

    async def listen() -> None:
        tail = b""
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(reader.read(1 << 20), 0.2)
            except TimeoutError:
                continue
            if not data:
                return
            now = time.time()
            text = tail + data
            cut = text.rfind(b"\x0110=")
            cut = text.find(b"\x01", cut + 4) + 1 if cut >= 0 else 0
            tail = text[cut:]
            for at in _find_all(text[:cut], b"\x0160="):
                stamp = text[at + 4:at + 25].decode()  # YYYYMMDD-HH:MM:SS.mmm
                lags.append(now - _utc_seconds(stamp))

    listener = asyncio.create_task(listen())
    try:
        elapsed, _ = await one_run(port, comp_id, payload, n, crossing=True)
        await asyncio.sleep(0.3)  # the last copies
    finally:
        stop.set()
        await listener
        writer.close()
    return elapsed, lags


@contextlib.contextmanager
def running_exchange(workdir: Path, *, liquidity: bool, store: str = "file") -> Iterator[tuple[subprocess.Popen, dict,
                                                                                             list]]:
    """An exchange process for one variant: (process, its ready info, its symbols); stopped on the way out."""
    proc, info = start_exchange(workdir, liquidity=liquidity, store=store)
    try:
        yield proc, info, symbols(info["admin_port"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _find_all(data: bytes, needle: bytes) -> list[int]:
    out, at = [], data.find(needle)
    while at >= 0:
        out.append(at)
        at = data.find(needle, at + 1)
    return out


@functools.lru_cache(maxsize=64)
def _second(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y%m%d-%H:%M:%S"))


def _utc_seconds(stamp: str) -> float:
    """A FIX UTCTimestamp with milliseconds as Unix seconds (the second parsed once: the client is on
    the same two cores)."""
    return _second(stamp[:17]) + int(stamp[18:21]) / 1000


def dropcopy_variant(n: int, repeats: int, workdir: Path, store: str = "file") -> float:
    """Median over runs of the p99 drop-copy lag (ms) during a crossing burst."""
    with running_exchange(workdir, liquidity=True, store=store) as (proc, info, syms):
        p50s, p99s, rates = [], [], []
        for r in range(repeats):
            comp_id = f"BENCH-DC-{r}"
            payload = orders(comp_id, n, syms, crossing=True)
            elapsed, lags = asyncio.run(dropcopy_run(info["fix_port"], info["dropcopy_port"], comp_id, payload, n))
            lags.sort()
            if not lags:
                raise RuntimeError("the drop copy received no report")
            p50s.append(lags[len(lags) // 2] * 1000)
            p99s.append(lags[int(len(lags) * 0.99)] * 1000)
            rates.append(len(lags) / 2 / elapsed)  # each market order is copied twice: its new and its fill
        median = statistics.median(p99s)
        print(f"exchange_throughput dropcopy-during-burst: copied reports' lag p50 median "
              f"{statistics.median(p50s):.1f} ms, p99 median {median:.1f} ms (per-run p99s "
              f"{', '.join(f'{m:.0f}' for m in p99s)}) while the crossing burst ran at about "
              f"{statistics.median(rates):,.0f} orders/s, {repeats} runs of {n} orders; TransactTime has "
              f"millisecond resolution", flush=True)
        return median


def kill_variant(n: int, repeats: int, workdir: Path, store: str = "file") -> float:
    """Median of the per-run median kill round trip (ms) during a resting burst on one session."""
    with running_exchange(workdir, liquidity=False, store=store) as (proc, info, syms):
        medians, worst, rates = [], [], []
        for r in range(repeats):
            comp_id = f"BENCH-KILL-{r}"
            payload = orders(comp_id, n, syms, crossing=False)
            elapsed, times = asyncio.run(kill_run(info["fix_port"], info["admin_port"], comp_id, payload, n))
            if times:
                medians.append(statistics.median(times) * 1000)
                worst.append(max(times) * 1000)
            rates.append(n / elapsed)
        if not medians:
            raise RuntimeError("the bursts ended before the first kill: use more --orders")
        median = statistics.median(medians)
        print(f"exchange_throughput kill-during-burst: POST /kill answered in median {median:.1f} ms "
              f"(per-run medians {', '.join(f'{m:.1f}' for m in medians)}; worst {max(worst):.1f} ms) "
              f"while the burst ran at median {statistics.median(rates):,.0f} orders/s over {repeats} runs "
              f"of {n} orders", flush=True)
        return median


def variant(name: str, *, liquidity: bool, crossing: bool, n: int, repeats: int, workdir: Path,
            store: str = "file") -> float:
    with running_exchange(workdir, liquidity=liquidity, store=store) as (proc, info, syms):
        rates, cpu_per_order = [], []
        for r in range(repeats):
            comp_id = f"BENCH-{name.upper()}-{r}"
            payload = orders(comp_id, n, syms, crossing=crossing)
            cpu_before = cpu_seconds(proc.pid)
            elapsed, fills = asyncio.run(one_run(info["fix_port"], comp_id, payload, n, crossing=crossing))
            cpu_per_order.append((cpu_seconds(proc.pid) - cpu_before) / n)
            rates.append((fills if crossing else n) / elapsed)
        median = statistics.median(rates)
        unit = "execs/s" if crossing else "orders/s"
        print(f"exchange_throughput {name}: median {median:,.0f} {unit} over {repeats} runs of {n} orders "
              f"(min {min(rates):,.0f}, max {max(rates):,.0f}); exchange CPU median "
              f"{statistics.median(cpu_per_order) * 1e6:.1f} µs per order", flush=True)
        return median


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.exchange_throughput")
    p.add_argument("--orders", type=int, default=50_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pure", action="store_true",
                   help="the exchange without its C speedups: the Python FIX framer (A/B)")
    p.add_argument("--only", choices=["resting-no-liquidity", "resting-with-liquidity", "crossing-with-liquidity",
                                      "kill-during-burst", "dropcopy-during-burst"],
                   help="run one variant")
    p.add_argument("--store", choices=["file", "memory"], default="file",
                   help="the exchange's FIX message store: files (the default, as in a fleet) or memory (A/B)")
    p.add_argument("--exchange-arg", action="append", default=[], metavar="ARG",
                   help="an extra flag for the exchange, e.g. --exchange-arg=--intake-budget=1000000 (repeatable)")
    args = p.parse_args(argv)
    EXCHANGE_ARGS[:] = args.exchange_arg
    n = max(1, min(args.orders, 1_000_000))
    if args.pure:
        os.environ["POWERPEG_SPEEDUPS"] = "0"  # inherited by the exchange subprocess
    print(f"exchange_throughput: the exchange runs {'no C speedups' if args.pure else 'its C speedups (when built)'}"
          f", FIX store in {args.store}", flush=True)
    runs = [("resting-no-liquidity", False, False), ("resting-with-liquidity", True, False),
            ("crossing-with-liquidity", True, True)]
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as tmp:
        work = Path(tmp)
        for name, liquidity, crossing in runs:
            if args.only in (None, name):
                variant(name, liquidity=liquidity, crossing=crossing, n=n, repeats=args.repeats, workdir=work,
                        store=args.store)
        if args.only in (None, "kill-during-burst"):
            kill_variant(n, args.repeats, work, store=args.store)
        if args.only in (None, "dropcopy-during-burst"):
            dropcopy_variant(n, args.repeats, work, store=args.store)


if __name__ == "__main__":
    main()
