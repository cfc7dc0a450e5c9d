"""Helpers for integration tests on a real local fleet: HTTP calls with the
token, polling with a deadline, a drop-copy listener, and the conservation
check every integration test ends with."""
from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.topology import Topology
from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag
from powerpeg.targets.fix.session import connect


class Http:
    """aiohttp client that sends the fleet's bearer token."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {topology.token}"}, timeout=aiohttp.ClientTimeout(total=10)
        )

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()

    async def call(self, method: str, url: str, body: Any = None, *, token: bool = True) -> tuple[int, Any]:
        headers = None if token else {"Authorization": ""}
        async with self.session.request(method, url, json=body, headers=headers) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except json.JSONDecodeError:
                return resp.status, text

    async def get(self, url: str) -> Any:
        status, body = await self.call("GET", url)
        assert 200 == status, f"GET {url} -> {status} {body}"
        return body

    async def parent(self, router_orders: str, **order: Any) -> str:
        order.setdefault("client_order_id", f"it-{time.time_ns()}")
        status, body = await self.call("POST", router_orders, order)
        assert 202 == status, f"POST {router_orders} -> {status} {body}"
        return body["parent_id"]


async def eventually(probe: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``probe`` until it returns a truthy value; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class DropCopy:
    """A drop-copy FIX session for one firm, collecting ExecutionReports."""

    def __init__(self) -> None:
        self.reports: list[FixMessage] = []

    def on_logon(self, session, msg):
        return None

    def on_message(self, session, msg):
        if msg.msg_type == MsgType.ExecutionReport:
            self.reports.append(msg)

    def on_close(self, session, graceful):
        pass

    @classmethod
    async def open(cls, topology: Topology) -> tuple[DropCopy, Any]:
        app = cls()
        host, port = topology.exchange.dropcopy.rsplit(":", 1)
        session = await connect(app, host, int(port), comp_id=topology.firm,
                                target_comp_id=topology.exchange.comp_id, heartbeat_s=30,
                                logon_fields=topology.fix_logon(topology.firm))
        return app, session

    def filled_qty(self, parent_id: str) -> int:
        return sum(int(r[Tag.LastQty]) for r in self.reports
                   if r[Tag.ExecType] == "F" and r[Tag.ClOrdID].rsplit(".", 1)[0] == parent_id)


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    lines = Path(path).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


async def journal(topology: Topology, settle: float = 0.1) -> list[dict[str, Any]]:
    """The exchange journal as the exchange itself serves it (after a flush interval)."""
    await asyncio.sleep(settle)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{topology.exchange.admin}/journal") as resp:
            assert 200 == resp.status
            text = await resp.text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def executed_for_parent(records: list[dict[str, Any]], parent_id: str) -> int:
    return sum(r["exec_qty"] for r in records
               if r["kind"] == "fill" and (r["cl_ord_id"] or "").rsplit(".", 1)[0] == parent_id)


async def assert_conserved(topology: Topology) -> None:
    """Every match has equal buy and sell quantity; positions across firms sum to zero."""
    records = await journal(topology)
    by_match: dict[str, dict[str, int]] = defaultdict(lambda: {"buy": 0, "sell": 0})
    for r in records:
        if r["kind"] == "fill":
            by_match[r["match_id"]][r["side"]] += r["exec_qty"]
    unbalanced = {m: q for m, q in by_match.items() if q["buy"] != q["sell"]}
    assert {} == unbalanced
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{topology.exchange.admin}/positions") as resp:
            positions = await resp.json()
    net: dict[str, int] = defaultdict(int)
    for firm in positions["firms"].values():
        for symbol, pos in firm["symbols"].items():
            net[symbol] += pos["position"]
    assert {} == {s: q for s, q in net.items() if q != 0}
