"""Parent state and the cumulative-quantity function (pure)."""
from __future__ import annotations

from powerpeg.targets.router.market import Prices, parse_symbols
from powerpeg.targets.router.parents import (ORD_LIMIT, TIF_DAY, Child, Parent, add_child, end_child, open_qty,
                                             record_fill)

import pytest


def parent(qty: int = 300) -> Parent:
    return Parent("router-1-000001", "AAA", "buy", qty, 1000, False, "c1")


def send(p: Parent, qty: int) -> Child:
    c = Child(p.next_cl_ord_id(), p, qty, 1000, ORD_LIMIT, TIF_DAY)
    add_child(p, c)
    return c


def test_new_parent_may_send_its_whole_quantity() -> None:
    """Nothing sent, nothing filled: the open quantity is the parent quantity."""
    assert 300 == open_qty(parent())


def test_working_child_reserves_its_quantity() -> None:
    """A working child's leaves are not open any more."""
    p = parent()
    send(p, 100)
    assert 200 == open_qty(p)


def test_partial_fill_keeps_open_quantity() -> None:
    """A fill moves shares from working to filled: the open quantity does not change."""
    p = parent()
    c = send(p, 100)
    record_fill(c, 40)
    assert (200, 40, 60) == (open_qty(p), p.filled_qty, c.leaves)


def test_canceled_child_releases_its_unfilled_shares() -> None:
    """When a partly filled child ends, its unfilled remainder is open again."""
    p = parent()
    c = send(p, 100)
    record_fill(c, 40)
    end_child(c)
    assert (260, {}) == (open_qty(p), p.working)


def test_fully_filled_parent_has_nothing_open() -> None:
    """Filled to quantity: open quantity zero."""
    p = parent(qty=100)
    c = send(p, 100)
    record_fill(c, 100)
    end_child(c)
    assert 0 == open_qty(p)


def test_child_ids_count_up_from_one() -> None:
    """ClOrdIDs are {parent_id}.1, .2, ..."""
    p = parent()
    assert ["router-1-000001.1", "router-1-000001.2"] == [p.next_cl_ord_id(), p.next_cl_ord_id()]


def test_parent_of_child_is_found_by_last_dot() -> None:
    """The contract: a child's parent id is clordid.rsplit('.', 1)[0]."""
    p = parent()
    assert p.parent_id == send(p, 100).cl_ord_id.rsplit(".", 1)[0]


def test_symbols_parse_to_cents() -> None:
    """GET /symbols answers become reference prices in cents."""
    assert {"AAA": 1234, "BBB": 5} == parse_symbols([{"symbol": "AAA", "ref_price": 12.34},
                                                     {"symbol": "BBB", "ref_price": 0.05}])


@pytest.mark.parametrize("payload", [[], {"AAA": 1}, [{"symbol": "AAA"}], [{"symbol": "AAA", "ref_price": -1}]])
def test_bad_symbols_payload_is_refused(payload) -> None:
    """A malformed symbol list raises ValueError."""
    with pytest.raises(ValueError):
        parse_symbols(payload)


def test_mark_prefers_last_fill_over_reference() -> None:
    """The mark is the last fill price once there is one."""
    prices = Prices({"AAA": 1000})
    before = prices.mark("AAA")
    prices.last["AAA"] = 1010
    assert (1000, 1010) == (before, prices.mark("AAA"))
