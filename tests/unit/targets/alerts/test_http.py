"""The alert sink's HTTP API: auth, validation, routing, heartbeat."""
import asyncio

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.targets.alerts.http import build_app
from tests.fixtures.hostile_http import (
    DEEP_ARRAY, DEEP_OBJECT, NON_ASCII_AUTH, NOT_JSON_NUMBERS, UNICODE_DIGITS, post_with_auth, raw_request,
)
from powerpeg.targets.alerts.core import AlertSink

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client():
    sink = AlertSink(log=structlog.get_logger())
    async with TestClient(TestServer(build_app(sink, TOKEN), host="127.0.0.1", port=0)) as c:
        yield c
    sink.cancel_timers()


async def _post_alert(client, severity: str = "page", text: str = "runaway"):
    resp = await client.post("/alerts", json={"source": "monitor", "severity": severity, "text": text}, headers=AUTH)
    return resp.status, await resp.json()


async def test_post_alert_returns_201_with_id(client) -> None:
    """A valid alert is accepted with 201 and an id that GET /alerts lists."""
    status, body = await _post_alert(client)
    listed = await (await client.get("/alerts")).json()
    assert (201, [body["id"]]) == (status, [a["id"] for a in listed])


async def test_post_alert_without_token_is_401(client) -> None:
    """POST /alerts without the bearer token is refused with 401."""
    resp = await client.post("/alerts", json={"source": "m", "severity": "page", "text": "x"})
    assert 401 == resp.status


async def test_bad_severity_is_400_naming_the_field(client) -> None:
    """An unknown severity is a 400 whose field is severity."""
    resp = await client.post("/alerts", json={"source": "m", "severity": "sms", "text": "x"}, headers=AUTH)
    assert (400, "severity") == (resp.status, (await resp.json())["field"])


async def test_missing_text_is_400_naming_the_field(client) -> None:
    """An alert without text is a 400 whose field is text."""
    resp = await client.post("/alerts", json={"source": "m", "severity": "page"}, headers=AUTH)
    assert (400, "text") == (resp.status, (await resp.json())["field"])


async def test_non_json_body_is_400_naming_body(client) -> None:
    """A body that is not JSON is a 400 whose field is body."""
    resp = await client.post("/alerts", data=b"{not json", headers=AUTH)
    assert (400, "body") == (resp.status, (await resp.json())["field"])


async def test_alerts_filter_by_channel(client) -> None:
    """GET /alerts?channel=email lists only mailbox alerts."""
    await _post_alert(client, "page", "p")
    await _post_alert(client, "email", "e")
    listed = await (await client.get("/alerts", params={"channel": "email"})).json()
    assert ["e"] == [a["text"] for a in listed]


async def test_bad_since_ns_is_400(client) -> None:
    """A since_ns that is not an integer is a 400 naming since_ns."""
    resp = await client.get("/alerts", params={"since_ns": "yesterday"})
    assert (400, "since_ns") == (resp.status, (await resp.json())["field"])


async def test_ack_sets_acked_by(client) -> None:
    """POST /alerts/{id}/ack records the person on the alert."""
    _, body = await _post_alert(client)
    resp = await client.post(f"/alerts/{body['id']}/ack", json={"by": "on-call"}, headers=AUTH)
    assert (200, "on-call") == (resp.status, (await resp.json())["acked_by"])


async def test_ack_unknown_id_is_404(client) -> None:
    """Acknowledging an unknown alert id is a 404."""
    resp = await client.post("/alerts/a-424242/ack", headers=AUTH)
    assert 404 == resp.status


async def test_channel_off_drops_over_http(client) -> None:
    """PUT /channels/page enabled=false makes later pages dropped, not delivered."""
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    _, body = await _post_alert(client)
    listed = await (await client.get("/alerts")).json()
    assert [(body["id"], True, None)] == [(a["id"], a["dropped"], a["delivered_ns"]) for a in listed]


async def test_put_unknown_channel_is_404(client) -> None:
    """PUT /channels/sms is a 404."""
    resp = await client.put("/channels/sms", json={"enabled": False}, headers=AUTH)
    assert 404 == resp.status


async def test_put_negative_delay_is_400_naming_the_field(client) -> None:
    """A negative delay_ms is a 400 whose field is delay_ms."""
    resp = await client.put("/channels/page", json={"delay_ms": -5}, headers=AUTH)
    assert (400, "delay_ms") == (resp.status, (await resp.json())["field"])


async def test_put_unknown_setting_is_400_naming_it(client) -> None:
    """A setting the channel does not have is a 400 naming it."""
    resp = await client.put("/channels/page", json={"volume": 11}, headers=AUTH)
    assert (400, "volume") == (resp.status, (await resp.json())["field"])


async def test_put_channel_without_token_is_401(client) -> None:
    """PUT /channels without the bearer token is refused with 401."""
    resp = await client.put("/channels/page", json={"enabled": False})
    assert 401 == resp.status


async def test_get_channels_shows_settings(client) -> None:
    """GET /channels reflects a downgrade set through PUT."""
    await client.put("/channels/page", json={"downgrade_to": "email"}, headers=AUTH)
    channels = await (await client.get("/channels")).json()
    assert "email" == channels["page"]["downgrade_to"]


async def test_heartbeat_is_acked_while_pages_deliver(client) -> None:
    """POST /heartbeat answers 200 with the seq while the page channel delivers."""
    resp = await client.post("/heartbeat", json={"source": "monitor", "seq": 7}, headers=AUTH)
    assert (200, {"ack": 7}) == (resp.status, await resp.json())


