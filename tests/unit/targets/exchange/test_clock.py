"""The market clock."""
from __future__ import annotations

import asyncio
import time

import pytest

from powerpeg.targets.exchange.clock import OPEN, PRE_OPEN, MarketClock


async def test_opens_at_the_scheduled_time() -> None:
    """A clock set 50 ms ahead is pre-open, then open, calling on_open once."""
    opened: list[int] = []
    clock = MarketClock(time.time_ns() + 50_000_000, "queue", lambda: opened.append(1))
    clock.start()
    before = clock.phase
    await asyncio.sleep(0.2)
    assert (PRE_OPEN, OPEN, [1]) == (before, clock.phase, opened)


async def test_past_open_time_opens_at_start() -> None:
    """An open time already passed opens immediately."""
    clock = MarketClock(0, "queue", lambda: None)
    clock.start()
    assert OPEN == clock.phase


async def test_reschedule_moves_the_open() -> None:
    """Rescheduling to 1 hour keeps the market closed."""
    clock = MarketClock(time.time_ns() + 50_000_000, "queue", lambda: None)
    clock.start()
    clock.reschedule(3600)
    await asyncio.sleep(0.15)
    assert PRE_OPEN == clock.phase
    clock.stop()


async def test_reschedule_after_open_is_refused() -> None:
    """An open market cannot be sent back to pre-open."""
    clock = MarketClock(0, "queue", lambda: None)
    clock.start()
    with pytest.raises(RuntimeError, match="already open"):
        clock.reschedule(10)
