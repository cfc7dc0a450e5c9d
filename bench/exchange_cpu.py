"""Exchange CPU per order, in process: the order-entry path without sockets.

``exchange_throughput`` measures the real thing (a subprocess, TCP, a
client on the other core) but on a 2-core machine its runs spread widely.
This one feeds pre-encoded NewOrderSingles straight into the exchange's
order-entry session (FIX framing, session checks, gate, engine, book,
journal, report encoding) with a transport that only keeps the bytes, and
times it with ``time.process_time``: the CPU one order costs, which is what
an optimisation changes. Its reciprocal is the ceiling of the socket
benchmark on one core.

    python -m bench.exchange_cpu [--orders 50000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.service import ExchangeService
from powerpeg.targets.fix import codec
from powerpeg.targets.fix.codec import encode

COMP = "EXCHANGE"


class KeepTransport(asyncio.Transport):
    """Accepts writes and keeps only a byte count (the reports are built all the same)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self._closing = False

    def writelines(self, data) -> None:
        for chunk in data:
            self.written += len(chunk)

    def write(self, data) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:  # the session takes a burst a slice per turn of the loop
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


def payload(comp_id: str, n: int, symbols: list[str]) -> list[bytes]:
    """Logon, then ``n`` resting limit buys, cut into 64 KB reads as a socket would deliver them."""
    msgs = [encode("A", comp_id, COMP, 1, [(98, 0), (108, 30)])]
    for i in range(n):
        px = f"1.{i % 100:02d}"  # below every reference price: the orders rest
        msgs.append(encode("D", comp_id, COMP, i + 2, [
            (11, f"c{i}"), (1, "BENCH"), (55, symbols[i % len(symbols)]), (54, 1), (38, 100), (40, 2), (44, px),
            (60, "20240101-00:00:00.000")]))
    data = b"".join(msgs)
    return [data[i:i + 65536] for i in range(0, len(data), 65536)]


async def one_run(n: int, workdir: Path, run: int) -> float:
    config = ExchangeConfig(journal=workdir / f"journal-{run}.ndjson", liquidity=False)
    exchange = ExchangeService(config, "bench", structlog.get_logger())
    exchange.engine.is_open = True
    # in-process, without sockets: the bench drives the service's own session and flush
    session = exchange._session(exchange.order_entry, frozenset({"D", "F", "H"}))  # noqa: SLF001 - no socket here
    transport = KeepTransport()
    session.connection_made(transport)
    chunks = payload(f"BENCH-{run}", n, list(exchange.engine.books))
    start = time.process_time()
    for chunk in chunks:
        session.data_received(chunk)
        while session._intake_scheduled:  # noqa: SLF001 - the rest of a read, a slice per turn of the loop
            await asyncio.sleep(0)
        session._flush()  # noqa: SLF001 - what the event loop would call after each read
    exchange.journal.flush()
    elapsed = time.process_time() - start
    accepted = sum(len(st.working) for st in exchange.engine.sessions.values())
    if accepted != n:
        raise RuntimeError(f"{accepted} of {n} orders accepted")
    exchange.journal.close()
    heartbeat = session._hb_task  # noqa: SLF001 - no socket closes the session: stop its heartbeat here
    if heartbeat is not None:
        heartbeat.cancel()
    return elapsed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.exchange_cpu")
    p.add_argument("--orders", type=int, default=50_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--pure", action="store_true", help="without the C speedups even where built (A/B)")
    args = p.parse_args(argv)
    if args.pure and codec.SPEEDUPS:  # the switch is read at import: start again with it off
        os.environ["POWERPEG_SPEEDUPS"] = "0"
        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--pure"]
        os.execv(sys.executable, [sys.executable, "-m", "bench.exchange_cpu", *rest])
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as tmp:
        times = [asyncio.run(one_run(args.orders, Path(tmp), r)) for r in range(args.repeats)]
    med = statistics.median(times)
    framer = "C framer" if codec.FRAMER == "c" else "Python framer"
    print(f"exchange_cpu ({framer}): median {med / args.orders * 1e6:.1f} µs CPU per order = "
          f"{args.orders / med:,.0f} orders/s "
          f"on one core, over {args.repeats} runs of {args.orders} (best {args.orders / min(times):,.0f})", flush=True)


if __name__ == "__main__":
    main()
