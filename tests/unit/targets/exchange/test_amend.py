"""The engine beyond new orders: per-fill reports of a sweep, cancel/replace and mass cancel."""
from __future__ import annotations

from powerpeg.targets.exchange.book import BUY, MARKET, SELL
from powerpeg.targets.exchange.core import SessionState

from .venue import Venue


def fills_of(venue: Venue, comp_id: str, cl: str) -> list[tuple[object, ...]]:
    """(39, 32, 14, 151, 6) of every fill report of one order."""
    return [(r[39], r[32], r[14], r[151], r[6]) for r in venue.outs[comp_id].reports() if r[150] == "F" and r[11] == cl]


def replace(venue: Venue, st: SessionState, orig: str, cl: str, qty: int, price: int | None, *,
            symbol: str = "AAA", side: int = BUY, ord_type: int = 2, account: str | None = None):
    return venue.engine.replace_request(st, orig, cl, symbol, side, qty, price, ord_type, account)


# -- a sweep, fill by fill ------------------------------------------------------------------
def test_each_fill_of_a_sweep_reports_the_order_after_that_fill(venue: Venue) -> None:
    """A buy of 3 taking 1 @ 10.00 and 1 @ 10.01: the first report says 14=1 151=2, the second 14=2 151=1."""
    mm, st = venue.login("MM1"), venue.login("R1")
    venue.order(mm, "a1", SELL, 1, 1000)
    venue.order(mm, "a2", SELL, 1, 1001)
    venue.order(st, "b1", BUY, 3, 1001)
    assert [("1", 1, 1, 2, "10.0000"), ("1", 1, 2, 1, "10.0050")] == fills_of(venue, "R1", "b1")


def test_a_sweep_is_filled_only_on_its_last_fill(venue: Venue) -> None:
    """A buy of 100 taking 1 then 99: 39=1 on the first report, 39=2 only on the second."""
    mm, st = venue.login("MM1"), venue.login("R1")
    venue.order(mm, "a1", SELL, 1, 1000)
    venue.order(mm, "a2", SELL, 99, 1001)
    venue.order(st, "b1", BUY, 100, 1001)
    assert [("1", 1, 1, 99, "10.0000"), ("2", 99, 100, 0, "10.0099")] == fills_of(venue, "R1", "b1")


def test_each_taker_fill_record_has_the_order_after_that_fill(venue: Venue) -> None:
    """The journal's taker records of a sweep step through cum_qty/leaves_qty/status."""
    mm, st = venue.login("MM1"), venue.login("R1")
    for i, px in enumerate((1000, 1001, 1002)):
        venue.order(mm, f"a{i}", SELL, 10, px)
    venue.order(st, "b1", BUY, 30, 1002)
    taker = [(r["cum_qty"], r["leaves_qty"], r["status"]) for r in venue.records()
             if r["kind"] == "fill" and r["liquidity"] == "taker"]
    assert [(10, 20, "partially_filled"), (20, 10, "partially_filled"), (30, 0, "filled")] == taker


# -- cancel/replace -----------------------------------------------------------------------------
def test_replace_answers_150_5_with_both_ids_and_the_new_terms(venue: Venue) -> None:
    """ER 150=5 39=0 with 11 new, 41 orig, 38 and 44 new, 151 the new leaves."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    assert replace(venue, st, "c1", "c2", 80, 999) is None
    r = venue.outs["R1"].reports()[-1]
    assert ("5", "0", "c2", "c1", 80, "9.99", 80) == (r[150], r[39], r[11], r[41], r[38], r[44], r[151])


def test_replace_is_journaled_with_before_and_after(venue: Venue) -> None:
    """A ``replaced`` record: new ClOrdID, qty and price, the previous ones, and whether it lost priority."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    replace(venue, st, "c1", "c2", 150, 1000)
    rec = venue.records()[-1]
    assert ("replaced", "c2", "c1", 150, 10.0, 100, 10.0, 0, 150, True, "new") == (
        rec["kind"], rec["cl_ord_id"], rec["orig_cl_ord_id"], rec["qty"], rec["price"], rec["prev_qty"],
        rec["prev_price"], rec["cum_qty"], rec["leaves_qty"], rec["requeued"], rec["status"])


