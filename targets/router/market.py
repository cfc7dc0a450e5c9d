"""The router's view of prices: reference prices from the exchange at start,
then the last fill price it saw per symbol (what the price collar uses)."""
from __future__ import annotations


class Prices:
    __slots__ = ("reference", "last")

    def __init__(self, reference: dict[str, int]) -> None:
        self.reference = reference  # symbol -> cents
        self.last: dict[str, int] = {}

    def known(self, symbol: str) -> bool:
        return symbol in self.reference

    def mark(self, symbol: str) -> int | None:
        """Last fill price seen, else the reference price (cents)."""
        last = self.last.get(symbol)
        return last if last is not None else self.reference.get(symbol)


def parse_symbols(payload: object) -> dict[str, int]:
    """``GET /symbols`` → {symbol: reference cents}; ValueError on a bad shape."""
    if not isinstance(payload, list) or not payload:
        raise ValueError("expected a non-empty JSON list of {symbol, ref_price}")
    out: dict[str, int] = {}
    for item in payload:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            raise ValueError(f"bad symbol entry {item!r}")
        price = item.get("ref_price")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not price > 0:
            raise ValueError(f"bad ref_price in {item!r}")
        out[item["symbol"]] = int(round(price * 100))
    return out
