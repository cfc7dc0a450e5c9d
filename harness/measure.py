"""Metrics from a run's evidence: pure, one pass over the exchange journal.

The journal is the ground truth (docs/harness.md, "Evidence" and "Metrics").
A runaway journal holds 10^5-10^6 records, so :func:`compute` walks it once
and keeps only per-parent counters and the children still working.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from powerpeg.harness.events import ABORT_KILLER, RunEvent
from powerpeg.targets.exchange.records import JournalRecord, KillRecord

BUCKET_NS = 100_000_000
# past this many buckets (10 minutes at 100 ms) the picture coarsens instead of growing
MAX_BUCKETS = 6000


@dataclass
class Evidence:
    """What a run leaves behind, as collected by the runner (shapes: docs/harness.md)."""

    journal: list[JournalRecord]  # the exchange journal (targets/exchange/records.py)
    parents: list[dict]
    alerts: list[dict]
    events: list[dict]
    marks: dict[str, float]
    firm: str


@dataclass(frozen=True)
class Mark:
    """A labelled instant on the timeline picture."""

    ts_ns: int
    # fault_injected|fault_reverted|first_violation|detected|kill|contained|abort|market_open|part_down|part_up
    kind: str
    label: str


@dataclass
class Series:
    """Per-bucket child orders/s and running gross exposure, from ``t0_ns``."""

    t0_ns: int | None = None
    bucket_s: float = BUCKET_NS / 1e9
    child_orders_per_s: list[float] = field(default_factory=list)
    exposure_usd: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


METRIC_KEYS = (
    "first_violation_at", "detected_at", "detected_by", "kill_issued_at", "kill_issued_by", "contained_at",
    "contained_by", "flat_at", "ttd_s", "ttk_s", "ttc_s", "excess_shares", "runaway_child_orders", "gross_notional_usd",
    "net_position_usd", "loss_usd", "runaway_parents", "parents", "unattributed_child_orders", "pages_before_fault",
    "excess_shares_per_s", "time_to_abort_s",
)


@dataclass
class Metrics:
    """The numbers of docs/harness.md "Metrics"; times are wall-clock ns, durations seconds."""

    first_violation_at: int | None = None
    detected_at: int | None = None
    detected_by: str | None = None  # "page" | "phone" (escalation while the pager is down) | "operator"
    kill_issued_at: int | None = None
    # "operator" (the KILL SWITCH of `powerpeg ui`) or the control's name, e.g. "monitor"
    kill_issued_by: str | None = None
    contained_at: int | None = None
    contained_by: str | None = None  # "control" | "abort" | "end"
    flat_at: int | None = None
    ttd_s: float | None = None
    ttk_s: float | None = None
    ttc_s: float | None = None
    excess_shares: int = 0
    runaway_child_orders: int = 0
    gross_notional_usd: float = 0.0
    net_position_usd: float = 0.0
    loss_usd: float = 0.0
    runaway_parents: int = 0
    parents: int = 0
    unattributed_child_orders: int = 0
    # pages (or phone calls) delivered before the first fault: not a detection of it, but they happened
    pages_before_fault: int = 0
    # runs stopped at the same cap compare by rate: how fast the runaway made excess shares (first
    # violation to containment, whoever contained it), and how long the harness's abort took to fire
    excess_shares_per_s: float | None = None
    time_to_abort_s: float | None = None
    series: Series = field(default_factory=Series)
    marks: list[Mark] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in METRIC_KEYS}


@dataclass
class _Events:
    """The run's event log, parsed once into what measurement needs."""

    method_start: int | None = None
    first_fault: int | None = None
    abort_at: int | None = None
    abort_reason: str | None = None
    operator_acks: list[int] = field(default_factory=list)
    operator_kills: list[int] = field(default_factory=list)
    last_ts: int | None = None
    marks: list[Mark] = field(default_factory=list)

    @classmethod
    def parse(cls, events: list[dict]) -> _Events:
        out = cls()
        planned_down: set[Any] = set()
        for event in events:
            name, ts = event.get("event"), event.get("ts_ns")
            if isinstance(ts, bool) or not isinstance(ts, (int, float)):
                continue
            ts = int(ts)
            out.last_ts = ts if out.last_ts is None else max(out.last_ts, ts)
            if name == RunEvent.METHOD_START:
                out.method_start = ts if out.method_start is None else min(out.method_start, ts)
            elif name in (RunEvent.FAULT_INJECTED, RunEvent.FAULT_REVERTED):
                verb = "inject" if name == RunEvent.FAULT_INJECTED else "revert"
                label = " ".join(str(p) for p in (verb, event.get("kind", ""), event.get("target", "")) if p)
                out.marks.append(Mark(ts, str(name), label))
                if name == RunEvent.FAULT_INJECTED:
                    # a fault counts from when its injection began: a deploy that
                    # restarts containers takes seconds, and what it sets off
                    # (a runaway on the missed router) can start before it is done
                    began = event.get("started_ns")
                    began = int(began) if isinstance(began, int) and not isinstance(began, bool) else ts
                    out.first_fault = began if out.first_fault is None else min(out.first_fault, began)
            elif name in (RunEvent.ABORT_TRIGGERED, RunEvent.ABORT_KILL):
                if out.abort_at is None or ts < out.abort_at:
                    out.abort_at = ts
                out.abort_reason = out.abort_reason or event.get("reason")
            elif name == RunEvent.OPERATOR_ACK:
                out.operator_acks.append(ts)
            elif name == RunEvent.OPERATOR_KILL:
                out.operator_kills.append(ts)
            elif name == RunEvent.MARKET_OPEN:
                out.marks.append(Mark(ts, RunEvent.MARKET_OPEN.value, "market open"))
            elif name in (RunEvent.PART_DOWN, RunEvent.PART_UP):
                # a part nothing meant to take down: a finding, on the picture where it happened
                # (a planned one already has its fault's inject mark, and its up is the revert's)
                part = event.get("part")
                if name == RunEvent.PART_DOWN and event.get("planned"):
                    planned_down.add(part)
                    continue
                if name == RunEvent.PART_UP and part in planned_down:
                    planned_down.discard(part)
                    continue
                since = event.get("since_ns")
                at = int(since) if isinstance(since, int) and not isinstance(since, bool) else ts
                state = "down" if name == RunEvent.PART_DOWN else "up"
                out.marks.append(Mark(at, str(name), f"{part} {state}"))
        if out.abort_at is not None:
            out.marks.append(Mark(out.abort_at, "abort", f"abort: {out.abort_reason}" if out.abort_reason else "abort"))
        return out


