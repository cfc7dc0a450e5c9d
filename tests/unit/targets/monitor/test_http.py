"""The monitor's HTTP API: parent registration, limits, auto-kill, state."""
import pytest
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.targets.monitor.http import build_app

from tests.fixtures.hostile_http import (
    DEEP_ARRAY, DEEP_OBJECT, NON_ASCII_AUTH, NOT_JSON_NUMBERS, post_with_auth, raw_request,
)
from tests.unit.targets.monitor.fakes import TOKEN, fill, make_monitor

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PARENT = {"parent_id": "router-1-000001", "router": "router-1", "symbol": "AAA", "side": "buy", "qty": 200,
          "ts_ns": 1}


@pytest.fixture
async def monitor():
    m = make_monitor(None)
    yield m
    await m.actions.close()


@pytest.fixture
async def client(monitor):
    async with TestClient(TestServer(build_app(monitor, TOKEN), host="127.0.0.1", port=0)) as c:
        yield c


async def test_register_parent_is_201(client, monitor) -> None:
    """POST /parents registers the parent for reconciliation."""
    resp = await client.post("/parents", json=PARENT, headers=AUTH)
    assert (201, 200) == (resp.status, monitor.book.parents["router-1-000001"].qty)


async def test_register_parent_without_token_is_401(client) -> None:
    """POST /parents without the bearer token is refused."""
    resp = await client.post("/parents", json=PARENT)
    assert 401 == resp.status


async def test_register_parent_with_bad_side_is_400_naming_it(client) -> None:
    """A side other than buy/sell is a 400 whose field is side."""
    resp = await client.post("/parents", json={**PARENT, "side": "short"}, headers=AUTH)
    assert (400, "side") == (resp.status, (await resp.json())["field"])


async def test_register_parent_with_zero_qty_is_400_naming_it(client) -> None:
    """A non-positive qty is a 400 whose field is qty."""
    resp = await client.post("/parents", json={**PARENT, "qty": 0}, headers=AUTH)
    assert (400, "qty") == (resp.status, (await resp.json())["field"])


async def test_duplicate_parent_is_409(client) -> None:
    """Registering the same parent id twice is a 409."""
    await client.post("/parents", json=PARENT, headers=AUTH)
    resp = await client.post("/parents", json=PARENT, headers=AUTH)
    assert 409 == resp.status


def _parents(n: int) -> list[dict]:
    return [{**PARENT, "parent_id": f"router-1-{i:06d}", "qty": 100 * i} for i in range(1, n + 1)]


async def test_a_batch_registers_every_parent_and_lists_duplicates(client, monitor) -> None:
    """POST /parents/batch: each parent registered in order; one already known is listed, not re-registered."""
    await client.post("/parents", json=_parents(1)[0], headers=AUTH)
    resp = await client.post("/parents/batch", json={"parents": _parents(3)}, headers=AUTH)
    assert (200, {"registered": ["router-1-000002", "router-1-000003"], "duplicates": ["router-1-000001"]},
            [100, 200, 300]) == (resp.status, await resp.json(),
                                 [monitor.book.parents[f"router-1-{i:06d}"].qty for i in (1, 2, 3)])


@pytest.mark.parametrize(("body", "field"), [
    ({"parents": []}, "parents"),
    ({"parents": [*_parents(2), {**PARENT, "parent_id": "x", "qty": 0}]}, "parents.2.qty"),
    ({"parents": _parents(1001)}, "parents"),
    ({}, "parents"),
])
async def test_a_bad_batch_is_400_naming_the_item_and_registers_nothing(client, monitor, body, field) -> None:
    resp = await client.post("/parents/batch", json=body, headers=AUTH)
    assert (400, field, {}) == (resp.status, (await resp.json())["field"], dict(monitor.book.parents))


async def test_a_batch_without_token_is_401(client, monitor) -> None:
    resp = await client.post("/parents/batch", json={"parents": _parents(1)})
    assert (401, {}) == (resp.status, dict(monitor.book.parents))


