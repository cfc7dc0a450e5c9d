"""One symbol's continuous limit order book: price-time priority, no I/O.

Prices are integer cents. Each side keeps a dict of price levels plus a
sorted list of the prices (``bisect``), so the best price is one index away
and a new level costs one ``insort``. A level is a FIFO ``deque``.

Cancels are lazy: a cancelled order only gets ``leaves = 0`` and is skipped
(and dropped) when matching reaches it; the level's total quantity is kept
exact, and a level whose quantity reaches zero is removed at once. This keeps
a mass cancel (kill switch, cancel-on-disconnect of thousands of orders at
one price) linear instead of quadratic. A level that never empties (a client's
order resting all day where the market makers requote every few seconds)
would keep every cancelled quote behind it: once more than half of a level's
queue is dead, the queue is rebuilt without them (amortised O(1) a cancel).
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

BUY = 1
SELL = 2
SIDE_NAMES = {BUY: "buy", SELL: "sell"}

MARKET = 1
LIMIT = 2
DAY = 0
IOC = 3


class Order:
    """An order as the book and the engine see it (one object, mutated in place)."""

    __slots__ = (
        "order_id", "cl_ord_id", "session", "firm", "symbol", "side", "qty", "price",
        "ord_type", "tif", "cum_qty", "leaves", "notional", "queued", "done",
    )

    def __init__(
        self,
        order_id: str,
        cl_ord_id: str,
        session: str,
        firm: str,
        symbol: str,
        side: int,
        qty: int,
        price: int | None,
        ord_type: int = LIMIT,
        tif: int = DAY,
    ) -> None:
        self.order_id = order_id
        self.cl_ord_id = cl_ord_id
        self.session = session
        self.firm = firm
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.price = price  # cents; None for market orders
        self.ord_type = ord_type
        self.tif = tif
        self.cum_qty = 0
        self.leaves = qty
        self.notional = 0  # sum of exec qty * exec price in cents, for AvgPx
        self.queued = False  # accepted before the open, not yet in the book
        self.done = False  # filled, cancelled or rejected: no more reports

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id} {self.cl_ord_id} {SIDE_NAMES.get(self.side)} "
            f"{self.leaves}/{self.qty} {self.symbol} @{self.price})"
        )


# A level's queue is compacted once it holds more dead (cancelled) orders than this and than live ones.
COMPACT_MIN_DEAD = 32


class Level:
    __slots__ = ("price", "orders", "qty", "dead")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.dead = 0  # lazily cancelled orders still in the queue


Fill = tuple  # (maker: Order, qty: int, price_cents: int)


class Book:
    """Price-time priority book for one symbol."""

    __slots__ = ("symbol", "bids", "asks", "bid_px", "ask_px", "last")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_px: list[int] = []  # ascending: best bid is the last
        self.ask_px: list[int] = []  # ascending: best ask is the first
        self.last: int | None = None

    # -- queries ---------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self.bid_px[-1] if self.bid_px else None

    def best_ask(self) -> int | None:
        return self.ask_px[0] if self.ask_px else None

    def depth(self, levels: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Best-first ``[(price, qty), ...]`` for bids and asks."""
        bids = [(p, self.bids[p].qty) for p in reversed(self.bid_px[-levels:])] if levels else []
        asks = [(p, self.asks[p].qty) for p in self.ask_px[:levels]] if levels else []
        return bids, asks

    def level_orders(self, side: int, price: int) -> list[Order]:
        """Live orders at one level in time priority (for tests and inspection)."""
        level = (self.bids if side == BUY else self.asks).get(price)
        return [o for o in level.orders if o.leaves] if level else []

    # -- mutations ---------------------------------------------------------------
    def match(self, order: Order) -> list[Fill]:
        """Execute ``order`` against the opposite side as far as its price allows.

        Returns the fills in execution order at the makers' prices. Updates
        the makers' ``cum_qty``/``leaves``/``notional`` (they live here) but
        not the taker's: the caller applies each fill to the taker in turn,
        so that each of its reports and journal records says where the order
        stood after that fill, not after the whole sweep. Rests nothing.
        """
        fills: list[Fill] = []
        limit = order.price
        left = order.leaves
        if order.side == BUY:
            prices, levels = self.ask_px, self.asks
            while left and prices:
                px = prices[0]
                if limit is not None and px > limit:
                    break
                left = self._take(left, levels[px], fills)
                if levels[px].qty == 0:
                    del levels[px]
                    prices.pop(0)
        else:
            prices, levels = self.bid_px, self.bids
            while left and prices:
                px = prices[-1]
                if limit is not None and px < limit:
                    break
                left = self._take(left, levels[px], fills)
                if levels[px].qty == 0:
                    del levels[px]
                    prices.pop()
        if fills:
            self.last = fills[-1][2]
        return fills

    @staticmethod
    def _take(left: int, level: Level, fills: list[Fill]) -> int:
        """Fill up to ``left`` from one level's queue; returns what is still left."""
        queue = level.orders
        px = level.price
        while left and queue:
            maker = queue[0]
            if maker.leaves == 0:  # lazily cancelled
                queue.popleft()
                level.dead -= 1
                continue
            qty = left if left < maker.leaves else maker.leaves
            maker.leaves -= qty
            maker.cum_qty += qty
            maker.notional += qty * px
            left -= qty
            level.qty -= qty
            fills.append((maker, qty, px))
            if maker.leaves == 0:
                queue.popleft()
        return left

    def rest(self, order: Order) -> None:
        """Put the (limit) order's remaining quantity at the back of its level."""
        px = order.price
        if px is None:
            raise ValueError(f"a market order never rests: {order!r}")
        if order.side == BUY:
            levels, prices = self.bids, self.bid_px
        else:
            levels, prices = self.asks, self.ask_px
        level = levels.get(px)
        if level is None:
            level = levels[px] = Level(px)
            insort(prices, px)
        level.orders.append(order)
        level.qty += order.leaves

    def reduce(self, order: Order, qty: int) -> None:
        """Take ``qty`` (less than its leaves) off a resting order; it keeps its place in the queue."""
        order.leaves -= qty
        (self.bids if order.side == BUY else self.asks)[order.price].qty -= qty  # type: ignore[index]

    def pull(self, order: Order) -> int:
        """Take a resting order out of its level for good (not lazily); returns the quantity removed.

        For a cancel/replace that loses priority: the same order object goes
        back in at the back of a level, so no stale entry of it may stay in
        the queue, where a lazy removal would leave one that comes alive
        again with the new quantity. Linear in the level's length; replaces
        are rare next to orders and cancels.
        """
        leaves = order.leaves
        levels, prices = (self.bids, self.bid_px) if order.side == BUY else (self.asks, self.ask_px)
        level = levels[order.price]  # type: ignore[index]
        level.orders.remove(order)
        level.qty -= leaves
        order.leaves = 0
        if level.qty == 0:
            del levels[level.price]
            del prices[bisect_left(prices, level.price)]
        return leaves

    def remove(self, order: Order) -> int:
        """Take a resting order out of the book; returns the quantity removed."""
        leaves = order.leaves
        if leaves == 0:
            return 0
        if order.side == BUY:
            levels, prices = self.bids, self.bid_px
        else:
            levels, prices = self.asks, self.ask_px
        level = levels.get(order.price)  # type: ignore[arg-type]
        order.leaves = 0
        if level is None:
            return leaves
        level.qty -= leaves
        if level.qty <= 0:
            del levels[level.price]
            idx = bisect_left(prices, level.price)
            if idx < len(prices) and prices[idx] == level.price:
                del prices[idx]
            return leaves
        level.dead += 1
        if level.dead > COMPACT_MIN_DEAD and 2 * level.dead > len(level.orders):
            level.orders = deque(o for o in level.orders if o.leaves)
            level.dead = 0
        return leaves
