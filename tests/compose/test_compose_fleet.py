"""The compose backend on a real engine: faults on containers, teardown, errors."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose import ComposeBackend
from powerpeg.harness.backends.compose.env import router_image
from powerpeg.harness.context import RunContext

ROOT = Path(__file__).resolve().parents[2]


def _images_running(engine, run_id: str) -> set[str]:
    return {tag for c in dk.containers(engine, dk.run_filter(run_id)) if c.status == "running"
            for tag in c.image.tags if tag.startswith("powerpeg-router:")}


def test_partial_deploy_runs_both_router_tags_side_by_side(engine, tmp_path) -> None:
    """After deploying v2 to router-1 of a v1 fleet, v1 and v2 router containers both run."""
    backend = ComposeBackend(RunContext.create(home=tmp_path))
    asyncio.run(backend.up(FleetSpec(routers=2, version="v1", toxiproxy=False)))
    try:
        asyncio.run(backend.deploy("router-1", "v2"))
        running = _images_running(engine, backend.ctx.run_id)
    finally:
        asyncio.run(backend.down())
    assert {router_image("v1"), router_image("v2")} == running


def test_down_leaves_no_container_network_or_volume(engine, tmp_path) -> None:
    """`down` removes every container, network and volume labelled with the run."""
    backend = ComposeBackend(RunContext.create(home=tmp_path))
    asyncio.run(backend.up(FleetSpec(routers=1, toxiproxy=False)))
    asyncio.run(backend.down())
    assert [] == dk.leftovers(engine, dk.run_filter(backend.ctx.run_id))


def test_killed_router_is_reported_not_running(engine, tmp_path) -> None:
    """kill stops the container; health says "not running" (what the kill fault's revert reads)."""
    backend = ComposeBackend(RunContext.create(home=tmp_path))
    asyncio.run(backend.up(FleetSpec(routers=1, toxiproxy=False)))
    try:
        asyncio.run(backend.kill("router-1"))
        health = asyncio.run(backend.health())
    finally:
        asyncio.run(backend.down())
    assert "not running" == health["router-1"]


def test_missing_image_is_reported_by_name(engine) -> None:
    """missing_images names the image that is not there."""
    assert [router_image("v9")] == dk.missing_images(engine, [router_image("v2"), router_image("v9")])


def test_missing_engine_exits_3_saying_so(tmp_path) -> None:
    """`powerpeg up --backend compose` with no engine: exit 3 and "Docker engine not available"."""
    env = {**os.environ, "POWERPEG_HOME": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    proc = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "up", "--backend", "compose", "--routers",
                           "1"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (3, True) == (proc.returncode, "Docker engine not available" in proc.stderr), proc.stderr


def test_restarted_toxiproxy_container_gets_its_proxies_back(engine, tmp_path) -> None:
    """A restart of the toxiproxy container (it keeps no state) recreates the same proxies."""
    import aiohttp

    from powerpeg.harness import toxi

    async def names(api: str) -> list[str]:
        async with aiohttp.ClientSession() as session:
            return sorted((await toxi.ToxiproxyClient(api, session).proxies()).keys())

    backend = ComposeBackend(RunContext.create(home=tmp_path))
    topology = asyncio.run(backend.up(FleetSpec(routers=2)))
    try:
        before = asyncio.run(names(topology.toxiproxy.api))
        asyncio.run(backend.restart("toxiproxy"))
        after = asyncio.run(names(topology.toxiproxy.api))
    finally:
        asyncio.run(backend.down())
    assert (True, before) == (len(before) >= 3, after)
