"""The symbol universe: tickers with reference prices, generated from the seed.

Knight's runaway traded 154 NYSE names, so the universe has at least that
many. Tickers are made up (1-4 letters, NYSE style) but deterministic for a
seed, so every process of a run agrees on them without sharing a file.
Reference prices are log-uniform between $5 and $400, in cents.
"""
from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass

MIN_SYMBOLS = 154
MIN_PRICE_CENTS = 500
MAX_PRICE_CENTS = 40_000


@dataclass(frozen=True, slots=True)
class Symbol:
    symbol: str
    ref_price: int  # cents


def universe(count: int = MIN_SYMBOLS, seed: int = 1) -> list[Symbol]:
    """``count`` distinct tickers, sorted, each with a reference price."""
    if count < MIN_SYMBOLS:
        raise ValueError(f"--symbols must be >= {MIN_SYMBOLS}, got {count}")
    rng = random.Random(f"powerpeg-universe-{seed}")
    seen: set[str] = set()
    out: list[Symbol] = []
    lo, hi = math.log(MIN_PRICE_CENTS), math.log(MAX_PRICE_CENTS)
    while len(out) < count:
        length = rng.choices((2, 3, 4), weights=(2, 5, 3))[0]
        ticker = "".join(rng.choice(string.ascii_uppercase) for _ in range(length))
        if ticker in seen:
            continue
        seen.add(ticker)
        out.append(Symbol(ticker, int(round(math.exp(rng.uniform(lo, hi))))))
    out.sort(key=lambda s: s.symbol)
    return out
