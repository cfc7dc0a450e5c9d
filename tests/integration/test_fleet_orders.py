"""Order flow through a real local fleet: router → exchange → drop copy."""
from __future__ import annotations

import pytest

from tests.integration.fleetkit import DropCopy, Http, assert_conserved, eventually, executed_for_parent, journal


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    return fleet_factory(routers=2, monitor_args=["--unregistered-grace-ms", "60000"])


async def _symbol(http: Http, fleet) -> dict:
    symbols = await http.get(f"{fleet.exchange.admin}/symbols")
    assert len(symbols) >= 154
    return symbols[0]


async def test_parent_fills_on_exchange_and_appears_on_drop_copy(fleet) -> None:
    """A market parent fills exactly and every fill reaches the firm's drop copy."""
    async with Http(fleet) as http:
        drop, session = await DropCopy.open(fleet)
        sym = await _symbol(http, fleet)
        parent_id = await http.parent(fleet.routers[0].orders, symbol=sym["symbol"], side="buy", qty=300)

        async def filled():
            state = await http.get(f"{fleet.routers[0].orders}/{parent_id}")
            return state if state["state"] == "filled" else None

        state = await eventually(filled)
        assert (300, 300) == (state["filled_qty"], state["sent_qty"])
        await eventually(lambda: _true(drop.filled_qty(parent_id) == 300))
        assert 300 == executed_for_parent(await journal(fleet), parent_id)
        session.logout()
        await assert_conserved(fleet)


async def _true(value: bool) -> bool:
    return value


async def test_kill_switch_blocks_and_cancels_then_reinstate_restores(fleet) -> None:
    """Kill cancels the firm's resting child and rejects new ones; reinstate lets orders through again."""
    async with Http(fleet) as http:
        sym = await _symbol(http, fleet)
        router = fleet.routers[1]
        far = round(sym["ref_price"] * 0.5, 2)  # rests: far below any ask
        resting = await http.parent(router.orders, symbol=sym["symbol"], side="buy", qty=100, limit_price=far)
        await eventually(lambda: _working(http, router, resting))
        # sent is not yet resting: under load the kill could overtake the child on its way to the book
        await eventually(lambda: _accepted(fleet, resting))

        status, body = await http.call("POST", f"{fleet.exchange.admin}/kill", {"firm": fleet.firm})
        assert 200 == status and body["cancelled"] >= 1
        records = await journal(fleet)
        assert any(r["kind"] == "canceled" and r.get("reason") == "kill"
                   and r["cl_ord_id"].startswith(resting + ".") for r in records)

        blocked = await http.parent(router.orders, symbol=sym["symbol"], side="buy", qty=100)
        state = await eventually(lambda: _ended(http, router, blocked))
        assert 0 == state["filled_qty"]
        assert "kill switch" in (state.get("reason") or "")

        status, _ = await http.call("POST", f"{fleet.exchange.admin}/reinstate", {"firm": fleet.firm})
        assert 200 == status
        after = await http.parent(router.orders, symbol=sym["symbol"], side="buy", qty=100)
        state = await eventually(lambda: _ended(http, router, after))
        assert ("filled", 100) == (state["state"], state["filled_qty"])
        await assert_conserved(fleet)


async def _working(http: Http, router, parent_id: str):
    state = await http.get(f"{router.orders}/{parent_id}")
    return state if state["sent_qty"] > 0 else None


async def _accepted(fleet, parent_id: str) -> bool:
    return any(r["kind"] == "accepted" and r["cl_ord_id"].startswith(parent_id + ".") for r in await journal(fleet))


async def _ended(http: Http, router, parent_id: str):
    state = await http.get(f"{router.orders}/{parent_id}")
    return state if state["state"] not in ("new", "working", "pending") else None


async def test_admin_calls_without_token_get_401(fleet) -> None:
    """Every state-changing endpoint of every component refuses a request without the token."""
    calls = [
        ("POST", f"{fleet.exchange.admin}/kill", {"firm": fleet.firm}),
        ("POST", f"{fleet.exchange.admin}/reinstate", {"firm": fleet.firm}),
        ("POST", f"{fleet.exchange.admin}/clock", {"open_in_s": 1}),
        ("POST", f"{fleet.routers[0].admin}/halt", {}),
        ("POST", f"{fleet.routers[0].admin}/resume", {}),
        ("PUT", f"{fleet.routers[0].admin}/flags", {"rlp": True}),
        ("POST", fleet.routers[0].orders, {"symbol": "X", "side": "buy", "qty": 1, "client_order_id": "x"}),
        ("POST", f"{fleet.monitor.admin}/parents",
         {"parent_id": "p", "router": "r", "symbol": "X", "side": "buy", "qty": 1, "ts_ns": 1}),
        ("PUT", f"{fleet.alerts.admin}/channels/page", {"enabled": False}),
        ("POST", f"{fleet.alerts.admin}/alerts", {"source": "x", "severity": "page", "text": "x"}),
    ]
    async with Http(fleet) as http:
        statuses = [(method, url, (await http.call(method, url, body, token=False))[0]) for method, url, body in calls]
        health = await http.get(f"{fleet.routers[0].admin}/health")
    assert [] == [c for c in statuses if c[2] != 401]
    assert health["halted"] is False
