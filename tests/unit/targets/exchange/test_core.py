"""The matching engine: rejects, kill switch, cancel-on-disconnect, positions, journal."""
from __future__ import annotations

import random
from collections import defaultdict

from powerpeg.targets.exchange.book import BUY, DAY, IOC, LIMIT, MARKET, SELL

from .venue import Recorder, Venue


def test_unknown_symbol_is_rejected_with_text(venue: Venue) -> None:
    """An order for a symbol not listed gets ER 39=8 naming the symbol."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000, symbol="NOPE")
    report = venue.outs["R1"].reports()[-1]
    assert ("8", "8", "unknown symbol NOPE") == (report[150], report[39], report[58])


def test_rejected_order_is_journaled(venue: Venue) -> None:
    """A reject is written to the journal with its text."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000, symbol="NOPE")
    rec = venue.records()[-1]
    assert ("rejected", "rejected", "unknown symbol NOPE") == (rec["kind"], rec["status"], rec["text"])


def test_resting_order_is_acknowledged_new(venue: Venue) -> None:
    """A non-crossing limit order gets ER 150=0 39=0 with all its quantity leaving."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    report = venue.outs["R1"].reports()[-1]
    assert ("0", "0", 100, "10.00") == (report[150], report[39], report[151], report[44])


def test_crossing_order_fills_both_sides(venue: Venue) -> None:
    """A cross sends a trade report to the maker and to the taker."""
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "s1", SELL, 100, 1000)
    venue.order(b, "b1", BUY, 100, 1000)
    last = [venue.outs[c].reports()[-1] for c in ("A", "B")]
    assert [("F", "2", 100, "10.00")] * 2 == [(r[150], r[39], r[32], r[31]) for r in last]


def test_ioc_remainder_is_cancelled_with_reason_ioc(venue: Venue) -> None:
    """The unfilled part of an IOC is cancelled and journaled as ioc."""
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "s1", SELL, 100, 1000)
    venue.order(b, "b1", BUY, 300, 1000, tif=IOC)
    rec = venue.records()[-1]
    assert ("canceled", "ioc", 100, 200) == (rec["kind"], rec["reason"], rec["cum_qty"], rec["canceled_qty"])


def test_ioc_never_rests(venue: Venue) -> None:
    """After an IOC nothing of it is left in the book."""
    b = venue.login("B")
    venue.order(b, "b1", BUY, 300, 1000, tif=IOC)
    assert ([], {}) == (venue.engine.books["AAA"].depth()[0], b.working)


def test_market_remainder_is_cancelled_with_reason_market(venue: Venue) -> None:
    """A market order with no liquidity is cancelled as market."""
    b = venue.login("B")
    venue.order(b, "m1", BUY, 100, None, ord_type=MARKET)
    rec = venue.records()[-1]
    assert ("canceled", "market", None) == (rec["kind"], rec["reason"], rec["price"])


def test_ioc_cancel_does_not_touch_a_resting_level(venue: Venue) -> None:
    """Cancelling an IOC remainder leaves same-price resting orders of the same side alone."""
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "b0", BUY, 100, 1000)
    venue.order(b, "b1", BUY, 300, 1000, tif=IOC)
    assert [(1000, 100)] == venue.engine.books["AAA"].depth()[0]


def test_user_cancel_reports_both_ids(venue: Venue) -> None:
    """OrderCancelRequest cancels the order; the ER carries 11 new and 41 orig."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    assert venue.engine.cancel_request(st, "c1", "x1", "AAA", BUY) is None
    report = venue.outs["R1"].reports()[-1]
    assert ("4", "4", "x1", "c1", 0) == (report[150], report[39], report[11], report[41], report[151])


def test_cancel_of_unknown_order_is_refused(venue: Venue) -> None:
    """A cancel for an order the session does not have returns a refusal."""
    st = venue.login("R1")
    assert ("1", "8", "NONE", "unknown order nope") == venue.engine.cancel_request(st, "nope", "x1", "AAA", BUY)


def test_cancel_of_another_sessions_order_is_refused(venue: Venue) -> None:
    """OrigClOrdID is looked up within the same session only."""
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "c1", BUY, 100, 1000)
    refusal = venue.engine.cancel_request(b, "c1", "x1", "AAA", BUY)
    assert ("1", "unknown order c1") == (refusal and (refusal.reason, refusal.text))


