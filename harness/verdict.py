"""The verdict: each assertion of the experiment checked against the metrics, and the run's outcome.

Only assertions the experiment sets are evaluated. A number that could not be
measured never passes silently: an undetected runaway fails a TTD bound, and
a runaway stopped by the harness's abort (or still running at the end) fails
TTK/TTC bounds, each with a message saying why.

Nor does a run pass without testing anything: when the method produced
nothing to measure (the market never opened; no violation happened while a
TTD-type bound — ``ttd_max``, ``ttk_max``, ``ttc_max``, ``alert_within`` — was
asserted), or the exchange died by itself before an assertion could be
decided, the outcome is **inconclusive** (:func:`outcome`). And a control that
was not running is not a slow control: a bound missed while the monitor or
the alert sink was down, with no fault meaning it, fails saying the control
was not running (harness/outages.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from powerpeg.harness import obligations
from powerpeg.harness.experiment.model import Assertions
from powerpeg.harness.measure import Evidence, Metrics, first_fault_at
from powerpeg.harness.outages import Outage

NOT_DETECTED = "not detected: no page reached the pager (detected_at is null)"
NO_KILL = "no kill was issued by a control or an operator"
MARKET_NEVER_OPENED = "the market never opened: nothing traded, so nothing was measured"
LOST_SHOWN = 5

# why an assertion came out as it did, beyond its number (AssertionResult.cause)
CONTROL_NOT_RUNNING = "control_not_running"
"""Failed, and a control it needs (the monitor, the alert sink) was down by itself when it was needed."""
NOTHING_TO_MEASURE = "nothing_to_measure"
"""Not tested: the method produced nothing for it (no violation; the market never opened)."""
EXCHANGE_DOWN = "exchange_down"
"""Not tested: the exchange died by itself before the assertion could be decided."""
INCONCLUSIVE_CAUSES = frozenset({NOTHING_TO_MEASURE, EXCHANGE_DOWN})

# the parts each TTD-type assertion needs: pages go through the alert sink, the kill is the monitor's
NEEDS = {"ttd_max": ("monitor", "alerts", "exchange"), "ttk_max": ("monitor", "alerts", "exchange"),
         "ttc_max": ("monitor", "exchange"), "alert_within": ("monitor", "alerts", "exchange")}


@dataclass(frozen=True)
class AssertionResult:
    name: str
    expected: Any
    actual: Any
    passed: bool
    message: str
    cause: str | None = None  # None, or CONTROL_NOT_RUNNING, NOTHING_TO_MEASURE, EXCHANGE_DOWN

    @property
    def inconclusive(self) -> bool:
        """Neither held nor failed: it was not tested (``passed`` is False: it never passes)."""
        return self.cause in INCONCLUSIVE_CAUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def not_detected(metrics: Metrics) -> str:
    """Why detected_at is null, saying so when pages came before the first fault (they are not counted)."""
    n = metrics.pages_before_fault
    if n:
        return (f"not detected: no page after the first fault; {n} page{'s' if n != 1 else ''} before it "
                "(not counted as detection)")
    return NOT_DETECTED


def _nothing(name: str, bound: float, what: str, prevented: str | None = None) -> AssertionResult:
    """No violation to time ``what`` from: untested (inconclusive), unless a kill prevented it (a pass)."""
    if prevented is not None:
        return AssertionResult(name, bound, None, True, prevented)
    return AssertionResult(name, bound, None, False,
                           f"no violation happened: nothing to {what}, so {name} was not tested", NOTHING_TO_MEASURE)


def prevention(metrics: Metrics, evidence: Evidence | None) -> str | None:
    """A kill (a control's or an operator's, never the abort's) after the first fault began and before any
    violation: the runaway was stopped before a parent was over-committed. That is the best a control can do,
    not a run with nothing to measure; a kill before the first fault (a false alarm in steady state) is not
    it. None when this is not what happened."""
    if metrics.first_violation_at is not None or metrics.kill_issued_at is None or evidence is None:
        return None
    began = first_fault_at(evidence.events)
    if began is None or metrics.kill_issued_at < began:
        return None
    return (f"prevented: {metrics.kill_issued_by or 'a control'} pulled the kill switch "
            f"{_seconds((metrics.kill_issued_at - began) / 1e9)} after the first fault, before any parent was "
            "over-committed (no violation happened)")


def _ttd(bound: float, metrics: Metrics, prevented: str | None = None) -> AssertionResult:
    name = "ttd_max"
    if metrics.first_violation_at is None:
        return _nothing(name, bound, "detect", prevented)
    if metrics.ttd_s is None:
        return AssertionResult(name, bound, None, False, not_detected(metrics))
    ttd = metrics.ttd_s
    passed = ttd <= bound
    if ttd < 0:
        message = f"detected before the first violation (ttd {_seconds(ttd)}, by {metrics.detected_by}): a finding"
    else:
        message = f"ttd {_seconds(ttd)} {'<=' if passed else '>'} {_seconds(bound)} (by {metrics.detected_by})"
    return AssertionResult(name, bound, ttd, passed, message)


def _after_kill(name: str, bound: float, actual: float | None, metrics: Metrics, what: str,
                prevented: str | None = None) -> AssertionResult:
    """ttk_max and ttc_max: both need a runaway contained by a control (or prevented by its kill)."""
    if metrics.first_violation_at is None:
        return _nothing(name, bound, "kill", prevented)
    if metrics.contained_by != "control":
        return AssertionResult(name, bound, None, False,
                               f"not killed by a control: contained by {metrics.contained_by}")
    if actual is None:
        return AssertionResult(name, bound, None, False, f"killed by a control but {not_detected(metrics)}")
    passed = actual <= bound
    message = f"{what} {_seconds(actual)} {'<=' if passed else '>'} {_seconds(bound)}"
    if actual < 0:
        message += " (contained before detection)"
    return AssertionResult(name, bound, actual, passed, message)


def _amount(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _at_most(name: str, bound: float, actual: float, unit: str) -> AssertionResult:
    passed = actual <= bound
    return AssertionResult(name, bound, actual, passed,
                           f"{_amount(actual)} {unit} {'<=' if passed else '>'} {_amount(bound)}")


def _no_lost(lost: list[str]) -> AssertionResult:
    if not lost:
        return AssertionResult("no_lost_orders", 0, 0, True, "every accepted parent reached the exchange")
    shown = ", ".join(lost[:LOST_SHOWN]) + (f" and {len(lost) - LOST_SHOWN} more" if len(lost) > LOST_SHOWN else "")
    return AssertionResult("no_lost_orders", 0, len(lost), False,
                           f"{len(lost)} accepted parent(s) never reached the exchange: {shown}")


def _kill_blocks(bound: float, facts: obligations.Obligations) -> AssertionResult:
    name, kill = "kill_blocks_within", facts.kill
    if kill is None:
        return AssertionResult(name, bound, None, False, NO_KILL)
    late = [ts for ts in kill.accepted_after if ts - kill.kill_at > bound * 1e9]
    if late:
        last = (max(late) - kill.kill_at) / 1e9
        return AssertionResult(name, bound, last, False,
                               f"{len(late)} order(s) accepted more than {_seconds(bound)} after the kill "
                               f"(the last {_seconds(last)} after)")
    if not kill.accepted_after and not kill.rejected_after:
        return AssertionResult(name, bound, 0.0, True,
                               "no order of the firm reached the venue after the kill: blocking was not exercised")
    return AssertionResult(name, bound, 0.0, True,
                           f"{kill.rejected_after} order(s) refused after the kill, none accepted past "
                           f"{_seconds(bound)}")


def _cancel_all(bound: float, facts: obligations.Obligations) -> AssertionResult:
    name, kill = "cancel_all_within", facts.kill
    if kill is None:
        return AssertionResult(name, bound, None, False, NO_KILL)
    if kill.still_working:
        return AssertionResult(name, bound, None, False,
                               f"{kill.still_working} of the {kill.working_at_kill} order(s) working at the kill "
                               "were never cancelled")
    if kill.last_ended_at is None:
        return AssertionResult(name, bound, 0.0, True, "no order of the firm was working at the kill")
    took = (kill.last_ended_at - kill.kill_at) / 1e9
    passed = took <= bound
    return AssertionResult(name, bound, took, passed,
                           f"the {kill.working_at_kill} order(s) working at the kill ended {_seconds(took)} after it "
                           f"({'<=' if passed else '>'} {_seconds(bound)})")


def _alert(bound: float, metrics: Metrics, facts: obligations.Obligations,
           prevented: str | None = None) -> AssertionResult:
    name = "alert_within"
    if metrics.first_violation_at is None:
        return _nothing(name, bound, "alert on", prevented)
    if facts.first_alert_at is None:
        return AssertionResult(name, bound, None, False, "no alert was delivered on any channel after the violation")
    took = (facts.first_alert_at - metrics.first_violation_at) / 1e9
    passed = took <= bound
    return AssertionResult(name, bound, took, passed,
                           f"first alert ({facts.first_alert_channel}) {_seconds(took)} after the violation "
                           f"({'<=' if passed else '>'} {_seconds(bound)})")


def _latched(facts: obligations.Obligations) -> AssertionResult:
    name, kill = "kill_latched", facts.kill
    if kill is None:
        return AssertionResult(name, True, None, False, NO_KILL)
    if kill.accepted_after:
        return AssertionResult(name, True, False, False,
                               f"the kill did not hold: {len(kill.accepted_after)} order(s) accepted after it "
                               "with no reinstate")
    held = "until the reinstate" if kill.reinstated_at is not None else "to the end of the run"
    return AssertionResult(name, True, True, True, f"the kill held {held}")


def _children(bound: int, facts: obligations.Obligations) -> AssertionResult:
    name = "max_child_per_parent"
    if not facts.children:
        return AssertionResult(name, bound, 0, True, "no child order of a known parent reached the venue")
    parent, most = facts.children.most_common(1)[0]
    passed = most <= bound
    return AssertionResult(name, bound, most, passed,
                           f"{most:,} child orders for parent {parent} ({'<=' if passed else '>'} {bound:,})")


def _presets(assertions: Assertions) -> bool:
    return (assertions.kill_blocks_within is not None or assertions.cancel_all_within is not None
            or assertions.alert_within is not None or assertions.kill_latched
            or assertions.max_child_per_parent is not None)


def _window(result: AssertionResult, metrics: Metrics) -> tuple[int, int] | None:
    """When the parts a TTD-type assertion needs had to be up: from the first violation to its bound
    (for TTK, from the detection)."""
    first = metrics.first_violation_at
    if result.name not in NEEDS or first is None or not isinstance(result.expected, (int, float)):
        return None
    start = metrics.detected_at if result.name == "ttk_max" and metrics.detected_at is not None else first
    return first, max(first, start) + int(result.expected * 1e9)


def _explain(result: AssertionResult, metrics: Metrics, outages: Sequence[Outage],
             t0_ns: int | None) -> AssertionResult:
    """A failed TTD-type assertion whose parts were down when needed says so: a control that was not
    running is not a control that failed, and a venue that died tested nothing after."""
    window = None if result.passed or result.cause else _window(result, metrics)
    down = [o for o in outages if window is not None and o.part in NEEDS[result.name] and o.overlaps(*window)]
    if not down:
        return result
    first = down[0]
    if first.planned or (first.part == "monitor" and not first.control):
        return replace(result, message=f"{result.message} ({first.text(t0_ns)})")
    if first.part == "exchange":
        return replace(result, message=f"{result.message} — not tested: {first.text(t0_ns)}", cause=EXCHANGE_DOWN)
    return replace(result, message=f"{result.message} — the control was not running: {first.text(t0_ns)}",
                   cause=CONTROL_NOT_RUNNING)


def evaluate(assertions: Assertions, metrics: Metrics, lost: list[str], evidence: Evidence | None = None, *,
             outages: Sequence[Outage] = (), opened: bool = True, t0_ns: int | None = None) -> list[AssertionResult]:
    """One result per assertion set in the experiment, in a fixed order (the presets need the evidence).

    ``outages``: the parts that went down (harness/outages.py); ``opened``: whether the market opened
    (when it never did, nothing was tested); ``t0_ns``: the method's start, for the messages' "+4.5 s"."""
    results = _evaluate(assertions, metrics, lost, evidence)
    if not opened:
        return [replace(r, passed=False, message=MARKET_NEVER_OPENED, cause=NOTHING_TO_MEASURE) for r in results]
    return [_explain(r, metrics, outages, t0_ns) for r in results]


def outcome(results: Sequence[AssertionResult], outages: Sequence[Outage] = (), *, opened: bool = True,
            t0_ns: int | None = None) -> tuple[str, str | None]:
    """The run's verdict — ``passed``, ``failed`` or ``inconclusive`` — and why (None when the
    assertions' own messages say it).

    Failed: an assertion failed on what was measured (a control that was not running included).
    Else inconclusive: the market never opened, the exchange died by itself, or an assertion had
    nothing to test. Else passed."""
    failed = [r for r in results if not r.passed and not r.inconclusive]
    if failed:
        dead = [o for o in outages if o.finding and o.control]
        if dead and any(r.cause == CONTROL_NOT_RUNNING for r in failed):
            return "failed", f"the control was not running: {dead[0].text(t0_ns)}"
        return "failed", None
    if not opened:
        return "inconclusive", MARKET_NEVER_OPENED
    venue = [o for o in outages if o.finding and o.part == "exchange"]
    if venue:
        return "inconclusive", f"{venue[0].text(t0_ns)}; the run measured only what happened before"
    untested = [r for r in results if r.inconclusive]
    if untested:
        return "inconclusive", f"{untested[0].name}: {untested[0].message}"
    return "passed", None


def _evaluate(assertions: Assertions, metrics: Metrics, lost: list[str],
              evidence: Evidence | None) -> list[AssertionResult]:
    results: list[AssertionResult] = []
    prevented = prevention(metrics, evidence)
    if assertions.ttd_max is not None:
        results.append(_ttd(assertions.ttd_max, metrics, prevented))
    if assertions.ttk_max is not None:
        results.append(_after_kill("ttk_max", assertions.ttk_max, metrics.ttk_s, metrics, "ttk", prevented))
    if assertions.ttc_max is not None:
        results.append(_after_kill("ttc_max", assertions.ttc_max, metrics.ttc_s, metrics, "ttc", prevented))
    if assertions.excess_shares_max is not None:
        results.append(_at_most("excess_shares_max", assertions.excess_shares_max, metrics.excess_shares, "shares"))
    if assertions.loss_usd_max is not None:
        results.append(_at_most("loss_usd_max", assertions.loss_usd_max, metrics.loss_usd, "USD"))
    if assertions.no_lost_orders:
        results.append(_no_lost(lost))
    if not _presets(assertions):
        return results
    if evidence is None:  # a preset is never passed on nothing
        return [*results, AssertionResult("presets", None, None, False, "no evidence to judge the presets on")]
    facts = obligations.read(evidence.journal, evidence.firm, metrics.kill_issued_at, metrics.first_violation_at,
                             evidence.alerts, {p["parent_id"] for p in evidence.parents})
    if assertions.kill_blocks_within is not None:
        results.append(_kill_blocks(assertions.kill_blocks_within, facts))
    if assertions.cancel_all_within is not None:
        results.append(_cancel_all(assertions.cancel_all_within, facts))
    if assertions.alert_within is not None:
        results.append(_alert(assertions.alert_within, metrics, facts, prevented))
    if assertions.kill_latched:
        results.append(_latched(facts))
    if assertions.max_child_per_parent is not None:
        results.append(_children(assertions.max_child_per_parent, facts))
    return results
