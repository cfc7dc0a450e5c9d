"""The exchange in-process on port 0, spoken to over real TCP FIX and HTTP."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from collections.abc import AsyncIterator

import aiohttp
import pytest
import structlog

from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.journal import read_records
from powerpeg.targets.exchange.service import ExchangeService
from powerpeg.targets.fix.codec import FixMessage, FixParser, encode
from powerpeg.targets.fix.credentials import Credentials

TOKEN = "test-token"
COMP = "EXCHANGE"


class RawClient:
    """A bare FIX initiator: sends exactly what the test says, records every reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, comp_id: str, seq: int = 1) -> None:
        self.reader, self.writer, self.comp_id = reader, writer, comp_id
        self.seq = seq
        self.parser = FixParser()
        self.received: list[FixMessage] = []
        self.logon: FixMessage | None = None

    @classmethod
    async def open(cls, port: int, comp_id: str, *, logon_extra: list | None = None, seq: int = 1) -> RawClient:
        """Connect and log on at MsgSeqNum ``seq`` (1: a new day, or the next of a session that goes on)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, comp_id, seq)
        client.send("A", [(98, 0), (108, 30), *(logon_extra or [])])
        client.logon = await client.expect(lambda m: m.msg_type in ("A", "5"))
        if client.logon.msg_type != "A":
            raise ConnectionError(f"Logon refused: {client.logon.get(58)}")
        return client

    def send(self, msg_type: str, fields: list[tuple[int, object]]) -> None:
        self.writer.write(encode(msg_type, self.comp_id, COMP, self.seq, fields))
        self.seq += 1

    def order(self, cl: str, side: int, qty: int, price: str | None, symbol: str, **extra: object) -> None:
        fields = [(11, cl), (55, symbol), (54, side), (38, qty), (40, 2 if price else 1), (44, price),
                  (60, "20240101-00:00:00.000")]
        fields += [(int(k[1:]), v) for k, v in extra.items()]
        self.send("D", fields)

    async def expect(self, pred, timeout: float = 5.0) -> FixMessage:
        """The first message (already received or coming) that satisfies ``pred``."""
        async def wait() -> FixMessage:
            seen = 0
            while True:
                for msg in self.received[seen:]:
                    if pred(msg):
                        return msg
                seen = len(self.received)
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed")
                self.parser.feed(data)
                self.received.extend(self.parser.messages())
        return await asyncio.wait_for(wait(), timeout)

    async def closed(self, timeout: float = 5.0) -> bool:
        async def drain() -> bool:
            while await self.reader.read(65536):
                pass
            return True
        return await asyncio.wait_for(drain(), timeout)

    def close(self) -> None:
        self.writer.close()

    def next_expected(self) -> int:
        """The MsgSeqNum after the last one received in sequence (what a FIX engine would expect)."""
        return max((m.seq for m in self.received if m.msg_type != "4"), default=0) + 1

    async def resend(self, begin: int) -> list[FixMessage]:
        """ResendRequest from ``begin`` to the latest; what comes back (PossDup), up to our Logon's answer."""
        assert self.logon is not None
        upto = self.logon.seq
        mark = len(self.received)
        self.send("2", [(7, begin), (16, 0)])

        def covered(m: FixMessage) -> bool:
            return m.get(43) == "Y" and (int(m[36]) - 1 if m.msg_type == "4" else m.seq) >= upto
        await self.expect(covered)
        return [m for m in self.received[mark:] if m.get(43) == "Y"]


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    config = ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False)
    ex = ExchangeService(config, TOKEN, structlog.get_logger())
    await ex.start()
    yield ex
    await ex.stop()


@pytest.fixture
async def symbol(exchange: ExchangeService) -> str:
    return next(iter(exchange.engine.books))


async def until(predicate, timeout: float = 1.0) -> None:
    """Poll ``predicate`` (the exchange acts on a disconnect asynchronously); the assertion after says if it
    never held."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)


def is_er(cl: str, exec_type: str):
    return lambda m: m.msg_type == "8" and m.get(11) == cl and m.get(150) == exec_type


async def test_order_is_acknowledged_new(exchange: ExchangeService, symbol: str) -> None:
    """A resting limit NewOrderSingle gets ExecutionReport 150=0 39=0."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol, _1="KNIGHT")
    er = await c.expect(is_er("o1", "0"))
    assert ("0", "KNIGHT", "100") == (er[39], er[1], er[151])


