"""The exchange's admin API against hostile input: a 4xx naming the field, never a 500 or a cut body."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.http import build_app
from powerpeg.targets.exchange.service import ExchangeService
from tests.fixtures.hostile_http import (
    DEEP_ARRAY, DEEP_OBJECT, NON_ASCII_AUTH, NOT_JSON_NUMBERS, UNICODE_DIGITS, post_with_auth, raw_request,
)

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    ex = ExchangeService(ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False, open_at_ns=2**62),
                         TOKEN, structlog.get_logger())
    yield ex
    ex.journal.close()


@pytest.fixture
async def client(exchange: ExchangeService) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(exchange, TOKEN), host="127.0.0.1", port=0)) as c:
        yield c


@pytest.mark.parametrize("path", ["/kill", "/reinstate", "/clock", "/kill/alertmanager"])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, *NOT_JSON_NUMBERS.values()],
                         ids=["deep array", "deep object", *NOT_JSON_NUMBERS])
async def test_hostile_json_is_400_naming_body(client: TestClient, path: str, body: bytes) -> None:
    """Deep nesting, NaN, Infinity, 1e999 and a 5000-digit integer: 400 naming the body, on every door."""
    resp = await client.post(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert (400, "body") == (resp.status, (await resp.json())["field"])


@pytest.mark.parametrize(("body", "field"), [
    ({"open_in_s": "5"}, "open_in_s"),
    ({"open_in_s": True}, "open_in_s"),
    ({"open_in_s": None}, "open_in_s"),
], ids=["string", "true", "null"])
async def test_the_clock_takes_only_a_number(client: TestClient, exchange: ExchangeService, body: dict,
                                             field: str) -> None:
    """POST /clock: a string or a boolean is no number of seconds; 400 naming it, the open unchanged."""
    before = exchange.clock.open_at_ns
    resp = await client.post("/clock", json=body, headers=AUTH)
    assert (400, field, before) == (resp.status, (await resp.json())["field"], exchange.clock.open_at_ns)


async def test_the_kill_switch_takes_only_strings(client: TestClient, exchange: ExchangeService) -> None:
    """POST /kill {"firm": 1}: 400 naming firm, nobody killed."""
    resp = await client.post("/kill", json={"firm": 1}, headers=AUTH)
    assert (400, "firm", set()) == (resp.status, (await resp.json())["field"], exchange.engine.killed_firms)


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(("path", "name"), [("/journal", "offset"), ("/book/{symbol}", "depth")])
async def test_query_numbers_in_unicode_digits_are_400(client: TestClient, exchange: ExchangeService, path: str,
                                                       name: str, digits: str) -> None:
    """?offset=١٢ was a 200 starting mid-line (int() reads ١٢ as 12) or a 500 (² is a digit int() refuses):
    ASCII digits only, else 400 naming the parameter."""
    url = path.format(symbol=next(iter(exchange.engine.books)))
    resp = await client.get(url, params={name: digits})
    assert (400, name) == (resp.status, (await resp.json())["field"])


@pytest.mark.parametrize(("params", "name"), [
    ({"offset": "9" * 40}, "offset"), ({"offset": "-1"}, "offset"), ({"follow": "maybe"}, "follow"),
    ({"depth": "0"}, "depth"),
])
async def test_other_bad_query_values_are_400(client: TestClient, exchange: ExchangeService, params: dict,
                                              name: str) -> None:
    """Too many digits, a sign, a flag that is no flag word, a depth out of range: 400 naming it."""
    path = "/journal" if name != "depth" else f"/book/{next(iter(exchange.engine.books))}"
    resp = await client.get(path, params=params)
    assert (400, name) == (resp.status, (await resp.json())["field"])


async def test_a_non_ascii_authorization_header_is_401(client: TestClient, exchange: ExchangeService) -> None:
    """A token with bytes outside ASCII is a 401 like any wrong token (it was a 500 in the middleware)."""
    status = await raw_request(client.port, post_with_auth("/kill", NON_ASCII_AUTH, b'{"firm": "KNIGHT"}'))
    assert (401, set()) == (status, exchange.engine.killed_firms)
