"""The alert sink's Alertmanager receiver (POST /alertmanager): parsing, routing, grouping, resolve, blackouts."""
from __future__ import annotations

import asyncio

import pytest

from powerpeg.targets.common.alertmanager import rfc3339_ns

from .conftest import AUTH
from .payloads import GROUP_KEY, am_alert, notification

T = 1_796_135_400 * 10**9  # 2026-12-01T14:30:00Z


async def _post(client, body, headers=AUTH):
    resp = await client.post("/alertmanager", json=body, headers=headers)
    return resp.status, await resp.json()


async def _alerts(client) -> list[dict]:
    return await (await client.get("/alerts")).json()


def test_rfc3339_keeps_go_nanoseconds() -> None:
    """Go's nine fractional digits survive: the time is exact to the nanosecond."""
    assert T + 123_456_789 == rfc3339_ns("2026-12-01T14:30:00.123456789Z")


def test_rfc3339_applies_the_offset() -> None:
    """A +02:00 offset is two hours before the same wall time in UTC."""
    assert T - 2 * 3600 * 10**9 == rfc3339_ns("2026-12-01T14:30:00+02:00")


def test_rfc3339_refuses_a_date_without_time() -> None:
    """A bare date is not an RFC 3339 time."""
    with pytest.raises(ValueError, match="RFC 3339"):
        rfc3339_ns("2026-12-01")


async def test_firing_notification_is_one_delivered_page(client) -> None:
    """A firing group to receiver trading-pager (routed to page) is one alert, delivered on the page channel."""
    status, body = await _post(client, notification())
    listed = await _alerts(client)
    assert ((200, "new"), [("page", "delivered", "alertmanager", "trading-pager", GROUP_KEY)]) == (
        (status, body["outcome"]),
        [(a["channel"], a["status"], a["via"], a["route"], a["dedup_key"]) for a in listed])


async def test_alert_record_reads_as_the_group(client) -> None:
    """The record's source names the receiver, its text the alert, its ts the alert's startsAt."""
    await _post(client, notification())
    (alert,) = await _alerts(client)
    assert ("alertmanager:trading-pager", "RunawayOrders: child orders over their parent", T + 1, "KNIGHT") == (
        alert["source"], alert["text"], alert["ts"], alert["labels"]["firm"])


async def test_receiver_routed_to_chat_goes_to_chat(client) -> None:
    """Receiver trading-chat is routed to the chat channel."""
    await _post(client, notification(receiver="trading-chat"))
    assert ["chat"] == [a["channel"] for a in await _alerts(client)]


async def test_unlisted_receiver_goes_to_the_default_page(client) -> None:
    """A receiver no route names goes to the default channel, page."""
    await _post(client, notification(receiver="someone-else"))
    assert ["page"] == [a["channel"] for a in await _alerts(client)]


async def test_unlisted_receiver_is_400_when_the_default_is_none(make_client) -> None:
    """With alertmanager:*=none an unlisted receiver is refused, naming receiver."""
    client = await make_client(["alertmanager:*=none", "alertmanager:trading-pager=page"])
    status, body = await _post(client, notification(receiver="someone-else"))
    assert (400, "receiver", []) == (status, body["field"], await _alerts(client))


async def test_grouped_notification_counts_once_from_the_earliest_alert(client) -> None:
    """Three firing alerts in one group make one alert, read from the one that started first (not the first listed)."""
    alerts = [am_alert(name="B", starts="2026-12-01T14:30:02Z"), am_alert(name="A", starts="2026-12-01T14:30:00Z"),
              am_alert(name="C", starts="2026-12-01T14:30:01Z")]
    await _post(client, notification(*alerts))
    listed = await _alerts(client)
    assert [("A: child orders over their parent (+2 more in the group)", T)] == [(a["text"], a["ts"]) for a in listed]


async def test_resolved_alerts_in_a_firing_group_are_not_its_first(client) -> None:
    """The group's first alert is its earliest *firing* one: an earlier resolved alert is not it."""
    alerts = [am_alert(name="Old", starts="2026-12-01T14:00:00Z", status="resolved"),
              am_alert(name="New", starts="2026-12-01T14:30:00Z")]
    await _post(client, notification(*alerts))
    assert [("New: child orders over their parent", T)] == [(a["text"], a["ts"]) for a in await _alerts(client)]


async def test_repeated_notification_of_a_firing_group_does_not_page_again(client) -> None:
    """A second notification of the same groupKey while firing folds into the record: count 2, a later last_seen."""
    _, first = await _post(client, notification())
    await asyncio.sleep(0.001)
    status, second = await _post(client, notification(am_alert(), am_alert(name="Other")))
    (alert,) = await _alerts(client)
    assert ((200, "repeat", first["id"]), 2, True) == (
        (status, second["outcome"], second["id"]), alert["count"], alert["last_seen_ns"] > alert["delivered_ns"])


async def test_another_group_is_another_alert(client) -> None:
    """Two groupKeys are two alerts."""
    await _post(client, notification(group_key="{}:{alertname=\"A\"}"))
    await _post(client, notification(group_key="{}:{alertname=\"B\"}"))
    assert 2 == len(await _alerts(client))


