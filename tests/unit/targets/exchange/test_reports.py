"""Wire forms: prices in cents and decimal dollars."""
from __future__ import annotations

import pytest

from powerpeg.targets.exchange.reports import fmt_px, parse_cents


@pytest.mark.parametrize(("text", "cents"),
                         [("10", 1000), ("10.5", 1050), ("10.05", 1005), ("0.01", 1), ("12.500", 1250)])
def test_decimal_dollars_parse_to_cents(text: str, cents: int) -> None:
    """Prices on the 0.01 tick become integer cents."""
    assert cents == parse_cents(text)


@pytest.mark.parametrize("text", ["10.001", "-1", "abc", "1e3", "", "nan", "1.2.3"])
def test_malformed_or_off_tick_price_is_none(text: str) -> None:
    """Anything not a non-negative decimal on the tick is refused."""
    assert None is parse_cents(text)


def test_cents_format_as_two_decimals() -> None:
    """1005 cents is 10.05 on the wire."""
    assert "10.05" == fmt_px(1005)