def test_quantity_decrease_keeps_time_priority(venue: Venue) -> None:
    """Reduced at the same price, the order still trades before those that came after it."""
    a, b, s = venue.login("A"), venue.login("B"), venue.login("S")
    venue.order(a, "a1", BUY, 100, 1000)
    venue.order(b, "b1", BUY, 100, 1000)
    replace(venue, a, "a1", "a2", 50, 1000)
    venue.order(s, "s1", SELL, 60, 1000)
    assert ([("2", 50, 50, 0, "10.0000")], [("1", 10, 10, 90, "10.0000")]) == (
        fills_of(venue, "A", "a2"), fills_of(venue, "B", "b1"))


def test_quantity_increase_loses_time_priority(venue: Venue) -> None:
    """Increased, the order goes to the back of its level."""
    a, b, s = venue.login("A"), venue.login("B"), venue.login("S")
    venue.order(a, "a1", BUY, 100, 1000)
    venue.order(b, "b1", BUY, 100, 1000)
    replace(venue, a, "a1", "a2", 150, 1000)
    venue.order(s, "s1", SELL, 120, 1000)
    assert ([("2", 100, 100, 0, "10.0000")], [("1", 20, 20, 130, "10.0000")]) == (
        fills_of(venue, "B", "b1"), fills_of(venue, "A", "a2"))


def test_price_change_loses_time_priority_even_back_to_the_same_price(venue: Venue) -> None:
    """Moved away and back, the order is behind the one that stayed."""
    a, b, s = venue.login("A"), venue.login("B"), venue.login("S")
    venue.order(a, "a1", BUY, 100, 1000)
    venue.order(b, "b1", BUY, 100, 1000)
    replace(venue, a, "a1", "a2", 100, 999)
    replace(venue, a, "a2", "a3", 100, 1000)
    venue.order(s, "s1", SELL, 100, 1000)
    assert (["b1"], []) == ([r[11] for r in venue.outs["B"].reports() if r[150] == "F"], fills_of(venue, "A", "a3"))


def test_replace_to_a_crossing_price_trades_at_once(venue: Venue) -> None:
    """A bid replaced up through the best ask executes like an incoming order, after its 150=5."""
    a, s = venue.login("A"), venue.login("S")
    venue.order(s, "s1", SELL, 40, 1005)
    venue.order(a, "a1", BUY, 100, 1000)
    replace(venue, a, "a1", "a2", 100, 1005)
    assert (["5", "F"], [("1", 40, 40, 60, "10.0500")], [(1005, 60)]) == (
        [r[150] for r in venue.outs["A"].reports()][-2:], fills_of(venue, "A", "a2"),
        venue.engine.books["AAA"].depth()[0])


def test_replace_to_no_more_than_executed_ends_the_order_filled(venue: Venue) -> None:
    """New qty <= CumQty: 150=5 39=2, OrderQty = CumQty, nothing left, and nothing left in the book."""
    a, s = venue.login("A"), venue.login("S")
    venue.order(a, "a1", BUY, 100, 1000)
    venue.order(s, "s1", SELL, 30, 1000)
    replace(venue, a, "a1", "a2", 20, 1000)
    r = venue.outs["A"].reports()[-1]
    assert (("5", "2", 30, 30, 0), {}, []) == (
        (r[150], r[39], r[38], r[14], r[151]), venue.engine.sessions["A"].working, venue.engine.books["AAA"].depth()[0])


