"""Pre-trade checks: each one alone, then at the gateway under every path."""
from __future__ import annotations

import dataclasses

from powerpeg.targets.fix.codec import Tag
from powerpeg.targets.router.checks import (
    ChildBlock, EntryRejection, MaxChildQty, MaxChildRate, MaxParentNotional, PriceCollar, RejectDuplicates,
    build_checks,
)
from powerpeg.targets.router.market import Prices
from powerpeg.targets.router.parents import ORD_LIMIT, ORD_MARKET, TIF_DAY, TIF_IOC, Child, Parent

from tests.unit.targets.router.fakes import (  # noqa: F401 - fixtures
    exchange, http, launch, post_order, router_config, wait_until, world,
)


def parent(qty: int = 1000, limit_cents: int | None = 1000, client_order_id: str = "c1") -> Parent:
    return Parent("router-1-000001", "AAA", "buy", qty, limit_cents, False, client_order_id)


def child(qty: int = 100, price_cents: int | None = 1000) -> Child:
    kind = ORD_MARKET if price_cents is None else ORD_LIMIT
    return Child("router-1-000001.1", parent(), qty, price_cents, kind, TIF_DAY if price_cents else TIF_IOC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_max_child_qty_passes_child_at_limit() -> None:
    """A child exactly at --max-child-qty is sent."""
    assert None is MaxChildQty(100, 100).check_child(child(qty=100))


def test_max_child_qty_blocks_larger_child() -> None:
    """A child above --max-child-qty is refused with the sizes in the reason."""
    assert ChildBlock("child qty 101 exceeds max child qty 100") == MaxChildQty(100, 100).check_child(child(qty=101))


def test_max_child_qty_refuses_parent_whose_child_size_exceeds_it() -> None:
    """At entry, a parent sliced into children above the limit is 422 naming qty."""
    rejection = MaxChildQty(50, 100).check_parent(parent(qty=1000))
    assert (422, "qty") == (rejection.status, rejection.field)


def test_max_child_qty_accepts_small_parent() -> None:
    """A parent smaller than the limit has children within it."""
    assert None is MaxChildQty(50, 100).check_parent(parent(qty=40))


def test_price_collar_passes_limit_within_band() -> None:
    """A limit 4% from the reference passes a 5% collar."""
    assert None is PriceCollar(5.0, Prices({"AAA": 1000})).check_child(child(price_cents=1040))


def test_price_collar_blocks_limit_outside_band() -> None:
    """A limit 6% from the reference is refused by a 5% collar."""
    block = PriceCollar(5.0, Prices({"AAA": 1000})).check_child(child(price_cents=1060))
    assert "price collar: limit 10.60 is 6.00% from last 10.00 (max 5%)" == block.reason


def test_price_collar_uses_last_fill_price_over_reference() -> None:
    """Once a fill was seen, the collar is centred on the last fill price."""
    prices = Prices({"AAA": 1000})
    prices.last["AAA"] = 1100
    assert None is PriceCollar(5.0, prices).check_child(child(price_cents=1140))


def test_price_collar_ignores_market_children() -> None:
    """A market child has no price and is not collared."""
    assert None is PriceCollar(1.0, Prices({"AAA": 1000})).check_child(child(price_cents=None))


def test_parent_notional_within_limit_passes() -> None:
    """1,000 shares at $10.00 pass a $10,000 limit."""
    assert None is MaxParentNotional(10_000, Prices({"AAA": 1000})).check_parent(parent(qty=1000))


def test_parent_notional_over_limit_is_refused() -> None:
    """1,001 shares at $10.00 break a $10,000 limit."""
    rejection = MaxParentNotional(10_000, Prices({"AAA": 1000})).check_parent(parent(qty=1001))
    assert (422, "limit_price") == (rejection.status, rejection.field)


def test_duplicate_client_order_id_is_refused_after_acceptance() -> None:
    """A client_order_id already accepted is 409 the second time."""
    check = RejectDuplicates()
    first = check.check_parent(parent(client_order_id="x"))
    check.accepted(parent(client_order_id="x"))
    assert (None, EntryRejection(409, "duplicate client_order_id 'x'", "client_order_id")) == (
        first, check.check_parent(parent(client_order_id="x")))


def test_refused_parent_does_not_reserve_its_client_order_id() -> None:
    """An id that was only checked (never accepted) may be used again."""
    check = RejectDuplicates()
    check.check_parent(parent(client_order_id="x"))
    assert None is check.check_parent(parent(client_order_id="x"))


def test_child_rate_allows_limit_per_second() -> None:
    """Exactly N children within one second pass."""
    clock = FakeClock()
    check = MaxChildRate(3, clock)
    assert [None, None, None] == [check.check_child(child()) for _ in range(3)]


def test_child_rate_over_limit_asks_to_halt() -> None:
    """The N+1th child within one second is refused with a halt."""
    clock = FakeClock()
    check = MaxChildRate(3, clock)
    for _ in range(3):
        check.check_child(child())
    assert True is check.check_child(child()).halt


def test_child_rate_window_rolls() -> None:
    """Children older than one second no longer count."""
    clock = FakeClock()
    check = MaxChildRate(3, clock)
    for _ in range(3):
        check.check_child(child())
    clock.now += 1.01
    assert None is check.check_child(child())


def test_no_check_is_on_by_default(exchange, world) -> None:
    """A default configuration builds no checks."""
    assert [] == build_checks(router_config(exchange, world), Prices({"AAA": 1000}))


def test_every_flag_switches_its_check_on(exchange, world) -> None:
    """Each check flag adds its check."""
    cfg = dataclasses.replace(router_config(exchange, world), max_child_qty=10, price_collar_pct=5.0,
                              max_parent_notional=1e6, reject_duplicates=True, max_child_rate=100)
    names = [c.name for c in build_checks(cfg, Prices({}))]
    assert ["max_child_qty", "price_collar", "max_parent_notional", "max_child_rate", "reject_duplicates"] == names


# -- at the gateway ---------------------------------------------------------------


async def test_price_collar_stops_parent_with_reason(launch, exchange, http) -> None:
    """A limit parent 20% away from the reference is stopped with the collar reason, nothing sent."""
    rr = await launch(price_collar_pct=5.0)
    _, body = await post_order(http, rr, limit_price=12.0)
    parent_ = rr.router.parents[body["parent_id"]]
    assert ("stopped", True, 0) == (parent_.state, parent_.reason.startswith("price collar"), len(exchange.orders))


async def test_price_collar_lets_near_limit_through(launch, exchange, http) -> None:
    """A limit 1% from the reference goes out and fills under a 5% collar."""
    rr = await launch(price_collar_pct=5.0)
    _, body = await post_order(http, rr, limit_price=10.1)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state != "working")
    assert "filled" == rr.router.parents[body["parent_id"]].state


