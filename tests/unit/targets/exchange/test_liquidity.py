"""The market makers: two-sided quotes, replenishment, impact, a runaway's loss."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.targets.exchange.book import BUY, DAY, LIMIT, MARKET, SELL
from powerpeg.targets.exchange.core import MM_FIRM, Engine
from powerpeg.targets.exchange.journal import Journal
from powerpeg.targets.exchange.liquidity import LEVELS, Liquidity
from powerpeg.targets.exchange.symbols import Symbol


@pytest.fixture
async def market(tmp_path: Path):
    engine = Engine([Symbol("AAA", 2000), Symbol("BBB", 10000)], Journal(tmp_path / "j.ndjson"))
    liquidity = Liquidity(engine, seed=1, tick_s=3600)  # ticks are driven by hand
    engine.liquidity = liquidity
    liquidity.start()
    yield engine, liquidity
    await liquidity.stop()


def buy_market(engine: Engine, cl: str, qty: int, symbol: str = "AAA", side: int = BUY):
    st = engine.session("RUNAWAY")
    return engine.new_order(st, cl, "KNIGHT", symbol, side, qty, None, MARKET, DAY)


async def test_every_book_is_quoted_on_both_sides(market) -> None:
    """At start each symbol has LEVELS bid and LEVELS ask levels."""
    engine, _ = market
    depths = {s: tuple(len(side) for side in b.depth()) for s, b in engine.books.items()}
    assert {"AAA": (LEVELS, LEVELS), "BBB": (LEVELS, LEVELS)} == depths


async def test_quotes_straddle_the_fair_price(market) -> None:
    """Best bid is below fair and best ask above it."""
    engine, liquidity = market
    book = engine.books["AAA"]
    fair = liquidity.fair("AAA") * 100
    assert (True, True) == (book.best_bid() <= fair, book.best_ask() > fair)


async def test_swept_level_is_replaced_at_a_worse_price(market) -> None:
    """After a buyer takes the whole best ask, the new best ask is higher."""
    engine, liquidity = market
    book = engine.books["AAA"]
    best_ask = book.best_ask()
    size = liquidity.quoters["AAA"].size
    buy_market(engine, "b1", size)
    assert (True, LEVELS) == (book.best_ask() > best_ask, len(book.depth()[1]))


async def test_a_small_fill_keeps_the_quotes_and_a_deep_one_replaces_the_level(market) -> None:
    """10 shares off the best ask leave every quote resting as it was (same orders, no cancel); taking the
    best ask below half its size replaces that level (a new order at its price or beyond)."""
    engine, liquidity = market
    q = liquidity.quoters["AAA"]
    before = {**q.bids, **q.asks}
    buy_market(engine, "small", 10)
    after_small = {px: o.order_id for px, o in {**q.bids, **q.asks}.items()}
    any_done = any(o.done for o in {**q.bids, **q.asks}.values())
    best = min(q.asks)
    taken = q.asks[best]
    buy_market(engine, "deep", taken.leaves - q.size // 2 + 1)
    assert ({px: o.order_id for px, o in before.items()}, False) == (after_small, any_done)
    assert (True, False) == (taken.done, any(o is taken for o in q.asks.values()))


async def test_runaway_buyer_pushes_the_price_up(market) -> None:
    """Repeated aggressive buys raise the fair price."""
    engine, liquidity = market
    before = liquidity.fair("AAA")
    for i in range(20):
        buy_market(engine, f"b{i}", 100)
    assert liquidity.fair("AAA") > before


async def test_runaway_seller_pushes_the_price_down(market) -> None:
    """Repeated aggressive sells lower the fair price."""
    engine, liquidity = market
    before = liquidity.fair("AAA")
    for i in range(20):
        buy_market(engine, f"s{i}", 100, side=SELL)
    assert liquidity.fair("AAA") < before


async def test_runaway_loses_money_once_impact_decays(market) -> None:
    """Buy high through the offers, sell low into the bids: the PnL ends negative."""
    engine, liquidity = market
    for i in range(50):
        buy_market(engine, f"b{i}", 100)
        buy_market(engine, f"s{i}", 100, side=SELL)
    for i in range(100):
        buy_market(engine, f"x{i}", 100)
    for _ in range(200):
        liquidity.tick()
    assert engine.positions_view()["firms"]["KNIGHT"]["pnl_usd"] < 0


async def test_runaway_buyer_is_marked_below_its_own_impact(market) -> None:
    """A one-way runaway buyer shows a loss at once: marks are the settled price, not its own impact."""
    engine, liquidity = market
    for i in range(100):
        buy_market(engine, f"b{i}", 100)
    view = engine.positions_view()
    assert (True, True) == (view["marks"]["AAA"] < liquidity.fair("AAA"), view["firms"]["KNIGHT"]["pnl_usd"] < 0)


async def test_market_maker_positions_offset_the_runaway(market) -> None:
    """What the runaway bought the market makers sold: positions sum to zero."""
    engine, _ = market
    for i in range(30):
        buy_market(engine, f"b{i}", 300)
    total = sum(p["AAA"][0] for p in engine.positions.values())
    assert (0, 9000) == (total, engine.positions["KNIGHT"]["AAA"][0])


async def test_tick_only_requotes_symbols_that_moved(market, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no random move, an idle tick touches no symbol."""
    _, liquidity = market
    for q in liquidity.quoters.values():
        q.base = (q.anchor + 0.5) * q.step  # middle of the grid cell
    monkeypatch.setattr("powerpeg.targets.exchange.liquidity.VOL_PER_TICK", 0.0)
    assert 0 == liquidity.tick()


async def test_killed_market_makers_stop_quoting(market) -> None:
    """A kill of firm MM cancels its quotes and no new ones appear on a requote."""
    engine, liquidity = market
    engine.kill("firm", MM_FIRM)
    liquidity.requote(liquidity.quoters["AAA"])
    assert ([], []) == engine.books["AAA"].depth()


async def test_makers_never_cross_a_resting_client_order(market) -> None:
    """A client bid above fair is not met by a requote's asks."""
    engine, liquidity = market
    st = engine.session("R1")
    best_ask = engine.books["AAA"].best_ask()
    engine.new_order(st, "high", "KNIGHT", "AAA", BUY, 100_000, best_ask + 500, LIMIT, DAY)
    liquidity.requote(liquidity.quoters["AAA"])
    book = engine.books["AAA"]
    assert book.best_ask() is None or book.best_ask() > book.best_bid()