def test_duplicate_working_clordid_is_rejected(venue: Venue) -> None:
    """A ClOrdID still working on the session cannot be reused."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    venue.order(st, "c1", BUY, 100, 990)
    assert "duplicate ClOrdID c1" == venue.outs["R1"].reports()[-1][58]


def test_clordid_of_a_filled_order_cannot_be_reused(venue: Venue) -> None:
    """A ClOrdID is unique per session and day, also once its order is done: its reuse is rejected
    (ER 150=8 with the reason), journaled as rejected, and fills nothing."""
    seller, buyer = venue.login("R1"), venue.login("R2")
    venue.order(seller, "s1", SELL, 200, 1000)
    venue.order(buyer, "b1", BUY, 100, 1000)
    venue.order(buyer, "b1", BUY, 100, 1000)
    report, record = venue.outs["R2"].reports()[-1], venue.records()[-1]
    assert (("8", "8", "duplicate ClOrdID b1"), ("rejected", "b1", "duplicate ClOrdID b1"), 100) == (
        (report[150], report[39], report[58]), (record["kind"], record["cl_ord_id"], record["text"]),
        venue.engine.books["AAA"].depth(1)[1][0][1])


def test_clordid_of_another_session_is_not_a_duplicate(venue: Venue) -> None:
    """Uniqueness is per session: two sessions may use the same ClOrdID."""
    a, b = venue.login("R1"), venue.login("R2")
    venue.order(a, "c1", BUY, 100, 1000)
    venue.order(b, "c1", BUY, 100, 990)
    assert "0" == venue.outs["R2"].reports()[-1][150]


def test_clordids_survive_a_reconnect(venue: Venue) -> None:
    """The day's ClOrdIDs belong to the CompID: after a reconnect (even one resetting the sequence
    numbers) a done order's ClOrdID is still refused."""
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000, symbol="AAA")
    venue.engine.cancel_request(st, "c1", "x1", "AAA", BUY)
    venue.engine.detach(st, graceful=True)
    st = venue.login("R1")
    venue.order(st, "c1", BUY, 100, 1000)
    assert "duplicate ClOrdID c1" == venue.outs["R1"].reports()[-1][58]


def test_past_the_clordid_memory_new_orders_are_refused(venue: Venue, monkeypatch) -> None:
    """Bounded memory: past CLORDID_MEMORY ClOrdIDs in a session's day, its new orders are refused
    (a forgotten ClOrdID could be reused), saying so."""
    from powerpeg.targets.exchange import core
    monkeypatch.setattr(core, "CLORDID_MEMORY", 3)
    st = venue.login("R1")
    for n in range(4):
        venue.order(st, f"c{n}", BUY, 100, 1000 - n)
    texts = [r.get(58) for r in venue.outs["R1"].reports()]
    assert [None, None, None, "ClOrdID limit reached: 3 orders today by session R1"] == texts


def test_kill_firm_rejects_new_orders(venue: Venue) -> None:
    """After a firm kill, its new orders get ER 39=8 saying so."""
    st = venue.login("R1")
    venue.engine.kill("firm", "KNIGHT")
    venue.order(st, "c1", BUY, 100, 1000, firm="KNIGHT")
    report = venue.outs["R1"].reports()[-1]
    assert ("8", "kill switch active for firm KNIGHT") == (report[39], report[58])


def test_kill_firm_cancels_working_orders_across_sessions(venue: Venue) -> None:
    """A firm kill cancels the firm's orders on every session, and only those."""
    r1, r2, other = venue.login("R1"), venue.login("R2"), venue.login("OTHER")
    venue.order(r1, "a", BUY, 100, 1000, firm="KNIGHT")
    venue.order(r2, "b", SELL, 100, 1100, firm="KNIGHT")
    venue.order(other, "c", BUY, 100, 990)
    assert (2, [(990, 100)], []) == (
        venue.engine.kill("firm", "KNIGHT"), venue.engine.books["AAA"].depth()[0], venue.engine.books["AAA"].depth()[1])


def test_kill_cancel_reaches_owner_and_drop_copy(venue: Venue) -> None:
    """The kill's cancel ER goes to the owner and to the firm's drop copy with 115."""
    st = venue.login("R1")
    copy = Recorder()
    venue.engine.add_dropcopy("KNIGHT", copy)
    venue.order(st, "a", BUY, 100, 1000, firm="KNIGHT")
    venue.engine.kill("firm", "KNIGHT")
    owner, dc = venue.outs["R1"].reports()[-1], copy.reports()[-1]
    assert (("4", "a"), ("4", "a", "R1", "KNIGHT")) == ((owner[39], owner[11]), (dc[39], dc[11], dc[115], dc[1]))


