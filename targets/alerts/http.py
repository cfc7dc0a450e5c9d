"""The alert sink's HTTP API (see docs/targets.md, "alerts")."""
from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from targets.common.service import bad_request_middleware, json_error, parse_json, token_middleware

from .core import AlertSink, BadField, UnknownAlert, UnknownChannel

SINK_KEY = web.AppKey("sink", AlertSink)


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = Field(min_length=1, max_length=200)
    severity: Literal["page", "phone", "email"]
    text: str = Field(min_length=1, max_length=10_000)
    ts: int | None = Field(default=None, ge=0)


class AckIn(BaseModel):
    by: str | None = Field(default=None, max_length=200)


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    downgrade_to: Literal["email"] | None = None
    delay_ms: int | None = Field(default=None, ge=0, le=3_600_000)


class HeartbeatIn(BaseModel):
    source: str = Field(min_length=1, max_length=200)
    seq: int = Field(ge=0)


def _sink(request: web.Request) -> AlertSink:
    return request.app[SINK_KEY]


async def post_alert(request: web.Request) -> web.Response:
    body = await parse_json(request, AlertIn)
    alert = _sink(request).submit(source=body.source, severity=body.severity, text=body.text, ts=body.ts)
    return web.json_response({"id": alert.id, "channel": alert.channel, "status": alert.status}, status=201)


async def get_alerts(request: web.Request) -> web.Response:
    channel = request.query.get("channel")
    if channel is not None and channel not in _sink(request).channels:
        return json_error(400, f"unknown channel {channel!r}", field="channel")
    since_txt = request.query.get("since_ns")
    since_ns = None
    if since_txt is not None:
        if not since_txt.isdigit():
            return json_error(400, "since_ns must be a non-negative integer", field="since_ns")
        since_ns = int(since_txt)
    alerts = _sink(request).list(channel=channel, since_ns=since_ns)
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
        "channels": {name: vars(cfg) for name, cfg in sink.channels.items()},
    })


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(_sink(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(sink: AlertSink, token: str) -> web.Application:
    app = web.Application(middlewares=[token_middleware(token), bad_request_middleware])
    app[SINK_KEY] = sink
    app.router.add_post("/alerts", post_alert)
    app.router.add_get("/alerts", get_alerts)
    app.router.add_post("/alerts/{alert_id}/ack", ack_alert)
    app.router.add_get("/channels", get_channels)
    app.router.add_put("/channels/{name}", put_channel)
    app.router.add_post("/heartbeat", post_heartbeat)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app
