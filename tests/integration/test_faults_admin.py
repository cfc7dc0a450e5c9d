"""flag_flip and alert_blackout on a real local fleet: the routers' /flags
and the alert sink's /channels before, during and after."""
from __future__ import annotations

import aiohttp
import pytest
import structlog

from powerpeg.harness.faults.alert_blackout import AlertBlackout
from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.faults.flag_flip import FlagFlip
from tests.integration.fleetkit import Http

DEFAULT_CHANNEL = {"enabled": True, "downgrade_to": None, "delay_ms": 0}


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    return fleet_factory(routers=2)


@pytest.fixture
async def ctx(fleet_factory, fleet):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {fleet.token}"}) as http:
        yield FaultContext(backend=fleet_factory.backend(fleet), topology=fleet, http=http,
                           log=structlog.get_logger())


async def _rlp(fleet) -> dict[str, bool]:
    async with Http(fleet) as http:
        return {r.id: (await http.get(f"{r.admin}/flags"))["rlp"] for r in fleet.routers}


async def _channel(fleet, name: str) -> dict:
    async with Http(fleet) as http:
        return (await http.get(f"{fleet.alerts.admin}/channels"))[name]


async def test_flag_flip_sets_the_flag_on_the_chosen_routers_only(ctx, fleet) -> None:
    """rlp=true on router-2 leaves router-1's flag alone."""
    fault = FlagFlip(FlagFlip.Params(flag="rlp", routers=["router-2"]))
    try:
        await fault.inject(ctx)
        assert {"router-1": False, "router-2": True} == await _rlp(fleet)
    finally:
        await fault.revert(ctx)


async def test_flag_flip_revert_restores_the_previous_values(ctx, fleet) -> None:
    """After revert every router has the flag value it had before."""
    fault = FlagFlip(FlagFlip.Params(flag="rlp"))
    await fault.inject(ctx)
    await fault.revert(ctx)
    assert {"router-1": False, "router-2": False} == await _rlp(fleet)


async def test_flag_flip_revert_twice_is_harmless(ctx, fleet) -> None:
    """A second revert raises nothing and leaves the flags restored."""
    fault = FlagFlip(FlagFlip.Params(flag="rlp"))
    await fault.inject(ctx)
    await fault.revert(ctx)
    await fault.revert(ctx)
    assert {"router-1": False, "router-2": False} == await _rlp(fleet)


async def test_flag_flip_rlp_share_without_load_fails_loudly(ctx) -> None:
    """rlp_share with no running load is a FaultError saying so."""
    fault = FlagFlip(FlagFlip.Params(rlp_share=0.5))
    with pytest.raises(FaultError) as err:
        await fault.inject(ctx)
    assert "flag_flip rlp_share needs running load" == str(err.value)


@pytest.mark.parametrize(("args", "during"), [
    ({"mode": "off"}, {**DEFAULT_CHANNEL, "enabled": False}),
    ({"mode": "downgrade"}, {**DEFAULT_CHANNEL, "downgrade_to": "email"}),
    ({"mode": "delay", "delay": "1500ms"}, {**DEFAULT_CHANNEL, "delay_ms": 1500}),
])
async def test_alert_blackout_changes_the_page_channel(ctx, fleet, args, during) -> None:
    """Each mode shows on GET /channels while injected."""
    fault = AlertBlackout(AlertBlackout.Params(**args))
    try:
        await fault.inject(ctx)
        assert during == await _channel(fleet, "page")
    finally:
        await fault.revert(ctx)


async def test_alert_blackout_revert_restores_the_channel(ctx, fleet) -> None:
    """After revert the email channel has its settings back."""
    fault = AlertBlackout(AlertBlackout.Params(channel="email", mode="off"))
    await fault.inject(ctx)
    await fault.revert(ctx)
    assert DEFAULT_CHANNEL == await _channel(fleet, "email")


async def test_alert_blackout_revert_puts_back_a_setting_made_before(ctx, fleet) -> None:
    """A delay set before the fault survives a downgrade's revert (revert restores, not resets)."""
    async with Http(fleet) as http:
        await http.call("PUT", f"{fleet.alerts.admin}/channels/page", {"delay_ms": 250})
    fault = AlertBlackout(AlertBlackout.Params(mode="downgrade"))
    try:
        await fault.inject(ctx)
        await fault.revert(ctx)
        await fault.revert(ctx)
        assert {**DEFAULT_CHANNEL, "delay_ms": 250} == await _channel(fleet, "page")
    finally:
        async with Http(fleet) as http:
            await http.call("PUT", f"{fleet.alerts.admin}/channels/page", {"delay_ms": 0})
