"""The symbol universe."""
from __future__ import annotations

import pytest

from powerpeg.targets.exchange.symbols import MIN_SYMBOLS, universe


def test_universe_has_the_asked_number_of_distinct_symbols() -> None:
    """154 symbols by default, no ticker twice."""
    symbols = universe()
    assert (MIN_SYMBOLS, MIN_SYMBOLS) == (len(symbols), len({s.symbol for s in symbols}))


def test_universe_is_deterministic_for_a_seed() -> None:
    """Two processes with the same seed agree on tickers and prices."""
    assert universe(200, seed=5) == universe(200, seed=5)


def test_seed_changes_the_universe() -> None:
    """Another seed gives another universe."""
    assert universe(seed=1) != universe(seed=2)


def test_reference_prices_are_between_5_and_400_dollars() -> None:
    """Every reference price lies in $5-$400."""
    prices = [s.ref_price for s in universe(1000)]
    assert (True, True) == (min(prices) >= 500, max(prices) <= 40_000)


def test_fewer_than_154_symbols_is_an_error() -> None:
    """The universe refuses to be smaller than Knight's 154 names."""
    with pytest.raises(ValueError, match="154"):
        universe(100)