def test_kill_is_journaled_with_reason(venue: Venue) -> None:
    """Kill cancels are journaled with reason kill, after a kill record."""
    st = venue.login("R1")
    venue.order(st, "a", BUY, 100, 1000, firm="KNIGHT")
    venue.engine.kill("firm", "KNIGHT")
    kinds = [(r["kind"], r.get("reason")) for r in venue.records()]
    assert [("accepted", None), ("kill", None), ("canceled", "kill")] == kinds


def test_reinstate_lets_orders_in_again(venue: Venue) -> None:
    """After reinstate the firm's orders are accepted again."""
    st = venue.login("R1")
    venue.engine.kill("firm", "KNIGHT")
    assert venue.engine.reinstate("firm", "KNIGHT") is True
    venue.order(st, "c1", BUY, 100, 1000, firm="KNIGHT")
    assert "0" == venue.outs["R1"].reports()[-1][39]


def test_session_kill_spares_other_sessions(venue: Venue) -> None:
    """A session kill blocks that session but not another one of the same firm."""
    r1, r2 = venue.login("R1"), venue.login("R2")
    venue.engine.kill("session", "R1")
    venue.order(r1, "a", BUY, 100, 1000, firm="KNIGHT")
    venue.order(r2, "b", BUY, 100, 1000, firm="KNIGHT")
    assert ("kill switch active for session R1", "0") == (
        venue.outs["R1"].reports()[-1][58], venue.outs["R2"].reports()[-1][39])


def test_disconnect_cancels_working_orders(venue: Venue) -> None:
    """A session dropping without Logout has its orders cancelled as disconnect."""
    st = venue.login("R1")
    venue.order(st, "a", BUY, 100, 1000)
    venue.order(st, "b", SELL, 100, 1100)
    assert 2 == venue.engine.detach(st, graceful=False)
    assert ["disconnect", "disconnect"] == [r["reason"] for r in venue.records() if r["kind"] == "canceled"]


def test_logout_keeps_working_orders(venue: Venue) -> None:
    """A graceful Logout does not cancel anything."""
    st = venue.login("R1")
    venue.order(st, "a", BUY, 100, 1000)
    assert (0, 1) == (venue.engine.detach(st, graceful=True), len(st.working))


def test_disconnect_with_cod_off_keeps_orders(venue: Venue) -> None:
    """With cancel-on-disconnect off (8013=N) orders survive a drop."""
    st = venue.login("R1", cod=False)
    venue.order(st, "a", BUY, 100, 1000)
    assert (0, [(1000, 100)]) == (venue.engine.detach(st, graceful=False), venue.engine.books["AAA"].depth()[0])


def test_preopen_queue_runs_in_arrival_order_at_open(venue: Venue) -> None:
    """Orders queued before the open execute at the open, first come first served."""
    venue.engine.is_open = False
    a, b, c = venue.login("A"), venue.login("B"), venue.login("C")
    venue.order(a, "s", SELL, 100, 1000)
    venue.order(b, "first", BUY, 100, 1000)
    venue.order(c, "second", BUY, 100, 1000)
    venue.engine.open_market()
    fills = [r["cl_ord_id"] for r in venue.records() if r["kind"] == "fill" and r["side"] == "buy"]
    assert (["first"], [(1000, 100)]) == (fills, venue.engine.books["AAA"].depth()[0])


def test_sliced_open_keeps_time_priority_for_arrivals_during_release(venue: Venue) -> None:
    """While the queue is released slice by slice, a new order waits behind the queued ones."""
    venue.engine.is_open = False
    a, b, c, d = venue.login("A"), venue.login("B"), venue.login("C"), venue.login("D")
    venue.order(a, "s", SELL, 100, 1000)
    venue.order(b, "first", BUY, 100, 1000)
    venue.engine.open_market(release=False)
    assert venue.engine.release(1)  # the sell rests; "first" still waits
    venue.order(c, "late", BUY, 100, 1000)  # arrives during the release: joins the back
    while venue.engine.release(1):
        pass
    fills = [r["cl_ord_id"] for r in venue.records() if r["kind"] == "fill" and r["side"] == "buy"]
    venue.order(d, "after", BUY, 100, 1000)  # the queue is empty: executes at once
    rested = [o.cl_ord_id for o in d.working.values()]
    assert (["first"], False, [(1000, 200)], ["after"]) == (  # late and after rest at 10.00
        fills, venue.engine.releasing, venue.engine.books["AAA"].depth()[0][:1], rested)


