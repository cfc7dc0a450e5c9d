"""Order entry beyond New/Cancel, over TCP FIX: cancel/replace (35=G), mass cancel (35=q) and
BusinessMessageReject (35=j) for valid application messages the venue does not take."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.journal import read_records
from powerpeg.targets.exchange.service import ExchangeService
from powerpeg.targets.fix.codec import FixMessage
from tests.integration.fixclient import Client

TT = "20240101-00:00:00.000"


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    ex = ExchangeService(ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False), "token",
                         structlog.get_logger())
    await ex.start()
    yield ex
    await ex.stop()


@pytest.fixture
async def symbol(exchange: ExchangeService) -> str:
    return next(iter(exchange.engine.books))


def er(cl: str, exec_type: str):
    return lambda m: m.msg_type == "8" and m.get(11) == cl and m.get(150) == exec_type


def of_type(msg_type: str):
    return lambda m: m.msg_type == msg_type


async def working(
    client: Client, cl: str, side: int, qty: int, price: str, symbol: str, account: str | None = None,
) -> None:
    fields = {11: cl, 55: symbol, 54: side, 38: qty, 40: 2, 44: price, 60: TT}
    if account:
        fields[1] = account
    client.send("D", fields)
    await client.wait_for(er(cl, "0"))


def replace_fields(orig: str, cl: str, symbol: str, qty: object, price: str | None, side: int = 1) -> dict[int, object]:
    fields: dict[int, object] = {41: orig, 11: cl, 55: symbol, 54: side, 38: qty, 40: 2, 60: TT}
    if price is not None:
        fields[44] = price
    return fields


def journal(exchange: ExchangeService) -> list[dict]:
    exchange.journal.flush()
    return read_records(exchange.journal.path)


async def test_replace_is_answered_150_5_and_journaled(exchange: ExchangeService, symbol: str) -> None:
    """35=G: ER 150=5 39=0 with 11 new, 41 orig, the new 38/44; a ``replaced`` journal record."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    await working(c, "o1", 1, 100, "10.00", symbol)
    c.send("G", replace_fields("o1", "o2", symbol, 60, "10.01"))
    rep = await c.wait_for(er("o2", "5"))
    rec = journal(exchange)[-1]
    assert (("0", "o1", "60", "10.01", "60"), ("replaced", "o2", "o1", 60, 10.01, True)) == (
        (rep[39], rep[41], rep[38], rep[44], rep[151]),
        (rec["kind"], rec["cl_ord_id"], rec["orig_cl_ord_id"], rec["qty"], rec["price"], rec["requeued"]))


async def test_replace_of_an_unknown_order_gets_cancel_reject(exchange: ExchangeService, symbol: str) -> None:
    """35=G naming no order of the session: 35=9 434=2 102=1, with the request's 11 and 41."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send("G", replace_fields("nope", "n1", symbol, 10, "10.00"))
    rej = await c.wait_for(of_type("9"))
    assert ("2", "1", "8", "n1", "nope", "unknown order nope") == (
        rej[434], rej[102], rej[39], rej[11], rej[41], rej[58])


async def test_replace_of_another_sessions_order_is_unknown(exchange: ExchangeService, symbol: str) -> None:
    """Orders belong to their session's CompID: another session (even of the same firm) cannot replace them."""
    a = await Client.open(exchange.fix_port, "ROUTER-1")
    b = await Client.open(exchange.fix_port, "ROUTER-2")
    await working(a, "o1", 1, 100, "10.00", symbol, account="KNIGHT")
    b.send("G", replace_fields("o1", "n1", symbol, 10, "10.00") | {1: "KNIGHT"})
    rej = await b.wait_for(of_type("9"))
    assert ("1", "NONE") == (rej[102], rej[37])


async def test_replace_of_a_filled_order_is_too_late(exchange: ExchangeService, symbol: str) -> None:
    """35=G for an order already filled: 35=9 102=0 with 39=2 and its OrderID."""
    a = await Client.open(exchange.fix_port, "ROUTER-1")
    s = await Client.open(exchange.fix_port, "ROUTER-2")
    await working(a, "o1", 1, 100, "10.00", symbol)
    s.send("D", {11: "s1", 55: symbol, 54: 2, 38: 100, 40: 1, 60: TT})
    fill = await a.wait_for(er("o1", "F"))
    a.send("G", replace_fields("o1", "o2", symbol, 50, "10.00"))
    rej = await a.wait_for(of_type("9"))
    assert ("0", "2", fill[37]) == (rej[102], rej[39], rej[37])


async def test_replace_without_orderqty_is_a_session_reject(exchange: ExchangeService, symbol: str) -> None:
    """A 35=G without 38 is refused at the session level: 35=3 373=1 371=38."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    fields = replace_fields("o1", "o2", symbol, 1, "10.00")
    del fields[38]
    c.send("G", fields)
    rej = await c.wait_for(of_type("3"))
    assert ("1", "38", "G") == (rej[373], rej[371], rej[372])


async def test_replace_with_a_bad_quantity_is_refused_naming_the_tag(exchange: ExchangeService, symbol: str) -> None:
    """OrderQty 0 on a 35=G: 35=3 373=5 371=38, and the order is untouched."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    await working(c, "o1", 1, 100, "10.00", symbol)
    c.send("G", replace_fields("o1", "o2", symbol, 0, "10.00"))
    rej = await c.wait_for(of_type("3"))
    assert (("5", "38"), ["o1"]) == ((rej[373], rej[371]), list(exchange.engine.sessions["ROUTER-1"].working))


