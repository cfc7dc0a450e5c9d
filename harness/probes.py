"""Steady-state probes: small callables checked before, during and after
the method. Each returns a :class:`ProbeResult`; a probe that cannot be
evaluated (a component down) is a failed probe, not an exception. Besides
the four here, a firm's own by ``powerpeg.probes`` entry point.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from powerpeg.harness.experiment.model import Probe
from powerpeg.harness.plugins import PROBES_GROUP, Registry, check_coroutine_function
from powerpeg.harness.topology import Topology


@dataclass
class ProbeResult:
    probe: str
    kind: str
    phase: str
    ok: bool
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "kind": self.kind, "phase": self.phase, "ok": self.ok,
                "value": self.value, "message": self.message}


@dataclass
class ProbeContext:
    backend: Any
    topology: Topology
    http: aiohttp.ClientSession
    load_failure_ratio: Callable[[], float | None]


_FILLS = re.compile(r'^powerpeg_exchange_fills_total\{firm="([^"]+)"\} ([0-9.e+]+)$', re.M)


async def _firm_fills(ctx: ProbeContext) -> float:
    async with ctx.http.get(f"{ctx.topology.exchange.admin}/metrics") as resp:
        text = await resp.text()
    return sum(float(v) for firm, v in _FILLS.findall(text) if firm == ctx.topology.firm)


async def healthy(ctx: ProbeContext, probe: Probe) -> tuple[bool, Any, str]:
    health = await ctx.backend.health()
    bad = {c: s for c, s in health.items() if s != "ok"}
    return not bad, len(health) - len(bad), "all components healthy" if not bad else f"unhealthy: {bad}"


async def fills_flowing(ctx: ProbeContext, probe: Probe) -> tuple[bool, Any, str]:
    floor = probe.tolerance if probe.tolerance is not None else 0.0
    before = await _firm_fills(ctx)
    await asyncio.sleep(1.0)
    rate = await _firm_fills(ctx) - before
    ok = rate > floor if floor == 0 else rate >= floor
    return ok, rate, f"{rate:.0f} fills/s (want {'>' if floor == 0 else '>='} {floor:g})"


async def exposure(ctx: ProbeContext, probe: Probe) -> tuple[bool, Any, str]:
    async with ctx.http.get(f"{ctx.topology.exchange.admin}/positions") as resp:
        positions = await resp.json()
    gross = positions["firms"].get(ctx.topology.firm, {}).get("gross_notional_usd", 0.0)
    limit = probe.tolerance if probe.tolerance is not None else float("inf")
    return gross <= limit, round(gross, 2), f"gross ${gross:,.0f} (max ${limit:,.0f})"


async def load_failures(ctx: ProbeContext, probe: Probe) -> tuple[bool, Any, str]:
    ratio = ctx.load_failure_ratio()
    limit = probe.tolerance if probe.tolerance is not None else 0.01
    if ratio is None:
        return False, None, "no load statistics yet"
    return ratio <= limit, round(ratio, 4), f"failure ratio {ratio:.2%} (max {limit:.2%})"


ProbeFn = Callable[[ProbeContext, Probe], Awaitable[tuple[bool, Any, str]]]

BUILTIN: dict[str, ProbeFn] = {
    "healthy": healthy,
    "fills_flowing": fills_flowing,
    "exposure": exposure,
    "load_failures": load_failures,
}
# a firm's own probes: ``powerpeg.probes`` entry points naming an ``async def probe(ctx, probe)``
# (harness/plugins.py, docs/plugins.md); a broken one is a PluginError naming it
PROBES: Registry[ProbeFn] = Registry(PROBES_GROUP, BUILTIN, check_coroutine_function)


async def check(ctx: ProbeContext, probes: list[Probe], phase: str) -> list[ProbeResult]:
    """Run every probe due in ``phase`` concurrently."""
    due = [p for p in probes if phase in p.when]

    async def one(p: Probe) -> ProbeResult:
        try:
            ok, value, message = await PROBES[p.probe](ctx, p)
        except (TimeoutError, aiohttp.ClientError, OSError, KeyError, ValueError) as exc:
            ok, value, message = False, None, f"probe failed: {exc!r}"
        return ProbeResult(p.name, p.probe, phase, ok, value, message)

    return list(await asyncio.gather(*(one(p) for p in due)))
