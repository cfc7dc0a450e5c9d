"""The HTTP edge every service shares: the JSON rules, query numbers and flags, the token."""
from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.targets.common.edge import (
    MAX_JSON_DEPTH, BadJson, StrictBody, bad_request_middleware, load_json, parse_json, query_flag, query_int,
    too_deep, token_middleware,
)


class Body(StrictBody):
    qty: int
    price: float | None = None
    on: bool = False


def test_nesting_at_the_bound_is_read_one_deeper_is_not() -> None:
    """MAX_JSON_DEPTH levels are JSON; one more is refused before the parser recurses."""
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    deeper = b"[" + ok + b"]"
    assert (False, True) == (too_deep(ok), too_deep(deeper))


def test_brackets_inside_strings_are_not_nesting() -> None:
    """A label full of brackets (and escaped quotes) is text, not depth."""
    text = b'{"a": "' + b"[{" * 100 + b'\\"' + b"[" * 100 + b'"}'
    assert ({"a": "[{" * 100 + '"' + "[" * 100}, False) == (load_json(text), too_deep(text))


@pytest.mark.parametrize("raw", [b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'{"x": 1e999}',
                                 b'{"x": ' + b"1" * 21 + b"}", b"\xff\xfe", b"{not json", b""])
def test_what_is_not_json_for_a_service_is_bad_json(raw: bytes) -> None:
    """NaN, Infinity, numbers out of range, integers past 20 digits, bad bytes, bad syntax: BadJson."""
    with pytest.raises(BadJson):
        load_json(raw)


def test_integers_of_twenty_digits_and_finite_floats_are_read() -> None:
    """The bounds are generous: a nanosecond time and 1e308 are numbers."""
    assert {"t": 10**19, "f": 1e308, "n": -5} == load_json(b'{"t": 10000000000000000000, "f": 1e308, "n": -5}')


async def _app_client(handler) -> TestClient:
    app = web.Application(middlewares=[token_middleware("tok"), bad_request_middleware], client_max_size=1024)
    app.router.add_route("*", "/x", handler)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


async def _echo_body(request: web.Request) -> web.Response:
    return web.json_response((await parse_json(request, Body)).model_dump())


async def _echo_query(request: web.Request) -> web.Response:
    return web.json_response({"n": query_int(request, "n", default=7, lo=1, hi=100),
                              "f": query_flag(request, "f")})


@pytest.mark.parametrize(("body", "field"), [
    ({"qty": True}, "qty"), ({"qty": "5"}, "qty"), ({"qty": 5.0}, "qty"), ({"qty": 5, "on": "no"}, "on"),
    ({"qty": 5, "on": 1}, "on"), ({"qty": 5, "price": "1.5"}, "price"), ({"qty": 5, "extra": 1}, "extra"),
])
async def test_bodies_are_strict(body: dict, field: str) -> None:
    """Booleans and strings are no numbers, numbers and "no" no flags, unknown keys refused: 400 naming it."""
    client = await _app_client(_echo_body)
    try:
        resp = await client.post("/x", json=body, headers={"Authorization": "Bearer tok"})
        assert (400, field) == (resp.status, (await resp.json())["field"])
    finally:
        await client.close()


async def test_an_int_is_a_float_for_a_float_field() -> None:
    """Strict, not pedantic: 2 is a price of 2.0."""
    client = await _app_client(_echo_body)
    try:
        resp = await client.post("/x", json={"qty": 1, "price": 2}, headers={"Authorization": "Bearer tok"})
        assert (200, 2.0) == (resp.status, (await resp.json())["price"])
    finally:
        await client.close()


async def test_a_body_over_the_size_limit_is_413_naming_body() -> None:
    """Past client_max_size: 413 in the JSON shape of every other refusal."""
    client = await _app_client(_echo_body)
    try:
        resp = await client.post("/x", data=b'{"qty": 1, "pad": "' + b"x" * 2000 + b'"}',
                                 headers={"Authorization": "Bearer tok", "Content-Type": "application/json"})
        assert (413, "body") == (resp.status, (await resp.json())["field"])
    finally:
        await client.close()


@pytest.mark.parametrize(("query", "answer"), [
    ("", {"n": 7, "f": False}), ("?n=12&f=1", {"n": 12, "f": True}), ("?f=no", {"n": 7, "f": False}),
])
async def test_query_numbers_and_flags(query: str, answer: dict) -> None:
    """ASCII digits within bounds, and the flag words, are read; absent ones take their defaults."""
    client = await _app_client(_echo_query)
    try:
        resp = await client.get(f"/x{query}")
        assert (200, answer) == (resp.status, await resp.json())
    finally:
        await client.close()


@pytest.mark.parametrize(("query", "field"), [
    ("?n=%D9%A1%D9%A2", "n"), ("?n=%C2%B2", "n"), ("?n=0", "n"), ("?n=101", "n"), ("?n=+5", "n"), ("?n=", "n"),
    ("?f=maybe", "f"),
])
async def test_bad_query_values_are_400_naming_them(query: str, field: str) -> None:
    """Unicode digits (١٢, ²), out of bounds, a sign, empty, a flag that is no flag word: 400 naming it."""
    client = await _app_client(_echo_query)
    try:
        resp = await client.get(f"/x{query}")
        assert (400, field) == (resp.status, (await resp.json())["field"])
    finally:
        await client.close()
