"""What one broker sends: the parent-order mix, seeded, with no I/O.

Kept apart from the locustfile so the mix is unit-tested without Locust
(and without gevent in the test process).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from powerpeg.harness.experiment.model import LoadMix

from .config import LoadConfig, RouterTarget, SymbolRef

LOT = 100
# Zipf exponent of symbol popularity: with 20 symbols the busiest takes ~28%
# of the flow and the top five ~60%, like a real book of names
SYMBOL_SKEW = 1.0


def symbol_weights(count: int) -> list[float]:
    return [1.0 / (rank + 1) ** SYMBOL_SKEW for rank in range(count)]


def user_number(local_index: int, worker_index: int, workers: int) -> int:
    """A number unique across worker processes, dense when users are spread evenly."""
    return local_index * max(workers, 1) + worker_index


@dataclass(frozen=True)
class ParentOrder:
    router: RouterTarget
    symbol: str
    side: str
    qty: int
    limit_price: float | None
    rlp: bool
    client_order_id: str

    def body(self) -> dict[str, Any]:
        """The JSON of POST /orders."""
        body: dict[str, Any] = {"symbol": self.symbol, "side": self.side, "qty": self.qty,
                                "rlp": self.rlp, "client_order_id": self.client_order_id}
        if self.limit_price is not None:
            body["limit_price"] = self.limit_price
        return body

    def record(self, parent_id: str, ts_ns: int) -> dict[str, Any]:
        """A line of the parents log (docs/harness.md, Evidence)."""
        return {"parent_id": parent_id, "router": self.router.id, "symbol": self.symbol, "side": self.side,
                "qty": self.qty, "rlp": self.rlp, "ts_ns": ts_ns}


class Broker:
    """One Locust user's order flow: round robin over the routers starting at
    its own number, so N users over M routers load each router evenly."""

    def __init__(self, config: LoadConfig, number: int) -> None:
        self.config = config
        self.number = number
        self.mix: LoadMix = config.mix
        # a string seed is hashed whole: seed 1 user 2 and seed 2 user 1 differ
        self.rng = random.Random(f"{config.seed}/{number}")
        self.sent = 0
        self._weights = symbol_weights(len(config.symbols))

    @property
    def exhausted(self) -> bool:
        """The count bound: the load loop ends here even if the time bound never comes."""
        return self.sent >= self.config.max_parents_per_user

    def next_order(self, rlp_share: float) -> ParentOrder:
        routers = self.config.routers
        router = routers[(self.number + self.sent) % len(routers)]
        ref = self.rng.choices(self.config.symbols, weights=self._weights)[0]
        side = "buy" if self.rng.random() < self.mix.buy_share else "sell"
        qty = self._qty()
        limit = None if self.rng.random() < self.mix.market_share else self._limit_price(ref)
        rlp = self.rng.random() < rlp_share
        self.sent += 1
        return ParentOrder(router, ref.symbol, side, qty, limit, rlp,
                           client_order_id=f"{self.config.run_id}-u{self.number}-{self.sent}")

    def _qty(self) -> int:
        lo, hi = math.ceil(self.mix.qty_min / LOT), self.mix.qty_max // LOT
        if lo > hi:
            # no round lot fits in qty_min..qty_max: odd lots, then
            return self.rng.randint(self.mix.qty_min, self.mix.qty_max)
        return self.rng.randint(lo, hi) * LOT

    def _limit_price(self, ref: SymbolRef) -> float:
        """Uniform within limit_offset_bps of the reference, on the 0.01 tick, never beyond the band."""
        offset = ref.ref_price * self.mix.limit_offset_bps / 10_000
        lo_cents = max(1, math.ceil(round((ref.ref_price - offset) * 100, 6)))
        hi_cents = max(lo_cents, math.floor(round((ref.ref_price + offset) * 100, 6)))
        return self.rng.randint(lo_cents, hi_cents) / 100