async def test_resolved_notification_is_recorded_never_delivered(client) -> None:
    """A resolved notification sets resolved_ns on the group's record and delivers nothing new."""
    await _post(client, notification())
    status, body = await _post(client, notification(am_alert(status="resolved")))
    listed = await _alerts(client)
    assert ((200, "resolved"), 1, 2, True) == (
        (status, body["outcome"]), len(listed), listed[0]["count"], listed[0]["resolved_ns"] is not None)


async def test_resolved_without_an_open_group_records_nothing(client) -> None:
    """A resolved notification for a group never seen is answered (unmatched) and makes no alert."""
    status, body = await _post(client, notification(am_alert(status="resolved")))
    assert ((200, "unmatched"), []) == ((status, body["outcome"]), await _alerts(client))


async def test_firing_again_after_resolve_pages_again(client) -> None:
    """Once resolved, the group firing again is a new incident: a second delivered alert."""
    await _post(client, notification())
    await _post(client, notification(am_alert(status="resolved")))
    _, body = await _post(client, notification())
    assert ("new", [True, False]) == (body["outcome"], [a["resolved_ns"] is not None for a in await _alerts(client)])


async def test_page_blackout_drops_an_alertmanager_alert(client) -> None:
    """With the page channel off (alert_blackout mode off) the receiver's alert is recorded and dropped."""
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    await _post(client, notification())
    listed = await _alerts(client)
    assert [("page", "dropped", None)] == [(a["channel"], a["status"], a["delivered_ns"]) for a in listed]


async def test_page_downgrade_sends_an_alertmanager_alert_as_email(client) -> None:
    """With pages downgraded to email the receiver's alert travels as email."""
    await client.put("/channels/page", json={"downgrade_to": "email"}, headers=AUTH)
    await _post(client, notification())
    assert [("email", True)] == [(a["channel"], a["downgraded"]) for a in await _alerts(client)]


async def test_chat_delay_holds_an_alertmanager_alert(client) -> None:
    """A 100 ms delay on the chat channel holds the receiver's alert at least that long."""
    await client.put("/channels/chat", json={"delay_ms": 100}, headers=AUTH)
    await _post(client, notification(receiver="trading-chat"))
    before = [a["status"] for a in await _alerts(client)]
    await asyncio.sleep(0.25)
    (after,) = await _alerts(client)
    assert (["delayed"], "delivered", True) == (
        before, after["status"], after["delivered_ns"] - after["received_ns"] >= 100_000_000)


async def test_a_dropped_alert_does_not_hold_its_group(client) -> None:
    """A notification after the blackout ends is delivered: the dropped record never reached anyone."""
    await client.put("/channels/page", json={"enabled": False}, headers=AUTH)
    await _post(client, notification())
    await client.put("/channels/page", json={"enabled": True}, headers=AUTH)
    _, body = await _post(client, notification())
    assert ("new", ["dropped", "delivered"]) == (body["outcome"], [a["status"] for a in await _alerts(client)])


async def test_without_token_is_401(client) -> None:
    """POST /alertmanager without the bearer token is refused with 401, and records nothing."""
    status, _ = await _post(client, notification(), headers={})
    assert (401, []) == (status, await _alerts(client))


async def test_wrong_token_is_401(client) -> None:
    """POST /alertmanager with another bearer token is refused with 401."""
    status, _ = await _post(client, notification(), headers={"Authorization": "Bearer guess"})
    assert 401 == status


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.update(version="3"), "version"),
    (lambda b: b.update(version=4), "version"),
    (lambda b: b.pop("groupKey"), "groupKey"),
    (lambda b: b.update(status="pending"), "status"),
    (lambda b: b.pop("receiver"), "receiver"),
    (lambda b: b.update(alerts=[]), "alerts"),
    (lambda b: b.update(commonLabels={"severity": 3}), "commonLabels.severity"),
    (lambda b: b.update(truncatedAlerts=-1), "truncatedAlerts"),
    (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
    (lambda b: b["alerts"][0].update(startsAt=1_700_000_000), "alerts.0.startsAt"),
    (lambda b: b["alerts"][0].pop("labels"), "alerts.0.labels"),
    (lambda b: b["alerts"][0].update(status="firing!"), "alerts.0.status"),
    (lambda b: b.update(status="firing", alerts=[am_alert(status="resolved")]), "alerts"),
])
async def test_malformed_notification_is_400_naming_the_field(client, change, field) -> None:
    """Every malformed part of a notification is a 400 whose field names it, and records nothing."""
    body = notification()
    change(body)
    status, answer = await _post(client, body)
    assert (400, field, []) == (status, answer["field"], await _alerts(client))


async def test_body_that_is_not_json_is_400_naming_body(client) -> None:
    """A body that is not JSON is a 400 whose field is body."""
    resp = await client.post("/alertmanager", data=b"{not json", headers=AUTH)
    assert (400, "body") == (resp.status, (await resp.json())["field"])


async def test_count_of_the_sink_is_per_notification(client) -> None:
    """/metrics counts one new and one repeated Alertmanager notification."""
    await _post(client, notification())
    await _post(client, notification())
    text = (await (await client.get("/metrics")).text()).splitlines()
    expected = ['powerpeg_alerts_notifications_total{outcome="new",via="alertmanager"} 1.0',
                'powerpeg_alerts_notifications_total{outcome="repeat",via="alertmanager"} 1.0']
    assert expected == [line for line in text if line.startswith("powerpeg_alerts_notifications_total")]