def test_reports_after_a_replace_name_the_new_clordid(venue: Venue) -> None:
    """Fills and cancels after a replace carry the new ClOrdID; the old one no longer cancels."""
    a, s = venue.login("A"), venue.login("S")
    venue.order(a, "a1", BUY, 100, 1000)
    replace(venue, a, "a1", "a2", 90, 1000)
    venue.order(s, "s1", SELL, 10, 1000)
    old = venue.engine.cancel_request(a, "a1", "x1", "AAA", BUY)
    new = venue.engine.cancel_request(a, "a2", "x2", "AAA", BUY)
    fill, cancel = venue.outs["A"].reports()[-2:]
    assert (("1", "order a1 was replaced: its ClOrdID is a2"), None, "a2", ("x2", "a2", "4", 10)) == (
        old and (old.reason, old.text), new, fill[11], (cancel[11], cancel[41], cancel[39], cancel[14]))


def test_replace_refusals_say_why(venue: Venue) -> None:
    """Unknown 1; finished 0 with its 39; side or symbol, OrdType, Account mismatch 99; ClOrdID used today 6
    (a working order's, or a done one's)."""
    a, s = venue.login("A"), venue.login("S")
    venue.order(a, "done", BUY, 10, 1000)
    venue.order(s, "s1", SELL, 10, 1000)
    venue.order(a, "gone", BUY, 10, 990)
    venue.engine.cancel_request(a, "gone", "x", "AAA", BUY)
    venue.order(a, "w1", BUY, 10, 990)
    venue.order(a, "w2", BUY, 10, 990)
    refusals = [
        replace(venue, a, "nope", "n1", 10, 990),
        replace(venue, a, "done", "n2", 10, 990),
        replace(venue, a, "gone", "n3", 10, 990),
        replace(venue, a, "w1", "n4", 10, 990, side=SELL),
        replace(venue, a, "w1", "n5", 10, 990, symbol="BBB"),
        replace(venue, a, "w1", "n6", 10, None, ord_type=MARKET),
        replace(venue, a, "w1", "n7", 10, 990, account="OTHER"),
        replace(venue, a, "w1", "w2", 10, 990),
        replace(venue, a, "w1", "gone", 10, 990),
    ]
    assert [("1", "8", "NONE"), ("0", "2", "1"), ("0", "4", "3"), ("99", "0", "4"), ("99", "0", "4"),
            ("99", "0", "4"), ("99", "0", "4"), ("6", "0", "4"), ("6", "0", "4")] == [
        (r.reason, r.status, r.order_id) if r else None for r in refusals]


def test_refused_replace_changes_nothing(venue: Venue) -> None:
    """After a refusal the order keeps its ClOrdID, quantity, price and place."""
    a = venue.login("A")
    venue.order(a, "w1", BUY, 10, 990)
    venue.order(a, "w2", BUY, 10, 990)
    replace(venue, a, "w1", "w2", 99, 995)
    book = venue.engine.books["AAA"]
    assert (["w1", "w2"], [(990, 20)]) == ([o.cl_ord_id for o in book.level_orders(BUY, 990)], book.depth()[0])


def test_replace_of_a_queued_order_before_the_open(venue: Venue) -> None:
    """Pre-open, an increase sends the order to the back of the queue; a decrease keeps its place."""
    venue.engine.is_open = False
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "a1", BUY, 100, 1000)
    venue.order(b, "b1", BUY, 100, 1000)
    venue.order(a, "a2", BUY, 100, 1000)
    replace(venue, a, "a1", "a1x", 150, 1000)
    replace(venue, a, "a2", "a2x", 50, 1000)
    venue.engine.open_market()
    assert (["b1", "a2x", "a1x"], [(1000, 300)]) == (
        [o.cl_ord_id for o in venue.engine.books["AAA"].level_orders(BUY, 1000)], venue.engine.books["AAA"].depth()[0])


# -- mass cancel ----------------------------------------------------------------------------------
def test_mass_cancel_of_the_session_cancels_its_orders_only(venue: Venue) -> None:
    """530=7 without a firm: every working order of the session, 150=4 'canceled: mass'; others untouched."""
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "a1", BUY, 10, 990)
    venue.order(a, "a2", SELL, 10, 1010, symbol="BBB")
    venue.order(b, "b1", BUY, 10, 990)
    assert None is venue.engine.mass_cancel_refusal(a, 7, None, None)
    n = venue.engine.mass_cancel(a, "m1", 7, None, None, None)
    cancels = [(r[11], r[58]) for r in venue.outs["A"].reports() if r[150] == "4"]
    assert (2, [("a1", "canceled: mass"), ("a2", "canceled: mass")], ["b1"]) == (
        n, cancels, list(venue.engine.sessions["B"].working))