async def test_crossing_order_fills_both_sessions(exchange: ExchangeService, symbol: str) -> None:
    """A crossing order fills: both sides get 150=F at the resting price."""
    seller = await RawClient.open(exchange.fix_port, "ROUTER-1")
    buyer = await RawClient.open(exchange.fix_port, "ROUTER-2")
    seller.order("s1", 2, 100, "10.00", symbol)
    await seller.expect(is_er("s1", "0"))
    buyer.order("b1", 1, 100, "10.05", symbol)
    fills = [await buyer.expect(is_er("b1", "F")), await seller.expect(is_er("s1", "F"))]
    assert [("2", "100", "10.00")] * 2 == [(m[39], m[32], m[31]) for m in fills]


async def test_drop_copy_receives_the_firms_reports(exchange: ExchangeService, symbol: str) -> None:
    """The firm's drop copy gets the new and the fill with 115 = the order's session."""
    dc = await RawClient.open(exchange.dropcopy_port, "KNIGHT")
    seller = await RawClient.open(exchange.fix_port, "ROUTER-1")
    buyer = await RawClient.open(exchange.fix_port, "ROUTER-2")
    seller.order("s1", 2, 100, "10.00", symbol, _1="OTHER")
    await seller.expect(is_er("s1", "0"))
    buyer.order("b1", 1, 100, "10.00", symbol, _1="KNIGHT")
    new, fill = await dc.expect(is_er("b1", "0")), await dc.expect(is_er("b1", "F"))
    assert [("ROUTER-2", "KNIGHT")] * 2 == [(m[115], m[1]) for m in (new, fill)]


async def test_drop_copy_skips_other_firms(exchange: ExchangeService, symbol: str) -> None:
    """A drop copy sees only its own firm's orders."""
    dc = await RawClient.open(exchange.dropcopy_port, "KNIGHT")
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("x1", 1, 100, "10.00", symbol, _1="OTHER")
    c.order("k1", 1, 100, "10.00", symbol, _1="KNIGHT")
    first = await dc.expect(lambda m: m.msg_type == "8")
    assert "k1" == first[11]


async def test_missing_required_tag_gets_reject_naming_it(exchange: ExchangeService, symbol: str) -> None:
    """A NewOrderSingle without Symbol(55) gets Reject 35=3 with 371=55."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.send("D", [(11, "o1"), (54, 1), (38, 100), (40, 2), (44, "10.00"), (60, "20240101-00:00:00.000")])
    rej = await c.expect(lambda m: m.msg_type == "3")
    assert ("55", "1") == (rej[371], rej[373])


async def test_bad_side_gets_value_reject_naming_the_tag(exchange: ExchangeService, symbol: str) -> None:
    """Side(54)=7 gets Reject 373=5 with 371=54, and the session stays up."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 7, 100, "10.00", symbol)
    rej = await c.expect(lambda m: m.msg_type == "3")
    c.order("o2", 1, 100, "10.00", symbol)
    await c.expect(is_er("o2", "0"))
    assert ("54", "5") == (rej[371], rej[373])


async def test_off_tick_price_gets_value_reject(exchange: ExchangeService, symbol: str) -> None:
    """Price(44)=10.001 is off the 0.01 tick: Reject naming tag 44."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.001", symbol)
    rej = await c.expect(lambda m: m.msg_type == "3")
    assert ("44", "5") == (rej[371], rej[373])


async def test_a_price_seen_before_reads_the_same(exchange: ExchangeService, symbol: str) -> None:
    """Prices are remembered as parsed (a runaway repeats them): the same good text gives the same
    price every time, the same bad text is refused every time, also after the cache was cleared."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    book = exchange.engine.books[symbol]
    for round_ in range(3):  # parsed, remembered, parsed again after a clear
        c.order(f"g{round_}", 1, 100, "1.07", symbol)
        await c.expect(is_er(f"g{round_}", "0"))
        c.order(f"b{round_}", 1, 100, "1.071", symbol)
        rej = await c.expect(lambda m: m.msg_type == "3" and m[45] == str(c.seq - 1))
        assert ("44", "5") == (rej[371], rej[373])
        if round_ == 1:
            exchange.order_entry._cents.clear()
    assert [107, 107, 107] == [o.price for o in book.level_orders(1, 107)]


async def test_unknown_symbol_rejects_and_session_stays_up(exchange: ExchangeService) -> None:
    """An unknown symbol gets ER 39=8; the next order on the session still works."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", "ZZZZZZ")
    er = await c.expect(is_er("o1", "8"))
    c.order("o2", 1, 100, "10.00", next(iter(exchange.engine.books)))
    await c.expect(is_er("o2", "0"))
    assert "unknown symbol ZZZZZZ" == er[58]


async def test_bad_checksum_message_is_dropped(exchange: ExchangeService, symbol: str) -> None:
    """A message with a wrong CheckSum is ignored; the same MsgSeqNum resent is processed."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    good = encode("D", "ROUTER-1", COMP, 2, [(11, "bad"), (55, symbol), (54, 1), (38, 100), (40, 2),
                                              (44, "10.00"), (60, "20240101-00:00:00.000")])
    c.writer.write(good[:-4] + (b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)))
    c.seq = 2
    c.order("good", 1, 100, "10.00", symbol)
    await c.expect(is_er("good", "0"))
    assert [] == [m for m in c.received if m.get(11) == "bad"]


