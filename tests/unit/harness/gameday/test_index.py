"""The game day's index.html: one row per run, its picture, its link, who detected."""
from __future__ import annotations

from powerpeg.harness.gameday.index import SuiteRun, detection, kill, render
from powerpeg.harness.gameday.suite import Suite, SuiteEntry
from powerpeg.harness.measure import Metrics
from powerpeg.harness.outages import Outage
from powerpeg.harness.report import RunRecord
from powerpeg.harness.verdict import AssertionResult

SUITE = Suite(title="Nightly <resilience>", participants=["ann"], experiments=[SuiteEntry(path="x.yaml")])


def _record(name: str, status: str, detected_by: str | None, violation: int | None = 1,
            kill_at: int | None = None) -> RunRecord:
    metrics = Metrics(first_violation_at=violation, detected_by=detected_by, ttd_s=0.125 if detected_by else None,
                      kill_issued_at=kill_at, excess_shares=300, loss_usd=42.0)
    failed = [AssertionResult("ttd_max", 0.1, None, False, "not detected")] if status == "failed" else []
    return RunRecord(experiment=name, status=status, backend="local", seed=1, started_ns=0, ended_ns=10**9,
                     metrics=metrics, assertions=failed)


def test_operator_detection_is_human_and_pages_are_automated() -> None:
    """detected_by operator → human; page or phone → automated; none with a violation → not detected."""
    assert ["human (operator)", "automated (page)", "automated (phone)", "not detected", "— (no violation)"] == [
        detection(_record("a", "passed", by)) for by in ("operator", "page", "phone", None)
    ] + [detection(_record("a", "passed", None, violation=None))]


def test_index_has_a_row_a_picture_and_a_link_per_run() -> None:
    """Two runs: two table rows, two timelines, links to each run's report.html."""
    page = render(SUITE, [SuiteRun(_record("one", "passed", "page"), "01-one"),
                          SuiteRun(_record("two", "failed", None), "02-two")], started="2024-05-01T06:00:00Z",
                  backend="local")
    table = page.split('<table class="runs">')[1].split("</table>")[0]
    assert (3, 2, True, True) == (table.count("<tr>"), page.count('<svg class="timeline"'),
                                  'href="01-one/report.html"' in table, 'href="02-two/report.html"' in table)


def test_kill_at_an_operator_kill_event_is_human_any_other_automated() -> None:
    """The kill that counts is human when it is the operator's KILL press (an operator_kill event), else automated."""
    operator = [{"event": "operator_kill", "ts_ns": 50}]
    assert ["human", "automated", "— (no kill)"] == [
        kill(SuiteRun(_record("a", "passed", "page", kill_at=50), "01-a", operator)),
        kill(SuiteRun(_record("a", "passed", "page", kill_at=60), "01-a", operator)),
        kill(SuiteRun(_record("a", "passed", "page"), "01-a", operator)),
    ]


def test_index_row_shows_verdict_metrics_and_who_made_ttd_and_ttk() -> None:
    """The row carries verdict, TTD, excess shares, loss, and under "human / automated" who detected and who killed."""
    run = SuiteRun(_record("one", "passed", "operator", kill_at=70), "01-one",
                   [{"event": "operator_kill", "ts_ns": 70}])
    page = render(SUITE, [run], started="t", backend="local")
    table = page.split('<table class="runs">')[1]
    head, row = table.split("</tr>")[0], table.split("</tr>")[1]
    cells = ["passed", "0.125 s", "300", "$42.00", "TTD human (operator) · TTK human"]
    assert (True, cells) == ("<th>human / automated</th>" in head, [text for text in cells if text in row])


def test_failed_assertions_and_title_are_escaped_and_shown() -> None:
    """The failing assertion is listed under its run; the title is HTML-escaped."""
    page = render(SUITE, [SuiteRun(_record("two", "failed", None), "02-two")], started="t", backend="local")
    assert ("ttd_max: not detected" in page, "Nightly &lt;resilience&gt;" in page) == (True, True)


def test_a_part_down_by_itself_is_named_in_its_row_and_under_its_run() -> None:
    """The row names the dead part and when; the run's section has the sentence and the verdict's why."""
    record = _record("two", "failed", None)
    record.metrics.series.t0_ns = 0
    record.outages = [Outage("monitor", 4_500_000_000, reason="exited", meaning="nothing was watching", control=True)]
    record.verdict = "the control was not running: monitor down from +4.5 s (exited): nothing was watching"
    page = render(SUITE, [SuiteRun(record, "02-two")], started="t", backend="local")
    row = page.split('<table class="runs">')[1].split("</table>")[0]
    section = page.split('<h2 id="02-two">')[1]
    assert (True, True, True) == ("monitor down from +4.5 s" in row,
                                  "finding: monitor down from +4.5 s (exited): nothing was watching" in section,
                                  "FAILED: the control was not running" in section)


def test_an_inconclusive_run_has_its_badge_and_a_planned_outage_is_not_a_finding() -> None:
    """Inconclusive gets a badge of its own; an outage a fault caused is listed as planned, not in the row."""
    record = _record("one", "inconclusive", None, violation=None)
    record.outages = [Outage("monitor", 10, planned=True, fault="kill monitor")]
    page = render(SUITE, [SuiteRun(record, "01-one")], started="t", backend="local")
    row = page.split('<table class="runs">')[1].split("</table>")[0]
    assert (True, False, True) == (">inconclusive</span>" in row, "monitor down" in row,
                                   "planned: monitor down" in page)
