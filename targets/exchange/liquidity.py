"""Internal market makers: a few quote levels each side around a fair price.

The fair price of a symbol is ``base + impact``: ``base`` is a seeded random
walk; ``impact`` is pushed by aggressive net flow (one price step per level's
worth of shares) and decays back towards zero. So a runaway buyer pays up as
it sweeps the offers, and when it stops the price falls back under its
position: it loses real simulated money, as Knight did.

Quotes sit on a grid of ``step`` cents, so a move of the fair price by one
step changes only the two outer levels of each side; the random walk's tick
touches only symbols whose grid anchor moved. A symbol is requoted right
after a client trades against it, so a sweep finds new (worse) liquidity
before the next order is read.

Market maker orders go through the engine like any other (firm ``MM``,
session ``MM``), so they are journaled, reported and counted in positions.
"""
from __future__ import annotations

import asyncio
import math
import random
from typing import TYPE_CHECKING

from .book import BUY, DAY, LIMIT, SELL, Order
from .core import MM_FIRM

if TYPE_CHECKING:
    from .core import Engine

LEVELS = 5
LEVEL_NOTIONAL_CENTS = 2_500_000  # about $25k per level
IMPACT_STEPS_PER_LEVEL = 1.0
IMPACT_HALF_LIFE_S = 5.0
TICK_S = 0.2
VOL_PER_TICK = 0.0001  # relative sigma of the random walk per tick (a tenth of a step)


class Quoter:
    """The market maker of one symbol."""

    __slots__ = ("symbol", "step", "size", "base", "impact", "anchor", "bids", "asks")

    def __init__(self, symbol: str, ref_cents: int) -> None:
        self.symbol = symbol
        self.step = max(1, round(ref_cents * 0.001))
        self.size = max(100, round(LEVEL_NOTIONAL_CENTS / ref_cents / 100) * 100)
        self.base = float(ref_cents)
        self.impact = 0.0
        self.anchor: int | None = None
        self.bids: dict[int, Order] = {}
        self.asks: dict[int, Order] = {}

    @property
    def fair(self) -> float:
        # Floor: the ladder must stay above one cent.
        return max(self.base + self.impact, float(self.step * (LEVELS + 2)))


def _intact(quotes: dict[int, Order], half: int) -> bool:
    """All LEVELS quotes of one side resting with at least half their size: what requote would keep as is
    (their prices are the ladder of the unchanged anchor they were placed at)."""
    if len(quotes) != LEVELS:
        return False
    for order in quotes.values():
        if order.done or order.leaves < half:
            return False
    return True


class Liquidity:
    def __init__(self, engine: Engine, *, seed: int = 1, tick_s: float = TICK_S) -> None:
        self.engine = engine
        self.rng = random.Random(f"powerpeg-liquidity-{seed}")
        self.tick_s = tick_s
        self.quoters = {sym: Quoter(sym, ref) for sym, ref in engine.ref.items()}
        self.state = engine.session(MM_FIRM, cod=False)
        self.running = False
        self._task: asyncio.Task | None = None
        self._seq = 0
        self._decay = 0.5 ** (tick_s / IMPACT_HALF_LIFE_S)

    def fair(self, symbol: str) -> float | None:
        q = self.quoters.get(symbol)
        return None if q is None else q.fair / 100

    def settled(self, symbol: str) -> float | None:
        """The fair price without the transient impact of recent flow: where the
        price goes back to once the flow stops. Positions are marked here, so a
        runaway that pushed the price up is not credited with its own impact."""
        q = self.quoters.get(symbol)
        return None if q is None else max(q.base, float(q.step * (LEVELS + 2))) / 100

    def start(self) -> None:
        """Quote every book, then keep the random walk going."""
        if self.running:
            return
        self.running = True
        for q in self.quoters.values():
            self.requote(q)
        self._task = asyncio.get_running_loop().create_task(self._walk())

    async def stop(self) -> None:
        self.running = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def on_trade(self, symbol: str, net_qty: int) -> None:
        """Aggressive flow moved the price; replace what was taken."""
        q = self.quoters.get(symbol)
        if q is None or not self.running:
            return
        q.impact += net_qty / q.size * q.step * IMPACT_STEPS_PER_LEVEL
        self.requote(q)

    def requote(self, q: Quoter) -> None:
        engine = self.engine
        if engine.is_killed(MM_FIRM, MM_FIRM):
            q.anchor = None  # requote on the next tick once reinstated
            return
        anchor = int(q.fair // q.step)
        half = q.size // 2
        if anchor == q.anchor and _intact(q.bids, half) and _intact(q.asks, half):
            # Nothing below would change (every level there, none stale): the usual case after a fill of
            # a few hundred shares; redoing it anyway was ~15 % of the instructions of a crossing order.
            return
        q.anchor = anchor
        step = q.step
        bid_px = [(anchor - i) * step for i in range(LEVELS)]
        ask_px = [(anchor + 1 + i) * step for i in range(LEVELS)]
        # Cancel stale quotes on both sides first, so no new quote meets an old one.
        for quotes, targets in ((q.bids, bid_px), (q.asks, ask_px)):
            for px, order in list(quotes.items()):
                if order.done or px not in targets or order.leaves < half:
                    if not order.done:
                        engine.cancel_order(order, "user")
                    del quotes[px]
        book = engine.books[q.symbol]
        best_ask = book.best_ask()
        for px in bid_px:
            if px not in q.bids and (best_ask is None or px < best_ask):
                self._quote(q, q.bids, BUY, px)
        best_bid = book.best_bid()
        for px in ask_px:
            if px not in q.asks and (best_bid is None or px > best_bid):
                self._quote(q, q.asks, SELL, px)

    def _quote(self, q: Quoter, quotes: dict[int, Order], side: int, px: int) -> None:
        self._seq += 1
        order = self.engine.new_order(self.state, f"MM-{self._seq}", MM_FIRM, q.symbol, side, q.size, px, LIMIT, DAY)
        if not order.done:
            quotes[px] = order

    def tick(self) -> int:
        """One step of the random walk; returns how many symbols were requoted."""
        gauss = self.rng.gauss
        decay = self._decay
        moved = 0
        for q in self.quoters.values():
            q.base *= math.exp(VOL_PER_TICK * gauss(0.0, 1.0))
            q.impact *= decay
            if int(q.fair // q.step) != q.anchor:
                self.requote(q)
                moved += 1
        return moved

    async def _walk(self) -> None:
        while self.running:
            await asyncio.sleep(self.tick_s)
            self.tick()
