"""The alert sink's routing, blackouts, delay and acknowledgement."""
import asyncio

import pytest
import structlog
from structlog.testing import capture_logs

from powerpeg.targets.alerts.core import AlertSink, BadField, UnknownAlert


def _sink() -> AlertSink:
    return AlertSink(log=structlog.get_logger())


async def test_page_severity_goes_to_the_pager() -> None:
    """A page-severity alert is delivered on the page channel."""
    alert = _sink().submit(source="monitor", severity="page", text="runaway")
    assert ("page", "delivered", False) == (alert.channel, alert.status, alert.delivered_ns is None)


async def test_email_severity_goes_to_the_mailbox() -> None:
    """An email-severity alert is delivered on the email channel."""
    alert = _sink().submit(source="router-1", severity="email", text="Power Peg disabled")
    assert ("email", "delivered") == (alert.channel, alert.status)


async def test_delivery_is_logged_as_alert_delivered() -> None:
    """Each delivery is one alert_delivered log event naming channel, source, severity and text."""
    with capture_logs() as logs:
        _sink().submit(source="monitor", severity="page", text="over-fill")
    delivered = [(e["channel"], e["source"], e["severity"], e["text"]) for e in logs if e["event"] == "alert_delivered"]
    assert [("page", "monitor", "page", "over-fill")] == delivered


async def test_channel_switched_off_records_but_drops() -> None:
    """With the page channel off a page is recorded as dropped and never delivered."""
    sink = _sink()
    sink.configure("page", {"enabled": False})
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    assert ("dropped", True, None) == (alert.status, alert.dropped, alert.delivered_ns)


async def test_downgraded_page_travels_as_email() -> None:
    """A page while the page channel is downgraded goes to the email channel."""
    sink = _sink()
    sink.configure("page", {"downgrade_to": "email"})
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    assert ("email", True, "delivered") == (alert.channel, alert.downgraded, alert.status)


async def test_downgraded_page_is_dropped_when_the_mailbox_is_off() -> None:
    """A downgraded page follows the email channel's settings, including being off."""
    sink = _sink()
    sink.configure("page", {"downgrade_to": "email"})
    sink.configure("email", {"enabled": False})
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    assert ("email", "dropped") == (alert.channel, alert.status)


async def test_delay_holds_delivery_until_the_timer_fires() -> None:
    """A 50 ms page delay leaves the alert undelivered at first and delivered after the delay."""
    sink = _sink()
    sink.configure("page", {"delay_ms": 50})
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    before = (alert.status, alert.delivered_ns)
    await asyncio.sleep(0.15)
    after_ms = (alert.delivered_ns - alert.received_ns) / 1e6
    assert (("delayed", None), "delivered", True) == (before, alert.status, after_ms >= 50)


async def test_ack_records_time_and_person() -> None:
    """Acknowledging an alert records who and when."""
    sink = _sink()
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    sink.ack(alert.id, "on-call")
    assert ("on-call", True) == (alert.acked_by, alert.acked_ns >= alert.received_ns)


async def test_second_ack_keeps_the_first() -> None:
    """A repeated ack does not move the acknowledgement time or person."""
    sink = _sink()
    alert = sink.submit(source="monitor", severity="page", text="runaway")
    first = sink.ack(alert.id, "alice").acked_ns
    sink.ack(alert.id, "bob")
    assert (first, "alice") == (alert.acked_ns, alert.acked_by)


async def test_ack_of_unknown_id_raises() -> None:
    """Acknowledging an id that was never issued is an error."""
    with pytest.raises(UnknownAlert):
        _sink().ack("a-999999")


async def test_email_channel_cannot_be_downgraded_to_itself() -> None:
    """downgrade_to naming the channel itself is refused, naming the field."""
    with pytest.raises(BadField) as info:
        _sink().configure("email", {"downgrade_to": "email"})
    assert "downgrade_to" == info.value.field


async def test_list_filters_by_channel_and_time() -> None:
    """Listing with channel and since_ns returns only matching alerts."""
    sink = _sink()
    sink.submit(source="a", severity="page", text="one")
    cut = sink.clock()
    sink.submit(source="b", severity="email", text="two")
    later = sink.submit(source="c", severity="page", text="three")
    assert [later.id] == [a.id for a in sink.list(channel="page", since_ns=cut)]


async def test_oldest_alerts_are_evicted_past_the_cap() -> None:
    """The in-memory record keeps at most max_alerts, dropping the oldest."""
    sink = AlertSink(log=structlog.get_logger(), max_alerts=2)
    ids = [sink.submit(source="m", severity="email", text=str(i)).id for i in range(3)]
    assert ids[1:] == list(sink.alerts)


async def test_heartbeat_verdicts_follow_the_page_channel() -> None:
    """Heartbeats ack while pages deliver, and not when the channel is off or downgraded."""
    sink = _sink()
    up = sink.heartbeat_verdict().ack
    sink.configure("page", {"downgrade_to": "email"})
    downgraded = sink.heartbeat_verdict().ack
    sink.configure("page", {"downgrade_to": None, "enabled": False})
    off = sink.heartbeat_verdict().ack
    assert (True, False, False) == (up, downgraded, off)


async def test_phone_severity_goes_to_the_phone_escalation() -> None:
    """A phone-severity alert is delivered on the phone channel, even with the pager switched off."""
    sink = _sink()
    sink.configure("page", {"enabled": False})
    alert = sink.submit(source="monitor", severity="phone", text="[pager down] over-fill")
    assert ("phone", "delivered") == (alert.channel, alert.status)


async def test_chat_severity_goes_to_chat() -> None:
    """A chat-severity alert is delivered on the chat channel."""
    alert = _sink().submit(source="monitor", severity="chat", text="fyi")
    assert ("chat", "delivered") == (alert.channel, alert.status)


async def test_an_evicted_incident_is_no_longer_open() -> None:
    """Past max_alerts the oldest incident's record goes, and its key with it."""
    sink = AlertSink(log=structlog.get_logger(), max_alerts=1)
    first = ("alertmanager", "pager", "group-1")
    sink.notify(first, route="pager", source="am", severity="page", text="one")
    sink.notify(("alertmanager", "pager", "group-2"), route="pager", source="am", severity="page", text="two")
    assert (None, {("alertmanager", "pager", "group-2")}) == (sink.incident(first), set(sink._open))