async def test_garbled_bytes_get_logout_and_others_keep_working(exchange: ExchangeService, symbol: str) -> None:
    """Garbage on one session ends it with Logout; another session still trades."""
    other = await RawClient.open(exchange.fix_port, "ROUTER-2")
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.writer.write(b"this is not FIX at all\x01")
    logout = await c.expect(lambda m: m.msg_type == "5")
    other.order("o1", 1, 100, "10.00", symbol)
    await other.expect(is_er("o1", "0"))
    assert "garbled" in logout[58]


async def test_cancel_request_cancels_and_unknown_gets_cancel_reject(exchange: ExchangeService, symbol: str) -> None:
    """OrderCancelRequest cancels a working order; an unknown one gets 35=9."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    c.send("F", [(41, "o1"), (11, "x1"), (55, symbol), (54, 1), (60, "20240101-00:00:00.000")])
    c.send("F", [(41, "nope"), (11, "x2"), (55, symbol), (54, 1), (60, "20240101-00:00:00.000")])
    cxl = await c.expect(lambda m: m.msg_type == "8" and m.get(150) == "4")
    rej = await c.expect(lambda m: m.msg_type == "9")
    assert (("x1", "o1"), ("x2", "nope")) == ((cxl[11], cxl[41]), (rej[11], rej[41]))


async def test_drop_without_logout_cancels_working_orders(exchange: ExchangeService, symbol: str) -> None:
    """Closing the socket without Logout cancels the session's orders (reason disconnect)."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    c.close()
    await until(lambda: not exchange.engine.sessions["ROUTER-1"].working)
    exchange.journal.flush()
    assert ["disconnect"] == [r["reason"] for r in read_records(exchange.journal.path) if r["kind"] == "canceled"]


async def test_order_status_after_a_reconnect_reports_fills_and_the_disconnect_cancel(exchange: ExchangeService,
                                                                                       symbol: str) -> None:
    """35=H from a new connection: 150=I 39=4 with CumQty 40 (the rest cancelled on disconnect); unknown 39=8 103=5."""
    seller = await sell_100_buy(exchange, symbol, 40)
    seller.close()  # gone without Logout: the exchange cancels the 60 left
    await until(lambda: exchange.engine.sessions["ROUTER-1"].sender is None)
    back = await RawClient.open(exchange.fix_port, "ROUTER-1", logon_extra=[(141, "Y")])  # a new day: no resend
    back.send("H", [(11, "s1"), (55, symbol), (54, 2)])
    back.send("H", [(11, "never-sent"), (55, symbol), (54, 2)])
    known = await back.expect(is_er("s1", "I"))
    unknown = await back.expect(is_er("never-sent", "I"))
    assert (("4", "40", "0"), ("8", "5", "0")) == (
        (known[39], known[14], known[151]), (unknown[39], unknown[103], unknown[14]))


async def test_order_status_of_a_working_order_says_it_works(exchange: ExchangeService, symbol: str) -> None:
    """A resting order partly filled: 150=I 39=1 with CumQty and LeavesQty; nothing is journaled for it."""
    seller = await sell_100_buy(exchange, symbol, 30)
    before = len(_records(exchange))
    seller.send("H", [(11, "s1"), (55, symbol), (54, 2)])
    er = await seller.expect(is_er("s1", "I"))
    assert ("1", "30", "70", before) == (er[39], er[14], er[151], len(_records(exchange)))


async def sell_100_buy(exchange: ExchangeService, symbol: str, qty: int) -> RawClient:
    """ROUTER-1 rests a 100-share sell "s1"; ROUTER-2 buys ``qty`` of it. The seller, once it saw its fill."""
    seller = await RawClient.open(exchange.fix_port, "ROUTER-1")
    buyer = await RawClient.open(exchange.fix_port, "ROUTER-2")
    seller.order("s1", 2, 100, "10.00", symbol)
    await seller.expect(is_er("s1", "0"))
    buyer.order("b1", 1, qty, "10.00", symbol)
    await seller.expect(is_er("s1", "F"))
    return seller


def _records(exchange: ExchangeService) -> list[dict]:
    exchange.journal.flush()
    return read_records(exchange.journal.path)


