"""Router order flow over a real FIX session to an in-test fake exchange."""
from __future__ import annotations

import asyncio

from powerpeg.targets.fix.codec import Tag

from tests.unit.targets.router.fakes import (  # noqa: F401 - fixtures
    AUTH, exchange, get_json, http, launch, post_order, wait_until, world,
)


def qtys(exchange) -> list[int]:
    return [int(o[Tag.OrderQty]) for o in exchange.orders]


async def order_view(http, rr, parent_id: str) -> dict:
    return await get_json(http, f"{rr.base_url}/orders/{parent_id}")


async def test_limit_parent_completes_exactly_at_its_quantity(launch, exchange, http) -> None:
    """A 250-share parent with 100-share children sends 100, 100, 50 and ends filled at 250."""
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=250)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ([100, 100, 50], "filled", 250, 250) == (qtys(exchange), parent.state, parent.filled_qty, parent.sent_qty)


async def test_child_orders_carry_parent_based_clordid_and_firm(launch, exchange, http) -> None:
    """Children are ClOrdID {parent_id}.{k} with Account = firm, limit DAY at the parent's limit."""
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=200, limit_price=10.05)
    await wait_until(lambda: len(exchange.orders) == 2)
    pid = body["parent_id"]
    seen = [(o[Tag.ClOrdID], o[Tag.Account], o[Tag.SenderCompID], o[Tag.OrdType], o[Tag.Price], o[Tag.TimeInForce])
            for o in exchange.orders]
    assert [(f"{pid}.1", "KNIGHT", "ROUTER-1", "2", "10.05", "0"),
            (f"{pid}.2", "KNIGHT", "ROUTER-1", "2", "10.05", "0")] == seen


async def test_market_parent_reslices_after_ioc_cancel(launch, exchange, http) -> None:
    """IOC children filled 40 at a time are re-sliced for the remainder until the parent fills."""
    exchange.fill = lambda qty: min(qty, 40)
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100, limit_price=None)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ([100, 60, 20], "filled", 100) == (qtys(exchange), parent.state, parent.filled_qty)


async def test_market_children_are_ioc_market_orders(launch, exchange, http) -> None:
    """A parent without limit_price sends OrdType market, TimeInForce IOC, no price."""
    rr = await launch()
    await post_order(http, rr, qty=100, limit_price=None)
    await wait_until(lambda: exchange.orders)
    order = exchange.orders[0]
    assert ("1", "3", None) == (order[Tag.OrdType], order[Tag.TimeInForce], order.get(Tag.Price))


async def test_partial_fill_of_resting_child_is_counted_without_new_child(launch, exchange, http) -> None:
    """A DAY child filled 30 of 100 leaves the parent working at 30 with no extra child."""
    exchange.fill = lambda qty: 30
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].filled_qty == 30)
    view = await order_view(http, rr, body["parent_id"])
    assert (1, 100, 30, "working") == (len(exchange.orders), view["sent_qty"], view["filled_qty"], view["state"])


async def test_resting_child_filled_later_completes_parent(launch, exchange, http) -> None:
    """When the resting remainder fills, the parent ends filled at its quantity."""
    exchange.fill = lambda qty: 30
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.filled_qty == 30)
    exchange.fill_resting()
    await wait_until(lambda: parent.state != "working")
    assert ("filled", 100, 1) == (parent.state, parent.filled_qty, len(exchange.orders))