async def test_put_limits_changes_one_limit(client, monitor) -> None:
    """PUT /limits sets the given limit and leaves the others."""
    resp = await client.put("/limits", json={"max_position": 500}, headers=AUTH)
    assert (200, 500, 0) == (resp.status, monitor.limits.max_position, monitor.limits.overfill_shares)


async def test_put_limits_unknown_name_is_400_naming_it(client) -> None:
    """An unknown limit name is a 400 naming it."""
    resp = await client.put("/limits", json={"max_leverage": 3}, headers=AUTH)
    assert (400, "max_leverage") == (resp.status, (await resp.json())["field"])


async def test_put_limits_negative_is_400(client) -> None:
    """A negative limit is a 400 naming it."""
    resp = await client.put("/limits", json={"max_child_rate": -1}, headers=AUTH)
    assert (400, "max_child_rate") == (resp.status, (await resp.json())["field"])


async def test_auto_kill_can_be_switched_on(client, monitor) -> None:
    """POST /auto-kill {"enabled": true} arms the auto-kill."""
    resp = await client.post("/auto-kill", json={"enabled": True}, headers=AUTH)
    assert (200, True) == (resp.status, monitor.auto_kill)


async def test_auto_kill_without_enabled_is_400(client) -> None:
    """POST /auto-kill without enabled is a 400 naming it."""
    resp = await client.post("/auto-kill", json={}, headers=AUTH)
    assert (400, "enabled") == (resp.status, (await resp.json())["field"])


async def test_state_reports_positions_and_parent_counts(client, monitor) -> None:
    """GET /state shows positions, notional and registered/over-filled parent counts."""
    await client.post("/parents", json=PARENT, headers=AUTH)
    monitor.on_execution(fill("router-1-000001.1", 300, "10.00"))
    state = await (await client.get("/state")).json()
    assert (300, 3000.0, {"registered": 1, "over_filled": 1}) == (
        state["positions"]["AAA"]["position"], state["notional"]["gross_usd"],
        {k: state["parents"][k] for k in ("registered", "over_filled")})


async def test_breaches_endpoint_lists_breaches(client, monitor) -> None:
    """GET /breaches lists the over-fill with its ts_ns."""
    await client.post("/parents", json=PARENT, headers=AUTH)
    monitor.on_execution(fill("router-1-000001.1", 300))
    await monitor.drain()
    body = await (await client.get("/breaches")).json()
    assert [("overfill", True)] == [(b["kind"], b["ts_ns"] > 0) for b in body["breaches"]]


async def test_metrics_expose_notional(client, monitor) -> None:
    """/metrics exposes gross notional as a Prometheus gauge."""
    await client.post("/parents", json=PARENT, headers=AUTH)
    monitor.on_execution(fill("router-1-000001.1", 100, "10.00"))
    text = await (await client.get("/metrics")).text()
    assert 'powerpeg_monitor_notional_usd{kind="gross"} 1000.0' in text.splitlines()


# -- hostile input (tests/fixtures/hostile_http.py): a 4xx naming the field, never a 500 ------------------
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, *NOT_JSON_NUMBERS.values()],
                         ids=["deep array", "deep object", *NOT_JSON_NUMBERS])
async def test_hostile_json_is_400_naming_body(client, body) -> None:
    """Deep nesting, NaN, Infinity, 1e999 and a 5000-digit integer are each a 400 naming the body."""
    resp = await client.put("/limits", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert (400, "body") == (resp.status, (await resp.json())["field"])


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/parents", {**PARENT, "qty": True}, "qty"),
    ("/parents", {**PARENT, "qty": "200"}, "qty"),
    ("/parents", {**PARENT, "qty": 200.0}, "qty"),
    ("/limits", {"max_position": "500"}, "max_position"),
    ("/limits", {"max_gross_notional": "1e6"}, "max_gross_notional"),
    ("/limits", {"max_child_rate": False}, "max_child_rate"),
    ("/auto-kill", {"enabled": "no"}, "enabled"),
    ("/auto-kill", {"enabled": 0}, "enabled"),
], ids=["qty true", "qty string", "qty float", "limit string", "notional string", "rate false", "enabled no",
        "enabled 0"])
