"""The monitor's book: positions, notional, rates, router activity, reconciliation."""
import pytest

from powerpeg.targets.fix.codec import FixMessage, MsgType, Tag
from powerpeg.targets.monitor.book import BadExecution, Book, Execution, Parent, RollingCount

from tests.unit.targets.monitor.fakes import er, fill

S = 1_000_000_000


def _parent(pid: str, qty: int) -> Parent:
    return Parent(parent_id=pid, router="router-1", symbol="AAA", side="buy", qty=qty, registered_ns=0)


def test_execution_reads_drop_copy_fields() -> None:
    """An ER's 115, 1, 11, 55, 54, 32 and 31 land in the decoded execution."""
    ex = fill("router-3-000042.7", 100, "12.34", symbol="BBB", side="sell", router="ROUTER-3")
    assert ("ROUTER-3", "KNIGHT", "router-3-000042", "BBB", -1, 100, 1234) == (
        ex.router, ex.firm, ex.parent_id, ex.symbol, ex.side, ex.last_qty, ex.last_px_cents)


def test_trade_without_last_px_is_refused() -> None:
    """A trade ER without LastPx(31) cannot be accounted for and is refused."""
    fields = {Tag.ExecType: "F", Tag.Side: "1", Tag.LastQty: "100", Tag.OrderQty: "100"}
    with pytest.raises(BadExecution):
        Execution.from_fix(FixMessage(MsgType.ExecutionReport, fields))


def test_buys_build_position_and_average_cost() -> None:
    """Two buys make a long position at the quantity-weighted average price."""
    book = Book()
    book.apply(fill("p.1", 100, "10.00"), 0)
    book.apply(fill("p.2", 300, "12.00"), 0)
    pos = book.positions["AAA"]
    assert (400, 1150.0) == (pos.shares, pos.avg_cost_cents)


def test_partial_sell_keeps_average_cost() -> None:
    """Reducing a long position leaves its average cost unchanged."""
    book = Book()
    book.apply(fill("p.1", 200, "10.00"), 0)
    book.apply(fill("q.1", 50, "11.00", side="sell"), 0)
    pos = book.positions["AAA"]
    assert (150, 1000.0) == (pos.shares, pos.avg_cost_cents)


def test_flip_through_zero_restarts_average_cost() -> None:
    """Selling through a long position makes a short at the flipping fill's price."""
    book = Book()
    book.apply(fill("p.1", 100, "10.00"), 0)
    book.apply(fill("q.1", 300, "9.00", side="sell"), 0)
    pos = book.positions["AAA"]
    assert (-200, 900.0) == (pos.shares, pos.avg_cost_cents)


def test_notional_is_marked_at_last_fill_price() -> None:
    """Gross adds absolute exposures, net nets them, both at each symbol's last fill price."""
    book = Book()
    book.apply(fill("p.1", 100, "10.00", symbol="AAA"), 0)
    book.apply(fill("p.2", 100, "12.00", symbol="AAA"), 0)
    book.apply(fill("q.1", 50, "20.00", symbol="BBB", side="sell"), 0)
    assert (3400.0, 1400.0) == (book.gross_usd, book.net_usd)


