"""Each risk limit breaches on exactly the message that crosses it."""
from powerpeg.targets.monitor.book import Book, Execution, Parent
from powerpeg.targets.monitor.limits import Limits, check_unregistered, evaluate

from tests.unit.targets.monitor.fakes import er, fill

MS = 1_000_000


def _first_breach(limits: Limits, messages: list[Execution], kind: str, book: Book | None = None,
                  step_ns: int = MS) -> int | None:
    """Index of the first message raising ``kind``; one message per ``step_ns``."""
    book = book or Book()
    for i, ex in enumerate(messages):
        book.apply(ex, i * step_ns)
        if any(v.kind == kind for v in evaluate(limits, book, ex, i * step_ns)):
            return i
    return None


def test_gross_notional_breaches_on_the_crossing_fill() -> None:
    """With a $2,500 gross limit, the third $1,000 fill breaches."""
    fills = [fill(f"p.{k}", 100, "10.00", symbol=f"S{k}", side="buy" if k % 2 else "sell") for k in range(5)]
    assert 2 == _first_breach(Limits(max_gross_notional=2500), fills, "gross_notional")


def test_net_notional_breaches_on_the_crossing_fill() -> None:
    """With a $2,500 net limit, offsetting fills hold it and the third net-long fill breaches."""
    sides = ["buy", "sell", "buy", "buy", "buy"]
    fills = [fill(f"p.{k}", 100, "10.00", symbol=f"S{k}", side=s) for k, s in enumerate(sides)]
    assert 4 == _first_breach(Limits(max_net_notional=2500), fills, "net_notional")


def test_short_net_notional_breaches_too() -> None:
    """The net limit applies to short exposure as well."""
    fills = [fill(f"p.{k}", 100, "10.00", symbol=f"S{k}", side="sell") for k in range(4)]
    assert 2 == _first_breach(Limits(max_net_notional=2500), fills, "net_notional")


def test_position_breaches_on_the_fill_that_exceeds_it() -> None:
    """With max 250 shares, the third 100-share buy in one symbol breaches."""
    fills = [fill(f"p.{k}", 100) for k in range(5)]
    assert 2 == _first_breach(Limits(max_position=250), fills, "position")


def test_child_rate_breaches_on_the_order_over_the_rate() -> None:
    """With max 5 child orders/s at 1 ms spacing, the sixth new order breaches."""
    orders = [er("0", f"p.{k}") for k in range(10)]
    assert 5 == _first_breach(Limits(max_child_rate=5), orders, "child_rate")


def test_child_rate_holds_when_orders_are_spread_out() -> None:
    """Orders 300 ms apart never exceed 5 per second."""
    orders = [er("0", f"p.{k}") for k in range(10)]
    assert None is _first_breach(Limits(max_child_rate=5), orders, "child_rate", step_ns=300 * MS)


def test_fill_rate_breaches_on_the_fill_over_the_rate() -> None:
    """With max 3 fills/s, the fourth fill within the second breaches."""
    fills = [fill(f"p.{k}", 10) for k in range(6)]
    assert 3 == _first_breach(Limits(max_fill_rate=3), fills, "fill_rate")


def test_overfill_breaches_on_the_fill_beyond_the_parent() -> None:
    """A 300-share parent breaches on the fourth 100-share child fill."""
    book = Book()
    book.register(Parent("router-1-000001", "router-1", "AAA", "buy", 300, 0))
    fills = [fill(f"router-1-000001.{k}", 100) for k in range(6)]
    assert 3 == _first_breach(Limits(), fills, "overfill", book)


def test_overfill_tolerance_allows_that_many_extra_shares() -> None:
    """With --overfill-shares 150 the breach waits until 200 extra shares."""
    book = Book()
    book.register(Parent("router-1-000001", "router-1", "AAA", "buy", 300, 0))
    fills = [fill(f"router-1-000001.{k}", 100) for k in range(8)]
    assert 4 == _first_breach(Limits(overfill_shares=150), fills, "overfill", book)