async def test_cod_off_on_logon_keeps_orders(exchange: ExchangeService, symbol: str) -> None:
    """Logon with 8013=N: a drop leaves the orders working."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1", logon_extra=[(8013, "N")])
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    c.close()
    await until(lambda: exchange.engine.sessions["ROUTER-1"].sender is None)
    assert ["o1"] == list(exchange.engine.sessions["ROUTER-1"].working)


async def test_admin_post_without_token_is_401(exchange: ExchangeService) -> None:
    """POST /kill without the bearer token is refused."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{exchange.http.port}/kill", json={"firm": "KNIGHT"}) as resp:
            assert 401 == resp.status


async def test_admin_kill_cancels_over_fix(exchange: ExchangeService, symbol: str) -> None:
    """POST /kill with the token cancels the firm's orders; the owner gets 39=4."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol, _1="KNIGHT")
    await c.expect(is_er("o1", "0"))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.post(f"http://127.0.0.1:{exchange.http.port}/kill", json={"firm": "KNIGHT"}) as resp:
            body = await resp.json()
    cxl = await c.expect(is_er("o1", "4"))
    assert ((1, "firm"), "canceled: kill") == ((body["cancelled"], body["scope"]), cxl[58])


async def test_admin_kill_body_error_names_field(exchange: ExchangeService) -> None:
    """POST /kill with a non-string firm gets 400 naming firm."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.post(f"http://127.0.0.1:{exchange.http.port}/kill", json={"firm": 5}) as resp:
            assert (400, "firm") == (resp.status, (await resp.json())["field"])


async def test_journal_endpoint_streams_records(exchange: ExchangeService, symbol: str) -> None:
    """GET /journal returns the accepted order as NDJSON."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{exchange.http.port}/journal") as resp:
            text = await resp.text()
    assert '"cl_ord_id":"o1"' in text


async def test_journal_endpoint_resumes_from_a_byte_offset(exchange: ExchangeService, symbol: str) -> None:
    """GET /journal?offset=N returns only what was written after the N bytes already read."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{exchange.http.port}/journal"
        async with http.get(url) as resp:
            first = await resp.read()
        c.order("o2", 1, 100, "10.00", symbol)
        await c.expect(is_er("o2", "0"))
        async with http.get(url, params={"offset": str(len(first))}) as resp:
            rest = (await resp.read()).decode()
        async with http.get(url, params={"offset": "-1"}) as resp:
            bad = (resp.status, (await resp.json())["field"])
    assert (True, False, True) == ('"cl_ord_id":"o2"' in rest, '"cl_ord_id":"o1"' in rest, rest.endswith("\n"))
    assert (400, "offset") == bad