def test_a_release_slice_ends_when_its_time_is_up(venue: Venue) -> None:
    """``until`` bounds a slice by time as well as by count: past it, each call runs one order, in order."""
    venue.engine.is_open = False
    a, b = venue.login("A"), venue.login("B")
    for i in range(3):
        venue.order(a, f"s{i}", SELL, 100, 1000 + i)
    venue.order(b, "buy", BUY, 300, 1100)
    venue.engine.open_market(release=False)
    runs = []
    while True:
        before = len(venue.engine.queue)
        more = venue.engine.release(64, until=0.0)  # perf_counter() is always past 0
        runs.append(before - len(venue.engine.queue))
        if not more:
            break
    prices = [r["exec_px"] for r in venue.records() if r["kind"] == "fill" and r["side"] == "buy"]
    assert ([1, 1, 1, 1], [10.0, 10.01, 10.02]) == (runs, prices)


def test_kill_during_release_cancels_the_firms_queued_orders(venue: Venue) -> None:
    """A kill between two slices cancels what the killed firm still had queued: none of it executes."""
    venue.engine.is_open = False
    a, b = venue.login("A"), venue.login("B")
    venue.order(a, "s", SELL, 500, 1000, firm="OTHER")
    for i in range(3):
        venue.order(b, f"k{i}", BUY, 100, 1000, firm="KNIGHT")
    venue.engine.open_market(release=False)
    venue.engine.release(2)  # the sell rests, k0 fills
    venue.engine.kill("firm", "KNIGHT")
    while venue.engine.release(1):
        pass
    fills = [r["cl_ord_id"] for r in venue.records() if r["kind"] == "fill" and r["side"] == "buy"]
    cancelled = sorted(r["cl_ord_id"] for r in venue.records() if r["kind"] == "canceled")
    assert (["k0"], ["k1", "k2"]) == (fills, cancelled)


def test_an_account_the_session_may_not_trade_for_is_rejected_as_the_sessions_own(venue: Venue) -> None:
    """Credentials list ROUTER-1 for KNIGHT only: an order naming OTHER is rejected saying so, journaled and
    counted under the session's CompID, never under OTHER (no counters, no positions, no drop copy of it)."""
    st = venue.login("ROUTER-1")
    st.accounts = frozenset({"KNIGHT"})
    venue.order(st, "ok", BUY, 100, 1000, firm="KNIGHT")
    venue.order(st, "spoof", BUY, 100, 1000, firm="OTHER")
    rec = venue.records()[-1]
    assert (("rejected", "ROUTER-1", "Account(1) OTHER is not an account session ROUTER-1 may trade for"),
            "OTHER" in venue.engine.stats, venue.outs["ROUTER-1"].reports()[-1][58]) == (
        (rec["kind"], rec["firm"], rec["text"]), False, rec["text"])


def test_new_accounts_past_the_days_cap_are_refused(venue: Venue, monkeypatch) -> None:
    """An open venue keeps counters per Account(1): past MAX_ACCOUNTS a new one is refused, a known one trades."""
    from powerpeg.targets.exchange import core
    monkeypatch.setattr(core, "MAX_ACCOUNTS", 2)
    st = venue.login("R1")
    for i, firm in enumerate(("F1", "F2", "F3", "F1")):
        venue.order(st, f"o{i}", BUY, 100, 1000, firm=firm)
    kinds = [(r["kind"], r["firm"]) for r in venue.records()]
    assert [("accepted", "F1"), ("accepted", "F2"), ("rejected", "R1"), ("accepted", "F1")] == kinds


def test_preopen_reject_mode_rejects(venue: Venue) -> None:
    """With --preopen reject an order before the open is rejected."""
    venue.engine.is_open = False
    venue.engine.preopen_reject = True
    st = venue.login("R1")
    venue.order(st, "a", BUY, 100, 1000)
    assert "market closed (pre-open)" == venue.outs["R1"].reports()[-1][58]


def test_open_is_journaled(venue: Venue) -> None:
    """Opening the market writes an open record."""
    venue.engine.is_open = False
    venue.engine.open_market()
    assert ["open"] == [r["kind"] for r in venue.records()]


