"""The alert sink's PagerDuty Events API v2 receiver (POST /v2/enqueue): routing keys, dedup, ack, resolve."""
from __future__ import annotations

import time

import pytest

from powerpeg.harness.measure import Evidence, compute
from powerpeg.harness.ui.attribution import attribution

from .conftest import AUTH
from .payloads import ROUTING_KEY, pd_event


async def _enqueue(client, body, headers=None):
    resp = await client.post("/v2/enqueue", json=body, headers=headers or {})
    return resp.status, await resp.json()


async def _alerts(client) -> list[dict]:
    return await (await client.get("/alerts")).json()


async def test_trigger_is_202_event_processed(client) -> None:
    """A trigger with a configured routing key and no bearer token is answered as PagerDuty answers."""
    status, body = await _enqueue(client, pd_event())
    assert (202, {"status": "success", "message": "Event processed", "dedup_key": "runaway-KNIGHT"}) == (status, body)


async def test_trigger_is_an_alert_on_the_routing_keys_channel(client) -> None:
    """The trigger becomes one alert on the channel the routing key is routed to, delivered."""
    await _enqueue(client, pd_event())
    listed = await _alerts(client)
    assert [("page", "delivered", "pagerduty", "pagerduty:prometheus", "child orders over their parent", "…cdef")] == [
        (a["channel"], a["status"], a["via"], a["source"], a["text"], a["route"]) for a in listed]


async def test_trigger_without_dedup_key_gets_one(client) -> None:
    """A trigger without dedup_key is given one, answered and recorded."""
    _, body = await _enqueue(client, pd_event(dedup_key=None))
    assert [body["dedup_key"]] == [a["dedup_key"] for a in await _alerts(client)]


async def test_unknown_routing_key_is_400_naming_it(client) -> None:
    """A routing key no route names is a 400 naming routing_key and the key, even with the bearer token."""
    status, body = await _enqueue(client, pd_event(routing_key="not-a-configured-key"), headers=AUTH)
    assert (400, "invalid event", "routing_key", True, []) == (
        status, body["status"], body["field"], "not-a-configured-key" in body["errors"][0], await _alerts(client))


async def test_routing_key_is_compared_whole(client) -> None:
    """A prefix of a configured routing key is not that key."""
    status, _ = await _enqueue(client, pd_event(routing_key=ROUTING_KEY[:-1]))
    assert 400 == status


async def test_second_trigger_with_the_same_dedup_key_does_not_page_again(client) -> None:
    """Two triggers with one dedup_key while it is open: one alert, count 2."""
    await _enqueue(client, pd_event())
    await _enqueue(client, pd_event())
    assert [2] == [a["count"] for a in await _alerts(client)]


async def test_same_dedup_key_under_another_routing_key_is_another_alert(make_client) -> None:
    """dedup_key is per routing key (per PagerDuty service): two keys, two alerts."""
    other = "fedcba9876543210fedcba9876543210"
    client = await make_client([f"pagerduty:{ROUTING_KEY}=page", f"pagerduty:{other}=phone"])
    await _enqueue(client, pd_event())
    await _enqueue(client, pd_event(routing_key=other))
    assert ["page", "phone"] == [a["channel"] for a in await _alerts(client)]


async def test_acknowledge_is_an_operator_ack(client) -> None:
    """An acknowledge sets acked_ns and acked_by on the open alert, as the Chaos tab's Ack does."""
    await _enqueue(client, pd_event())
    status, _ = await _enqueue(client, pd_event("acknowledge"))
    (alert,) = await _alerts(client)
    assert (202, "pagerduty:…cdef", True) == (status, alert["acked_by"], alert["acked_ns"] >= alert["received_ns"])


async def test_acknowledge_is_measured_as_a_human_detection(client) -> None:
    """With the pager off, a PagerDuty acknowledge is what measurement takes as detection: by an operator, human."""
    start = time.time_ns()
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    await _enqueue(client, pd_event())
    await _enqueue(client, pd_event("acknowledge"))
    alerts = await _alerts(client)
    events = [{"event": "method_start", "ts_ns": start}]
    metrics = compute(Evidence(journal=[], parents=[], alerts=alerts, events=events, marks={}, firm="KNIGHT"))
    assert ((alerts[0]["acked_ns"], "operator"), "human") == (
        (metrics.detected_at, metrics.detected_by), attribution(metrics, [])["ttd"])


