"""GET /journal over a journal in segments: one stream, offsets that run on across the files."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import structlog

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.journal import copy_journal, read_records, segments
from powerpeg.targets.exchange.service import ExchangeService

TOKEN = "token"


class Null:
    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        pass


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    # a new segment every few records
    ex = ExchangeService(ExchangeConfig(journal=tmp_path / "journal.jsonl", liquidity=False, journal_segment_bytes=700),
                         TOKEN, structlog.get_logger())
    await ex.start()
    yield ex
    await ex.stop()


def orders(exchange: ExchangeService, first: int, n: int) -> None:
    """``n`` resting orders, a flush every three (each flush may start a segment)."""
    engine = exchange.engine
    st = engine.attach("R1", Null(), cod=False)
    symbol = next(iter(engine.books))
    for i in range(first, first + n):
        engine.new_order(st, f"c{i}", "KNIGHT", symbol, 1, 100, 1000 + i, 2, 0)
        if i % 3 == 2:
            exchange.journal.flush()


def whole(exchange: ExchangeService) -> bytes:
    exchange.journal.flush()
    return copy_journal_bytes(exchange)


def copy_journal_bytes(exchange: ExchangeService) -> bytes:
    dest = Path(exchange.journal.path).with_name("copy.out")
    copy_journal(exchange.journal.path, dest)
    return dest.read_bytes()


def admin(exchange: ExchangeService) -> str:
    return f"http://127.0.0.1:{exchange.http.port}/journal"


async def test_the_journal_is_served_as_one_stream(exchange: ExchangeService) -> None:
    """Every segment, in order, in one answer: the same bytes as the files end to end."""
    orders(exchange, 0, 40)
    expected = whole(exchange)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http, \
            http.get(admin(exchange)) as resp:
        body = await resp.read()
    assert (True, expected, 40) == (len(segments(exchange.journal.path)) > 5, body,
                                    sum(1 for r in read_records(exchange.journal.path) if r["kind"] == "accepted"))


async def test_a_reader_polling_by_offset_misses_nothing_across_rotations(exchange: ExchangeService) -> None:
    """The harness's tail (GET /journal?offset=, every 100 ms) reads on from where it was while the
    journal rotates in between: it gets every byte once."""
    got = b""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for step in range(8):
            orders(exchange, step * 7, 7)
            exchange.journal.flush()
            async with http.get(admin(exchange), params={"offset": str(len(got))}) as resp:
                got += await resp.read()
    assert (whole(exchange), 56) == (got, got.count(b"\"accepted\""))


async def test_a_follower_is_carried_into_the_next_segments(exchange: ExchangeService) -> None:
    """GET /journal?follow=1 goes on into segments started after it began, until the exchange stops."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        orders(exchange, 0, 3)
        exchange.journal.flush()

        async def follow() -> bytes:
            async with http.get(admin(exchange), params={"follow": "1"}) as resp:
                return await resp.read()

        reader = asyncio.ensure_future(follow())
        for step in range(1, 6):
            await asyncio.sleep(0.02)
            orders(exchange, step * 5, 5)
            exchange.journal.flush()
        await asyncio.sleep(0.05)
        expected = whole(exchange)
        exchange.stopping = True  # what stop() does first: the follow streams end at their next wake-up
        exchange.journal.flush()
        body = await asyncio.wait_for(reader, 5)
    assert (expected, 28) == (body, expected.count(b"\"accepted\""))