async def test_working_children_are_capped_per_parent(launch, exchange, http) -> None:
    """With --max-working-children 3 and nothing filling, exactly three children go out."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100, max_working_children=3)
    await post_order(http, rr, qty=1000)
    await wait_until(lambda: len(exchange.orders) >= 3)
    await wait_until(lambda: len(exchange.orders) > 3, timeout=0.2)
    assert 3 == len(exchange.orders)


async def test_unfilled_ioc_child_stops_the_parent(launch, exchange, http) -> None:
    """A marketable child canceled with nothing filled stops the parent instead of spinning."""
    exchange.fill = lambda qty: 0
    rr = await launch()
    _, body = await post_order(http, rr, qty=500, limit_price=None)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ("stopped", 1) == (parent.state, len(exchange.orders))


async def test_exchange_reject_rejects_parent_without_retrying(launch, exchange, http) -> None:
    """A child rejected by the exchange ends the parent 'rejected' with the reason, one child only."""
    exchange.reject_text = "kill switch active for firm KNIGHT"
    rr = await launch()
    _, body = await post_order(http, rr, qty=500)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state != "working")
    await wait_until(lambda: len(exchange.orders) > 1, timeout=0.2)
    view = await order_view(http, rr, body["parent_id"])
    assert ("rejected", "kill switch active for firm KNIGHT", 1) == (
        view["state"], view["reason"], len(exchange.orders))


async def test_v2_rlp_parent_completes_exactly(launch, exchange, http) -> None:
    """On v2 an rlp parent takes the 'rlp' path and stops at its quantity."""
    rr = await launch(version="v2")
    _, body = await post_order(http, rr, qty=300, rlp=True, limit_price=None)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ("rlp", "filled", 300, [100, 100, 100]) == (parent.path, parent.state, parent.filled_qty, qtys(exchange))


async def test_v1_rlp_parent_overfills_through_power_peg(launch, exchange, http) -> None:
    """On v1 an rlp parent goes to Power Peg and keeps sending past its quantity."""
    rr = await launch(version="v1")
    _, body = await post_order(http, rr, qty=100, rlp=True, limit_price=None)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.filled_qty >= 2000)
    view = await order_view(http, rr, body["parent_id"])
    rr.router.halt("test over")
    assert ("powerpeg", "working", True) == (view["path"], view["state"], view["filled_qty"] > view["qty"])


async def test_v1_plain_parent_takes_the_normal_path(launch, exchange, http) -> None:
    """On v1 a parent without the rlp flag is sliced correctly."""
    rr = await launch(version="v1")
    _, body = await post_order(http, rr, qty=200)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ("normal", "filled", 200) == (parent.path, parent.state, parent.filled_qty)


async def test_router_rlp_flag_sends_every_v1_parent_to_power_peg(launch, exchange, http) -> None:
    """PUT /flags rlp=true on v1 makes a parent without rlp take the Power Peg path."""
    rr = await launch(version="v1")
    async with http.put(f"{rr.base_url}/flags", json={"rlp": True}, headers=AUTH) as resp:
        assert 200 == resp.status
    _, body = await post_order(http, rr, qty=100)
    view = await order_view(http, rr, body["parent_id"])
    rr.router.halt("test over")
    assert ("powerpeg", True) == (view["path"], view["rlp"])


async def test_power_peg_paces_each_parent_by_the_interval(launch, exchange, http) -> None:
    """--powerpeg-interval-ms 100: one parent sends a child at most every 100 ms, and keeps sending."""
    rr = await launch(version="v1", powerpeg_interval_ms=100)
    await post_order(http, rr, rlp=True, limit_price=None)
    await asyncio.sleep(0.55)
    sent = len(exchange.orders)
    rr.router.halt("test over")
    assert 2 <= sent <= 7, sent


async def test_power_peg_paces_by_powerpeg_working(launch, exchange, http) -> None:
    """--powerpeg-working 4 keeps exactly four children in flight while none has ended."""
    exchange.silent = True
    rr = await launch(version="v1", powerpeg_working=4)
    await post_order(http, rr, qty=100, rlp=True, limit_price=None)
    await wait_until(lambda: len(exchange.orders) >= 4)
    await wait_until(lambda: len(exchange.orders) > 4, timeout=0.2)
    assert 4 == len(exchange.orders)


async def test_power_peg_stops_on_kill_switch_reject(launch, exchange, http) -> None:
    """A Power Peg parent stops when the exchange rejects a child (kill switch)."""
    rr = await launch(version="v1")
    _, body = await post_order(http, rr, qty=100, rlp=True, limit_price=None)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) >= 20)
    exchange.reject_text = "kill switch active for firm KNIGHT"
    await wait_until(lambda: parent.state != "working")
    sent = len(exchange.orders)
    await wait_until(lambda: len(exchange.orders) > sent, timeout=0.2)
    assert ("rejected", sent) == (parent.state, len(exchange.orders))


async def test_halt_stops_power_peg(launch, exchange, http) -> None:
    """After POST /halt a Power Peg parent sends nothing more and is marked halted."""
    rr = await launch(version="v1")
    _, body = await post_order(http, rr, qty=100, rlp=True, limit_price=None)
    await wait_until(lambda: len(exchange.orders) >= 20)
    async with http.post(f"{rr.base_url}/halt", headers=AUTH) as resp:
        assert 200 == resp.status
    await wait_until(lambda: False, timeout=0.05)  # let in-flight reports land
    sent = len(exchange.orders)
    await wait_until(lambda: len(exchange.orders) > sent, timeout=0.2)
    view = await order_view(http, rr, body["parent_id"])
    assert (sent, "halted") == (len(exchange.orders), view["state"])


async def test_halt_cancels_working_children(launch, exchange, http) -> None:
    """POST /halt sends OrderCancelRequest for every working child and marks the parent halted."""
    exchange.fill = lambda qty: 0
    rr = await launch(max_working_children=2)
    _, body = await post_order(http, rr, qty=1000)
    await wait_until(lambda: len(exchange.orders) == 2)
    async with http.post(f"{rr.base_url}/halt", headers=AUTH) as resp:
        result = await resp.json()
    await wait_until(lambda: len(exchange.cancels) == 2 and not rr.router.gateway.children)
    canceled = sorted(c[Tag.OrigClOrdID] for c in exchange.cancels)
    pid = body["parent_id"]
    assert ([f"{pid}.1", f"{pid}.2"], 2, "halted") == (canceled, result["cancels_sent"], rr.router.parents[pid].state)


async def test_halted_router_refuses_new_parents(launch, exchange, http) -> None:
    """While halted, POST /orders answers 503 and sends nothing."""
    rr = await launch()
    async with http.post(f"{rr.base_url}/halt", headers=AUTH):
        pass
    status, _ = await post_order(http, rr)
    assert (503, 0) == (status, len(exchange.orders))


async def test_resume_accepts_new_parents_again(launch, exchange, http) -> None:
    """After POST /resume a new parent is accepted and routed."""
    rr = await launch()
    async with http.post(f"{rr.base_url}/halt", headers=AUTH):
        pass
    async with http.post(f"{rr.base_url}/resume", headers=AUTH) as resp:
        assert 200 == resp.status
    status, body = await post_order(http, rr, qty=100)
    await wait_until(lambda: rr.router.parents[body["parent_id"]].state == "filled")
    assert (202, "filled", False) == (status, rr.router.parents[body["parent_id"]].state, rr.router.halted)


async def test_first_logon_resets_and_a_reconnect_continues_the_sequence(launch, exchange, http) -> None:
    """A router process starts its day with 141=Y at MsgSeqNum 1; after a drop it logs on again
    without 141, its MsgSeqNum continuing (and asks for cancel-on-disconnect both times)."""
    rr = await launch()
    exchange.drop_sessions()
    await wait_until(lambda: len(exchange.logons) == 2 and rr.router.gateway.up)
    first, second = exchange.logons
    assert (("Y", 1, "Y"), (None, 2, "Y")) == (
        (first.get(Tag.ResetSeqNumFlag), first.seq, first.get(8013)),
        (second.get(Tag.ResetSeqNumFlag), second.seq, second.get(8013)))


async def test_parent_waits_while_fix_is_down_then_completes(launch, exchange, http) -> None:
    """A parent accepted while the session is down waits, then fills after the reconnect."""
    exchange.fill = lambda qty: 0
    rr = await launch()
    _, first = await post_order(http, rr, qty=100)
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.fill = lambda qty: qty
    exchange.drop_sessions()
    await wait_until(lambda: len(exchange.logons) == 2 and rr.router.gateway.up)
    parent = rr.router.parents[first["parent_id"]]
    await wait_until(lambda: parent.state != "working")
    assert ("filled", 100, 2) == (parent.state, parent.filled_qty, len(exchange.orders))


async def test_fills_lost_with_the_session_come_back_by_resend(launch, exchange, http) -> None:
    """A child filled while the connection was cut: the reconnect's resend brings the fill report,
    the router counts it and sends nothing more (no 35=H needed; re-slicing would over-fill)."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.fill_while_cut()
    await wait_until(lambda: parent.state != "working")
    assert ([], "filled", 100, 1) == (exchange.status_requests, parent.state, parent.filled_qty, len(exchange.orders))