async def test_acknowledge_without_an_open_alert_changes_nothing(client) -> None:
    """An acknowledge for a dedup_key never triggered is accepted (as PagerDuty does) and records nothing."""
    status, _ = await _enqueue(client, pd_event("acknowledge"))
    assert (202, []) == (status, await _alerts(client))


async def test_resolve_is_recorded_on_the_alert(client) -> None:
    """A resolve sets resolved_ns on the open alert and delivers nothing new."""
    await _enqueue(client, pd_event())
    status, _ = await _enqueue(client, pd_event("resolve"))
    listed = await _alerts(client)
    assert (202, 1, True) == (status, len(listed), listed[0]["resolved_ns"] is not None)


async def test_trigger_after_resolve_pages_again(client) -> None:
    """After a resolve, a trigger with the same dedup_key is a new incident: a second alert."""
    await _enqueue(client, pd_event())
    await _enqueue(client, pd_event("resolve"))
    await _enqueue(client, pd_event())
    assert [True, False] == [a["resolved_ns"] is not None for a in await _alerts(client)]


async def test_page_blackout_drops_a_pagerduty_alert(client) -> None:
    """With the page channel off the trigger is recorded and dropped; answered 202 all the same."""
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    status, _ = await _enqueue(client, pd_event())
    assert (202, [("page", "dropped")]) == (status, [(a["channel"], a["status"]) for a in await _alerts(client)])


async def test_severity_is_kept_as_a_label(client) -> None:
    """The event's own severity is kept in labels; the channel comes from the routing key."""
    await _enqueue(client, pd_event(severity="warning"))
    assert [("page", "warning")] == [(a["channel"], a["labels"]["severity"]) for a in await _alerts(client)]


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.pop("routing_key"), "routing_key"),
    (lambda b: b.update(routing_key=""), "routing_key"),
    (lambda b: b.update(event_action="escalate"), "event_action"),
    (lambda b: b.pop("payload"), "payload"),
    (lambda b: b["payload"].update(severity="fatal"), "payload.severity"),
    (lambda b: b["payload"].pop("summary"), "payload.summary"),
    (lambda b: b["payload"].update(summary="x" * 1025), "payload.summary"),
    (lambda b: b["payload"].pop("source"), "payload.source"),
    (lambda b: b["payload"].update(timestamp="noon"), "payload.timestamp"),
    (lambda b: b.update(dedup_key="k" * 256), "dedup_key"),
    (lambda b: b.update(dedup_key=42), "dedup_key"),
])
async def test_malformed_event_is_400_naming_the_field(client, change, field) -> None:
    """Every malformed part of an event is a 400 in PagerDuty's shape naming the field, and records nothing."""
    body = pd_event()
    change(body)
    status, answer = await _enqueue(client, body)
    assert (400, "invalid event", field, []) == (status, answer["status"], answer["field"], await _alerts(client))


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
async def test_ack_or_resolve_without_dedup_key_is_400(client, action) -> None:
    """acknowledge and resolve name their incident: without dedup_key, a 400 naming it."""
    status, answer = await _enqueue(client, pd_event(action, dedup_key=None))
    assert (400, "dedup_key") == (status, answer["field"])


async def test_body_that_is_not_json_is_400_naming_body(client) -> None:
    """A body that is not JSON is a 400 in PagerDuty's shape whose field is body."""
    resp = await client.post("/v2/enqueue", data=b"{not json")
    answer = await resp.json()
    assert (400, "invalid event", "body") == (resp.status, answer["status"], answer["field"])


async def test_the_bearer_token_is_still_needed_elsewhere(client) -> None:
    """Opening /v2/enqueue to routing keys leaves POST /alerts behind the token."""
    resp = await client.post("/alerts", json={"source": "m", "severity": "page", "text": "x"})
    assert 401 == resp.status
