"""measure.compute on synthetic journals whose answers are worked out by hand."""
from __future__ import annotations

from powerpeg.harness.measure import Evidence, Metrics, compute, lost_orders

T0 = 1_700_000_000 * 10**9
FIRM = "KNIGHT"
NORMAL, RUNAWAY, SELLER = "router-1-000001", "router-8-000001", "router-2-000001"


def at(seconds: float) -> int:
    return T0 + round(seconds * 1e9)


class Tape:
    """Builds a journal in exchange order, the way powerpeg.targets.exchange writes it."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def _rec(self, t: float, kind: str, cl: str | None, firm: str | None, **extra) -> dict:
        rec = {"ts_ns": at(t), "kind": kind, "session": None, "firm": firm, "cl_ord_id": cl, "order_id": None,
               "symbol": None, "side": None, "qty": None, "price": None, "status": None}
        if cl is not None:
            rec["session"] = "MM" if firm == "MM" else "ROUTER-" + cl.split("-")[1]
        rec.update(extra)
        self.records.append(rec)
        return rec

    def accepted(self, t: float, cl: str, qty: int, symbol: str = "AAA", side: str = "buy", firm: str = FIRM) -> None:
        self._rec(t, "accepted", cl, firm, symbol=symbol, side=side, qty=qty, status="new")

    def rejected(self, t: float, cl: str, qty: int, symbol: str = "AAA", side: str = "buy") -> None:
        self._rec(t, "rejected", cl, FIRM, symbol=symbol, side=side, qty=qty, status="rejected", text="kill switch")

    def fill(self, t: float, cl: str, qty: int, exec_qty: int, px: float, cum: int, symbol: str = "AAA",
             side: str = "buy", firm: str = FIRM) -> None:
        self._rec(t, "fill", cl, firm, symbol=symbol, side=side, qty=qty, exec_qty=exec_qty, exec_px=px,
                  cum_qty=cum, leaves_qty=qty - cum, match_id=f"M{len(self.records)}",
                  status="filled" if cum == qty else "partially_filled")

    def canceled(self, t: float, cl: str, qty: int, cum: int, reason: str, with_qty: bool = True,
                 symbol: str = "AAA") -> None:
        extra = {"canceled_qty": qty - cum} if with_qty else {}
        self._rec(t, "canceled", cl, FIRM, symbol=symbol, side="buy", qty=qty, cum_qty=cum, reason=reason,
                  status="canceled", **extra)

    def kill(self, t: float, **extra) -> None:
        self._rec(t, "kill", None, FIRM, scope="firm", id=FIRM, cancelled=1, **extra)


def parent(pid: str, qty: int, t: float, symbol: str = "AAA", side: str = "buy") -> dict:
    return {"parent_id": pid, "router": pid.rsplit("-", 1)[0], "symbol": symbol, "side": side, "qty": qty,
            "rlp": False, "ts_ns": at(t)}


def page(t: float, source: str = "monitor", channel: str = "page") -> dict:
    return {"id": f"a-{t}", "source": source, "severity": channel, "text": "limit breached", "ts": None,
            "received_ns": at(t) - 1000, "channel": channel, "delivered_ns": at(t), "acked_ns": None,
            "status": "delivered"}


EVENTS = [{"event": "method_start", "ts_ns": at(0)},
          {"event": "fault_injected", "kind": "partial_deploy", "target": "router-8", "ts_ns": at(1.5)}]
PARENTS = [parent(NORMAL, 200, 0.9), parent(RUNAWAY, 100, 1.9, symbol="BBB"),
           parent(SELLER, 100, 0.9, symbol="CCC", side="sell")]
MARKS = {"AAA": 9.50, "BBB": 19.00, "CCC": 51.00}


def normal_flow(tape: Tape) -> None:
    """A parent of 200 in two filled children, and a sell of 100: no violation."""
    tape.accepted(1.0, f"{NORMAL}.1", 100)
    tape.fill(1.0, f"{NORMAL}.1", 100, 100, 10.00, 100)
    tape.fill(1.0, "MM-1", 100, 100, 10.00, 100, side="sell", firm="MM")
    tape.accepted(1.1, f"{NORMAL}.2", 100)
    tape.fill(1.1, f"{NORMAL}.2", 100, 100, 10.00, 100)
    tape.accepted(1.2, f"{SELLER}.1", 100, symbol="CCC", side="sell")
    tape.fill(1.2, f"{SELLER}.1", 100, 100, 50.00, 100, symbol="CCC", side="sell")


def runaway_flow(tape: Tape, stop_at: float | None = 3.8, **kill) -> None:
    """Parent of 100 that gets four children of 100: violation at 2.5 s, last child at 3.5 s."""
    for k, (t, px) in enumerate([(2.0, 20.00), (2.5, 20.10), (3.0, 20.20)], start=1):
        tape.accepted(t, f"{RUNAWAY}.{k}", 100, symbol="BBB")
        tape.fill(t + 0.001, f"{RUNAWAY}.{k}", 100, 100, px, 100, symbol="BBB")
    tape.accepted(3.5, f"{RUNAWAY}.4", 100, symbol="BBB")
    if stop_at is not None:
        tape.kill(stop_at, **kill)
        tape.canceled(stop_at, f"{RUNAWAY}.4", 100, 0, "kill", symbol="BBB")
        tape.rejected(stop_at + 0.1, f"{RUNAWAY}.5", 100, symbol="BBB")


def evidence(tape: Tape, alerts: list[dict] | None = None, events: list[dict] | None = None,
             parents: list[dict] | None = None) -> Evidence:
    return Evidence(journal=tape.records, parents=PARENTS if parents is None else parents, alerts=alerts or [],
                    events=EVENTS if events is None else events, marks=MARKS, firm=FIRM)


def runaway_killed() -> Metrics:
    tape = Tape()
    normal_flow(tape)
    runaway_flow(tape, by="monitor")
    return compute(evidence(tape, alerts=[page(0.5), page(2.6, channel="email"), page(3.2)]))


def test_clean_run_has_no_violation_and_null_times():
    """A run whose children never exceed their parents has null times and zero excess."""
    tape = Tape()
    normal_flow(tape)
    metrics = compute(evidence(tape))
    expected = {"first_violation_at": None, "detected_at": None, "kill_issued_at": None, "contained_at": None,
                "contained_by": None, "flat_at": None, "ttd_s": None, "ttk_s": None, "ttc_s": None,
                "excess_shares": 0, "runaway_child_orders": 0, "runaway_parents": 0}
    assert expected == {k: metrics.to_dict()[k] for k in expected}


def test_runaway_detected_and_killed_times():
    """Violation at 2.5 s, page at 3.2 s, last runaway child at 3.5 s, kill at 3.8 s."""
    metrics = runaway_killed()
    expected = {"first_violation_at": at(2.5), "detected_at": at(3.2), "detected_by": "page",
                "kill_issued_at": at(3.8), "kill_issued_by": "monitor", "contained_at": at(3.5),
                "contained_by": "control", "flat_at": at(3.8)}
    assert expected == {k: metrics.to_dict()[k] for k in expected}


def test_an_operator_kill_before_the_controls_is_the_kill_and_says_so():
    """The KILL SWITCH pressed at 3.6 s, the monitor's kill at 3.8 s: the kill was the operator's."""
    tape = Tape()
    normal_flow(tape)
    runaway_flow(tape, by="monitor")
    events = EVENTS + [{"event": "operator_kill", "ts_ns": at(3.6)}]
    metrics = compute(evidence(tape, alerts=[page(3.2)], events=events))
    assert (at(3.6), "operator", "control") == (metrics.kill_issued_at, metrics.kill_issued_by, metrics.contained_by)


def test_phone_escalation_counts_as_detection_when_the_pager_is_off():
    """With the pager blacked out, the monitor's phone escalation is what wakes a human: detection."""
    tape = Tape()
    normal_flow(tape)
    runaway_flow(tape, by="monitor")
    metrics = compute(evidence(tape, alerts=[page(2.6, channel="email"), page(3.3, channel="phone")]))
    assert (at(3.3), "phone") == (metrics.detected_at, metrics.detected_by)