def test_mass_cancel_by_symbol_and_side(venue: Venue) -> None:
    """530=1 takes one symbol; a Side limits it further."""
    a = venue.login("A")
    venue.order(a, "a1", BUY, 10, 990)
    venue.order(a, "a2", SELL, 10, 1010)
    venue.order(a, "a3", BUY, 10, 4990, symbol="BBB")
    n = venue.engine.mass_cancel(a, "m1", 1, "AAA", BUY, None)
    assert (1, ["a2", "a3"]) == (n, list(venue.engine.sessions["A"].working))


def test_mass_cancel_of_the_firm_reaches_every_session_of_it(venue: Venue) -> None:
    """With Account(1) = the session's firm: that firm's orders in every session, in order of entry."""
    r1, r2, other = venue.login("R1"), venue.login("R2"), venue.login("O1")
    venue.order(r2, "b1", BUY, 10, 990, firm="KNIGHT")
    venue.order(r1, "a1", BUY, 10, 990, firm="KNIGHT")
    venue.order(other, "o1", BUY, 10, 990, firm="OTHER")
    n = venue.engine.mass_cancel(r1, "m1", 7, None, None, "KNIGHT")
    cancelled = [r["cl_ord_id"] for r in venue.records() if r["kind"] == "canceled"]
    assert (2, ["b1", "a1"], ["o1"]) == (n, cancelled, list(venue.engine.sessions["O1"].working))


def test_mass_cancel_is_journaled_before_its_cancels(venue: Venue) -> None:
    """One ``mass_cancel`` record (scope, id, request type, count), then a ``canceled`` (reason mass) per order."""
    a = venue.login("A")
    venue.order(a, "a1", BUY, 10, 990, firm="KNIGHT")
    venue.engine.mass_cancel(a, "m1", 1, "AAA", None, "KNIGHT")
    mass, cancel = venue.records()[-2:]
    assert (("mass_cancel", "A", "KNIGHT", "m1", "firm", "KNIGHT", 1, "AAA", 1), ("canceled", "mass")) == (
        (mass["kind"], mass["session"], mass["firm"], mass["cl_ord_id"], mass["scope"], mass["id"],
         mass["request_type"], mass["symbol"], mass["cancelled"]), (cancel["kind"], cancel["reason"]))


def test_mass_cancel_refusals(venue: Venue) -> None:
    """Unsupported type 0, unknown or missing symbol 1, another firm 99; the firm's own CompID may."""
    a = venue.login("A")
    venue.order(a, "a1", BUY, 10, 990, firm="KNIGHT")
    ctl = venue.login("KNIGHT")
    engine = venue.engine
    assert [("0",), ("1",), ("1",), ("99",), None, None] == [
        r and (r[0],) for r in (
            engine.mass_cancel_refusal(a, 3, None, None), engine.mass_cancel_refusal(a, 1, "NOPE", None),
            engine.mass_cancel_refusal(a, 1, None, None), engine.mass_cancel_refusal(a, 7, None, "OTHER"),
            engine.mass_cancel_refusal(a, 7, None, "KNIGHT"), engine.mass_cancel_refusal(ctl, 7, None, "KNIGHT"))]


def test_mass_cancel_does_not_block_new_orders(venue: Venue) -> None:
    """Unlike the kill switch, orders after a mass cancel are accepted."""
    a = venue.login("A")
    venue.order(a, "a1", BUY, 10, 990)
    venue.engine.mass_cancel(a, "m1", 7, None, None, None)
    venue.order(a, "a2", BUY, 10, 990)
    assert ["a2"] == list(venue.engine.sessions["A"].working)