async def test_strings_and_booleans_are_no_numbers_or_flags(client, monitor, path, body, field) -> None:
    """Strict types: "no" does not switch auto-kill off, true is no quantity; 400 naming the field,
    nothing changed."""
    before = (monitor.auto_kill, monitor.limits.as_dict(), len(monitor.book.parents))
    resp = await client.request("PUT" if path == "/limits" else "POST", path, json=body, headers=AUTH)
    assert (400, field, before) == (resp.status, (await resp.json())["field"],
                                    (monitor.auto_kill, monitor.limits.as_dict(), len(monitor.book.parents)))


async def test_a_non_ascii_authorization_header_is_401(client) -> None:
    """A token with bytes outside ASCII is a 401 like any wrong token, not a 500."""
    status = await raw_request(client.port, post_with_auth("/auto-kill", NON_ASCII_AUTH, b'{"enabled": true}'))
    assert 401 == status


# -- the run's measurement floor (issue 13) ---------------------------------------------------------------
async def test_measurement_before_any_report_has_null_percentiles(client) -> None:
    """GET /measurement/dropcopy with no report yet: n 0, p50/p99/max null, no kill decision; no token."""
    resp = await client.get("/measurement/dropcopy")
    assert (200, {"drop_copy_lag_s": {"n": 0, "p50": None, "p99": None, "max": None}, "kill_decisions": [],
                  "first_risk_breach": None}) == (resp.status, await resp.json())


async def test_measurement_has_the_lag_and_every_kill_decision(client, monitor) -> None:
    """The contract exactly: drop_copy_lag_s {n, p50, p99, max} as floats, kill_decisions
    [{at_ns, firm, reason, report_lag_s}] as the kill was decided, first_risk_breach {ts_ns, kind, report_lag_s}
    (report_lag_s null here: the execution did not come through the drop copy)."""
    monitor.dropcopy_lag.observe(2_000_000)
    monitor.auto_kill = True
    await client.post("/parents", json=PARENT, headers=AUTH)
    monitor.on_execution(fill("router-1-000001.1", 300))
    await monitor.drain()
    body = await (await client.get("/measurement/dropcopy")).json()
    [decision] = body["kill_decisions"]
    assert ({"drop_copy_lag_s", "kill_decisions", "first_risk_breach"},
            {"n": 1, "p50": 0.002, "p99": 0.002, "max": 0.002}, {"at_ns", "firm", "reason", "report_lag_s"},
            ("KNIGHT", "overfill", None), monitor.kill["kill_issued_ns"], ("overfill", None)) == (
        set(body), body["drop_copy_lag_s"], set(decision), (decision["firm"], decision["reason"],
                                                            decision["report_lag_s"]), decision["at_ns"],
        (body["first_risk_breach"]["kind"], body["first_risk_breach"]["report_lag_s"]))


async def test_metrics_expose_the_lag_histogram(client, monitor) -> None:
    """/metrics has powerpeg_monitor_dropcopy_lag_seconds as a histogram with its count."""
    for ns in (300_000, 3_000_000):
        monitor.dropcopy_lag.observe(ns)
    text = (await (await client.get("/metrics")).text()).splitlines()
    assert ("# TYPE powerpeg_monitor_dropcopy_lag_seconds histogram" in text,
            'powerpeg_monitor_dropcopy_lag_seconds_bucket{le="0.001"} 1.0' in text,
            "powerpeg_monitor_dropcopy_lag_seconds_count 2.0" in text) == (True, True, True)


async def test_health_says_what_the_bounds_let_go(client, monitor) -> None:
    """/health counts the parents kept and retired and what the caps dropped."""
    body = await (await client.get("/health")).json()
    assert {"parents": 0, "parents_retired": 0,
            "dropped": {"parents": 0, "unregistered": 0, "early_committed": 0, "breaches": 0}} == body["bounded"]