def test_detection_counts_from_when_the_fault_began_injecting():
    """A page during a slow inject (a deploy still restarting containers) is detection of that fault."""
    tape = Tape()
    normal_flow(tape)
    runaway_flow(tape, by="monitor")
    slow_inject = [{"event": "method_start", "ts_ns": at(0)},
                   {"event": "fault_injected", "ts_ns": at(3.5), "started_ns": at(1.0), "kind": "partial_deploy"}]
    metrics = compute(evidence(tape, alerts=[page(3.2)], events=slow_inject))
    assert at(3.2) == metrics.detected_at


def test_runaway_detected_and_killed_durations():
    """ttd = 3.2 − 2.5, ttk = 3.5 − 3.2, ttc = 3.5 − 2.5 seconds."""
    metrics = runaway_killed()
    assert (0.7, 0.3, 1.0) == (round(metrics.ttd_s, 9), round(metrics.ttk_s, 9), round(metrics.ttc_s, 9))


def test_runaway_blast_radius_counts():
    """300 shares executed on a parent of 100 is 200 excess; three children came at or after the violation."""
    metrics = runaway_killed()
    expected = {"excess_shares": 200, "runaway_child_orders": 3, "runaway_parents": 1, "parents": 3,
                "unattributed_child_orders": 0}
    assert expected == {k: metrics.to_dict()[k] for k in expected}


