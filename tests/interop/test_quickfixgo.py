"""QuickFIX/Go (github.com/quickfixgo/quickfix v0.9.7) against powerpeg's exchange.

A FIX engine powerpeg did not write, with the settings production sessions
use: its own file store, ResetOnLogon=N (sequence numbers kept across logons
in a day), reconnect after a cut. Each test reads the engine's own view (what
its application was handed, its store's sequence numbers) and the exchange's
journal, never powerpeg's client code.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from tests.interop.conftest import Exchange, Toxiproxy, password
from tests.interop.qfclient import QfClient, store_seqnums

TRANSACT = "20261201-14:30:00.000"


def nos(cl: str, symbol: str, *, side: str = "1", qty: int = 100, price: str = "1.00",
        account: str | None = None) -> tuple[str, list[tuple[int, object]]]:
    fields: list[tuple[int, object]] = [(11, cl), (55, symbol), (54, side), (60, TRANSACT), (38, qty), (40, "2"),
                                        (44, price)]
    if account:
        fields.append((1, account))
    return "D", fields


def engine(*, sender: str, **kwargs: object) -> QfClient:
    """A QuickFIX/Go engine logging on as ``sender`` with its Username(553) and Password(554)."""
    return QfClient(sender=sender, username=sender, password=password(sender), **kwargs)


def acks(client: QfClient) -> Counter[str]:
    """ClOrdID → how many New acknowledgements (150=0) the engine's application was handed."""
    return Counter(m[11] for m in client.app_messages("8") if m.get(150) == "0")


def session_story(client: QfClient, got: Counter[str], n: int) -> str:
    """What a stuck engine saw: how many acks, which ClOrdIDs are missing, its session-level messages."""
    missing = sorted(set(f"P{i}" for i in range(n)) - set(got), key=lambda c: int(c[1:]))
    admin = [(e["ev"], {k: v for k, v in e["msg"].items() if k in (34, 35, 36, 16, 7, 43, 58, 123, 141)})
             for e in client.events if e["ev"] in ("to_admin", "from_admin") and e["msg"].get(35) != "0"]
    other = [e for e in client.events if e["ev"] not in ("to_admin", "from_admin", "from_app", "to_app", "sent")]
    return (f"{len(got)} acked, missing {missing[:5]}..{missing[-5:]} ({len(missing)}); "
            f"admin {admin[-30:]}; other {other[-10:]}")


def until(predicate, timeout: float, what: str, detail=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f": {detail()}" if detail else ""))
        time.sleep(0.05)


def test_reset_on_logon_y_logs_on_and_trades(exchange: Exchange, tmp_path: Path) -> None:
    """ResetOnLogon=Y: logon with 141=Y, a crossing pair of orders fills both sides."""
    symbol = exchange.symbol()
    with engine(port=exchange.fix_port, sender="QF-Y", store=tmp_path / "qf", reset=True) as qf:
        qf.wait_logon()
        logon = qf.admin_received("A")[0]
        qf.send(*nos("S1", symbol, side="2", qty=100, price="10.00"))
        qf.send(*nos("B1", symbol, side="1", qty=100, price="10.00"))
        qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "B1" and e["msg"].get(150) == "F",
                    what="B1's fill")
    assert ("Y", "1") == (logon.get(141), logon.get(34))


def test_second_logon_of_the_day_continues_the_sequence(exchange: Exchange, tmp_path: Path) -> None:
    """ResetOnLogon=N with a file store: the engine logs out, restarts on the same store and logs on again
    without a reset; the exchange continues both sequences and the session trades on."""
    symbol, store = exchange.symbol(), tmp_path / "qf"
    with engine(port=exchange.fix_port, sender="QF-N", store=store) as first:
        first.wait_logon()
        first.send(*nos("N1", symbol))
        first.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "N1", what="N1's ack")
    out_before, in_before = store_seqnums(store)
    with engine(port=exchange.fix_port, sender="QF-N", store=store) as second:
        second.wait_logon()
        their_logon = second.admin_received("A")[0]
        second.send(*nos("N2", symbol))
        second.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "N2", what="N2's ack")
    our_logon = [e["msg"] for e in second.events if e["ev"] == "to_admin" and e["msg"][35] == "A"][0]
    assert (str(out_before), str(in_before), None, None) == (
        our_logon[34], their_logon[34], our_logon.get(141), their_logon.get(141)), (our_logon, their_logon)