def test_rolling_count_forgets_events_older_than_a_second() -> None:
    """Events leave the 1 s window once a second has passed."""
    rate = RollingCount()
    for t in (0, S // 2, S - 1):
        rate.add(t)
    assert (3, 2, 0) == (rate.count(S - 1), rate.count(S), rate.count(3 * S))


def test_new_and_rejected_orders_count_as_child_orders_fills_as_fills() -> None:
    """Child order rate counts new and rejected orders; fill rate counts trades."""
    book = Book()
    book.apply(er("0", "p.1"), 0)
    book.apply(er("8", "p.2"), 1)
    book.apply(fill("p.1", 100), 2)
    assert (2, 1) == (book.child_orders.count(3), book.fills.count(3))


def test_activity_is_kept_per_originating_session() -> None:
    """Orders, fills and shares are counted per 115 OnBehalfOfCompID."""
    book = Book()
    book.apply(er("0", "a.1", router="ROUTER-1"), 0)
    book.apply(fill("a.1", 100, router="ROUTER-1"), 0)
    book.apply(er("0", "b.1", router="ROUTER-2"), 0)
    r1, r2 = book.routers["ROUTER-1"], book.routers["ROUTER-2"]
    assert ((1, 1, 100), (1, 0, 0)) == ((r1.orders, r1.fills, r1.filled_shares),
                                        (r2.orders, r2.fills, r2.filled_shares))


def test_parent_executed_beyond_its_quantity_is_over_filled() -> None:
    """Child executions exceeding the registered parent quantity mark it over-filled."""
    book = Book()
    book.register(_parent("router-1-000001", 200))
    for k in range(3):
        book.apply(fill(f"router-1-000001.{k}", 100), 0)
    assert ({"router-1-000001"}, 100) == (book.overfilled, book.excess("router-1-000001"))


def test_parent_filled_exactly_is_not_over_filled() -> None:
    """A parent whose children execute exactly its quantity reconciles."""
    book = Book()
    book.register(_parent("router-1-000002", 200))
    book.apply(fill("router-1-000002.1", 100), 0)
    book.apply(fill("router-1-000002.2", 100), 0)
    assert (set(), 0) == (book.overfilled, book.excess("router-1-000002"))


def test_executions_before_registration_are_folded_in() -> None:
    """Executions that beat their parent's registration count once it arrives."""
    book = Book()
    book.apply(fill("router-1-000003.1", 300), 5)
    waiting = book.oldest_unregistered()
    book.register(_parent("router-1-000003", 200))
    assert (("router-1-000003", 300, 5), {}, {"router-1-000003"}) == (waiting, book.unregistered, book.overfilled)


def test_rolling_count_stays_bounded_when_nobody_counts() -> None:
    """With its limit off nothing reads the count: a day of events still keeps only the last second."""
    rate = RollingCount()
    for t in range(0, 100 * S, S // 1000):  # 1,000 events/s for 100 s
        rate.add(t)
    assert 1000 == len(rate._times)


def _filled_parent(book: Book, pid: str, now: int) -> None:
    book.register(_parent(pid, 100))
    book.apply(er("0", f"{pid}.1", qty=100), now)
    book.apply(fill(f"{pid}.1", 100), now)


def test_a_done_parent_is_retired_after_the_retention() -> None:
    """Filled, nothing working, quiet for retain_ns: the sweep forgets it and counts it."""
    book = Book(retain_ns=60 * S)
    _filled_parent(book, "router-1-000001", 0)
    early = book.sweep(59 * S, 100)
    late = book.sweep(60 * S, 100)
    assert (0, 1, {}, 1) == (early, late, dict(book.parents), book.retired)


def test_a_parent_with_shares_working_is_kept() -> None:
    """A child still working (acked, not filled, not cancelled) keeps its parent however quiet."""
    book = Book(retain_ns=60 * S)
    book.register(_parent("router-1-000001", 100))
    book.apply(er("0", "router-1-000001.1", qty=100), 0)
    book.sweep(3600 * S, 100)
    assert ["router-1-000001"] == list(book.parents)


def test_a_parent_that_never_saw_a_child_is_kept() -> None:
    """Registered, no report yet (queued before the open, say): not retired, whatever the wait."""
    book = Book(retain_ns=60 * S)
    book.register(_parent("router-1-000001", 100))
    book.sweep(3600 * S, 100)
    assert ["router-1-000001"] == list(book.parents)


def test_the_sweep_passes_over_live_parents_to_reach_done_ones() -> None:
    """A live parent registered first does not block the retirement of the done ones behind it."""
    book = Book(retain_ns=S)
    book.register(_parent("router-1-000001", 100))
    book.apply(er("0", "router-1-000001.1", qty=100), 0)
    for k in range(2, 6):
        _filled_parent(book, f"router-1-{k:06d}", 0)
    book.sweep(2 * S, 5)
    assert (["router-1-000001"], 4) == (list(book.parents), book.retired)


def test_a_late_child_of_a_retired_parent_is_unregistered() -> None:
    """After retirement a child of that parent is caught by the unregistered check, not lost."""
    book = Book(retain_ns=S)
    _filled_parent(book, "router-1-000001", 0)
    book.sweep(2 * S, 10)
    book.apply(fill("router-1-000001.2", 100), 3 * S)
    assert ("router-1-000001", 100, 3 * S) == book.oldest_unregistered()


def test_applying_reports_sweeps_on_its_own() -> None:
    """No timer needed: applying reports retires what is done (a day of parents leaves no trace)."""
    book = Book(retain_ns=S)
    for k in range(5000):
        _filled_parent(book, f"router-1-{k:06d}", k * S // 100)  # 100 parents/s for 50 s
    assert (True, True) == (len(book.parents) < 500, book.retired > 4500)


def test_unregistered_executions_are_capped_oldest_first(monkeypatch) -> None:
    """Beyond MAX_PENDING waiting parents the oldest is dropped and counted."""
    monkeypatch.setattr("powerpeg.targets.monitor.book.MAX_PENDING", 3)
    book = Book()
    for k in range(5):
        book.apply(fill(f"router-9-{k:06d}.1", 100), k)
    assert (["router-9-000002", "router-9-000003", "router-9-000004"], 2) == (
        list(book.unregistered), book.dropped["unregistered"])


def test_over_filled_parents_are_counted_once_each() -> None:
    """Every fill beyond the quantity keeps the parent over-filled; it counts once."""
    book = Book()
    book.register(_parent("router-1-000001", 100))
    for k in range(5):
        book.apply(fill(f"router-1-000001.{k}", 100), 0)
    assert (1, {"router-1-000001"}) == (book.overfilled_count, book.overfilled)