def test_overfill_text_names_parent_router_and_excess() -> None:
    """The over-fill violation names the parent, its router and the excess."""
    book = Book()
    book.register(Parent("router-2-000009", "router-2", "AAA", "buy", 100, 0))
    ex = fill("router-2-000009.1", 150, router="ROUTER-2")
    book.apply(ex, 0)
    [violation] = [v for v in evaluate(Limits(), book, ex, 0) if v.kind == "overfill"]
    assert (True, True, 50) == ("router-2-000009" in violation.text, "router-2" in violation.text, violation.value)


def test_overcommit_breaches_on_the_child_order_beyond_the_parent_before_any_fill() -> None:
    """A 300-share parent breaches on the fourth 100-share child order accepted, fills or not."""
    book = Book()
    book.register(Parent("router-8-000001", "router-8", "AAA", "buy", 300, 0))
    orders = [er("0", f"router-8-000001.{k}", qty=100) for k in range(6)]
    assert 3 == _first_breach(Limits(), orders, "overcommit", book)


def test_reslicing_after_an_unfilled_cancel_is_not_an_overcommit() -> None:
    """A child cancelled unfilled gives its shares back, so slicing them again stays within the parent."""
    book = Book()
    book.register(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
    messages = [er("0", "router-1-000001.1", qty=100), er("4", "router-1-000001.1", qty=100, cum_qty=0),
                er("0", "router-1-000001.2", qty=100)]
    assert None is _first_breach(Limits(), messages, "overcommit", book)


def test_partly_filled_cancel_gives_back_only_its_unfilled_shares() -> None:
    """A 100-share child that filled 60 then was cancelled leaves 60 committed: a new 50-share child breaches."""
    book = Book()
    book.register(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
    messages = [er("0", "router-1-000001.1", qty=100), fill("router-1-000001.1", 60),
                er("4", "router-1-000001.1", qty=100, cum_qty=60), er("0", "router-1-000001.2", qty=50)]
    assert 3 == _first_breach(Limits(), messages, "overcommit", book)


def test_commitment_before_registration_is_folded_in() -> None:
    """Child orders seen before the parent's registration count once it is registered."""
    book = Book()
    for k in range(3):
        book.apply(er("0", f"router-1-000001.{k}", qty=100), 0)
    book.register(Parent("router-1-000001", "router-1", "AAA", "buy", 200, 0))
    assert (300, {"router-1-000001"}) == (book.parents["router-1-000001"].committed, book.overcommitted)


def test_limits_that_are_off_never_breach() -> None:
    """With no limits set, a large burst raises nothing but unregistered-parent checks."""
    book = Book()
    book.register(Parent("p", "router-1", "AAA", "buy", 10**9, 0))
    fills = [fill(f"p.{k}", 10_000, "500.00") for k in range(50)]
    kinds = set()
    for ex in fills:
        book.apply(ex, 0)
        kinds |= {v.kind for v in evaluate(Limits(), book, ex, 0)}
    assert set() == kinds


def test_unregistered_parent_breaches_after_the_grace() -> None:
    """Executions with no registered parent breach once 250 ms have passed, not before."""
    book = Book()
    book.apply(fill("router-9-000001.1", 100), 0)
    early = check_unregistered(Limits(), book, None, 249 * MS)
    late = check_unregistered(Limits(), book, None, 250 * MS)
    assert (None, "router-9-000001") == (early, late.parent_id)


def test_registration_within_the_grace_prevents_the_breach() -> None:
    """A parent registered inside the grace period reconciles its earlier executions."""
    book = Book()
    book.apply(fill("router-9-000002.1", 100), 0)
    book.register(Parent("router-9-000002", "router-9", "AAA", "buy", 100, 0))
    assert None is check_unregistered(Limits(), book, None, 10_000 * MS)