def _random_flow(venue: Venue, n: int, seed: int) -> None:
    rng = random.Random(seed)
    sessions = [venue.login(c) for c in ("R1", "R2", "R3")]
    firms = ["KNIGHT", "OTHER", None]
    for i in range(n):
        st = rng.choice(sessions)
        ord_type = MARKET if rng.random() < 0.1 else LIMIT
        venue.order(st, f"o{i}", rng.choice((BUY, SELL)), rng.randrange(1, 10) * 100, rng.randrange(990, 1011),
                    symbol=rng.choice(("AAA", "BBB")), firm=rng.choice(firms), ord_type=ord_type,
                    tif=rng.choice((DAY, IOC)))


def test_positions_sum_to_zero_across_firms(venue: Venue) -> None:
    """For every symbol the firms' net positions and cash sum to zero."""
    _random_flow(venue, 2000, seed=7)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for per_symbol in venue.engine.positions.values():
        for sym, (pos, _bought, _sold, cash) in per_symbol.items():
            totals[sym][0] += pos
            totals[sym][1] += cash
    assert {"AAA": [0, 0], "BBB": [0, 0]} == dict(totals)


def test_every_match_has_one_buy_and_one_sell_of_equal_qty(venue: Venue) -> None:
    """In the journal each match_id has exactly one buy and one sell fill with equal qty and price."""
    _random_flow(venue, 2000, seed=11)
    matches: dict[str, list[tuple]] = defaultdict(list)
    for rec in venue.records():
        if rec["kind"] == "fill":
            matches[rec["match_id"]].append((rec["side"], rec["exec_qty"], rec["exec_px"]))
    bad = {m: sides for m, sides in matches.items()
           if sorted(s for s, _, _ in sides) != ["buy", "sell"] or len({(q, p) for _, q, p in sides}) != 1}
    assert (True, {}) == (len(matches) > 100, bad)


def test_fill_records_leave_nothing_working_twice(venue: Venue) -> None:
    """After random flow every working order is live in its book with the same quantity."""
    _random_flow(venue, 1000, seed=3)
    working = sum(o.leaves for st in venue.engine.sessions.values() for o in st.working.values())
    in_books = sum(q for b in venue.engine.books.values() for side in b.depth(10_000) for _, q in side)
    assert working == in_books


def test_kill_record_names_who_pulled_the_switch(venue: Venue) -> None:
    """The journal's kill record carries `by`, so measurement can tell controls from the harness."""
    venue.engine.kill("firm", "KNIGHT", by="monitor")
    [record] = [r for r in venue.records() if r["kind"] == "kill"]
    assert ("monitor", "KNIGHT") == (record["by"], record["firm"])


def test_a_session_remembers_a_bounded_number_of_orders(venue: Venue, monkeypatch) -> None:
    """Done orders are forgotten past ORDER_MEMORY (oldest first), while a working order is always
    found and a forgotten order's ClOrdID is still refused."""
    from powerpeg.targets.exchange import core
    monkeypatch.setattr(core, "ORDER_MEMORY", 50)
    st = venue.login("R1")
    venue.order(st, "working", BUY, 100, 900)
    for n in range(200):
        venue.order(st, f"s{n}", SELL, 100, 1000)
        venue.order(st, f"b{n}", BUY, 100, 1000)
    venue.order(st, "s0", BUY, 100, 900)
    assert (True, True, None, "duplicate ClOrdID s0") == (
        len(st.orders) <= 50, venue.engine.order_status(st, "working") is not None,
        venue.engine.order_status(st, "s0"), venue.outs["R1"].reports()[-1][58])


def test_market_maker_orders_keep_no_clordids_or_memory(venue: Venue) -> None:
    """The exchange's own market makers (session MM) number their orders themselves: neither their
    ClOrdIDs nor their done orders are kept."""
    from powerpeg.targets.exchange.core import MM_FIRM
    mm = venue.engine.session(MM_FIRM, cod=False)
    for n in range(100):
        venue.engine.new_order(mm, f"MM-{n}", MM_FIRM, "AAA", SELL, 100, 1000 + n, LIMIT, DAY)
    assert (0, 0, 100) == (len(mm.used), len(mm.orders), len(mm.working))


def test_orders_share_the_session_firm_and_the_book_symbol(venue: Venue) -> None:
    """An order keeps the book's symbol string and the session's firm string, not a copy per message."""
    st = venue.login("R1")
    a = venue.order(st, "c1", BUY, 100, 1000, firm="".join(["KNI", "GHT"]), symbol="".join(["AA", "A"]))
    b = venue.order(st, "c2", BUY, 100, 999, firm="".join(["KNI", "GHT"]), symbol="".join(["AA", "A"]))
    assert (True, True) == (a.symbol is b.symbol is venue.engine.books["AAA"].symbol, a.firm is b.firm)