def _seconds(later: int | None, earlier: int | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier) / 1e9


def _per_second(amount: int, start: int | None, end: int | None) -> float | None:
    """``amount`` over the span in seconds; None without a span (no violation, or it ended where it began)."""
    if start is None or end is None or end <= start:
        return None
    return round(amount / ((end - start) / 1e9), 1)


def _cents(price: Any) -> int:
    return round(float(price) * 100)


# channels that wake a human: the pager, and the phone escalation used when the pager is down
WAKE_CHANNELS = frozenset({"page", "phone"})


def _since(timeline: _Events) -> int | None:
    """From when a page counts as a detection: the first fault's inject (else the method's start)."""
    return timeline.first_fault if timeline.first_fault is not None else timeline.method_start


def pages_before(alerts: list[dict], since: int | None) -> int:
    """Alerts delivered on a channel that wakes a human before ``since`` (the first fault): they are
    not a detection of it, and a report that says "no page" when there were some would be false."""
    if since is None:
        return 0
    return sum(1 for a in alerts if a.get("channel") in WAKE_CHANNELS and a.get("delivered_ns") is not None
               and a["delivered_ns"] < since)


def _detection(alerts: list[dict], timeline: _Events) -> tuple[int | None, str | None, str | None]:
    """(detected_at, detected_by, the paging source) — a page delivered or an operator's ack after the fault."""
    since = _since(timeline)
    page_at, page_source, page_channel, ack_at = None, None, "page", None
    for alert in alerts:
        delivered, acked = alert.get("delivered_ns"), alert.get("acked_ns")
        if alert.get("channel") in WAKE_CHANNELS and delivered is not None and (since is None or delivered >= since):
            if page_at is None or delivered < page_at:
                page_at, page_source, page_channel = delivered, alert.get("source"), alert["channel"]
        # an ack is a human who saw an alert, whichever channel carried it
        if acked is not None and (since is None or acked >= since) and (ack_at is None or acked < ack_at):
            ack_at = acked
    for ts in timeline.operator_acks:
        if (since is None or ts >= since) and (ack_at is None or ts < ack_at):
            ack_at = ts
    if page_at is not None and (ack_at is None or page_at <= ack_at):
        return page_at, page_channel, page_source
    if ack_at is not None:
        return ack_at, "operator", None
    return None, None, None