async def test_clock_reschedule_needs_preopen(exchange: ExchangeService) -> None:
    """POST /clock when already open is a 409."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.post(f"http://127.0.0.1:{exchange.http.port}/clock", json={"open_in_s": 5}) as resp:
            assert 409 == resp.status


async def start_exchange_process(tmp_path: Path, *flags: str) -> tuple[asyncio.subprocess.Process, dict]:
    """``python -m powerpeg.targets.exchange`` without liquidity, and its ready file once written."""
    ready, journal = tmp_path / "ready.json", tmp_path / "journal.ndjson"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "powerpeg.targets.exchange", "--ready-file", str(ready), "--journal", str(journal),
        "--no-liquidity", *flags, env={**os.environ, "POWERPEG_TOKEN": TOKEN},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    for _ in range(200):
        if ready.exists():
            break
        await asyncio.sleep(0.05)
    try:
        return proc, json.loads(ready.read_text())
    except BaseException:
        proc.kill()
        await proc.wait()
        raise


async def test_subprocess_serves_opens_on_request_and_exits_cleanly(tmp_path: Path) -> None:
    """python -m powerpeg.targets.exchange: ready file, pre-open order, POST /clock opens, SIGTERM → exit 0."""
    journal = tmp_path / "journal.ndjson"
    proc, info = await start_exchange_process(tmp_path, "--open-in", "3600")
    try:
        admin = f"http://127.0.0.1:{info['admin_port']}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            symbol = (await (await http.get(f"{admin}/symbols")).json())[0]["symbol"]
            c = await RawClient.open(info["fix_port"], "ROUTER-1")
            c.order("o1", 1, 100, "10.00", symbol)
            await c.expect(is_er("o1", "0"))
            await http.post(f"{admin}/clock", json={"open_in_s": 0})
            phase = (await (await http.get(f"{admin}/clock")).json())["phase"]
    finally:
        proc.terminate()
        rc = await asyncio.wait_for(proc.wait(), 10)
    kinds = [r["kind"] for r in read_records(journal)]
    assert (["dropcopy_port", "fix_port"], "open", 0, ["accepted", "open"]) == (
        sorted(k for k in info if k.endswith("_port") and k != "admin_port"), phase, rc, kinds)


async def test_garbled_streams_from_many_sessions_leave_the_exchange_process_serving(tmp_path: Path) -> None:
    """A real exchange process (the C framer included, where built) gets 60 sessions' worth of garbled
    FIX: good orders with bytes flipped, inserted, deleted and cut, in random pieces. It is still running
    afterwards, answers /health, and a clean session's order is acknowledged: nothing a client sends
    crashes it (a crash in C code would end the process, not raise)."""
    import random

    from tests.unit.targets.fix.test_speedups import garble

    proc, info = await start_exchange_process(tmp_path)
    try:
        rng = random.Random(2012)
        for s in range(60):
            comp = f"FUZZ-{s}"
            msgs = [encode("A", comp, COMP, 1, [(98, 0), (108, 30)])]
            msgs += [encode("D", comp, COMP, i, [(11, f"f{s}-{i}"), (55, "AAPL"), (54, rng.choice([1, 2, 7])),
                                                 (38, rng.choice([100, 0, "x"])), (40, 2), (44, "10.00"),
                                                 (60, "20240101-00:00:00.000")]) for i in range(2, 12)]
            stream = b"".join(garble(rng, m) if rng.random() < 0.5 else m for m in msgs)
            _, writer = await asyncio.open_connection("127.0.0.1", info["fix_port"])
            cuts = sorted(rng.sample(range(1, len(stream)), k=5))
            try:
                for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
                    writer.write(stream[a:b])
                    await writer.drain()
            except ConnectionError:
                pass  # the exchange logged the garbled session out and closed it: what it should do
            writer.close()
        async with aiohttp.ClientSession() as http:
            health = (await http.get(f"http://127.0.0.1:{info['admin_port']}/health")).status
            symbol = (await (await http.get(f"http://127.0.0.1:{info['admin_port']}/symbols")).json())[0]["symbol"]
        c = await RawClient.open(info["fix_port"], "ROUTER-CLEAN")
        c.order("ok-1", 1, 100, "10.00", symbol)
        await c.expect(is_er("ok-1", "0"))
        alive = proc.returncode is None
    finally:
        proc.terminate()
        rc = await asyncio.wait_for(proc.wait(), 10)
    assert (True, 200, 0) == (alive, health, rc)


# -- sequence numbers, store and resend (docs/targets.md, FIX session rules) ------------------------


async def test_logout_cancels_working_orders_and_the_cancel_comes_by_resend(exchange: ExchangeService,
                                                                             symbol: str) -> None:
    """Cancel-on-disconnect covers a Logout too; the cancel report, sent after the session ended, is
    in the store: the next Logon (no reset) gets it by resend, PossDupFlag=Y."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("o1", 1, 100, "10.00", symbol)
    await c.expect(is_er("o1", "0"))
    c.send("5", [])
    await c.expect(lambda m: m.msg_type == "5")
    await until(lambda: exchange.engine.sessions["ROUTER-1"].sender is None)
    back = await RawClient.open(exchange.fix_port, "ROUTER-1", seq=c.seq)
    resent = await back.resend(c.next_expected())
    cancels = [(m[11], m[58], m[43]) for m in resent if m.msg_type == "8"]
    reasons = [r["reason"] for r in _records(exchange) if r["kind"] == "canceled"]
    assert ([("o1", "canceled: disconnect", "Y")], ["disconnect"]) == (cancels, reasons)


async def test_drop_copy_reconnect_continues_its_sequence(exchange: ExchangeService, symbol: str) -> None:
    """The drop copy keeps its own store: a second Logon of the firm without reset is answered with the
    next MsgSeqNum, and the copies it missed come by resend."""
    dc = await RawClient.open(exchange.dropcopy_port, "KNIGHT")
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.order("k1", 1, 100, "10.00", symbol, _1="KNIGHT")
    await dc.expect(is_er("k1", "0"))
    dc.writer.transport.abort()
    await until(lambda: not exchange.engine.dropcopies)
    back = await RawClient.open(exchange.dropcopy_port, "KNIGHT", seq=dc.seq)
    c.order("k2", 1, 100, "10.00", symbol, _1="KNIGHT")
    live = await back.expect(is_er("k2", "0"))
    assert ("3", "4", None) == (back.logon[34], live[34], live.get(43))


async def _cut_mid_stream(client: RawClient, fills_before_cut: int) -> None:
    """Read in small pieces until ``fills_before_cut`` fills are in, then drop the connection: what the
    exchange wrote beyond that is lost with the socket buffers."""
    while sum(1 for m in client.received if m.get(150) == "F") < fills_before_cut:
        data = await asyncio.wait_for(client.reader.read(1024), 5)
        assert data, "the exchange closed the session"
        client.parser.feed(data)
        client.received.extend(client.parser.messages())
    client.writer.transport.abort()


