"""The admin HTTP site every service runs: connections that never finish a request are closed."""
from __future__ import annotations

import asyncio

from aiohttp import web

from powerpeg.targets.common.service import IDLE_TIMEOUT_S, AdminSite


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _site(idle_timeout_s: float) -> AdminSite:
    app = web.Application()
    app.router.add_get("/health", _health)
    site = AdminSite(app, "127.0.0.1", 0, idle_timeout_s=idle_timeout_s)
    await site.start()
    return site


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (the wait_for is only a safety net)."""
    data = b""
    while chunk := await asyncio.wait_for(reader.read(4096), 30):
        data += chunk
    return data


async def test_half_a_request_line_held_open_is_closed() -> None:
    """A client that sends half a request line and waits (slow loris) is disconnected by the server."""
    site = await _site(0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET /hea")
        await writer.drain()
        assert b"" == await _read_until_closed(reader)
        writer.close()
    finally:
        await site.stop()


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    """A connection that never sends a byte is closed too."""
    site = await _site(0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        assert b"" == await _read_until_closed(reader)
        writer.close()
    finally:
        await site.stop()


async def test_a_complete_request_is_answered_before_the_idle_close() -> None:
    """The timeout ends idle connections only: a whole request gets its answer, then the idle close."""
    site = await _site(0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        data = await _read_until_closed(reader)
        writer.close()
        assert (True, True) == (data.startswith(b"HTTP/1.1 200"), data.endswith(b'{"status": "ok"}'))
    finally:
        await site.stop()


def test_the_default_idle_timeout_outlasts_client_keepalives() -> None:
    """Longer than aiohttp clients' own 15 s keep-alive, so a client never reuses a connection being closed;
    short enough that held connections do not pile up."""
    assert 15 < IDLE_TIMEOUT_S <= 60
