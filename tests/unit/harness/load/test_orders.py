"""One broker's order flow: routing, symbols, sides, sizes, prices, rlp flags."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.load.config import LoadConfig, RouterTarget, SymbolRef
from powerpeg.harness.load.orders import Broker, user_number

ROUTERS = [RouterTarget(id=f"router-{i}", orders=f"http://127.0.0.1:{9000 + i}/orders") for i in (1, 2, 3)]
UNIVERSE = [SymbolRef(symbol=s, ref_price=p) for s, p in
            [("AAA", 10.0), ("BBB", 52.37), ("CCC", 100.0), ("DDD", 7.5), ("EEE", 250.0), ("FFF", 1.0)]]


def config(symbols: int = 5, seed: int = 1, **mix) -> LoadConfig:
    return LoadConfig.build(Load(mix=LoadMix(**mix)), run_id="r1", routers=ROUTERS, token="t", universe=UNIVERSE,
                            symbol_count=symbols, open_at_ns=0, seed=seed, duration_s=5, out_dir=Path("/tmp/x"))


def orders(n: int, number: int = 0, rlp_share: float = 0.0, **kw) -> list:
    broker = Broker(config(**kw), number)
    return [broker.next_order(rlp_share) for _ in range(n)]


def test_a_broker_goes_round_robin_from_its_own_number():
    """User 1 of 3 routers sends to router-2, router-3, router-1, router-2."""
    assert ["router-2", "router-3", "router-1", "router-2"] == [o.router.id for o in orders(4, number=1)]


def test_users_together_load_every_router_evenly():
    """Five users over three routers, three orders each: five orders per router."""
    sent = [o.router.id for n in range(5) for o in orders(3, number=n)]
    assert {"router-1": 5, "router-2": 5, "router-3": 5} == dict(Counter(sent))


def test_only_the_first_symbols_of_the_universe_trade():
    """symbols=3 trades the exchange's first three symbols only."""
    assert {"AAA", "BBB", "CCC"} == {o.symbol for o in orders(300, symbols=3)}


def test_the_first_symbol_is_the_busiest():
    """Symbol popularity is skewed: the first symbol gets the most flow."""
    counts = Counter(o.symbol for o in orders(2000))
    assert "AAA" == counts.most_common(1)[0][0]


def test_sizes_are_round_lots_within_the_range():
    """Every qty is a multiple of 100 within qty_min..qty_max, and both ends occur."""
    assert {200, 300, 400} == {o.qty for o in orders(300, qty_min=150, qty_max=450)}


def test_sizes_without_a_round_lot_in_range_are_odd_lots():
    """When no multiple of 100 fits, sizes are drawn from the range itself."""
    assert {o.qty for o in orders(200, qty_min=10, qty_max=12)} == {10, 11, 12}


def test_buy_share_sets_the_sides():
    """buy_share 1 sends only buys."""
    assert {"buy"} == {o.side for o in orders(100, buy_share=1.0)}


def test_market_share_one_sends_no_limit_prices():
    """market_share 1: every parent is a market order (no limit_price in the body)."""
    assert [False] * 50 == ["limit_price" in o.body() for o in orders(50, market_share=1.0)]


def test_limit_prices_stay_within_the_offset_of_the_reference():
    """Limit prices are on the cent tick and within limit_offset_bps of the reference price."""
    ref = {s.symbol: s.ref_price for s in UNIVERSE}
    outside = [(o.symbol, o.limit_price) for o in orders(500, market_share=0.0, limit_offset_bps=50)
               if not (ref[o.symbol] * 0.995 - 1e-9 <= o.limit_price <= ref[o.symbol] * 1.005 + 1e-9)
               or abs(round(o.limit_price * 100) - o.limit_price * 100) > 1e-6]
    assert [] == outside


def test_rlp_share_zero_flags_nothing_and_one_flags_all():
    """The rlp flag follows the share given with each order."""
    assert ({False}, {True}) == ({o.rlp for o in orders(50, rlp_share=0.0)}, {o.rlp for o in orders(50, rlp_share=1.0)})


def test_same_seed_and_user_repeat_the_flow():
    """Seed and user number fix the flow: two brokers alike send alike."""
    assert orders(20, number=2, seed=9) == orders(20, number=2, seed=9)


def test_other_users_send_other_flows():
    """Two users of one seed do not send the same orders."""
    def mix(number):
        return [(o.symbol, o.side, o.qty) for o in orders(20, number=number)]
    assert mix(0) != mix(1)


def test_client_order_ids_are_unique_per_user():
    """client_order_id names run, user and order, so no two collide."""
    ids = [o.client_order_id for n in range(3) for o in orders(10, number=n)]
    assert len(ids) == len(set(ids))


def test_body_is_the_routers_order_json():
    """The body carries exactly the fields of POST /orders."""
    order = orders(1, market_share=0.0)[0]
    assert {"symbol", "side", "qty", "limit_price", "rlp", "client_order_id"} == set(order.body())


def test_record_is_a_parents_log_line():
    """The parents-log record has the evidence keys of docs/harness.md."""
    record = orders(1)[0].record("router-1-000001", 42)
    assert ["parent_id", "router", "symbol", "side", "qty", "rlp", "ts_ns"] == list(record)


def test_user_numbers_interleave_across_workers():
    """With two workers, worker 0 numbers its users 0, 2, 4 and worker 1 numbers 1, 3, 5."""
    assert ([0, 2, 4], [1, 3, 5]) == ([user_number(i, 0, 2) for i in range(3)],
                                      [user_number(i, 1, 2) for i in range(3)])


def test_user_numbers_of_a_single_process_count_up():
    """With no workers the user number is the local index."""
    assert [0, 1, 2] == [user_number(i, 0, 0) for i in range(3)]


def test_a_broker_is_exhausted_at_its_parent_bound():
    """After max_parents_per_user parents the broker is exhausted (the count bound of the load loop)."""
    broker = Broker(config().model_copy(update={"max_parents_per_user": 3}), 0)
    states = []
    for _ in range(3):
        states.append(broker.exhausted)
        broker.next_order(0.0)
    assert [False, False, False, True] == states + [broker.exhausted]