async def test_mass_cancel_of_the_session(exchange: ExchangeService, symbol: str) -> None:
    """35=q 530=7: a 150=4 per working order of the session, then 35=r 531=7 533=n."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    await working(c, "o1", 1, 100, "10.00", symbol)
    await working(c, "o2", 2, 100, "10.10", symbol)
    c.send("q", {11: "m1", 530: 7, 60: TT})
    report = await c.wait_for(of_type("r"))
    cancels = [m[11] for m in c.received if m.msg_type == "8" and m.get(150) == "4"]
    reasons = [r["reason"] for r in journal(exchange) if r["kind"] == "canceled"]
    assert (("m1", "7", "7", "2"), ["o1", "o2"], ["mass", "mass"]) == (
        (report[11], report[530], report[531], report[533]), cancels, reasons)


async def test_mass_cancel_by_a_firms_control_session(exchange: ExchangeService, symbol: str) -> None:
    """The firm's control logged on as the firm (SenderCompID KNIGHT) cancels every KNIGHT order of every
    session with 35=q 530=7 1=KNIGHT; the routers get their 150=4, the drop copy its copies."""
    r1 = await Client.open(exchange.fix_port, "ROUTER-1")
    r2 = await Client.open(exchange.fix_port, "ROUTER-2")
    dc = await Client.open(exchange.dropcopy_port, "KNIGHT")
    await working(r1, "a1", 1, 100, "10.00", symbol, account="KNIGHT")
    await working(r2, "b1", 2, 100, "10.10", symbol, account="KNIGHT")
    ctl = await Client.open(exchange.fix_port, "KNIGHT")
    ctl.send("q", {11: "kill-1", 530: 7, 1: "KNIGHT", 60: TT})
    report = await ctl.wait_for(of_type("r"))
    await r1.wait_for(er("a1", "4"))
    await r2.wait_for(er("b1", "4"))
    copies = await dc.wait_for(er("b1", "4"))
    assert (("7", "2"), "ROUTER-2", {}) == (
        (report[531], report[533]), copies[115], exchange.engine.sessions["ROUTER-1"].working)


async def test_mass_cancel_naming_another_firm_is_rejected(exchange: ExchangeService, symbol: str) -> None:
    """35=q for a firm that is not the session's: 35=r 531=0 532=99 with the reason; nothing cancelled."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    await working(c, "o1", 1, 100, "10.00", symbol, account="KNIGHT")
    c.send("q", {11: "m1", 530: 7, 1: "CITADEL", 60: TT})
    report = await c.wait_for(of_type("r"))
    assert ("0", "99", "session ROUTER-1 may not cancel the orders of firm CITADEL", ["o1"]) == (
        report[531], report[532], report[58], list(exchange.engine.sessions["ROUTER-1"].working))


async def test_mass_cancel_rejects_what_it_cannot_do(exchange: ExchangeService, symbol: str) -> None:
    """530=1 without a symbol or with an unknown one: 532=1; a valid type it does not support (3): 532=0."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send("q", {11: "m1", 530: 1, 60: TT})
    c.send("q", {11: "m2", 530: 1, 55: "NOPE", 60: TT})
    c.send("q", {11: "m3", 530: 3, 60: TT})
    await c.wait_for(lambda m: m.msg_type == "r" and m.get(11) == "m3")
    assert [("m1", "0", "1"), ("m2", "0", "1"), ("m3", "0", "0")] == [
        (m[11], m[531], m[532]) for m in c.received if m.msg_type == "r"]


async def test_mass_cancel_with_an_invalid_type_is_a_session_reject(exchange: ExchangeService) -> None:
    """530=9 is not a MassCancelRequestType: 35=3 373=5 371=530."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send("q", {11: "m1", 530: 9, 60: TT})
    rej = await c.wait_for(of_type("3"))
    assert ("5", "530") == (rej[373], rej[371])


@pytest.mark.parametrize("msg_type", ["R", "V", "AE", "8"])
async def test_valid_unsupported_message_gets_business_reject(exchange: ExchangeService, msg_type: str) -> None:
    """A FIX 4.4 application message the venue does not take: 35=j 380=3 with 45 and 372; the session goes on."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send(msg_type, {131: "q1", 37: "x", 17: "x", 150: "0", 39: "0", 55: "AAPL", 54: 1})
    rej = await c.wait_for(of_type("j"))
    await c.barrier()
    assert ("2", msg_type, "3") == (rej[45], rej[372], rej[380])


async def test_message_type_fix_does_not_define_is_a_session_reject(exchange: ExchangeService) -> None:
    """35=ZZ is no FIX 4.4 MsgType: session Reject 373=11, not a 35=j."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send("ZZ", {58: "hello"})
    rej = await c.wait_for(of_type("3"))
    assert ("11", "ZZ", []) == (rej[373], rej[372], [m for m in c.received if m.msg_type == "j"])


async def test_business_reject_from_the_client_is_not_answered(exchange: ExchangeService) -> None:
    """A 35=j the client sends is taken without a reply (no 35=j ping-pong)."""
    c = await Client.open(exchange.fix_port, "ROUTER-1")
    c.send("j", {45: 3, 372: "8", 380: 0, 58: "no thanks"})
    await c.barrier()
    assert ["A", "0"] == [m.msg_type for m in c.received]


async def test_drop_copy_answers_application_messages_with_business_reject(exchange: ExchangeService) -> None:
    """A drop-copy session only listens: an order sent on it gets 35=j 380=3."""
    dc = await Client.open(exchange.dropcopy_port, "KNIGHT")
    dc.send("D", {11: "o1", 55: "AAPL", 54: 1, 38: 100, 40: 1, 60: TT})
    rej: FixMessage = await dc.wait_for(of_type("j"))
    assert ("D", "3") == (rej[372], rej[380])
