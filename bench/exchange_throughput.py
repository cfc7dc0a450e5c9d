"""Exchange throughput: pipelined NewOrderSingles on one FIX session.

Starts ``python -m targets.exchange`` as a real subprocess, logs on with a
raw asyncio client, writes N pre-encoded orders back to back and times from
the first byte written to the last report read. Three variants:

- resting, no liquidity: non-crossing limits, time to the last ack (ER new);
- resting, with market makers quoting all 154 books in the background;
- crossing, with market makers: market orders that each fill against the
  makers; time until every order has its final report, reported as execs/s.

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
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from targets.fix.codec import encode

COMP = "EXCHANGE"
RUN_TIMEOUT_S = 60.0
TERMINAL = (b"\x0139=2\x01", b"\x0139=4\x01", b"\x0139=8\x01")


def start_exchange(workdir: Path, *, liquidity: bool, store: str = "file") -> tuple[subprocess.Popen, dict]:
    ready = workdir / f"ready-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", "targets.exchange", "--ready-file", str(ready),
           "--journal", str(workdir / f"journal-{ready.stem}.ndjson")]
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


def variant(name: str, *, liquidity: bool, crossing: bool, n: int, repeats: int, workdir: Path,
            store: str = "file") -> float:
    proc, info = start_exchange(workdir, liquidity=liquidity, store=store)
    try:
        syms = symbols(info["admin_port"])
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
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.exchange_throughput")
    p.add_argument("--orders", type=int, default=50_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pure", action="store_true",
                   help="the exchange without its C speedups: the Python FIX framer (A/B)")
    p.add_argument("--only", choices=["resting-no-liquidity", "resting-with-liquidity", "crossing-with-liquidity"],
                   help="run one variant")
    p.add_argument("--store", choices=["file", "memory"], default="file",
                   help="the exchange's FIX message store: files (the default, as in a fleet) or memory (A/B)")
    args = p.parse_args(argv)
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


if __name__ == "__main__":
    main()