def test_cut_in_the_middle_of_2000_pipelined_orders_loses_and_doubles_nothing(
        exchange: Exchange, toxiproxy: Toxiproxy, tmp_path: Path) -> None:
    """2,000 orders pipelined through Toxiproxy; the connection is reset part-way. QuickFIX/Go reconnects
    with its stored sequence numbers, both sides resend what the other missed: every order is accepted
    exactly once at the exchange and acknowledged exactly once to the engine's application."""
    symbol = exchange.symbol()
    port = toxiproxy.proxy("qf-fix", exchange.fix_port)
    n = 2000
    with engine(port=port, sender="QF-CUT", store=tmp_path / "qf") as qf:
        qf.wait_logon()
        qf.send_many([nos(f"P{i}", symbol, qty=1 + i % 7) for i in range(n)])
        until(lambda: sum(acks(qf).values()) >= 300, 30, "300 acks before the cut")
        toxic = toxiproxy.toxic("qf-fix", "reset_peer", timeout=0)
        time.sleep(0.5)
        toxiproxy.remove("qf-fix", toxic)
        until(lambda: len(acks(qf)) >= n, 60, f"all {n} acks after the reconnect",
              lambda: session_story(qf, acks(qf), n))
        time.sleep(0.5)  # anything doubled would arrive now
        logons = sum(1 for e in qf.events if e["ev"] == "logon")
        got = acks(qf)
    accepted = Counter(r["cl_ord_id"] for r in exchange.records() if r["kind"] == "accepted"
                       and r["session"] == "QF-CUT")
    assert logons >= 2, "the cut did not break the session"
    assert ({f"P{i}" for i in range(n)}, {1}) == (set(accepted), set(accepted.values()))
    assert ({f"P{i}" for i in range(n)}, {1}) == (set(got), set(got.values()))


