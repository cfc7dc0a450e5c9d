"""`powerpeg demo --burst`: a fleet, a burst of parent orders, what came of them.

Bounded everywhere: a fixed number of parents, a settle deadline, and the
fleet torn down in ``finally`` whatever happens.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.harness.topology import Topology

SETTLE_TIMEOUT_S = 10.0
LOGON_TIMEOUT_S = 15.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass
class RouterTally:
    parents: int = 0
    accepted: int = 0
    states: Counter = field(default_factory=Counter)
    children: int = 0
    filled_shares: int = 0
    fills: int = 0


def make_orders(symbols: list[dict[str, Any]], count: int, routers: list[str], seed: int) -> list[tuple[str, dict]]:
    """(router id, order body) pairs spread evenly over the routers: a mix of
    market and marketable limit orders in round lots."""
    rng = random.Random(seed)
    universe = symbols[: max(20, len(symbols) // 4)]
    orders = []
    for i in range(count):
        sym = rng.choice(universe)
        side = rng.choice(["buy", "sell"])
        body: dict[str, Any] = {"symbol": sym["symbol"], "side": side, "qty": 100 * rng.randint(1, 10),
                                "client_order_id": f"demo-{seed}-{i:05d}"}
        if i % 2:
            # marketable limit: through the reference price so it trades, capped so it cannot run away
            ref = float(sym["ref_price"])
            body["limit_price"] = round(ref * (1.02 if side == "buy" else 0.98), 2)
        orders.append((routers[i % len(routers)], body))
    return orders


async def _json(session: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
                body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers, timeout=HTTP_TIMEOUT) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text


async def wait_logged_on(session: aiohttp.ClientSession, topology: Topology) -> list[str]:
    """Router ids still not logged on to the exchange when the wait ends."""
    deadline = time.monotonic() + LOGON_TIMEOUT_S
    pending = {r.id: r.admin for r in topology.routers}
    while pending and time.monotonic() < deadline:
        for rid, admin in list(pending.items()):
            status, body = await _json(session, "GET", admin + "/health")
            if status == 200 and isinstance(body, dict) and body.get("fix") == "logged_on":
                del pending[rid]
        if pending:
            await asyncio.sleep(0.1)
    return sorted(pending)


async def send_burst(session: aiohttp.ClientSession, topology: Topology, orders: list[tuple[str, dict]],
                     tallies: dict[str, RouterTally]) -> dict[str, str]:
    """POST every parent concurrently; parent id → router id of the accepted ones."""
    accepted: dict[str, str] = {}

    async def one(rid: str, body: dict) -> None:
        tallies[rid].parents += 1
        status, answer = await _json(session, "POST", topology.router(rid).orders, topology.token, body)
        if status == 202:
            tallies[rid].accepted += 1
            accepted[answer["parent_id"]] = rid
        else:
            tallies[rid].states[f"refused {status}"] += 1

    await asyncio.gather(*(one(rid, body) for rid, body in orders))
    return accepted


async def settle(session: aiohttp.ClientSession, topology: Topology, accepted: dict[str, str]) -> dict[str, dict]:
    """Poll parents until none is working or the deadline passes; last views."""
    views: dict[str, dict] = {}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    working = set(accepted)
    reported = -1
    while working and time.monotonic() < deadline:
        for pid in sorted(working):
            status, view = await _json(session, "GET", f"{topology.router(accepted[pid]).orders}/{pid}")
            if status == 200:
                views[pid] = view
                if view.get("state") != "working":
                    working.discard(pid)
        if working and len(working) != reported:
            reported = len(working)
            print(f"  … {reported} parents still working")
        if working:
            await asyncio.sleep(0.25)
    if working:
        print(f"  {len(working)} parents still working after {SETTLE_TIMEOUT_S:.0f} s (resting limit orders)")
    return views


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [header] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in cells)


async def report(session: aiohttp.ClientSession, topology: Topology, tallies: dict[str, RouterTally],
                 views: dict[str, dict], accepted: dict[str, str]) -> None:
    for pid, view in views.items():
        tally = tallies[accepted[pid]]
        tally.states[view.get("state", "?")] += 1
        children = view.get("children", 0)
        tally.children += len(children) if isinstance(children, list) else int(children or 0)
        tally.filled_shares += int(view.get("filled_qty", 0))
    journal = await _read_journal(session, topology)
    exchange = Counter(rec.get("kind") for rec in journal if rec.get("firm") == topology.firm)
    for rec in journal:
        if rec.get("kind") == "fill" and rec.get("firm") == topology.firm:
            rid = str(rec.get("session", "")).lower()
            if rid in tallies:
                tallies[rid].fills += 1
    rows = [(rid, t.parents, t.accepted, t.states.get("filled", 0),
             ", ".join(f"{k} {v}" for k, v in sorted(t.states.items()) if k != "filled") or "-",
             t.children, t.fills, t.filled_shares) for rid, t in tallies.items()]
    print("\nper router:")
    print(_table(("ROUTER", "PARENTS", "ACCEPTED", "FILLED", "OTHER", "CHILDREN", "FILLS", "SHARES"), rows))
    print(f"\nexchange journal for {topology.firm}: " + ", ".join(f"{k} {v}" for k, v in sorted(exchange.items())))
    _, positions = await _json(session, "GET", topology.exchange.admin + "/positions")
    firm = (positions or {}).get("firms", {}).get(topology.firm, {}) if isinstance(positions, dict) else {}
    print(f"firm {topology.firm}: net position ${firm.get('net_position_usd', 0):,.2f}, "
          f"gross notional ${firm.get('gross_notional_usd', 0):,.2f}, P&L ${firm.get('pnl_usd', 0):,.2f}")
    _, breaches = await _json(session, "GET", topology.monitor.admin + "/breaches")
    _, alerts = await _json(session, "GET", topology.alerts.admin + "/alerts")
    breaches = breaches.get("breaches", breaches) if isinstance(breaches, dict) else breaches
    print(f"monitor breaches: {len(breaches or [])}")
    for breach in (breaches or [])[:10]:
        print(f"  {breach}")
    alerts = alerts.get("alerts", alerts) if isinstance(alerts, dict) else alerts
    print(f"alerts: {len(alerts or [])}")
    for alert in (alerts or [])[:10]:
        print(f"  [{alert.get('severity')}/{alert.get('channel')}] {alert.get('source')}: {alert.get('text')}")


async def _read_journal(session: aiohttp.ClientSession, topology: Topology) -> list[dict]:
    async with session.get(topology.exchange.admin + "/journal", timeout=HTTP_TIMEOUT) as resp:
        text = await resp.text()
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


async def run_burst(ctx: RunContext, spec: FleetSpec, *, parents: int, seed: int) -> int:
    backend = LocalBackend(ctx)
    print(f"standing up {spec.routers} routers ({spec.version}) …")
    started = time.monotonic()
    topology = await backend.up(spec)
    try:
        print(f"fleet {ctx.run_id} up in {time.monotonic() - started:.1f} s")
        async with aiohttp.ClientSession() as session:
            late = await wait_logged_on(session, topology)
            if late:
                print(f"warning: not logged on to the exchange yet: {', '.join(late)}")
            _, symbols = await _json(session, "GET", topology.exchange.admin + "/symbols")
            orders = make_orders(symbols, parents, [r.id for r in topology.routers], seed)
            tallies = {r.id: RouterTally() for r in topology.routers}
            print(f"sending {len(orders)} parent orders …")
            accepted = await send_burst(session, topology, orders, tallies)
            print(f"{len(accepted)} accepted; waiting for them to settle (≤ {SETTLE_TIMEOUT_S:.0f} s) …")
            views = await settle(session, topology, accepted)
            await asyncio.sleep(0.1)  # the journal flushes in small groups
            await report(session, topology, tallies, views, accepted)
    finally:
        print("\ntearing down …")
        stopped = await asyncio.shield(backend.down())
        print(f"stopped {len(stopped)} processes")
    return 0
