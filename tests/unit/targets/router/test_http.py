"""Router HTTP: order entry validation, admin auth, flags, health, alerts, registration."""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.fixtures.hostile_http import (
    DEEP_ARRAY, DEEP_OBJECT, NON_ASCII_AUTH, NOT_JSON_NUMBERS, post_with_auth, raw_request,
)
from tests.unit.targets.router.fakes import (  # noqa: F401 - fixtures
    AUTH, exchange, get_json, http, launch, order_body, post_order, wait_until, world,
)


async def post_raw(http, rr, body, headers=AUTH):
    async with http.post(f"{rr.base_url}/orders", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"qty": None}, "qty"),
        ({"qty": 0}, "qty"),
        ({"qty": "100"}, "qty"),
        ({"side": "short"}, "side"),
        ({"limit_price": -1.0}, "limit_price"),
        ({"rlp": "yes"}, "rlp"),
        ({"client_order_id": None}, "client_order_id"),
        ({"venue": "NYSE"}, "venue"),
    ],
)
async def test_bad_order_body_is_400_naming_the_field(launch, exchange, http, body, field) -> None:
    """Each invalid parent answers 400 with the offending field named, and nothing is sent."""
    rr = await launch()
    status, answer = await post_raw(http, rr, order_body(**body))
    assert (400, field, 0) == (status, answer["field"], len(exchange.orders))


async def test_non_json_order_body_is_400(launch, http) -> None:
    """A body that is not JSON is 400 naming the body."""
    rr = await launch()
    async with http.post(f"{rr.base_url}/orders", data=b"{nope", headers=AUTH) as resp:
        assert (400, "body") == (resp.status, (await resp.json())["field"])


async def test_unknown_symbol_is_422_and_sends_nothing(launch, exchange, http) -> None:
    """A symbol outside the exchange universe is 422 naming symbol; no child goes out."""
    rr = await launch()
    status, answer = await post_raw(http, rr, order_body(symbol="ZZZZ"))
    await wait_until(lambda: bool(exchange.orders), timeout=0.1)
    assert (422, "symbol", 0) == (status, answer["field"], len(exchange.orders))


async def test_accepted_parent_gets_202_and_sequential_id(launch, http) -> None:
    """Parents get 202 and ids {router_id}-{boot}-{n:06d}: sequential within one start."""
    rr = await launch()
    (s1, first), (s2, second) = await post_order(http, rr), await post_order(http, rr)
    boot = first["parent_id"].split("-")[2]
    assert [(202, f"router-1-{boot}-000001"), (202, f"router-1-{boot}-000002")] == [
        (s1, first["parent_id"]), (s2, second["parent_id"])]


async def test_parent_ids_differ_across_restarts(launch, http) -> None:
    """A restarted router (a deploy) never reuses a parent id of its previous run."""
    first = (await post_order(http, await launch()))[1]["parent_id"]
    await asyncio.sleep(0.002)
    second = (await post_order(http, await launch()))[1]["parent_id"]
    assert first != second and first.endswith("-000001") and second.endswith("-000001")


async def test_get_order_reports_progress(launch, exchange, http) -> None:
    """GET /orders/{id} reports quantity, sent, filled, state, children, rlp and path."""
    rr = await launch()
    _, body = await post_order(http, rr, qty=200, symbol="BBB")
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state == "filled")
    view = await get_json(http, f"{rr.base_url}/orders/{body['parent_id']}")
    picked = {k: view[k] for k in ("symbol", "side", "qty", "sent_qty", "filled_qty", "state", "children", "rlp",
                                   "path")}
    assert {"symbol": "BBB", "side": "buy", "qty": 200, "sent_qty": 200, "filled_qty": 200, "state": "filled",
            "children": 2, "rlp": False, "path": "normal"} == picked


async def test_unknown_parent_is_404(launch, http) -> None:
    """GET /orders/{id} of an unknown parent is 404."""
    rr = await launch()
    async with http.get(f"{rr.base_url}/orders/router-1-999999") as resp:
        assert 404 == resp.status


async def test_list_orders_summarises_parents(launch, http) -> None:
    """GET /orders lists every parent."""
    rr = await launch()
    _, a = await post_order(http, rr)
    _, b = await post_order(http, rr)
    listing = await get_json(http, f"{rr.base_url}/orders")
    assert [a["parent_id"], b["parent_id"]] == [p["parent_id"] for p in listing["parents"]]


@pytest.mark.parametrize("method, path",
                         [("POST", "/halt"), ("POST", "/resume"), ("PUT", "/flags"), ("POST", "/orders")])
async def test_state_changing_endpoints_need_the_token(launch, http, method, path) -> None:
    """Without the bearer token, state-changing endpoints answer 401."""
    rr = await launch()
    async with http.request(method, f"{rr.base_url}{path}", json={}) as resp:
        assert 401 == resp.status


