"""PagerDuty's Events API v2 (``POST /v2/enqueue``): the event, parsed strictly, and its answers.

What Alertmanager's ``pagerduty_configs`` send (``notify/pagerduty`` in its
source) and what any other tool that speaks to PagerDuty sends: a
``routing_key`` (the integration key: PagerDuty's only credential, no bearer
token travels), an ``event_action`` (trigger, acknowledge, resolve), a
``dedup_key`` naming the incident across events, and for a trigger a
``payload`` with summary, source and severity.

The answers copy PagerDuty's: 202 ``{"status": "success", "message": "Event
processed", "dedup_key"}``; 400 ``{"status": "invalid event", "message",
"errors": [...]}`` (plus ``field``, the sink's own convention, naming the
first bad one). Fields PagerDuty takes and the sink has no use for
(``client``, ``client_url``, ``links``, ``images``, ``custom_details``...)
are accepted and ignored.
"""
from __future__ import annotations

from typing import Any, Literal

import pydantic
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from powerpeg.targets.common.alertmanager import Timestamp
from powerpeg.targets.common.edge import BadJson, load_json

MAX_KEY = 255  # PagerDuty's bound on dedup_key


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Timestamp | None = None
    component: str | None = Field(default=None, max_length=255)
    group: str | None = Field(default=None, max_length=255)
    class_: str | None = Field(default=None, alias="class", max_length=255)


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    routing_key: str = Field(min_length=1, max_length=255)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY)
    payload: Payload | None = None

    def missing(self) -> str | None:
        """The field this action needs and the event lacks: a trigger's payload, an ack's or resolve's dedup_key."""
        if self.event_action == "trigger" and self.payload is None:
            return "payload"
        if self.event_action != "trigger" and self.dedup_key is None:
            return "dedup_key"
        return None


class InvalidEvent(Exception):
    """A 400 in PagerDuty's shape, naming the field."""

    def __init__(self, field: str, error: str, errors: list[str] | None = None) -> None:
        super().__init__(error)
        self.field = field
        self.errors = errors or [f"{field}: {error}"]

    def response(self) -> web.Response:
        return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                  "errors": self.errors, "field": self.field}, status=400)


def processed(dedup_key: str) -> web.Response:
    return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                             status=202)


async def parse(request: web.Request) -> Event:
    """The request's event, or :class:`InvalidEvent` naming the first bad field."""
    try:
        raw: Any = load_json(await request.read())
    except BadJson as exc:
        raise InvalidEvent(exc.field, str(exc)) from None
    if not isinstance(raw, dict):
        raise InvalidEvent("body", "body must be a JSON object")
    try:
        event = Event.model_validate(raw, strict=True)
    except pydantic.ValidationError as exc:
        errors = [(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) for err in exc.errors()]
        raise InvalidEvent(errors[0][0], errors[0][1], [f"{f}: {m}" for f, m in errors]) from None
    missing = event.missing()
    if missing is not None:
        raise InvalidEvent(missing, f"{missing} is required for event_action {event.event_action}")
    return event