async def test_a_session_cut_mid_stream_gets_every_missed_report_exactly_once(tmp_path: Path) -> None:
    """A real exchange process: 300 resting sells, a buy sweeps 200 of them, the seller's connection is
    cut after 50 fill reports (cancel-on-disconnect then cancels the other 100). Logged on again without
    reset, the seller asks for what it missed: every ExecutionReport of its orders (300 new, 200 fills,
    100 cancels, as journaled) reaches it exactly once, the missed ones with PossDupFlag=Y."""
    proc, info = await start_exchange_process(tmp_path)
    try:
        admin = f"http://127.0.0.1:{info['admin_port']}"
        async with aiohttp.ClientSession() as http:
            symbol = (await (await http.get(f"{admin}/symbols")).json())[0]["symbol"]
            seller = await RawClient.open(info["fix_port"], "ROUTER-1")
            for i in range(300):
                seller.order(f"s{i}", 2, 100, "10.00", symbol)
            await seller.expect(is_er("s299", "0"))
            buyer = await RawClient.open(info["fix_port"], "ROUTER-2")
            buyer.order("sweep", 1, 20_000, None, symbol)
            await _cut_mid_stream(seller, 50)

            async def seller_gone() -> bool:
                sessions = await (await http.get(f"{admin}/sessions")).json()
                return not any(s["comp_id"] == "ROUTER-1" and s["connected"] for s in sessions)
            for _ in range(200):
                if await seller_gone():
                    break
                await asyncio.sleep(0.02)
            back = await RawClient.open(info["fix_port"], "ROUTER-1", seq=seller.seq)
            resent = await back.resend(seller.next_expected())
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    reports = [m for m in seller.received + resent if m.msg_type == "8"]
    journal = read_records(tmp_path / "journal.ndjson")
    expected = sorted((r["cl_ord_id"], {"accepted": "0", "fill": "F", "canceled": "4"}[r["kind"]])
                      for r in journal if r["session"] == "ROUTER-1")
    exec_ids = [m[17] for m in reports]
    assert (sorted((m[11], m[150]) for m in reports), len(exec_ids)) == (expected, len(set(exec_ids)))
    assert (600, True, True) == (len(expected), all(m[43] == "Y" for m in resent),
                                 any(m.get(150) == "F" for m in resent))


