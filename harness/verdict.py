"""The verdict: each assertion of the experiment checked against the metrics.

Only assertions the experiment sets are evaluated. A number that could not be
measured never passes silently: an undetected runaway fails a TTD bound, and
a runaway stopped by the harness's abort (or still running at the end) fails
TTK/TTC bounds, each with a message saying why.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.experiment.model import Assertions
from harness.measure import Metrics

NOT_DETECTED = "not detected: no page reached the pager (detected_at is null)"
LOST_SHOWN = 5


@dataclass(frozen=True)
class AssertionResult:
    name: str
    expected: Any
    actual: Any
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def _ttd(bound: float, metrics: Metrics) -> AssertionResult:
    name = "ttd_max"
    if metrics.first_violation_at is None:
        return AssertionResult(name, bound, None, True, "no violation: nothing to detect")
    if metrics.ttd_s is None:
        return AssertionResult(name, bound, None, False, NOT_DETECTED)
    ttd = metrics.ttd_s
    passed = ttd <= bound
    if ttd < 0:
        message = f"detected before the first violation (ttd {_seconds(ttd)}, by {metrics.detected_by}): a finding"
    else:
        message = f"ttd {_seconds(ttd)} {'<=' if passed else '>'} {_seconds(bound)} (by {metrics.detected_by})"
    return AssertionResult(name, bound, ttd, passed, message)


def _after_kill(name: str, bound: float, actual: float | None, metrics: Metrics, what: str) -> AssertionResult:
    """ttk_max and ttc_max: both need a runaway contained by a control."""
    if metrics.first_violation_at is None:
        return AssertionResult(name, bound, None, True, "no violation: nothing to kill")
    if metrics.contained_by != "control":
        return AssertionResult(name, bound, None, False,
                               f"not killed by a control: contained by {metrics.contained_by}")
    if actual is None:
        return AssertionResult(name, bound, None, False, f"killed by a control but {NOT_DETECTED}")
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


def evaluate(assertions: Assertions, metrics: Metrics, lost: list[str]) -> list[AssertionResult]:
    """One result per assertion set in the experiment, in a fixed order."""
    results: list[AssertionResult] = []
    if assertions.ttd_max is not None:
        results.append(_ttd(assertions.ttd_max, metrics))
    if assertions.ttk_max is not None:
        results.append(_after_kill("ttk_max", assertions.ttk_max, metrics.ttk_s, metrics, "ttk"))
    if assertions.ttc_max is not None:
        results.append(_after_kill("ttc_max", assertions.ttc_max, metrics.ttc_s, metrics, "ttc"))
    if assertions.excess_shares_max is not None:
        results.append(_at_most("excess_shares_max", assertions.excess_shares_max, metrics.excess_shares, "shares"))
    if assertions.loss_usd_max is not None:
        results.append(_at_most("loss_usd_max", assertions.loss_usd_max, metrics.loss_usd, "USD"))
    if assertions.no_lost_orders:
        results.append(_no_lost(lost))
    return results
