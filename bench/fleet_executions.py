"""The 8-router fleet with one Power Peg router: executions per second.

Stands up a real local fleet (router-8 on v1, the rest on v2, as on
1 August 2012), sends rlp-flagged parents to every router — the seven v2
routers fill them exactly, router-8's Power Peg runs away — and counts the
firm's executions at the exchange (``/metrics``) over a fixed window.
Knight's 2012 rate was about 1,480 executions/s. Bounded: a fixed window per
run, then the runaway router is halted and the fleet torn down.

    python -m bench.fleet_executions [--runs 3] [--window 5] [--parents 40]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext

_FILLS = re.compile(r'^powerpeg_exchange_fills_total\{firm="KNIGHT"\} ([0-9.e+]+)$', re.M)


async def _fills(http: aiohttp.ClientSession, admin: str) -> float:
    async with http.get(f"{admin}/metrics") as resp:
        match = _FILLS.search(await resp.text())
    return float(match.group(1)) if match else 0.0


async def one_run(home: Path, window: float, parents: int) -> float:
    backend = LocalBackend(RunContext.create(home=home))
    topo = await backend.up(FleetSpec(routers=8, versions={"router-8": "v1"}, toxiproxy=False,
                                      monitor_args=["--unregistered-grace-ms", "600000"]))
    try:
        headers = {"Authorization": f"Bearer {topo.token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{topo.exchange.admin}/symbols") as resp:
                symbols = [s["symbol"] for s in await resp.json()]
            for i in range(parents):
                router = topo.routers[i % len(topo.routers)]
                body = {"symbol": symbols[i % len(symbols)], "side": "buy" if i % 2 else "sell",
                        "qty": 500, "rlp": True, "client_order_id": f"bench-{i}"}
                async with http.post(router.orders, json=body) as resp:
                    assert resp.status == 202, await resp.text()
            await asyncio.sleep(1.0)  # let the runaway reach its pace
            start, t0 = await _fills(http, topo.exchange.admin), time.monotonic()
            await asyncio.sleep(window)
            end, t1 = await _fills(http, topo.exchange.admin), time.monotonic()
            async with http.post(f"{topo.routers[-1].admin}/halt") as resp:
                assert resp.status == 200
        return (end - start) / (t1 - t0)
    finally:
        await backend.down()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_executions")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--parents", type=int, default=320,
                        help="rlp parents over the 8 routers (router-8 runs 1/8 of them away)")
    args = parser.parse_args(argv)
    rates = []
    with tempfile.TemporaryDirectory(prefix="powerpeg-bench-") as home:
        for _ in range(args.runs):
            rates.append(asyncio.run(one_run(Path(home), args.window, args.parents)))
    result = {"fleet_executions_per_s_median": statistics.median(rates), "min": min(rates), "max": max(rates)}
    print("fleet_executions 8 routers (router-8 v1 Power Peg) executions/s "
          f"median={result['fleet_executions_per_s_median']:,.0f} "
          f"min={result['min']:,.0f} max={result['max']:,.0f} runs={args.runs} window={args.window}s")
    return result


if __name__ == "__main__":
    main()