def test_loss_and_notional_from_fills_at_the_marks():
    """Cash −2000 −6030 +5000; positions 200×9.50 + 300×19.00 − 100×51.00 = 2500 net, 12700 gross, loss 530."""
    metrics = runaway_killed()
    assert (12700.0, 2500.0, 530.0) == (metrics.gross_notional_usd, metrics.net_position_usd, metrics.loss_usd)


def test_not_detected_leaves_detection_null():
    """No page at all: detected_at and ttd are null and the runaway is contained by the end of the run."""
    tape = Tape()
    runaway_flow(tape, stop_at=None)
    metrics = compute(evidence(tape, alerts=[page(2.0, channel="email")]))
    assert (None, None, None, "end", at(3.5)) == (
        metrics.detected_at, metrics.detected_by, metrics.ttd_s, metrics.contained_by, metrics.contained_at)


def test_detection_before_violation_gives_negative_ttd():
    """A page at 1.8 s (after the fault, before the 2.5 s violation) gives ttd = −0.7 s."""
    tape = Tape()
    runaway_flow(tape, by="monitor")
    metrics = compute(evidence(tape, alerts=[page(1.8)]))
    assert -0.7 == round(metrics.ttd_s, 9)


def test_page_before_first_fault_is_not_detection():
    """A page delivered before the first fault is injected does not count."""
    tape = Tape()
    runaway_flow(tape, by="monitor")
    metrics = compute(evidence(tape, alerts=[page(1.0)]))
    assert metrics.detected_at is None


def test_pages_before_the_first_fault_are_counted_apart():
    """Two pages (and a phone call) before the 1.5 s fault, an email before it and a page after: 3 before."""
    tape = Tape()
    runaway_flow(tape, by="monitor")
    alerts = [page(0.5), page(1.0, channel="phone"), page(1.2), page(1.3, channel="email"), page(3.2)]
    assert 3 == compute(evidence(tape, alerts=alerts)).pages_before_fault


def test_a_part_down_by_itself_is_marked_where_it_went_down_and_a_planned_one_is_not():
    """part_down/part_up of an unplanned outage mark the picture at since_ns and the up; a planned one adds
    nothing (its fault's inject mark is there already)."""
    tape = Tape()
    normal_flow(tape)
    events = [*EVENTS,
              {"event": "part_down", "part": "monitor", "since_ns": at(2.0), "ts_ns": at(2.6), "planned": False},
              {"event": "part_up", "part": "monitor", "ts_ns": at(3.0), "planned": False},
              {"event": "part_down", "part": "alerts", "since_ns": at(2.1), "ts_ns": at(2.2), "planned": True},
              {"event": "part_up", "part": "alerts", "ts_ns": at(3.1)}]
    marks = compute(evidence(tape, events=events)).marks
    assert [(at(2.0), "part_down", "monitor down"), (at(3.0), "part_up", "monitor up")] == \
        [(m.ts_ns, m.kind, m.label) for m in marks if m.kind.startswith("part_")]


