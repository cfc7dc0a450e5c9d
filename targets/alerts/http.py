"""The alert sink's HTTP API (see docs/targets.md, "alerts"): its own JSON webhook (``POST /alerts``),
the receivers of outside formats (``POST /alertmanager``, ``POST /v2/enqueue``), channels, heartbeat."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ConfigDict, Field

from powerpeg.targets.common.edge import (StrictBody, bad_request_middleware, json_error, parse_json, query_int,
                                          token_middleware)

from powerpeg.targets.common import alertmanager as am
from . import pagerduty as pd
from .config import Routes
from .core import AlertSink, BadField, UnknownAlert, UnknownChannel
from .receivers import Receivers

SINK_KEY = web.AppKey("sink", AlertSink)
RECEIVERS_KEY = web.AppKey("receivers", Receivers)
# PagerDuty's Events API v2 path: its senders carry a routing key, never the bearer token
PAGERDUTY_PATH = "/v2/enqueue"


class AlertIn(StrictBody):
    model_config = ConfigDict(extra="ignore")  # a generic webhook: fields other senders add are ignored
    source: str = Field(min_length=1, max_length=200)
    severity: Literal["page", "phone", "email", "chat"]
    text: str = Field(min_length=1, max_length=10_000)
    ts: int | None = Field(default=None, ge=0)


class AckIn(StrictBody):
    model_config = ConfigDict(extra="ignore")
    by: str | None = Field(default=None, max_length=200)


class ChannelIn(StrictBody):
    enabled: bool | None = None
    downgrade_to: Literal["email"] | None = None
    delay_ms: int | None = Field(default=None, ge=0, le=3_600_000)


class HeartbeatIn(StrictBody):
    model_config = ConfigDict(extra="ignore")
    source: str = Field(min_length=1, max_length=200)
    seq: int = Field(ge=0)


def _sink(request: web.Request) -> AlertSink:
    return request.app[SINK_KEY]


async def post_alert(request: web.Request) -> web.Response:
    body = await parse_json(request, AlertIn)
    alert = _sink(request).submit(source=body.source, severity=body.severity, text=body.text, ts=body.ts)
    return web.json_response({"id": alert.id, "channel": alert.channel, "status": alert.status}, status=201)


async def post_alertmanager(request: web.Request) -> web.Response:
    """An Alertmanager webhook notification (v4): one alert per group, however often it is sent."""
    notification = await parse_json(request, am.Notification)
    try:
        outcome = request.app[RECEIVERS_KEY].alertmanager(notification)
    except BadField as exc:
        return json_error(400, str(exc), field=exc.field)
    return web.json_response(outcome.view())


async def post_pagerduty(request: web.Request) -> web.Response:
    """A PagerDuty Events API v2 event; its routing key is its credential (checked here, not the token)."""
    try:
        event = await pd.parse(request)
        outcome = request.app[RECEIVERS_KEY].pagerduty(event)
    except pd.InvalidEvent as exc:
        return exc.response()
    except BadField as exc:
        return pd.InvalidEvent(exc.field, str(exc)).response()
    return pd.processed(outcome.dedup_key)


async def get_routes(request: web.Request) -> web.Response:
    return web.json_response(request.app[RECEIVERS_KEY].routes.view())


async def get_alerts(request: web.Request) -> web.Response:
    channel = request.query.get("channel")
    if channel is not None and channel not in _sink(request).channels:
        return json_error(400, f"unknown channel {channel!r}", field="channel")
    since_ns = query_int(request, "since_ns", default=-1)
    alerts = _sink(request).list(channel=channel, since_ns=None if since_ns < 0 else since_ns)
    return web.json_response([a.as_dict() for a in alerts])


async def ack_alert(request: web.Request) -> web.Response:
    by = None
    if request.can_read_body:
        by = (await parse_json(request, AckIn)).by
    try:
        alert = _sink(request).ack(request.match_info["alert_id"], by)
    except UnknownAlert:
        return json_error(404, f"unknown alert {request.match_info['alert_id']!r}", field="id")
    return web.json_response(alert.as_dict())


async def get_channels(request: web.Request) -> web.Response:
    return web.json_response({name: vars(cfg) for name, cfg in _sink(request).channels.items()})


async def put_channel(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _sink(request).channels:
        return json_error(404, f"unknown channel {name!r}", field="channel")
    body = await parse_json(request, ChannelIn)
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    for key in ("enabled", "delay_ms"):
        if key in changes and changes[key] is None:
            return json_error(400, f"{key} may not be null", field=key)
    try:
        cfg = _sink(request).configure(name, changes)
    except BadField as exc:
        return json_error(400, str(exc), field=exc.field)
    except UnknownChannel:  # pragma: no cover - checked above
        return json_error(404, f"unknown channel {name!r}", field="channel")
    return web.json_response({name: vars(cfg)})


async def post_heartbeat(request: web.Request) -> web.Response:
    body = await parse_json(request, HeartbeatIn)
    verdict = _sink(request).heartbeat_verdict()
    if not verdict.ack:
        return web.json_response({"ack": None, "reason": verdict.reason}, status=503)
    if verdict.delay_s > 0:
        # A slow pager makes a slow heartbeat: the monitor's timeout judges it.
        await asyncio.sleep(verdict.delay_s)
    return web.json_response({"ack": body.seq})


async def health(request: web.Request) -> web.Response:
    sink = _sink(request)
    return web.json_response({
        "status": "ok",
        "alerts": len(sink.alerts),
        # the history is capped: what went, said here rather than silently
        "history": {"max_alerts": sink.max_alerts, "evicted": sink.evicted},
        "channels": {name: vars(cfg) for name, cfg in sink.channels.items()},
    })


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(_sink(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def auth_middleware(token: str) -> Callable:
    """The bearer token on every state-changing request but PagerDuty's, whose routing key is checked instead."""
    with_token = token_middleware(token)

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path == PAGERDUTY_PATH:
            return await handler(request)
        response: web.StreamResponse = await with_token(request, handler)
        return response

    return middleware


def build_app(sink: AlertSink, token: str, routes: Routes | None = None) -> web.Application:
    app = web.Application(middlewares=[auth_middleware(token), bad_request_middleware])
    app[SINK_KEY] = sink
    app[RECEIVERS_KEY] = Receivers(sink, routes or Routes())
    app.router.add_post("/alerts", post_alert)
    app.router.add_post("/alertmanager", post_alertmanager)
    app.router.add_post(PAGERDUTY_PATH, post_pagerduty)
    app.router.add_get("/routes", get_routes)
    app.router.add_get("/alerts", get_alerts)
    app.router.add_post("/alerts/{alert_id}/ack", ack_alert)
    app.router.add_get("/channels", get_channels)
    app.router.add_put("/channels/{name}", put_channel)
    app.router.add_post("/heartbeat", post_heartbeat)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app
