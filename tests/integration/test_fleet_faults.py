"""The latent fault and the venue's safety nets on a real local fleet."""
from __future__ import annotations

import asyncio

import pytest

from powerpeg.targets.fix.codec import MsgType, Tag
from powerpeg.targets.fix.session import connect
from tests.integration.fleetkit import DropCopy, Http, assert_conserved, eventually, executed_for_parent, journal


@pytest.fixture(scope="module")
def fleet(fleet_factory):
    # router-1 got the new code (v2); router-2 is the server the technician missed (v1)
    return fleet_factory(routers=2, versions={"router-2": "v1"}, monitor_args=["--unregistered-grace-ms", "60000"])


class Client:
    """A plain FIX order-entry client (not a router)."""

    def __init__(self) -> None:
        self.reports = []

    def on_logon(self, session, msg):
        return None

    def on_message(self, session, msg):
        self.reports.append(msg)

    def on_close(self, session, graceful):
        pass


async def _client(fleet, comp_id: str, cod: str | None):
    host, port = fleet.exchange.fix.rsplit(":", 1)
    app = Client()
    extra = [(8013, cod)] if cod else []
    session = await connect(app, host, int(port), comp_id=comp_id, target_comp_id=fleet.exchange.comp_id,
                            logon_fields=extra + fleet.fix_logon(comp_id))
    return app, session


def _rest(session, cl_ord_id: str, symbol: str, price: float) -> None:
    session.send(MsgType.NewOrderSingle, [
        (Tag.ClOrdID, cl_ord_id), (Tag.Symbol, symbol), (Tag.Side, 1), (Tag.TransactTime, "20120801-13:30:00"),
        (Tag.OrderQty, 100), (Tag.OrdType, 2), (Tag.Price, f"{price:.2f}"),
    ])


async def _acked(app, cl_ord_id: str) -> bool:
    return any(r[Tag.ClOrdID] == cl_ord_id and r[Tag.ExecType] == "0" for r in app.reports)


async def test_cancel_on_disconnect_cancels_a_dropped_sessions_orders(fleet) -> None:
    """A session that drops without Logout has its resting orders cancelled (reason disconnect)."""
    async with Http(fleet) as http:
        sym = (await http.get(f"{fleet.exchange.admin}/symbols"))[1]
    app, session = await _client(fleet, "CODTEST", None)
    _rest(session, "cod-1", sym["symbol"], sym["ref_price"] * 0.5)
    await eventually(lambda: _acked(app, "cod-1"))
    session.abort()  # no Logout: a crash, as far as the venue can tell

    async def cancelled():
        return [r for r in await journal(fleet) if r["kind"] == "canceled" and r["cl_ord_id"] == "cod-1"]

    [record] = await eventually(cancelled)
    assert "disconnect" == record["reason"]
    await assert_conserved(fleet)


async def test_cancel_on_disconnect_off_leaves_orders_working(fleet) -> None:
    """With 8013=N on Logon, a dropped session's orders keep resting."""
    async with Http(fleet) as http:
        sym = (await http.get(f"{fleet.exchange.admin}/symbols"))[2]
    app, session = await _client(fleet, "NOCOD", "N")
    _rest(session, "nocod-1", sym["symbol"], sym["ref_price"] * 0.5)
    await eventually(lambda: _acked(app, "nocod-1"))
    session.abort()
    await asyncio.sleep(0.3)
    records = await journal(fleet)
    assert [] == [r for r in records if r["kind"] == "canceled" and r["cl_ord_id"] == "nocod-1"]


async def test_v1_rlp_parent_overfills_while_v2_completes_exactly(fleet) -> None:
    """The same rlp-flagged parent: v2 fills exactly its quantity, v1's Power Peg keeps buying."""
    v2, v1 = fleet.routers
    assert ("v2", "v1") == (v2.version, v1.version)
    async with Http(fleet) as http:
        drop, session = await DropCopy.open(fleet)
        sym = (await http.get(f"{fleet.exchange.admin}/symbols"))[3]
        good = await http.parent(v2.orders, symbol=sym["symbol"], side="buy", qty=200, rlp=True)
        bad = await http.parent(v1.orders, symbol=sym["symbol"], side="buy", qty=200, rlp=True)

        async def runaway():
            return drop.filled_qty(bad) >= 1000

        await eventually(runaway)
        status, _ = await http.call("POST", f"{v1.admin}/halt", {})
        assert 200 == status
        good_state = await http.get(f"{v2.orders}/{good}")
        records = await journal(fleet, settle=0.3)
        session.logout()
    assert ("filled", 200) == (good_state["state"], good_state["filled_qty"])
    assert 200 == executed_for_parent(records, good)
    assert executed_for_parent(records, bad) >= 1000
    await assert_conserved(fleet)


async def test_v1_router_warns_power_peg_by_email(fleet) -> None:
    """A v1 router that meets an rlp parent sends a 'Power Peg' warning at email severity."""
    v1 = fleet.routers[1]
    async with Http(fleet) as http:
        await http.call("POST", f"{v1.admin}/resume", {})
        sym = (await http.get(f"{fleet.exchange.admin}/symbols"))[4]
        await http.parent(v1.orders, symbol=sym["symbol"], side="sell", qty=100, rlp=True)

        async def warned():
            alerts = await http.get(f"{fleet.alerts.admin}/alerts")
            alerts = alerts if isinstance(alerts, list) else alerts.get("alerts", [])
            return [a for a in alerts if a["source"] == v1.id and "Power Peg" in a["text"]]

        warnings = await eventually(warned)
        await http.call("POST", f"{v1.admin}/halt", {})
    assert {"email"} == {w["severity"] for w in warnings}