def test_operator_ack_counts_as_detection():
    """An operator's acknowledgement before any page is the detection."""
    tape = Tape()
    runaway_flow(tape, by="monitor")
    events = EVENTS + [{"event": "operator_ack", "ts_ns": at(2.9)}]
    metrics = compute(evidence(tape, alerts=[page(3.2)], events=events))
    assert (at(2.9), "operator") == (metrics.detected_at, metrics.detected_by)


def test_abort_kill_with_by_is_not_a_control_kill():
    """A kill by powerpeg-abort leaves kill_issued_at null: contained by abort, ttk and ttc null."""
    tape = Tape()
    runaway_flow(tape, by="powerpeg-abort")
    events = EVENTS + [{"event": "abort_triggered", "reason": "max_excess_shares", "ts_ns": at(3.7)},
                       {"event": "abort_kill", "ts_ns": at(3.75)}]
    metrics = compute(evidence(tape, alerts=[page(3.2)], events=events))
    assert (None, "abort", None, None) == (metrics.kill_issued_at, metrics.contained_by, metrics.ttk_s, metrics.ttc_s)


def test_kill_without_by_after_abort_trigger_is_the_abort():
    """A kill record carrying no `by`, after the abort fired, is the harness's kill."""
    tape = Tape()
    runaway_flow(tape)
    events = EVENTS + [{"event": "abort_triggered", "reason": "max_loss_usd", "ts_ns": at(3.7)}]
    metrics = compute(evidence(tape, events=events))
    assert (None, "abort") == (metrics.kill_issued_at, metrics.contained_by)


def test_kill_before_runaway_stops_is_not_containment():
    """A control kill followed by more runaway children (a reinstate) did not contain it."""
    tape = Tape()
    tape.kill(2.2, by="monitor")
    runaway_flow(tape, stop_at=None)
    metrics = compute(evidence(tape, alerts=[page(2.6)]))
    assert (at(2.2), "end", None) == (metrics.kill_issued_at, metrics.contained_by, metrics.ttk_s)


def test_reslicing_after_ioc_cancel_is_not_a_violation():
    """An IOC child filled 40 of 100 and cancelled 60; a new child of 60 keeps the parent at 100."""
    tape = Tape()
    tape.accepted(2.0, f"{RUNAWAY}.1", 100, symbol="BBB")
    tape.fill(2.0, f"{RUNAWAY}.1", 100, 40, 20.00, 40, symbol="BBB")
    tape.canceled(2.0, f"{RUNAWAY}.1", 100, 40, "ioc", symbol="BBB")
    tape.accepted(2.1, f"{RUNAWAY}.2", 60, symbol="BBB")
    tape.fill(2.1, f"{RUNAWAY}.2", 60, 60, 20.00, 60, symbol="BBB")
    metrics = compute(evidence(tape))
    assert (None, 0) == (metrics.first_violation_at, metrics.excess_shares)


def test_cancel_without_canceled_qty_gives_back_qty_minus_cum():
    """Without `canceled_qty` the leaves are qty − cum_qty: re-slicing 60 stays within the parent."""
    tape = Tape()
    tape.accepted(2.0, f"{RUNAWAY}.1", 100, symbol="BBB")
    tape.fill(2.0, f"{RUNAWAY}.1", 100, 40, 20.00, 40, symbol="BBB")
    tape.canceled(2.0, f"{RUNAWAY}.1", 100, 40, "ioc", with_qty=False, symbol="BBB")
    tape.accepted(2.1, f"{RUNAWAY}.2", 60, symbol="BBB")
    assert compute(evidence(tape)).first_violation_at is None


def test_reslicing_beyond_the_leaves_is_a_violation():
    """After giving back 60, a child of 61 commits 101 of 100: a violation."""
    tape = Tape()
    tape.accepted(2.0, f"{RUNAWAY}.1", 100, symbol="BBB")
    tape.fill(2.0, f"{RUNAWAY}.1", 100, 40, 20.00, 40, symbol="BBB")
    tape.canceled(2.0, f"{RUNAWAY}.1", 100, 40, "ioc", symbol="BBB")
    tape.accepted(2.1, f"{RUNAWAY}.2", 61, symbol="BBB")
    assert at(2.1) == compute(evidence(tape)).first_violation_at


