"""network faults on a real local fleet through the real toxiproxy-server:
what its API shows during and after, and orders still flowing through a toxic."""
from __future__ import annotations

import dataclasses

import aiohttp
import pytest
import structlog

from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.faults.network import Network
from tests.integration.fleetkit import Http, eventually

LINK = "router-1->exchange"


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    return fleet_factory(routers=2, require_toxiproxy=True, monitor_args=["--unregistered-grace-ms", "60000"])


@pytest.fixture
async def ctx(fleet_factory, fleet):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {fleet.token}"}) as http:
        yield FaultContext(backend=fleet_factory.backend(fleet), topology=fleet, http=http,
                           log=structlog.get_logger())


async def _proxy(fleet, name: str = LINK) -> dict:
    async with Http(fleet) as http:
        return (await http.get(f"{fleet.toxiproxy.api}/proxies"))[name]


def _toxics(proxy: dict) -> dict[str, tuple[str, str, dict]]:
    return {t["name"]: (t["type"], t["stream"], t["attributes"]) for t in proxy["toxics"]}


def _latency(ms: int, **more) -> Network:
    return Network(Network.Params(link=LINK, toxic="latency", attributes={"latency": ms}, **more))


async def test_latency_toxic_is_on_the_links_proxy_while_injected(ctx, fleet) -> None:
    """The toxic shows in toxiproxy's API under a powerpeg- name with the given attributes."""
    fault = _latency(200)
    try:
        await fault.inject(ctx)
        assert {"powerpeg-latency-1": ("latency", "downstream", {"latency": 200, "jitter": 0})} == _toxics(
            await _proxy(fleet))
    finally:
        await fault.revert(ctx)


async def test_latency_toxic_is_gone_after_revert(ctx, fleet) -> None:
    """Revert deletes the toxic it added."""
    fault = _latency(200, stream="upstream")
    await fault.inject(ctx)
    await fault.revert(ctx)
    assert {} == _toxics(await _proxy(fleet))


async def test_router_order_fills_through_a_latency_toxic(ctx, fleet) -> None:
    """A market parent on the router behind the toxic still fills completely."""
    fault = _latency(50)
    try:
        await fault.inject(ctx)
        async with Http(fleet) as http:
            sym = (await http.get(f"{fleet.exchange.admin}/symbols"))[0]["symbol"]
            router = fleet.routers[0]
            parent_id = await http.parent(router.orders, symbol=sym, side="buy", qty=200)

            async def filled():
                state = await http.get(f"{router.orders}/{parent_id}")
                return state if state["state"] == "filled" else None

            state = await eventually(filled)
        assert 200 == state["filled_qty"]
    finally:
        await fault.revert(ctx)


async def test_jitter_becomes_a_latency_toxic(ctx, fleet) -> None:
    """jitter is toxiproxy's latency toxic with latency 0 unless given."""
    fault = Network(Network.Params(link=LINK, toxic="jitter", attributes={"jitter": 30}))
    try:
        await fault.inject(ctx)
        assert {"powerpeg-jitter-1": ("latency", "downstream", {"latency": 0, "jitter": 30})} == _toxics(
            await _proxy(fleet))
    finally:
        await fault.revert(ctx)


async def test_two_toxics_on_one_link_get_their_own_names(ctx, fleet) -> None:
    """A second latency fault on the same link is powerpeg-latency-2."""
    first, second = _latency(10), _latency(20)
    try:
        await first.inject(ctx)
        await second.inject(ctx)
        assert ["powerpeg-latency-1", "powerpeg-latency-2"] == sorted(_toxics(await _proxy(fleet)))
    finally:
        await second.revert(ctx)
        await first.revert(ctx)


async def test_toxic_revert_twice_is_harmless(ctx, fleet) -> None:
    """A second revert (toxic already gone) raises nothing."""
    fault = _latency(100)
    await fault.inject(ctx)
    await fault.revert(ctx)
    await fault.revert(ctx)
    assert ({}, None) == (_toxics(await _proxy(fleet)), fault.applied)


async def test_revert_of_a_toxic_removed_behind_its_back_is_fine(ctx, fleet) -> None:
    """Revert after the toxic vanished (toxiproxy reset) is not an error."""
    fault = _latency(100)
    await fault.inject(ctx)
    async with Http(fleet) as http:
        await http.call("POST", f"{fleet.toxiproxy.api}/reset")
    await fault.revert(ctx)
    assert {} == _toxics(await _proxy(fleet))


async def test_down_disables_the_links_proxy(ctx, fleet) -> None:
    """down: true shows as enabled false on the proxy."""
    fault = Network(Network.Params(link="exchange->monitor", down=True))
    try:
        await fault.inject(ctx)
        assert False is (await _proxy(fleet, "exchange->monitor"))["enabled"]
    finally:
        await fault.revert(ctx)


async def test_down_revert_enables_the_proxy_again(ctx, fleet) -> None:
    """After revert (twice) the proxy is enabled."""
    fault = Network(Network.Params(link="->alerts", down=True))
    await fault.inject(ctx)
    await fault.revert(ctx)
    await fault.revert(ctx)
    assert True is (await _proxy(fleet, "->alerts"))["enabled"]


async def test_network_fault_without_toxiproxy_fails_naming_it(ctx) -> None:
    """A fleet without toxiproxy makes inject a FaultError that names toxiproxy."""
    no_toxi = dataclasses.replace(ctx, topology=dataclasses.replace(ctx.topology, toxiproxy=None))
    with pytest.raises(FaultError, match="needs toxiproxy"):
        await _latency(10).inject(no_toxi)
