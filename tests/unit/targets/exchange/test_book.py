"""The order book: price-time priority, partial fills, cancels, market and IOC."""
from __future__ import annotations

from powerpeg.targets.exchange.book import BUY, IOC, LIMIT, MARKET, SELL, Book, Order

_seq = iter(range(1, 1_000_000))


def order(side: int, qty: int, price: int | None, *, ord_type: int = LIMIT, tif: int = 0, name: str = "") -> Order:
    n = next(_seq)
    return Order(str(n), name or f"c{n}", "S", "F", "XYZ", side, qty, price, ord_type, tif)


def rest(book: Book, o: Order) -> Order:
    assert [] == book.match(o)
    book.rest(o)
    return o


def test_better_price_fills_first() -> None:
    """A buyer takes the lowest ask first, whatever the arrival order."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1010, name="high"))
    rest(book, order(SELL, 100, 1000, name="low"))
    fills = book.match(order(BUY, 100, 1010))
    assert [("low", 100, 1000)] == [(m.cl_ord_id, q, p) for m, q, p in fills]


def test_same_price_fills_in_time_order() -> None:
    """At one price level the earlier order fills first."""
    book = Book("XYZ")
    rest(book, order(BUY, 100, 1000, name="first"))
    rest(book, order(BUY, 100, 1000, name="second"))
    fills = book.match(order(SELL, 150, 1000))
    assert [("first", 100), ("second", 50)] == [(m.cl_ord_id, q) for m, q, _ in fills]


def test_trade_happens_at_the_resting_price() -> None:
    """An aggressive limit that crosses trades at the maker's price."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 995))
    fills = book.match(order(BUY, 100, 1020))
    assert [995] == [p for _, _, p in fills]


def test_limit_price_stops_the_sweep() -> None:
    """A buy limit never trades above its price."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1000))
    rest(book, order(SELL, 100, 1001))
    fills = book.match(order(BUY, 300, 1000))
    assert ([(100, 1000)], [(1001, 100)]) == ([(q, p) for _, q, p in fills], book.depth()[1])


def test_partial_fill_leaves_remainder_on_maker() -> None:
    """A partly filled maker keeps its place with the remaining quantity."""
    book = Book("XYZ")
    maker = rest(book, order(SELL, 500, 1000))
    book.match(order(BUY, 200, 1000))
    assert (200, 300, [(1000, 300)]) == (maker.cum_qty, maker.leaves, book.depth()[1])


def test_makers_count_their_fills() -> None:
    """Each maker's cumulative quantity, leaves and notional include its fill."""
    book = Book("XYZ")
    a = rest(book, order(SELL, 100, 1000))
    b = rest(book, order(SELL, 100, 1002))
    book.match(order(BUY, 150, 1002))
    assert [(100, 0, 100_000), (50, 50, 50 * 1002)] == [(m.cum_qty, m.leaves, m.notional) for m in (a, b)]


def test_taker_is_left_to_the_caller() -> None:
    """The book does not count a sweep on the taker: the engine counts it fill by fill, reporting each."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1000))
    rest(book, order(SELL, 100, 1002))
    taker = order(BUY, 200, 1002)
    fills = book.match(taker)
    assert ([100, 100], (0, 200, 0)) == ([q for _, q, _ in fills], (taker.cum_qty, taker.leaves, taker.notional))


def test_swept_level_is_removed() -> None:
    """A level traded to zero disappears from the book."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1000))
    rest(book, order(SELL, 100, 1001))
    book.match(order(BUY, 100, 1000))
    assert [(1001, 100)] == book.depth()[1]


def test_cancel_removes_quantity_from_level() -> None:
    """Cancelling one of two orders leaves only the other's quantity."""
    book = Book("XYZ")
    a = rest(book, order(BUY, 100, 1000))
    rest(book, order(BUY, 200, 1000))
    assert 100 == book.remove(a)
    assert [(1000, 200)] == book.depth()[0]


def test_cancelled_order_is_skipped_by_matching() -> None:
    """A cancelled order never trades, even if it was first in line."""
    book = Book("XYZ")
    a = rest(book, order(BUY, 100, 1000, name="gone"))
    rest(book, order(BUY, 100, 1000, name="live"))
    book.remove(a)
    fills = book.match(order(SELL, 100, 1000))
    assert ["live"] == [m.cl_ord_id for m, _, _ in fills]