async def test_heartbeat_is_503_while_pages_are_off(client) -> None:
    """POST /heartbeat answers 503 with ack null while the page channel is off."""
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    resp = await client.post("/heartbeat", json={"source": "monitor", "seq": 7}, headers=AUTH)
    assert (503, None) == (resp.status, (await resp.json())["ack"])


async def test_heartbeat_is_503_while_pages_are_downgraded(client) -> None:
    """POST /heartbeat answers 503 while pages are downgraded to email."""
    await client.put("/channels/page", json={"downgrade_to": "email"}, headers=AUTH)
    resp = await client.post("/heartbeat", json={"source": "monitor", "seq": 1}, headers=AUTH)
    assert 503 == resp.status


async def test_heartbeat_is_held_by_the_page_delay(client) -> None:
    """With a 200 ms page delay the heartbeat answer takes at least 200 ms."""
    await client.put("/channels/page", json={"delay_ms": 200}, headers=AUTH)
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await client.post("/heartbeat", json={"source": "monitor", "seq": 2}, headers=AUTH)
    assert (200, True) == (resp.status, loop.time() - start >= 0.2)


async def test_heartbeat_without_token_is_401(client) -> None:
    """POST /heartbeat without the bearer token is refused with 401."""
    resp = await client.post("/heartbeat", json={"source": "monitor", "seq": 1})
    assert 401 == resp.status


async def test_metrics_count_delivered_alerts(client) -> None:
    """/metrics counts delivered alerts per channel and severity."""
    await _post_alert(client, "email")
    text = await (await client.get("/metrics")).text()
    assert 'powerpeg_alerts_delivered_total{channel="email",severity="email"} 1.0' in text.splitlines()


# -- hostile input (tests/fixtures/hostile_http.py): a 4xx naming the field, never a 500 ------------------
@pytest.mark.parametrize("path", ["/alerts", "/channels/page", "/heartbeat", "/alertmanager", "/v2/enqueue"])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, *NOT_JSON_NUMBERS.values()],
                         ids=["deep array", "deep object", *NOT_JSON_NUMBERS])
async def test_hostile_json_is_400_naming_body(client, path, body) -> None:
    """Deep nesting, NaN, Infinity, 1e999 and a 5000-digit integer: 400 naming the body, on every door."""
    method = client.put if path.startswith("/channels") else client.post
    resp = await method(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert (400, "body") == (resp.status, (await resp.json())["field"])


@pytest.mark.parametrize(("body", "field"), [
    ({"enabled": "no"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"delay_ms": "500"}, "delay_ms"),
    ({"delay_ms": True}, "delay_ms"),
    ({"delay_ms": 5.5}, "delay_ms"),
], ids=["enabled no", "enabled 0", "delay string", "delay true", "delay float"])
async def test_channel_settings_take_only_their_types(client, body, field) -> None:
    """"no" does not switch the pager off, true is no delay: 400 naming the field, the channel unchanged."""
    before = await (await client.get("/channels")).json()
    resp = await client.put("/channels/page", json=body, headers=AUTH)
    after = await (await client.get("/channels")).json()
    assert (400, field, before) == (resp.status, (await resp.json())["field"], after)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/alerts", {"source": "m", "severity": "page", "text": "x", "ts": "1"}, "ts"),
    ("/alerts", {"source": "m", "severity": "page", "text": "x", "ts": True}, "ts"),
    ("/heartbeat", {"source": "m", "seq": "1"}, "seq"),
], ids=["ts string", "ts true", "seq string"])
async def test_strings_and_booleans_are_no_numbers(client, path, body, field) -> None:
    """Numbers must be JSON numbers: 400 naming the field."""
    resp = await client.post(path, json=body, headers=AUTH)
    assert (400, field) == (resp.status, (await resp.json())["field"])


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
async def test_since_ns_in_unicode_digits_is_400(client, digits) -> None:
    """?since_ns= takes ASCII digits only (str.isdigit and int() take ١٢ and ² too): 400 naming it."""
    resp = await client.get("/alerts", params={"since_ns": digits})
    assert (400, "since_ns") == (resp.status, (await resp.json())["field"])


async def test_a_non_ascii_authorization_header_is_401(client) -> None:
    """A token with bytes outside ASCII is a 401 like any wrong token, not a 500."""
    body = b'{"source": "m", "severity": "page", "text": "x"}'
    assert 401 == await raw_request(client.port, post_with_auth("/alerts", NON_ASCII_AUTH, body))


async def test_health_counts_alerts_evicted_from_the_history() -> None:
    """Past max_alerts the oldest go, and /health (no token) says how many and what the cap is."""
    sink = AlertSink(log=structlog.get_logger(), max_alerts=2)
    async with TestClient(TestServer(build_app(sink, TOKEN), host="127.0.0.1", port=0)) as c:
        for i in range(5):
            await _post_alert(c, "email", f"alert {i}")
        body = await (await c.get("/health")).json()
        metrics = (await (await c.get("/metrics")).text()).splitlines()
    assert (2, {"max_alerts": 2, "evicted": 3}, True) == (
        body["alerts"], body["history"], "powerpeg_alerts_evicted_total 3.0" in metrics)


async def test_counters_per_channel_and_severity_stay_separate(client) -> None:
    """The cached counter children keep page and email apart in /metrics."""
    for severity in ("page", "page", "email"):
        await _post_alert(client, severity)
    text = (await (await client.get("/metrics")).text()).splitlines()
    assert ('powerpeg_alerts_received_total{channel="page",severity="page"} 2.0' in text,
            'powerpeg_alerts_received_total{channel="email",severity="email"} 1.0' in text) == (True, True)