async def test_an_exchange_restart_keeps_the_sequence(tmp_path: Path) -> None:
    """The exchange process stops and starts again on the same journal and store: a client's Logon
    without reset continues both sequences, and reports sent before the restart can be resent."""
    proc, info = await start_exchange_process(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            symbol = (await (await http.get(f"http://127.0.0.1:{info['admin_port']}/symbols")).json())[0]["symbol"]
        c = await RawClient.open(info["fix_port"], "ROUTER-1", logon_extra=[(8013, "N")])
        c.order("before", 1, 100, "10.00", symbol)
        ack = await c.expect(is_er("before", "0"))
        c.send("5", [])
        await c.expect(lambda m: m.msg_type == "5")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    (tmp_path / "ready.json").unlink()
    proc, info = await start_exchange_process(tmp_path)
    try:
        back = await RawClient.open(info["fix_port"], "ROUTER-1", seq=c.seq)
        resent = await back.resend(ack.seq)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    again = [m for m in resent if m.msg_type == "8"]
    assert (c.next_expected(), [("before", ack[17], ack[52])]) == (
        back.logon.seq, [(m[11], m[17], m[122]) for m in again])


# -- hostile input on the order-entry door: a Reject with its 373, the session still up --------------
def raw_order(seq: int, comp_id: str, fields: bytes) -> bytes:
    """A NewOrderSingle framed around body bytes given as they are (a byte outside ASCII, a repeated tag)."""
    body = b"35=D\x0149=%b\x0156=%b\x0134=%d\x0152=20240101-00:00:00.000\x01%b" % (
        comp_id.encode(), COMP.encode(), seq, fields)
    msg = b"8=FIX.4.4\x019=%d\x01%b" % (len(body), body)
    return msg + b"10=%03d\x01" % (sum(msg) % 256)


async def test_a_byte_outside_ascii_gets_reject_373_6_and_the_session_trades_on(exchange: ExchangeService,
                                                                                symbol: str) -> None:
    """A Symbol with a byte outside ASCII: Reject 373=6 naming tag 55 with an ASCII text (before, the
    Reject's own text could not be encoded and the session closed); no order; the next one is acked."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.writer.write(raw_order(c.seq, "ROUTER-1", b"11=o1\x0155=caf\xe9\x0154=1\x0138=100\x0140=2\x0144=10.00\x01"
                                                b"60=20240101-00:00:00.000\x01"))
    c.seq += 1
    rej = await c.expect(lambda m: m.msg_type == "3")
    c.order("o2", 1, 100, "10.00", symbol)
    await c.expect(is_er("o2", "0"))
    exchange.journal.flush()
    assert ("55", "6", True, []) == (rej[371], rej[373], rej[58].isascii(),
                                     [r for r in read_records(exchange.journal.path) if r["cl_ord_id"] == "o1"])


async def test_a_repeated_tag_gets_reject_373_13_and_no_order(exchange: ExchangeService, symbol: str) -> None:
    """OrderQty twice (100, then 100000): Reject 373=13 naming tag 38, no order from either value; the
    session goes on."""
    c = await RawClient.open(exchange.fix_port, "ROUTER-1")
    c.send("D", [(11, "o1"), (55, symbol), (54, 1), (38, 100), (40, 2), (44, "10.00"),
                 (60, "20240101-00:00:00.000"), (38, 100000)])
    rej = await c.expect(lambda m: m.msg_type == "3")
    c.order("o2", 1, 100, "10.00", symbol)
    await c.expect(is_er("o2", "0"))
    exchange.journal.flush()
    assert ("38", "13", []) == (rej[371], rej[373],
                                [r for r in read_records(exchange.journal.path) if r["cl_ord_id"] == "o1"])


async def test_the_clordid_of_a_filled_order_is_refused_again(exchange: ExchangeService, symbol: str) -> None:
    """A ClOrdID is unique per session and day: reusing a filled order's gets ER 150=8 with the reason,
    journaled as rejected, and fills nothing (before, the same ClOrdID was filled twice)."""
    seller = await RawClient.open(exchange.fix_port, "ROUTER-1")
    buyer = await RawClient.open(exchange.fix_port, "ROUTER-2")
    seller.order("s1", 2, 200, "10.00", symbol)
    await seller.expect(is_er("s1", "0"))
    buyer.order("b1", 1, 100, "10.00", symbol)
    await buyer.expect(is_er("b1", "F"))
    buyer.order("b1", 1, 100, "10.00", symbol)
    er = await buyer.expect(is_er("b1", "8"))
    exchange.journal.flush()
    kinds = [r["kind"] for r in read_records(exchange.journal.path) if r["cl_ord_id"] == "b1"]
    assert (("8", "duplicate ClOrdID b1"), ["accepted", "fill", "rejected"]) == ((er[39], er[58]), kinds)


# -- Logon credentials -----------------------------------------------------------------------------------
PASSWORDS = {"ROUTER-1": "pw-router-1", "KNIGHT": "pw-knight", "OTHER": "pw-other"}


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    """An exchange asking for passwords; KNIGHT receives its own drop copy, OTHER nobody's."""
    credentials = Credentials.from_json({"passwords": PASSWORDS, "drop_copy": {"KNIGHT": ["KNIGHT"]}})
    config = ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False, credentials=credentials)
    ex = ExchangeService(config, TOKEN, structlog.get_logger())
    await ex.start()
    yield ex
    await ex.stop()


def creds(comp_id: str, password: str | None = None, username: str | None = None) -> list[tuple[int, object]]:
    return [(553, username or comp_id), (554, password or PASSWORDS[comp_id])]


async def test_the_right_password_logs_on_and_trades(secured: ExchangeService) -> None:
    """Username = SenderCompID and its password: logged on, orders acknowledged."""
    c = await RawClient.open(secured.fix_port, "ROUTER-1", logon_extra=creds("ROUTER-1"))
    c.order("o1", 1, 100, "10.00", next(iter(secured.engine.books)))
    await c.expect(is_er("o1", "0"))


@pytest.mark.parametrize(("comp_id", "extra"), [
    ("ROUTER-1", creds("ROUTER-1", password="wrong")),
    ("ROUTER-1", []),
    ("ROUTER-1", [(553, "ROUTER-1")]),
    ("ROUTER-1", creds("ROUTER-1", username="KNIGHT")),
    ("NOBODY", creds("ROUTER-1", username="NOBODY")),
], ids=["wrong password", "none", "username only", "username of another", "unknown compid"])
async def test_bad_credentials_get_logout_saying_only_invalid_credentials(
        secured: ExchangeService, comp_id: str, extra: list[tuple[int, object]]) -> None:
    """Whatever part is wrong, the Logon gets a Logout "invalid credentials" (no detail) and the
    connection ends; the session is not attached."""
    with pytest.raises(ConnectionError, match="^Logon refused: invalid credentials$"):
        await RawClient.open(secured.fix_port, comp_id, logon_extra=extra)
    assert comp_id not in secured.engine.sessions