def test_other_firms_do_not_count():
    """Market-maker orders named like children never make a violation."""
    tape = Tape()
    for k in range(1, 4):
        tape.accepted(2.0 + k / 10, f"{RUNAWAY}.{k}", 100, symbol="BBB", firm="MM")
    metrics = compute(evidence(tape))
    assert (None, 0) == (metrics.first_violation_at, metrics.runaway_child_orders)


def test_children_of_unknown_parents_are_unattributed():
    """A child whose parent the load never got a 202 for is counted apart."""
    tape = Tape()
    tape.accepted(2.0, "router-5-000777.1", 100)
    tape.accepted(2.1, "router-5-000777.2", 100)
    metrics = compute(evidence(tape))
    assert (2, None) == (metrics.unattributed_child_orders, metrics.first_violation_at)


def test_flat_at_is_null_while_a_runaway_child_still_works():
    """The last runaway child never ended: the runaway is not flat."""
    tape = Tape()
    runaway_flow(tape, stop_at=None)
    assert compute(evidence(tape)).flat_at is None


def test_series_counts_child_orders_per_second_in_100ms_buckets():
    """One child accepted in the 2.5 s bucket is 10 orders/s; none in the 2.6 s bucket."""
    series = runaway_killed().series
    assert (at(0), 0.1, 10.0, 0.0) == (series.t0_ns, series.bucket_s, series.child_orders_per_s[25],
                                       series.child_orders_per_s[26])


def test_series_exposure_is_gross_position_at_last_trade():
    """At the end of the 2.0 s bucket: 200 AAA × 10.00 + 100 CCC × 50.00 + 100 BBB × 20.00 = 9000 USD."""
    series = runaway_killed().series
    assert (0.0, 7000.0, 9000.0) == (series.exposure_usd[9], series.exposure_usd[12], series.exposure_usd[20])


def test_marks_of_the_timeline():
    """Fault, violation, detection, containment and kill, in time order."""
    marks = runaway_killed().marks
    expected = [(at(1.5), "fault_injected"), (at(2.5), "first_violation"), (at(3.2), "detected"),
                (at(3.5), "contained"), (at(3.8), "kill")]
    assert expected == [(m.ts_ns, m.kind) for m in marks]


def test_lost_orders_are_parents_without_any_child_record():
    """A parent with no child record before load stop − grace is lost; one within the grace is not."""
    tape = Tape()
    tape.accepted(1.0, f"{NORMAL}.1", 100)
    tape.rejected(1.2, f"{SELLER}.1", 100)
    parents = [parent(NORMAL, 100, 0.9), parent(SELLER, 100, 1.0), parent("router-3-000009", 100, 2.0),
               parent("router-4-000010", 100, 9.5)]
    lost = lost_orders(evidence(tape, parents=parents), load_stop_ns=at(10.0), grace_s=1.0)
    assert ["router-3-000009"] == lost


def test_capped_runs_compare_by_rate_and_time_to_abort():
    """excess_shares_per_s is the excess over first violation → containment; time_to_abort_s the abort's delay."""
    tape = Tape()
    runaway_flow(tape, by="powerpeg-abort")
    events = EVENTS + [{"event": "abort_triggered", "reason": "max_excess_shares", "ts_ns": at(3.7)}]
    metrics = compute(evidence(tape, events=events))
    span_s = (metrics.contained_at - metrics.first_violation_at) / 1e9
    assert (round(metrics.excess_shares / span_s, 1), round((at(3.7) - metrics.first_violation_at) / 1e9, 6)) == (
        metrics.excess_shares_per_s, round(metrics.time_to_abort_s, 6))
    assert metrics.excess_shares > 0


def test_no_violation_has_no_rate_and_no_abort_time():
    """Without a runaway there is no rate to compare and no abort to time."""
    metrics = compute(evidence(Tape(), events=EVENTS))
    assert (None, None) == (metrics.excess_shares_per_s, metrics.time_to_abort_s)