async def test_fills_the_venue_cannot_resend_are_recovered_by_status_request(launch, exchange, http) -> None:
    """The venue restarted without its store: the Logon continuing the sequence is refused (MsgSeqNum
    too low), the next one resets (141=Y), and the child in doubt is asked about (35=H): the fill is
    counted and nothing re-sliced."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.fill_silently()
    exchange.lose_store()
    exchange.drop_sessions()
    await wait_until(lambda: parent.state != "working")
    asked = [m[Tag.ClOrdID] for m in exchange.status_requests]
    resets = [m.get(Tag.ResetSeqNumFlag) for m in exchange.logons]
    assert ([f"{parent.parent_id}.1"], "filled", 100, 1, "Y") == (
        asked, parent.state, parent.filled_qty, len(exchange.orders), resets[-1])


async def test_partly_filled_child_canceled_by_disconnect_is_resliced_for_the_rest(launch, exchange, http) -> None:
    """30 of 100 filled, the rest cancelled on disconnect (the cancel comes by resend): only 70 more go out."""
    exchange.fill = lambda qty: 30
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: parent.filled_qty == 30)
    exchange.fill = lambda qty: qty
    exchange.drop_sessions()
    await wait_until(lambda: parent.state != "working")
    assert ([100, 70], "filled", 100, []) == (qtys(exchange), parent.state, parent.filled_qty, exchange.status_requests)


async def test_order_lost_in_flight_is_resent_by_the_router(launch, exchange, http) -> None:
    """A NewOrderSingle the venue never got: after the reconnect the venue asks for it (ResendRequest)
    and the router sends it again, PossDupFlag=Y with its MsgSeqNum: the parent fills with that child."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) == 1)
    lost_seq = exchange.orders[0].seq
    exchange.unsee_last_order()
    exchange.fill = lambda qty: qty
    exchange.drop_sessions()
    await wait_until(lambda: parent.state != "working")
    again = exchange.orders[0]
    assert (f"{parent.parent_id}.1", lost_seq, "Y", "filled", 1) == (
        again[Tag.ClOrdID], again.seq, again.get(Tag.PossDupFlag), parent.state, len(exchange.orders))


