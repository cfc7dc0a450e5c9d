"""What several fault kinds share: router references in parameters, checking
them against the experiment's topology, and talking to a component's admin
API with errors turned into :class:`FaultError`."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated, Any

import aiohttp
from pydantic import StringConstraints

from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.experiment.model import FleetShape

RouterId = Annotated[str, StringConstraints(pattern=r"^router-[1-9][0-9]*$")]
Component = Annotated[str, StringConstraints(min_length=1, max_length=64)]

ADMIN_TIMEOUT_S = 5.0
# a deploy is a process restart whose health wait is bounded by the backend
DEPLOY_TIMEOUT_S = 60.0


def missing_routers(path: str, ids: Iterable[str], topology: FleetShape) -> list[tuple[str, str]]:
    """``(path[i], message)`` for every id the experiment's fleet does not have."""
    known = set(topology.router_ids())
    return [
        (f"{path}[{i}]", f"no router {rid!r} in a fleet of {len(known)}")
        for i, rid in enumerate(ids)
        if rid not in known
    ]


def missing_component(path: str, name: str, topology: FleetShape) -> list[tuple[str, str]]:
    known = topology.components()
    if name in known:
        return []
    shown = known if len(known) <= 6 else [*known[:5], "...", known[-1]]
    return [(path, f"no component {name!r}; known: {', '.join(shown)}")]


def chosen_routers(selection: Any, ctx: FaultContext) -> list[str]:
    """``"all"`` (or any non-list word) → every router of the running fleet."""
    if isinstance(selection, list):
        return list(dict.fromkeys(selection))
    return [r.id for r in ctx.topology.routers]


def router_admin(ctx: FaultContext, router_id: str) -> str:
    try:
        return ctx.topology.router(router_id).admin
    except KeyError as exc:
        raise FaultError(str(exc.args[0])) from None


async def admin_call(ctx: FaultContext, method: str, url: str, body: Any = None) -> Any:
    """One admin request; any transport error or non-2xx answer is a FaultError naming the call."""
    try:
        async with ctx.http.request(
            method, url, json=body, timeout=aiohttp.ClientTimeout(total=ADMIN_TIMEOUT_S)
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise FaultError(f"{method} {url}: HTTP {resp.status}: {text.strip()[:300]}")
            try:
                return await resp.json(content_type=None)
            except ValueError:
                raise FaultError(f"{method} {url}: answer is not JSON: {text.strip()[:300]}") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise FaultError(f"{method} {url}: {type(exc).__name__}: {exc}") from None


async def router_version(ctx: FaultContext, router_id: str) -> str:
    """The version a router runs now, from its own ``/health``."""
    body = await admin_call(ctx, "GET", router_admin(ctx, router_id) + "/health")
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str):
        raise FaultError(f"{router_id} /health has no version: {body!r}")
    return version


async def router_versions(ctx: FaultContext, router_ids: list[str]) -> dict[str, str]:
    versions = await asyncio.gather(*(router_version(ctx, rid) for rid in router_ids))
    return dict(zip(router_ids, versions, strict=True))


async def deploy_routers(ctx: FaultContext, plan: dict[str, str]) -> None:
    """Deploy ``version`` to each router concurrently and verify each came back on it.

    Every deploy is awaited even when one fails, so no restart is left
    running behind our back; the failures are reported together.
    """
    if not plan:
        return

    async def one(router_id: str, version: str) -> None:
        try:
            await asyncio.wait_for(ctx.backend.deploy(router_id, version), DEPLOY_TIMEOUT_S)
        except FaultError:
            raise
        except Exception as exc:  # the backend's own errors (FleetError, StartError, timeouts)
            raise FaultError(f"deploy {version} to {router_id} failed: {type(exc).__name__}: {exc}") from exc
        running = await router_version(ctx, router_id)
        if running != version:
            raise FaultError(f"deploy {version} to {router_id}: it came back on {running}")

    results = await asyncio.gather(*(one(rid, v) for rid, v in plan.items()), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, Exception):
            raise failure  # cancellation and the like go up untouched
    if failures:
        raise FaultError("; ".join(str(f) for f in failures))
    ctx.log.info("deployed", versions=plan)