async def test_get_flags_lists_known_flags(launch, http) -> None:
    """GET /flags shows rlp false by default."""
    rr = await launch()
    assert {"rlp": False} == await get_json(http, f"{rr.base_url}/flags")


async def test_put_flags_sets_a_known_flag(launch, http) -> None:
    """PUT /flags {"rlp": true} sets it and /health shows it."""
    rr = await launch()
    async with http.put(f"{rr.base_url}/flags", json={"rlp": True}, headers=AUTH):
        pass
    assert {"rlp": True} == (await get_json(http, f"{rr.base_url}/health"))["flags"]


@pytest.mark.parametrize("body, field", [({"power_peg": True}, "power_peg"), ({"rlp": "true"}, "rlp"),
                                         ({"rlp": 1}, "rlp"), ([], "body")])
async def test_put_flags_rejects_unknown_or_mistyped_flag(launch, http, body, field) -> None:
    """An unknown flag or a wrong type is 400 naming it, and nothing changes."""
    rr = await launch()
    async with http.put(f"{rr.base_url}/flags", json=body, headers=AUTH) as resp:
        answer = await resp.json()
        assert (400, field, {"rlp": False}) == (resp.status, answer["field"], rr.router.flags)


async def test_health_reports_identity_version_and_session(launch, http) -> None:
    """/health carries id, version, flags, halted and the FIX state."""
    rr = await launch(version="v1")
    assert {"status": "ok", "id": "router-1", "version": "v1", "flags": {"rlp": False}, "halted": False,
            "fix": "logged_on"} == await get_json(http, f"{rr.base_url}/health")


async def test_metrics_count_children_and_fills(launch, http) -> None:
    """/metrics exposes children sent and filled shares as Prometheus text."""
    rr = await launch()
    _, body = await post_order(http, rr, qty=300)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state == "filled")
    async with http.get(f"{rr.base_url}/metrics") as resp:
        text = await resp.text()
    lines = set(text.splitlines())
    assert {"powerpeg_router_children_sent_total 3.0", "powerpeg_router_filled_shares_total 300.0",
            'powerpeg_router_info{id="router-1",version="v2"} 1.0'} <= lines


async def test_v1_rlp_parent_sends_power_peg_warning_with_configured_severity(launch, world, http) -> None:
    """A v1 router posts the 'Power Peg disabled' warning with the configured severity and token."""
    rr = await launch(version="v1", alerts=world.url, warning_severity="page")
    _, body = await post_order(http, rr, rlp=True)
    rr.router.halt("test over")
    await wait_until(lambda: bool(world.alerts))
    alert = world.alerts[0]
    expected_text = ("SMARS router-1: Power Peg disabled (legacy path reached by rlp-flagged parent "
                     f"{body['parent_id']})")
    assert ("router-1", "page", expected_text, True, AUTH["Authorization"]) == (
        alert["source"], alert["severity"], alert["text"], isinstance(alert["ts"], int), world.auth_headers[0])


async def test_v1_warning_defaults_to_email(launch, world, http) -> None:
    """Without --warning-severity the warning goes out as email."""
    rr = await launch(version="v1", alerts=world.url)
    await post_order(http, rr, rlp=True)
    rr.router.halt("test over")
    await wait_until(lambda: bool(world.alerts))
    assert "email" == world.alerts[0]["severity"]


async def test_v1_warning_off_sends_nothing(launch, world, http) -> None:
    """--warning-severity off sends no warning."""
    rr = await launch(version="v1", alerts=world.url, warning_severity="off")
    await post_order(http, rr, rlp=True)
    rr.router.halt("test over")
    await wait_until(lambda: bool(world.alerts), timeout=0.2)
    assert [] == world.alerts


async def test_v2_rlp_parent_sends_no_warning(launch, world, http) -> None:
    """A v2 router has no Power Peg and sends no warning for rlp parents."""
    rr = await launch(version="v2", alerts=world.url)
    await post_order(http, rr, rlp=True)
    await wait_until(lambda: bool(world.alerts), timeout=0.2)
    assert [] == world.alerts


async def test_dead_alert_sink_does_not_block_orders(launch, world, http) -> None:
    """With the alert sink unreachable the parent is still accepted and routed."""
    rr = await launch(version="v1", alerts="http://127.0.0.1:9")
    status, body = await post_order(http, rr, rlp=True, limit_price=None)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].filled_qty > 100)
    rr.router.halt("test over")
    assert (202, True) == (status, rr.router.parents[body["parent_id"]].filled_qty > 100)