def test_cancel_of_last_order_removes_level() -> None:
    """Cancelling the only order at a price removes the price."""
    book = Book("XYZ")
    a = rest(book, order(SELL, 100, 1000))
    book.remove(a)
    assert ([], None) == (book.depth()[1], book.best_ask())


def test_cancel_twice_removes_nothing_the_second_time() -> None:
    """A second cancel of the same order is a no-op."""
    book = Book("XYZ")
    a = rest(book, order(SELL, 100, 1000))
    book.remove(a)
    assert 0 == book.remove(a)


def test_market_order_sweeps_all_levels() -> None:
    """A market buy takes every ask level it needs, at any price."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1000))
    rest(book, order(SELL, 100, 5000))
    taker = order(BUY, 200, None, ord_type=MARKET)
    fills = book.match(taker)
    assert [1000, 5000] == [p for _, _, p in fills]


def test_market_order_on_empty_side_gets_nothing() -> None:
    """A market sell with no bids does not trade and keeps its quantity."""
    book = Book("XYZ")
    taker = order(SELL, 100, None, ord_type=MARKET)
    assert ([], 100) == (book.match(taker), taker.leaves)


def test_ioc_trades_what_it_can() -> None:
    """An IOC matches like a limit; the caller cancels its remainder."""
    book = Book("XYZ")
    rest(book, order(BUY, 100, 1000))
    fills = book.match(order(SELL, 300, 1000, tif=IOC))
    assert ([100], []) == ([q for _, q, _ in fills], book.depth()[0])


def test_last_is_the_last_trade_price() -> None:
    """``last`` follows the price of the latest fill."""
    book = Book("XYZ")
    rest(book, order(SELL, 100, 1000))
    rest(book, order(SELL, 100, 1001))
    book.match(order(BUY, 200, 1001))
    assert 1001 == book.last


def test_depth_is_best_first() -> None:
    """Bids are listed highest first and asks lowest first."""
    book = Book("XYZ")
    for px in (990, 995, 993):
        rest(book, order(BUY, 100, px))
    for px in (1010, 1005, 1007):
        rest(book, order(SELL, 100, px))
    bids, asks = book.depth()
    assert ([995, 993, 990], [1005, 1007, 1010]) == ([p for p, _ in bids], [p for p, _ in asks])


def test_reduce_keeps_the_place_in_the_queue() -> None:
    """A resting order reduced in quantity still trades first at its level."""
    book = Book("XYZ")
    a = rest(book, order(BUY, 100, 1000, name="first"))
    rest(book, order(BUY, 100, 1000, name="second"))
    book.reduce(a, 60)
    fills = book.match(order(SELL, 50, 1000))
    assert ([("first", 40), ("second", 10)], [(1000, 90)]) == (
        [(m.cl_ord_id, q) for m, q, _ in fills], book.depth()[0])


def test_pulled_order_goes_to_the_back_when_rested_again() -> None:
    """A pulled order rested again (a replace that loses priority) trades after those already there."""
    book = Book("XYZ")
    a = rest(book, order(BUY, 100, 1000, name="first"))
    rest(book, order(BUY, 100, 1000, name="second"))
    assert 100 == book.pull(a)
    a.leaves = 100
    book.rest(a)
    fills = book.match(order(SELL, 200, 1000))
    assert ["second", "first"] == [m.cl_ord_id for m, _, _ in fills]


def test_pull_of_the_only_order_removes_the_level() -> None:
    """Pulling the last order at a price removes the price."""
    book = Book("XYZ")
    a = rest(book, order(SELL, 100, 1000))
    book.pull(a)
    assert ([], None, 0) == (book.depth()[1], book.best_ask(), a.leaves)


def test_cancelled_orders_behind_a_resting_one_do_not_pile_up() -> None:
    """A level kept alive by one resting order does not keep every order cancelled at it since
    (a market maker requoting there all day): the queue stays short, and priority is kept."""
    from powerpeg.targets.exchange.book import COMPACT_MIN_DEAD

    book = Book("XYZ")
    first = rest(book, order(BUY, 100, 1000, name="first"))
    for _ in range(10_000):
        book.remove(rest(book, order(BUY, 100, 1000)))
    last = rest(book, order(BUY, 100, 1000, name="last"))
    level = book.bids[1000]
    fills = book.match(order(SELL, 200, 1000))
    assert (True, 200, ["first", "last"]) == (
        len(level.orders) <= 2 * COMPACT_MIN_DEAD + 2, level.qty + 200,
        [m.cl_ord_id for m, _, _ in fills])
    assert (0, 0) == (first.leaves, last.leaves)
