"""partial_deploy and rollback_deploy on a real local fleet: versions as the
routers themselves report them on /health."""
from __future__ import annotations

import aiohttp
import pytest
import structlog

from powerpeg.harness.faults.base import FaultContext
from powerpeg.harness.faults.partial_deploy import PartialDeploy
from powerpeg.harness.faults.rollback_deploy import RollbackDeploy
from tests.integration.fleetkit import Http


@pytest.fixture(scope="module")
def old_fleet(fleet_factory):
    return fleet_factory(routers=2, version="v1")


@pytest.fixture(scope="module")
def mixed_fleet(fleet_factory):
    # router-2 is the one the 2012 deploy missed
    return fleet_factory(routers=2, versions={"router-2": "v1"})


async def _ctx(fleet_factory, topology) -> FaultContext:
    http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {topology.token}"})
    return FaultContext(backend=fleet_factory.backend(topology), topology=topology, http=http,
                        log=structlog.get_logger())


async def _versions(topology) -> dict[str, str]:
    async with Http(topology) as http:
        return {r.id: (await http.get(f"{r.admin}/health"))["version"] for r in topology.routers}


async def test_partial_deploy_reaches_all_but_the_missed_router(fleet_factory, old_fleet) -> None:
    """Deploying v2 with miss [router-2] puts v2 on router-1 only."""
    ctx = await _ctx(fleet_factory, old_fleet)
    fault = PartialDeploy(PartialDeploy.Params(version="v2", miss=["router-2"]))
    try:
        await fault.inject(ctx)
        assert {"router-1": "v2", "router-2": "v1"} == await _versions(old_fleet)
    finally:
        await fault.revert(ctx)
        await ctx.http.close()


async def test_partial_deploy_revert_restores_each_routers_version(fleet_factory, old_fleet) -> None:
    """After revert every router runs the version it had before the deploy."""
    ctx = await _ctx(fleet_factory, old_fleet)
    fault = PartialDeploy(PartialDeploy.Params(version="v2"))
    try:
        await fault.inject(ctx)
        await fault.revert(ctx)
        assert {"router-1": "v1", "router-2": "v1"} == await _versions(old_fleet)
    finally:
        await ctx.http.close()


async def test_partial_deploy_revert_twice_is_harmless(fleet_factory, old_fleet) -> None:
    """A second revert changes nothing and raises nothing."""
    ctx = await _ctx(fleet_factory, old_fleet)
    fault = PartialDeploy(PartialDeploy.Params(version="v2", routers=["router-2"]))
    try:
        await fault.inject(ctx)
        await fault.revert(ctx)
        await fault.revert(ctx)
        assert ({"router-1": "v1", "router-2": "v1"}, None) == (await _versions(old_fleet), fault.applied)
    finally:
        await ctx.http.close()


async def test_rollback_deploy_puts_the_old_version_on_the_deployed_routers(fleet_factory, mixed_fleet) -> None:
    """Rolling back to v1 puts v1 on every router that ran v2."""
    ctx = await _ctx(fleet_factory, mixed_fleet)
    fault = RollbackDeploy(RollbackDeploy.Params())
    try:
        await fault.inject(ctx)
        assert ({"router-1": "v1", "router-2": "v1"}, {"router-1": "v2"}) == (
            await _versions(mixed_fleet), fault.applied)
    finally:
        await fault.revert(ctx)
        await ctx.http.close()


async def test_rollback_deploy_revert_restores_the_new_version(fleet_factory, mixed_fleet) -> None:
    """After revert router-1 runs v2 again and router-2 still v1."""
    ctx = await _ctx(fleet_factory, mixed_fleet)
    fault = RollbackDeploy(RollbackDeploy.Params())
    try:
        await fault.inject(ctx)
        await fault.revert(ctx)
        assert {"router-1": "v2", "router-2": "v1"} == await _versions(mixed_fleet)
    finally:
        await ctx.http.close()
