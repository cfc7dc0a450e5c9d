"""The exchange against a reference model (``refmodel.py``), message by message.

Seeded streams of orders, cancels, cancel/replaces and mass cancels go in
through the order-entry FIX door (framing, session checks, the gate, the
engine, the book, the journal, report encoding: everything but the socket),
and every message each session gets back and every journal line must be
what the model predicts. The same streams go through a real exchange
process over TCP in tests/integration/test_exchange_differential.py.
The last tests plant a priority bug and the per-fill bug of issue 10 in a
copy of the book and check that the comparison catches each.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import structlog

from powerpeg.targets.exchange.book import BUY, Book
from powerpeg.targets.exchange.config import ExchangeConfig
from powerpeg.targets.exchange.core import Engine
from powerpeg.targets.exchange.fixgate import ORDER_ENTRY_TYPES
from powerpeg.targets.exchange.journal import read_records
from powerpeg.targets.exchange.service import ExchangeService
from powerpeg.targets.fix.codec import FixParser, encode

from .refmodel import Model, Stream, first_difference, journal_view, received

COMP = "EXCHANGE"
SESSIONS: dict[str, str | None] = {"DIFF-A": "ALPHA", "DIFF-B": "ALPHA", "DIFF-C": None}


class Capture(asyncio.Transport):
    """Keeps every byte the exchange writes to one session."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self._closing = False

    def write(self, data: Any) -> None:
        self.data += data

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.data += chunk

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


async def run_differential(tmp_path: Path, seed: int, n: int) -> list[str]:
    """Play ``n`` messages of stream ``seed`` into an in-process exchange; every difference from the model."""
    exchange = ExchangeService(ExchangeConfig(journal=tmp_path / f"journal-{seed}.ndjson", liquidity=False),
                               "token", structlog.get_logger())
    exchange.engine.is_open = True
    symbols = dict(list(exchange.engine.ref.items())[:3])
    model = Model(symbols)
    stream = Stream(seed, symbols, SESSIONS)
    sessions, transports, seqs = {}, {}, {}
    for comp in SESSIONS:
        session = exchange._session(exchange.order_entry, ORDER_ENTRY_TYPES)
        transports[comp] = Capture()
        session.connection_made(transports[comp])
        session.data_received(encode("A", comp, COMP, 1, [(98, 0), (108, 30)]))
        sessions[comp], seqs[comp] = session, 1
        model.logon(comp)
    try:
        for _ in range(n):
            comp = stream.session()
            msg_type, fields = stream.draw(model, comp)
            seqs[comp] += 1
            sessions[comp].data_received(encode(msg_type, comp, COMP, seqs[comp], list(fields.items())))
            model.apply(comp, msg_type, fields)
        for session in sessions.values():
            session._flush()
    finally:
        exchange.journal.close()
        for session in sessions.values():
            if session._hb_task is not None:
                session._hb_task.cancel()
    differences = []
    for comp in SESSIONS:
        parser = FixParser()
        parser.feed(bytes(transports[comp].data))
        differences.append(first_difference(comp, model.out[comp], received(list(parser.messages()))))
    differences.append(first_difference("journal", model.journal, journal_view(read_records(exchange.journal.path))))
    return [d for d in differences if d is not None]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_exchange_matches_the_reference_model(tmp_path: Path, seed: int) -> None:
    """4,000 messages of a seeded stream: every report, reject and journal line as the model predicts."""
    differences = await run_differential(tmp_path, seed, 4000)
    assert [] == differences, "\n\n".join(differences)


def test_the_streams_exercise_what_they_should() -> None:
    """The streams sweep several levels, replace and mass-cancel (or the comparison proves little)."""
    symbols = {"AAA": 1000, "BBB": 5000, "CCC": 2500}
    model = Model(symbols)
    stream = Stream(1, symbols, SESSIONS)
    for comp in SESSIONS:
        model.logon(comp)
    sweeps = 0
    for _ in range(4000):
        comp = stream.session()
        msg_type, fields = stream.draw(model, comp)
        before = len(model.journal)
        model.apply(comp, msg_type, fields)
        fills = [r for r in model.journal[before:] if r["kind"] == "fill" and r["liquidity"] == "taker"]
        sweeps += len({r["exec_px"] for r in fills}) > 1
    kinds = {r["kind"] for r in model.journal} | {
        f"{r['kind']}:{r.get('reason') or r.get('requeued')}"
        for r in model.journal if r["kind"] in ("canceled", "replaced")}
    answers = {t for out in model.out.values() for t, f in out} | {
        f"9:{f[102]}" for out in model.out.values() for t, f in out if t == "9"}
    assert sweeps > 50
    assert {"accepted", "rejected", "fill", "replaced:True", "replaced:False", "mass_cancel", "canceled:user",
            "canceled:ioc", "canceled:market", "canceled:mass"} <= kinds
    assert {"8", "9", "r", "j", "9:0", "9:1", "9:6", "9:99"} <= answers


class LifoBook(Book):
    """A priority bug: the newest order at a price level trades first."""

    def rest(self, order: Any) -> None:
        super().rest(order)
        (self.bids if order.side == BUY else self.asks)[order.price].orders.rotate(1)


def plant_lifo_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("powerpeg.targets.exchange.core.Book", LifoBook)


def plant_decrease_loses_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replace that only lowers the quantity sends the order to the back of its level."""

    def reduce_to_the_back(self: Book, order: Any, qty: int) -> None:
        leaves = self.pull(order) - qty
        order.leaves = leaves
        self.rest(order)

    monkeypatch.setattr(Book, "reduce", reduce_to_the_back)


def plant_sweep_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 as it was: the whole sweep counted on the taker before its first fill is reported."""

    class SweepTotalsBook(Book):
        def match(self, order: Any) -> list:
            fills = super().match(order)
            for _, qty, px in fills:
                order.leaves -= qty
                order.cum_qty += qty
                order.notional += qty * px
            return fills

    fill = Engine._fill

    def fill_counted_already(self: Engine, taker: Any, maker: Any, qty: int, px: int) -> None:
        taker.leaves += qty  # the engine's own count of this fill, taken back: the book did it
        taker.cum_qty -= qty
        taker.notional -= qty * px
        fill(self, taker, maker, qty, px)

    monkeypatch.setattr("powerpeg.targets.exchange.core.Book", SweepTotalsBook)
    monkeypatch.setattr(Engine, "_fill", fill_counted_already)


@pytest.mark.parametrize("plant", [plant_lifo_priority, plant_decrease_loses_priority, plant_sweep_totals])
async def test_the_comparison_catches_a_planted_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant: Any,
) -> None:
    """With a bug planted in the exchange, the same stream is reported as different from the model."""
    plant(monkeypatch)
    differences = await run_differential(tmp_path, 3, 1500)
    # the journal and at least one session's reports
    assert {"journal"} < {d.split(":")[0] for d in differences}, "\n\n".join(differences)