async def test_child_unknown_at_the_venue_is_sent_again(launch, exchange, http) -> None:
    """A child the venue does not know after it lost its store is answered 39=8 103=5: the parent re-sends it."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.forget(f"{parent.parent_id}.1")
    exchange.lose_store()
    exchange.fill = lambda qty: qty
    exchange.drop_sessions()
    await wait_until(lambda: parent.state != "working")
    assert ([100, 100], "filled", 100) == (qtys(exchange), parent.state, parent.filled_qty)


async def test_children_in_doubt_are_given_up_when_the_venue_never_answers(launch, exchange, http, monkeypatch) -> None:
    """A venue that ignores 35=H cannot freeze a parent: after the timeout the child counts as lost."""
    monkeypatch.setattr("powerpeg.targets.router.gateway.STATUS_TIMEOUT_S", 0.3)
    exchange.fill = lambda qty: 0
    exchange.answer_status = False
    exchange.cod = False  # the child still works at the venue: nothing settles it but an answer
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    parent = rr.router.parents[body["parent_id"]]
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.fill = lambda qty: qty
    exchange.drop_sessions()
    await wait_until(lambda: len(exchange.status_requests) == 1)
    held = (len(exchange.orders), parent.state)
    await wait_until(lambda: parent.state != "working")
    assert ((1, "working"), "filled", 2) == (held, parent.state, len(exchange.orders))


async def test_halt_while_disconnected_cancels_what_still_works_after_reconnect(launch, exchange, http) -> None:
    """Halted while the session was down: a child the venue still works (no cancel-on-disconnect
    there) is cancelled after the next Logon, once."""
    exchange.fill = lambda qty: 0
    rr = await launch(child_qty=100)
    _, body = await post_order(http, rr, qty=100)
    await wait_until(lambda: len(exchange.orders) == 1)
    exchange.cod = False  # this venue keeps orders across a drop
    exchange.server.close()
    await exchange.server.wait_closed()
    exchange.drop_sessions()
    await wait_until(lambda: not rr.router.gateway.up)
    resp = await http.post(f"{rr.base_url}/halt", headers=AUTH)
    assert 200 == resp.status
    await exchange.start(exchange.port)
    await wait_until(lambda: exchange.cancels, timeout=5.0)
    await wait_until(lambda: len(exchange.status_requests) == 1)
    assert [f"{body['parent_id']}.1"] == [m[Tag.OrigClOrdID] for m in exchange.cancels]


async def test_health_reports_fix_down_when_exchange_is_gone(launch, exchange, http) -> None:
    """With the exchange unreachable /health says "fix": "down" and still answers 200."""
    rr = await launch()
    exchange.server.close()
    await exchange.server.wait_closed()
    exchange.drop_sessions()
    await wait_until(lambda: not rr.router.gateway.up)
    health = await get_json(http, f"{rr.base_url}/health")
    assert ("down", "ok") == (health["fix"], health["status"])


async def test_done_parents_are_forgotten_past_the_memory_working_ones_never(launch, exchange, http,
                                                                           monkeypatch) -> None:
    """Past PARENT_MEMORY parents the oldest done ones go (GET says it may be forgotten); a working one stays."""
    from powerpeg.targets.router import core
    monkeypatch.setattr(core, "PARENT_MEMORY", 10)
    exchange.fill = lambda qty: 30  # the first parent rests, working
    rr = await launch(child_qty=100)
    _, first = await post_order(http, rr, qty=100)
    await wait_until(lambda: rr.router.parents[first["parent_id"]].filled_qty == 30)
    exchange.fill = lambda qty: qty
    done = []
    for _ in range(14):
        _, body = await post_order(http, rr, qty=100)
        done.append(body["parent_id"])
    await wait_until(lambda: all(p.state != "working" for pid, p in rr.router.parents.items() if pid in done))
    status, gone = None, None
    async with http.get(f"{rr.base_url}/orders/{done[0]}", headers=AUTH) as resp:
        status, gone = resp.status, await resp.json()
    assert (True, False, True, 404) == (first["parent_id"] in rr.router.parents, done[0] in rr.router.parents,
                                        done[-1] in rr.router.parents, status)
    assert len(rr.router.parents) <= 11 and "forgotten" in gone["error"], gone