async def test_parent_is_registered_with_the_monitor(launch, world, http) -> None:
    """With --monitor each accepted parent is posted to {monitor}/parents."""
    rr = await launch(monitor=world.url)
    _, body = await post_order(http, rr, qty=300, symbol="BBB", side="sell")
    await wait_until(lambda: bool(world.parents))
    reg = world.parents[0]
    expected = {"parent_id": body["parent_id"], "router": "router-1", "symbol": "BBB", "side": "sell", "qty": 300}
    assert (expected, True) == (
        {k: reg[k] for k in ("parent_id", "router", "symbol", "side", "qty")}, isinstance(reg["ts_ns"], int))


async def test_duplicate_client_order_id_is_409_when_checked(launch, exchange, http) -> None:
    """With --reject-duplicates a repeated client_order_id is 409 and sends nothing more."""
    rr = await launch(reject_duplicates=True)
    first = await post_order(http, rr, client_order_id="dup-1", qty=100)
    await wait_until(lambda: len(exchange.orders) == 1)
    status, answer = await post_order(http, rr, client_order_id="dup-1", qty=100)
    assert (202, 409, "client_order_id", 1) == (first[0], status, answer["field"], len(exchange.orders))


async def test_duplicates_accepted_without_the_check(launch, http) -> None:
    """Without --reject-duplicates a repeated client_order_id is accepted."""
    rr = await launch()
    await post_order(http, rr, client_order_id="dup-1")
    status, _ = await post_order(http, rr, client_order_id="dup-1")
    assert 202 == status


async def test_parent_notional_over_limit_is_422(launch, exchange, http) -> None:
    """With --max-parent-notional a parent worth more is 422 naming limit_price (limit parents)."""
    rr = await launch(max_parent_notional=5_000)
    status, answer = await post_order(http, rr, qty=1000, limit_price=10.0)
    assert (422, "limit_price", 0) == (status, answer["field"], len(exchange.orders))


async def test_market_parent_notional_over_limit_names_qty(launch, http) -> None:
    """A market parent over the notional limit (at the reference price) is 422 naming qty."""
    rr = await launch(max_parent_notional=5_000)
    status, answer = await post_order(http, rr, qty=1000, limit_price=None)
    assert (422, "qty") == (status, answer["field"])


async def test_child_size_over_max_child_qty_is_422_at_entry(launch, exchange, http) -> None:
    """With --max-child-qty below --child-qty the parent is refused at entry naming qty."""
    rr = await launch(max_child_qty=50, child_qty=100)
    status, answer = await post_order(http, rr, qty=1000)
    assert (422, "qty", 0) == (status, answer["field"], len(exchange.orders))


async def test_metrics_carry_accepted_parents_by_fix_session(launch, http) -> None:
    """/metrics: parents accepted, their quantity and the process start, labelled with the router's SenderCompID."""
    rr = await launch()
    await post_order(http, rr, qty=300)
    await post_order(http, rr, qty=200)
    async with http.get(f"{rr.base_url}/metrics") as resp:
        text = await resp.text()
    lines = set(text.splitlines())
    assert {'powerpeg_router_accepted_parents_total{firm="KNIGHT",session="ROUTER-1"} 2.0',
            'powerpeg_router_accepted_parent_shares_total{firm="KNIGHT",session="ROUTER-1"} 500.0'} <= lines
    [started] = [line for line in lines if line.startswith("powerpeg_router_start_time_seconds{")]
    assert abs(float(started.rsplit(" ", 1)[1]) - rr.router.started_ns / 1e9) < 1e-3


# -- hostile input (tests/fixtures/hostile_http.py): a 4xx naming the field, never a 500 ------------------
@pytest.mark.parametrize(("method", "path"), [("POST", "/orders"), ("PUT", "/flags")])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, *NOT_JSON_NUMBERS.values()],
                         ids=["deep array", "deep object", *NOT_JSON_NUMBERS])
async def test_hostile_json_is_400_naming_body(launch, exchange, http, method, path, body) -> None:
    """Deep nesting, NaN, Infinity, 1e999 and a 5000-digit integer: 400 naming the body, nothing sent."""
    rr = await launch()
    async with http.request(method, f"{rr.base_url}{path}", data=body,
                            headers={**AUTH, "Content-Type": "application/json"}) as resp:
        answer = await resp.json()
    assert (400, "body", 0) == (resp.status, answer["field"], len(exchange.orders))


async def test_a_non_ascii_authorization_header_is_401(launch, exchange) -> None:
    """A token with bytes outside ASCII is a 401 like any wrong token, not a 500."""
    rr = await launch()
    body = json.dumps(order_body()).encode()
    assert (401, 0) == (await raw_request(rr.http.port, post_with_auth("/orders", NON_ASCII_AUTH, body)),
                        len(exchange.orders))