def test_drop_copy_gets_every_report_in_order_gap_filled_after_a_cut(
        exchange: Exchange, toxiproxy: Toxiproxy, tmp_path: Path) -> None:
    """A QuickFIX/Go drop-copy session for firm QFDC: its link is reset while the firm trades; after the
    reconnect the engine's application has every report of the firm, each once, in the exchange's order."""
    symbol = exchange.symbol()
    dc_port = toxiproxy.proxy("qf-dc", exchange.dropcopy_port)
    n = 400
    with engine(port=dc_port, sender="QFDC", store=tmp_path / "dc") as dc, \
            engine(port=exchange.fix_port, sender="QFDC-OE", store=tmp_path / "oe") as oe:
        dc.wait_logon()
        oe.wait_logon()
        oe.send_many([nos(f"D{i}", symbol, account="QFDC") for i in range(n // 2)])
        until(lambda: len(dc.app_messages("8")) >= 50, 30, "drop-copy reports before the cut")
        toxic = toxiproxy.toxic("qf-dc", "reset_peer", timeout=0)
        oe.send_many([nos(f"D{i}", symbol, account="QFDC") for i in range(n // 2, n)])
        until(lambda: len(acks(oe)) >= n, 30, "every order acknowledged to the order-entry session")
        toxiproxy.remove("qf-dc", toxic)
        until(lambda: len({m[11] for m in dc.app_messages("8")}) >= n, 60, "every report on the drop copy")
        time.sleep(0.5)
        reports = dc.app_messages("8")
    journal_order = [r["cl_ord_id"] for r in exchange.records() if r["kind"] == "accepted" and r.get("firm") == "QFDC"]
    assert [f"D{i}" for i in range(n)] == journal_order
    assert journal_order == [m[11] for m in reports]
    seqs = [int(m[34]) for m in reports]
    assert seqs == sorted(set(seqs)), "a report handed to the application twice or out of order"


def test_replace_and_mass_cancel_round_trip_and_unsupported_message_gets_business_reject(
        exchange: Exchange, tmp_path: Path) -> None:
    """35=G changes an order (150=5, the new ClOrdID and quantity); 35=q cancels every order of the session
    (35=r with the count, a 150=4 per order); 35=V, valid FIX the venue does not offer, gets 35=j."""
    symbol = exchange.symbol()
    with engine(port=exchange.fix_port, sender="QF-APP", store=tmp_path / "qf", reset=True) as qf:
        qf.wait_logon()
        for cl in ("G1", "K1", "K2"):
            qf.send(*nos(cl, symbol, qty=100, price="5.00"))
        qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "K2", what="K2's ack")
        qf.send("G", [(41, "G1"), (11, "G2"), (55, symbol), (54, "1"), (60, TRANSACT), (38, 40), (40, "2"),
                      (44, "5.00")])
        replaced = qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(150) == "5", what="Replaced")["msg"]
        qf.send("q", [(11, "MC1"), (530, "7"), (60, TRANSACT)])
        report = qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"][35] == "r", what="35=r")["msg"]
        qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(150) == "4" and e["msg"].get(11) == "K2",
                    what="K2 cancelled")
        cancelled = sorted(m[11] for m in qf.app_messages("8") if m.get(150) == "4")
        qf.send("V", [(262, "MD1"), (263, "0"), (264, "1")])
        business = qf.wait_for(lambda e: e["ev"] == "from_app" and e["msg"][35] == "j", what="35=j")["msg"]
    assert ("G2", "G1", "40") == (replaced[11], replaced[41], replaced[38])
    assert ("MC1", "7", "3") == (report[11], report[530], report[533]) and report[531] != "0", report
    assert ["G2", "K1", "K2"] == cancelled
    assert ("V", "3") == (business[372], business[380])


def test_a_fill_while_the_session_is_away_arrives_by_resend_after_its_next_logon(
        exchange: Exchange, tmp_path: Path) -> None:
    """Cancel-on-disconnect off: the engine logs out with an order resting, another firm fills it, and the
    engine's next Logon (no reset) is handed that fill by the venue's resend, exactly once."""
    symbol, store = exchange.symbol(), tmp_path / "away"
    with engine(port=exchange.fix_port, sender="QF-AWAY", store=store) as away:
        away.wait_logon()
        away.send(*nos("REST1", symbol, side="2", qty=100, price="10.00"))
        away.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "REST1", what="REST1's ack")
    with engine(port=exchange.fix_port, sender="QF-TAKER", store=tmp_path / "taker", reset=True) as taker:
        taker.wait_logon()
        taker.send(*nos("TAKE1", symbol, side="1", qty=100, price="10.00"))
        taker.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(150) == "F", what="the taker's fill")
    with engine(port=exchange.fix_port, sender="QF-AWAY", store=store) as back:
        back.wait_logon()
        back.wait_for(lambda e: e["ev"] == "from_app" and e["msg"].get(11) == "REST1" and e["msg"].get(150) == "F",
                      what="the fill made while away")
        time.sleep(0.5)
        fills = [m for m in back.app_messages("8") if m.get(11) == "REST1" and m.get(150) == "F"]
    assert [("100", "2", "Y")] == [(m[14], m[39], m.get(43)) for m in fills]


def test_a_wrong_password_never_logs_on_and_the_venue_logs_why(exchange: Exchange, tmp_path: Path) -> None:
    """QuickFIX/Go with the wrong Password(554): each Logon it tries is refused (it never logs on), and
    the exchange's log says which part was wrong, the client's Logout only "invalid credentials"
    (tests/integration/test_exchange_fix.py reads that text)."""
    log = exchange.journal.parent / "exchange.log"
    with QfClient(port=exchange.fix_port, sender="QF-Y", username="QF-Y", password="not-it",
                  store=tmp_path / "qf", reset=True, heartbeat=1) as qf:
        qf.wait_for(lambda e: e["ev"] == "logout", what="the session ended")
        until(lambda: "fix_logon_refused" in log.read_text(), 10, "the refusal in the exchange's log")
        logged_on = any(e["ev"] == "logon" for e in qf.events)
    refused = [json.loads(line) for line in log.read_text().splitlines() if "fix_logon_refused" in line]
    assert (False, ("QF-Y", "wrong password")) == (logged_on, (refused[0]["comp_id"], refused[0]["reason"]))


def test_a_drop_copy_for_a_compid_no_firm_lists_is_refused(exchange: Exchange, tmp_path: Path) -> None:
    """An order-entry CompID, with its right password, on the drop-copy door: no firm lists it as a
    subscriber, so its Logon is refused and the engine never logs on."""
    log = exchange.journal.parent / "exchange.log"
    with engine(port=exchange.dropcopy_port, sender="QFDC-OE", store=tmp_path / "dc", reset=True) as dc:
        dc.wait_for(lambda e: e["ev"] == "logout", what="the session ended")
        until(lambda: "drop-copy subscriber" in log.read_text(), 10, "the refusal in the exchange's log")
        logged_on = any(e["ev"] == "logon" for e in dc.events)
    assert not logged_on
