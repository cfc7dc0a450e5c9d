"""The monitor's periodic checks: fleet version drift, the alert-pipeline
heartbeat and the kill path. Each has a one-shot function (what tests drive) and a loop that
runs it on its interval until stopped.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .core import Monitor


async def poll_versions_once(monitor: Monitor, timeout_s: float) -> None:
    urls = monitor.actions.routers
    results = await asyncio.gather(*(monitor.actions.router_health(url, timeout_s) for url in urls))
    fleet: dict[str, dict[str, Any]] = {}
    for url, result in zip(urls, results, strict=True):
        body = result.get("body")
        if result.get("status") == 200 and isinstance(body, dict) and body.get("version"):
            fleet[url] = {"id": str(body.get("id") or url), "version": str(body["version"]),
                          "halted": body.get("halted")}
        else:
            fleet[url] = {"id": url, "version": None, "error": result.get("error") or f"HTTP {result.get('status')}"}
    monitor.on_versions(fleet)


async def heartbeat_once(monitor: Monitor, seq: int, timeout_s: float) -> None:
    acked, reason = await monitor.actions.heartbeat(seq, timeout_s)
    monitor.on_heartbeat(acked, reason)


async def probe_kill_path_once(monitor: Monitor, timeout_s: float) -> dict[str, str]:
    """GET /health on the exchange admin and every router: what the kill would call.

    A kill switch nobody exercised is a kill switch that may not work. The probe
    also keeps those connections (and their name lookups) warm, so the kill
    itself does not pay a first connect when it matters: measured on containers,
    a cold kill took ~250 ms more than a warm one. The warm connections the kill is
    written on (``wire.py``) are opened and refreshed here too.
    """
    actions = monitor.actions
    targets = ([actions.exchange_admin] if actions.exchange_admin else []) + list(actions.routers)
    # and the connections the kill and the pages are written on: opened, kept from idling out
    results, _ = await asyncio.gather(
        asyncio.gather(*(actions.router_health(url, timeout_s) for url in targets)), actions.warm.maintain())
    state = {url: "ok" if r.get("status") == 200 else (r.get("error") or f"HTTP {r.get('status')}")
             for url, r in zip(targets, results, strict=True)}
    monitor.kill_path = state
    return state


async def _every(interval_s: float, stop: asyncio.Event, step: Callable[[], Awaitable[object]]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await step()
        remaining = interval_s - (loop.time() - started)
        if remaining > 0:
            try:
                await asyncio.wait_for(stop.wait(), remaining)
            except TimeoutError:
                pass


async def version_loop(monitor: Monitor, stop: asyncio.Event) -> None:
    if not monitor.actions.routers:
        return
    interval_s = monitor.cfg.version_check_ms / 1000
    await _every(interval_s, stop, lambda: poll_versions_once(monitor, timeout_s=max(interval_s, 0.2)))


async def kill_path_loop(monitor: Monitor, stop: asyncio.Event, interval_s: float = 2.0) -> None:
    actions = monitor.actions
    if actions.exchange_admin is None and not actions.routers and actions.alerts is None:
        return
    await _every(interval_s, stop, lambda: probe_kill_path_once(monitor, timeout_s=1.0))


async def heartbeat_loop(monitor: Monitor, stop: asyncio.Event) -> None:
    if monitor.actions.alerts is None:
        return
    interval_s = monitor.cfg.heartbeat_ms / 1000
    seq = 0

    async def step() -> None:
        nonlocal seq
        seq += 1
        # An ack later than one interval is a miss: a page that slow is no page.
        await heartbeat_once(monitor, seq, timeout_s=interval_s)

    await _every(interval_s, stop, step)
