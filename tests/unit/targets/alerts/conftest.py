"""Fixtures of the alert sink's tests: the real HTTP app on loopback, with routes."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.targets.alerts.config import build_routes
from powerpeg.targets.alerts.core import AlertSink
from powerpeg.targets.alerts.http import SINK_KEY, build_app

from .payloads import ROUTING_KEY

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = ["alertmanager:trading-pager=page", "alertmanager:trading-chat=chat", f"pagerduty:{ROUTING_KEY}=page"]

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``await make_client(routes=[...flags])``: a sink app on 127.0.0.1 (its sink: ``sink_of(client)``)."""
    opened: list[tuple[TestClient, AlertSink]] = []

    async def make(routes: list[str] | None = None) -> TestClient:
        sink = AlertSink(log=structlog.get_logger())
        client = TestClient(TestServer(build_app(sink, TOKEN, build_routes(flags=ROUTES if routes is None else routes)),
                                       host="127.0.0.1", port=0))
        await client.start_server()
        opened.append((client, sink))
        return client

    yield make
    for client, sink in opened:
        sink.cancel_timers()
        await client.close()


def sink_of(client: TestClient) -> AlertSink:
    return client.server.app[SINK_KEY]


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()