async def test_bad_credentials_on_the_drop_copy_get_the_same_logout(secured: ExchangeService) -> None:
    """The drop-copy door checks the same passwords."""
    with pytest.raises(ConnectionError, match="^Logon refused: invalid credentials$"):
        await RawClient.open(secured.dropcopy_port, "KNIGHT", logon_extra=creds("KNIGHT", password="wrong"))


async def test_a_drop_copy_subscriber_gets_its_firms_reports(secured: ExchangeService) -> None:
    """KNIGHT, listed as KNIGHT's subscriber, logs on to the drop copy and receives KNIGHT's reports."""
    dc = await RawClient.open(secured.dropcopy_port, "KNIGHT", logon_extra=creds("KNIGHT"))
    c = await RawClient.open(secured.fix_port, "ROUTER-1", logon_extra=creds("ROUTER-1"))
    c.order("k1", 1, 100, "10.00", next(iter(secured.engine.books)), _1="KNIGHT")
    await dc.expect(is_er("k1", "0"))


async def test_a_drop_copy_for_a_compid_no_firm_lists_gets_logout(secured: ExchangeService) -> None:
    """OTHER has a password but no firm lists it as a drop-copy subscriber: Logout (it cannot read
    KNIGHT's fills, nor anyone's)."""
    with pytest.raises(ConnectionError, match="^Logon refused: SenderCompID OTHER is not allowed a drop copy$"):
        await RawClient.open(secured.dropcopy_port, "OTHER", logon_extra=creds("OTHER"))
    assert "OTHER" not in secured.engine.dropcopies


async def test_an_account_the_session_is_not_listed_for_is_rejected_over_fix(tmp_path: Path) -> None:
    """With an ``accounts`` table, OTHER's session naming Account(1) KNIGHT gets an ExecutionReport 39=8 saying
    it may not trade for KNIGHT; KNIGHT's drop copy sees nothing of it; its own account trades."""
    credentials = Credentials.from_json({"passwords": PASSWORDS, "drop_copy": {"KNIGHT": ["KNIGHT"]},
                                         "accounts": {"KNIGHT": ["ROUTER-1", "KNIGHT"], "OTHER": ["OTHER"]}})
    ex = ExchangeService(ExchangeConfig(journal=tmp_path / "journal.ndjson", liquidity=False,
                                        credentials=credentials), TOKEN, structlog.get_logger())
    await ex.start()
    try:
        symbol = next(iter(ex.engine.books))
        dc = await RawClient.open(ex.dropcopy_port, "KNIGHT", logon_extra=creds("KNIGHT"))
        other = await RawClient.open(ex.fix_port, "OTHER", logon_extra=creds("OTHER"))
        other.order("spoof", 1, 100, "10.00", symbol, _1="KNIGHT")
        rejected = await other.expect(is_er("spoof", "8"))
        other.order("own", 1, 100, "10.00", symbol, _1="OTHER")
        await other.expect(is_er("own", "0"))
        c = await RawClient.open(ex.fix_port, "ROUTER-1", logon_extra=creds("ROUTER-1"))
        c.order("k1", 1, 100, "10.00", symbol, _1="KNIGHT")
        first_copied = await dc.expect(lambda m: m.msg_type == "8")
    finally:
        await ex.stop()
    assert ("Account(1) KNIGHT is not an account session OTHER may trade for", "k1") == (
        rejected.fields[58], first_copied.fields[11])


async def test_new_comp_ids_past_the_days_cap_get_a_logout_saying_so(exchange: ExchangeService, monkeypatch) -> None:
    """An open venue keeps each CompID's state for the day: past MAX_SESSIONS a new CompID is refused at Logon
    (naming the cap); one it already knows logs on again."""
    from powerpeg.targets.exchange import fixgate
    cap = len(exchange.engine.sessions) + 1  # the market makers' session is one
    monkeypatch.setattr(fixgate, "MAX_SESSIONS", cap)
    first = await RawClient.open(exchange.fix_port, "FIRST")
    first.send("5", [])
    await first.expect(lambda m: m.msg_type == "5")
    first.close()
    with pytest.raises(ConnectionError, match=f"too many order-entry sessions today \\({cap}\\): SenderCompID "
                                              "SECOND refused"):
        await RawClient.open(exchange.fix_port, "SECOND")
    again = await RawClient.open(exchange.fix_port, "FIRST", logon_extra=[(141, "Y")])  # a new day's sequence
    assert ("SECOND" not in exchange.engine.sessions, "A") == (True, again.logon.msg_type if again.logon else None)
    again.close()