async def test_child_rate_halts_a_power_peg_router_and_pages(launch, exchange, world, http) -> None:
    """Power Peg children pass the rate check too: over it the router halts and pages."""
    rr = await launch(version="v1", max_child_rate=50, alerts=world.url, warning_severity="off", powerpeg_interval_ms=0)
    _, body = await post_order(http, rr, rlp=True, limit_price=None)
    await wait_until(lambda: rr.router.halted)
    await wait_until(lambda: bool(world.alerts))
    assert (True, 50, "halted", "page") == (
        rr.router.halted, len(exchange.orders), rr.router.parents[body["parent_id"]].state, world.alerts[0]["severity"])


async def test_halted_by_rate_stays_halted_until_resume(launch, exchange, world, http) -> None:
    """After a throttle halt new parents get 503 until POST /resume."""
    rr = await launch(version="v1", max_child_rate=20, powerpeg_interval_ms=0)
    await post_order(http, rr, rlp=True, limit_price=None)
    await wait_until(lambda: rr.router.halted)
    refused, _ = await post_order(http, rr)
    rr.router.resume()
    accepted, _ = await post_order(http, rr)
    assert (503, 202) == (refused, accepted)


async def test_max_child_qty_applies_to_power_peg_children(launch, exchange, http) -> None:
    """A Power Peg child above --max-child-qty is not sent and the parent stops."""
    rr = await launch(version="v1", max_child_qty=100, child_qty=100, powerpeg_working=1)
    rr.router.powerpeg.child_qty = 500  # a legacy path that ignores the configured child size
    _, body = await post_order(http, rr, rlp=True, qty=50, limit_price=None)
    parent_ = rr.router.parents[body["parent_id"]]
    assert ("stopped", 0) == (parent_.state, len(exchange.orders))


async def test_child_checks_see_every_child_sent(launch, exchange, http) -> None:
    """With a generous rate limit every routed child is checked and sent (no silent drops)."""
    rr = await launch(max_child_rate=1000)
    _, body = await post_order(http, rr, qty=500)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state != "working")
    assert (5, [f"{body['parent_id']}.{k}" for k in range(1, 6)]) == (
        len(rr.router.checks[0].sent), [o[Tag.ClOrdID] for o in exchange.orders])