def _control_kills(kills: list[KillRecord], firm: str, firm_sessions: set[str],
                   timeline: _Events) -> list[tuple[int, str]]:
    """Kill switches by the firm's controls or its operators, as (time, by) in time order: never the
    harness's own abort kill."""
    times = [(ts, "operator") for ts in timeline.operator_kills]
    for rec in kills:
        ts = rec["ts_ns"]
        by = rec.get("by")
        if by == ABORT_KILLER:
            continue
        # an exchange without a `by` field: a kill after the abort fired is the abort's
        if by is None and timeline.abort_at is not None and ts >= timeline.abort_at:
            continue
        scope, ident = rec.get("scope"), rec.get("id")
        if (scope == "firm" and (ident or rec.get("firm")) == firm) or (
            scope == "session" and (ident or rec.get("session")) in firm_sessions
        ):
            times.append((ts, by or "control"))
    return sorted(times)


class _Buckets:
    """Where the timeline picture's buckets start, how wide they are and how many."""

    def __init__(self, t0: int | None, end: int | None) -> None:
        # without a start there are no buckets (count 0), and t0 is never read
        self.t0, self.width, self.count = t0 or 0, BUCKET_NS, 0
        if t0 is not None and end is not None:
            span = max(0, end - t0)
            if span // BUCKET_NS + 1 > MAX_BUCKETS:
                self.width = -(-span // (MAX_BUCKETS - 1))
            self.count = span // self.width + 1


class _JournalPass:
    """The state of one walk over the journal: per-parent counters, working children, positions."""

    def __init__(self, firm: str, qty_of: dict[str, int], buckets: _Buckets) -> None:
        self.firm, self.qty_of, self.buckets = firm, qty_of, buckets
        self.accepted = [0] * buckets.count
        self.exposure_cents = [0] * buckets.count
        self.committed: dict[str, int] = {}
        self.executed: dict[str, int] = {}
        self.violated_at: dict[str, int] = {}
        self.working: dict[str, list] = {}  # child cl_ord_id -> [parent, cum_qty]
        self.open_children: dict[str, int] = {}
        self.flat_since: dict[str, int] = {}
        self.firm_sessions: set[str] = set()
        self.kills: list[KillRecord] = []
        self.position: dict[str, int] = {}
        self.last_px: dict[str, int] = {}
        self.cash_cents = 0
        self.first_violation: int | None = None
        self.contained_at: int | None = None
        self.runaway_children = 0
        self.unattributed = 0

    def run(self, journal: list[JournalRecord]) -> None:
        # one loop with local aliases: this is the hot path of a 10^6-record runaway
        firm, qty_of = self.firm, self.qty_of
        committed, executed, violated_at = self.committed, self.executed, self.violated_at
        working, open_children, flat_since = self.working, self.open_children, self.flat_since
        position, last_px, accepted = self.position, self.last_px, self.accepted
        exposure_cents = self.exposure_cents
        t0, width, n_buckets = self.buckets.t0, self.buckets.width, self.buckets.count
        exposure_of: dict[str, int] = {}
        gross = cash = 0  # cents; gross = Σ |position| × last trade price
        filled_to = 0  # exposure_cents[:filled_to] are final
        for rec in journal:
            # rec["kind"] tested each time, not through a local: that is what narrows the record's type
            if rec["kind"] == "fill":
                sym, px = rec["symbol"], _cents(rec["exec_px"])
                last_px[sym] = px
                mine = rec["firm"] == firm
                if not mine and sym not in position:
                    continue
                if n_buckets:
                    b = (rec["ts_ns"] - t0) // width
                    if b > filled_to:
                        stop = min(b, n_buckets)
                        exposure_cents[filled_to:stop] = [gross] * (stop - filled_to)
                        filled_to = stop
                if mine:
                    qty = rec["exec_qty"]
                    if rec["side"] == "buy":
                        position[sym] = position.get(sym, 0) + qty
                        cash -= qty * px
                    else:
                        position[sym] = position.get(sym, 0) - qty
                        cash += qty * px
                    child = working.get(rec["cl_ord_id"])
                    if child is not None:
                        parent = child[0]
                        executed[parent] = executed.get(parent, 0) + qty
                        child[1] = rec.get("cum_qty", child[1] + qty)
                        if rec.get("leaves_qty") == 0:
                            del working[rec["cl_ord_id"]]
                            open_children[parent] -= 1
                            if not open_children[parent]:
                                flat_since[parent] = rec["ts_ns"]
                new = abs(position[sym]) * px
                gross += new - exposure_of.get(sym, 0)
                exposure_of[sym] = new
                continue
            if rec["kind"] == "kill":
                self.kills.append(rec)
                continue
            if rec.get("firm") != firm:
                continue
            if rec["kind"] == "accepted":
                ts = rec["ts_ns"]
                self.firm_sessions.add(rec["session"])
                if n_buckets:
                    b = (ts - t0) // width
                    if 0 <= b < n_buckets:
                        accepted[b] += 1
                cl = rec["cl_ord_id"]
                parent = cl.rsplit(".", 1)[0]
                limit = qty_of.get(parent)
                if limit is None:
                    self.unattributed += 1
                    continue
                total = committed[parent] = committed.get(parent, 0) + rec["qty"]
                if parent in violated_at:
                    self.runaway_children += 1
                    self.contained_at = ts
                elif total > limit:
                    violated_at[parent] = ts
                    if self.first_violation is None:
                        self.first_violation = ts
                    self.runaway_children += 1
                    self.contained_at = ts
                working[cl] = [parent, 0]
                open_children[parent] = open_children.get(parent, 0) + 1
            elif rec["kind"] == "canceled":
                child = working.pop(rec["cl_ord_id"], None)
                if child is None:
                    continue
                parent = child[0]
                given_back = rec.get("canceled_qty")
                if given_back is None:
                    given_back = rec["qty"] - rec.get("cum_qty", child[1])
                # a child cancelled unfilled gives its leaves back: re-slicing is not a violation
                committed[parent] -= given_back
                open_children[parent] -= 1
                if not open_children[parent]:
                    flat_since[parent] = rec["ts_ns"]
        if filled_to < n_buckets:
            exposure_cents[filled_to:] = [gross] * (n_buckets - filled_to)
        self.cash_cents = cash

    def flat_at(self) -> int | None:
        """When the last runaway parent's last working child ended; None while one still works."""
        if not self.violated_at or any(self.open_children.get(p) for p in self.violated_at):
            return None
        return max(self.flat_since.get(p, ts) for p, ts in self.violated_at.items())

    def excess_shares(self) -> int:
        return sum(max(0, done - self.qty_of[p]) for p, done in self.executed.items())

    def book_value(self, marks: dict[str, float]) -> tuple[float, float, float]:
        """(gross, net, loss) in USD at the final marks; a symbol without a mark uses its last trade."""
        gross = net = 0.0
        for sym, shares in self.position.items():
            mark = marks.get(sym)
            if mark is None:
                mark = self.last_px[sym] / 100
            value = shares * float(mark)
            gross += abs(value)
            net += value
        # + 0.0 turns a rounded -0.0 into 0.0
        return round(gross, 2) + 0.0, round(net, 2) + 0.0, round(-(self.cash_cents / 100 + net), 2) + 0.0


def first_fault_at(events: list[dict[str, Any]]) -> int | None:
    """When the method's first fault began (its injection's start), from the run's events; None without one."""
    return _Events.parse(events).first_fault


def compute(evidence: Evidence) -> Metrics:
    """Every metric of docs/harness.md from one pass over the journal."""
    timeline = _Events.parse(evidence.events)
    journal = evidence.journal
    qty_of = {p["parent_id"]: int(p["qty"]) for p in evidence.parents}
    t0 = timeline.method_start if timeline.method_start is not None else (journal[0]["ts_ns"] if journal else None)
    ends = [ts for ts in (journal[-1]["ts_ns"] if journal else None, timeline.last_ts, t0) if ts is not None]
    walk = _JournalPass(evidence.firm, qty_of, _Buckets(t0, max(ends, default=None)))
    walk.run(journal)

    detected_at, detected_by, page_source = _detection(evidence.alerts, timeline)
    kill_list = _control_kills(walk.kills, evidence.firm, walk.firm_sessions, timeline)
    kills = [ts for ts, _ in kill_list]
    first, contained_at = walk.first_violation, walk.contained_at
    contained_by = None
    if first is not None and contained_at is not None:  # set together, by the first violation
        abort_at = timeline.abort_at
        # a control contained it when a kill came after its last child and before any abort
        if any(k >= contained_at and (abort_at is None or k <= abort_at) for k in kills):
            contained_by = "control"
        else:
            contained_by = "abort" if abort_at is not None else "end"
    by_control = contained_by == "control"
    gross, net, loss = walk.book_value(evidence.marks)
    metrics = Metrics(
        first_violation_at=first,
        detected_at=detected_at,
        detected_by=detected_by,
        kill_issued_at=kills[0] if kills else None,
        kill_issued_by=kill_list[0][1] if kill_list else None,
        contained_at=contained_at,
        contained_by=contained_by,
        flat_at=walk.flat_at(),
        ttd_s=_seconds(detected_at, first),
        ttk_s=_seconds(contained_at, detected_at) if by_control else None,
        ttc_s=_seconds(contained_at, first) if by_control else None,
        excess_shares=walk.excess_shares(),
        runaway_child_orders=walk.runaway_children,
        gross_notional_usd=gross,
        net_position_usd=net,
        loss_usd=loss,
        runaway_parents=len(walk.violated_at),
        parents=len(qty_of),
        unattributed_child_orders=walk.unattributed,
        pages_before_fault=pages_before(evidence.alerts, _since(timeline)),
        excess_shares_per_s=_per_second(walk.excess_shares(), first, contained_at),
        time_to_abort_s=_seconds(timeline.abort_at, first) if timeline.abort_at is not None else None,
    )
    width_s = walk.buckets.width / 1e9
    metrics.series = Series(
        t0_ns=t0,
        bucket_s=width_s,
        child_orders_per_s=[n / width_s for n in walk.accepted],
        exposure_usd=[c / 100 for c in walk.exposure_cents],
    )
    metrics.marks = _marks(metrics, timeline, page_source)
    return metrics


def _marks(metrics: Metrics, timeline: _Events, page_source: str | None) -> list[Mark]:
    marks = list(timeline.marks)
    if metrics.first_violation_at is not None:
        marks.append(Mark(metrics.first_violation_at, "first_violation", "first violation"))
    if metrics.detected_at is not None:
        paged = metrics.detected_by in WAKE_CHANNELS and page_source
        how = f"{metrics.detected_by} from {page_source}" if paged else metrics.detected_by
        marks.append(Mark(metrics.detected_at, "detected", f"detected ({how})"))
    if metrics.kill_issued_at is not None:
        marks.append(Mark(metrics.kill_issued_at, "kill", "kill switch"))
    if metrics.contained_at is not None:
        marks.append(Mark(metrics.contained_at, "contained", f"contained ({metrics.contained_by})"))
    return sorted(marks, key=lambda m: m.ts_ns)


def lost_orders(evidence: Evidence, load_stop_ns: int | None, grace_s: float = 1.0) -> list[str]:
    """Parents the load got a 202 for (before load stop − grace) that left no child record at all."""
    seen: set[str] = set()
    firm = evidence.firm
    last = None
    for rec in evidence.journal:
        last = rec["ts_ns"]
        cl = rec.get("cl_ord_id")
        if cl and rec.get("firm") == firm:
            seen.add(cl.rsplit(".", 1)[0])
    stop = load_stop_ns if load_stop_ns is not None else last
    if stop is None:
        return [p["parent_id"] for p in evidence.parents]
    cutoff = stop - int(grace_s * 1e9)
    return [p["parent_id"] for p in sorted(evidence.parents, key=lambda p: p["ts_ns"])
            if p["ts_ns"] < cutoff and p["parent_id"] not in seen]
