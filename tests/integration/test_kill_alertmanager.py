"""The exchange's kill switch pulled by an Alertmanager rule (POST /kill/alertmanager): a real exchange
on loopback, its admin port over HTTP, its FIX port for the firm's orders, its journal as the evidence."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.journal import read_records
from powerpeg.targets.exchange.service import ExchangeService
from tests.integration.fixclient import Client
from tests.unit.targets.alerts.payloads import am_alert, notification

TOKEN = "token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TT = "20240101-00:00:00.000"


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    ex = ExchangeService(ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False), TOKEN,
                         structlog.get_logger())
    await ex.start()
    yield ex
    await ex.stop()


async def _post(exchange: ExchangeService, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{exchange.http.port}/kill/alertmanager"
    headers = AUTH if headers is None else headers
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


def _kills(exchange: ExchangeService) -> list[tuple[str, str, str | None]]:
    exchange.journal.flush()
    return [(r["scope"], r["id"], r.get("by")) for r in read_records(exchange.journal.path) if r["kind"] == "kill"]


def _order(client: Client, cl: str, symbol: str, price: str = "1.00") -> None:
    client.send("D", {11: cl, 1: "KNIGHT", 55: symbol, 54: 1, 38: 100, 40: 2, 44: price, 60: TT})


def _report(cl: str):
    return lambda m: m.msg_type == "8" and m.get(11) == cl


async def test_firing_alert_kills_the_firm_and_its_orders(exchange: ExchangeService) -> None:
    """A firing alert labelled firm=KNIGHT: the kill is journaled by alertmanager:<receiver>, the firm's working
    order is cancelled, and its next order is rejected by the kill switch."""
    symbol = next(iter(exchange.engine.books))
    client = await Client.open(exchange.fix_port, "ROUTER-1")
    _order(client, "resting", symbol)
    await client.wait_for(lambda m: _report("resting")(m) and m.get(39) == "0")
    status, answer = await _post(exchange, notification(receiver="trading-kill"))
    _order(client, "after", symbol)
    rejected = await client.wait_for(_report("after"))
    await client.close()
    assert ((200, [("KNIGHT", 1)]), [("firm", "KNIGHT", "alertmanager:trading-kill")],
            ("8", "kill switch active for firm KNIGHT")) == (
        (status, [(k["id"], k["cancelled"]) for k in answer["killed"]]), _kills(exchange), (rejected[39], rejected[58]))


async def test_each_firing_alert_of_the_group_kills_its_firm(exchange: ExchangeService) -> None:
    """Two firing alerts naming two firms (and a third firm's alert resolved): two kills, in the group's order."""
    body = notification(am_alert(firm="KNIGHT"), am_alert(firm="OTHER"), am_alert(firm="THIRD", status="resolved"))
    status, answer = await _post(exchange, body)
    assert ((200, ["KNIGHT", "OTHER"]), [("firm", "KNIGHT", "alertmanager:trading-pager"),
                                         ("firm", "OTHER", "alertmanager:trading-pager")]) == (
        (status, [k["id"] for k in answer["killed"]]), _kills(exchange))


async def test_repeated_notification_does_not_kill_again(exchange: ExchangeService) -> None:
    """Alertmanager repeating a firing group: the firm already killed is answered as such, journaled once."""
    await _post(exchange, notification())
    status, answer = await _post(exchange, notification())
    assert ((200, [], ["KNIGHT"]), 1) == ((status, answer["killed"], answer["already_killed"]), len(_kills(exchange)))


async def test_resolved_notification_kills_nothing(exchange: ExchangeService) -> None:
    """A resolved notification is answered and kills nothing (reinstating stays a person's call)."""
    status, answer = await _post(exchange, notification(am_alert(status="resolved")))
    assert ((200, "resolved", []), []) == ((status, answer["status"], answer["killed"]), _kills(exchange))


async def test_firing_alert_without_firm_label_is_400_naming_it(exchange: ExchangeService) -> None:
    """A firing alert with no firm label is a 400 naming alerts.N.labels.firm; nothing is killed, not even
    the firm of the group's other alert."""
    status, answer = await _post(exchange, notification(am_alert(firm="KNIGHT"), am_alert(firm=None)))
    assert ((400, "alerts.1.labels.firm"), []) == ((status, answer["field"]), _kills(exchange))


async def test_malformed_notification_is_400_naming_the_field(exchange: ExchangeService) -> None:
    """A notification that is not v4 is a 400 naming version."""
    body = notification()
    body["version"] = "3"
    status, answer = await _post(exchange, body)
    assert ((400, "version"), []) == ((status, answer["field"]), _kills(exchange))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer guess"}])
async def test_without_the_token_is_401(exchange: ExchangeService, headers: dict[str, str]) -> None:
    """Without the bearer token (Alertmanager's http_config authorization) nothing is killed: 401."""
    status, _ = await _post(exchange, notification(), headers=headers)
    assert (401, []) == (status, _kills(exchange))
