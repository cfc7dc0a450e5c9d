"""The game day's index.html: one row per run, its picture, its link, who detected."""
from __future__ import annotations

from harness.gameday.index import SuiteRun, detection, render
from harness.gameday.suite import Suite, SuiteEntry
from harness.measure import Metrics
from harness.report import RunRecord
from harness.verdict import AssertionResult

SUITE = Suite(title="Nightly <resilience>", participants=["ann"], experiments=[SuiteEntry(path="x.yaml")])


def _record(name: str, status: str, detected_by: str | None, violation: int | None = 1) -> RunRecord:
    metrics = Metrics(first_violation_at=violation, detected_by=detected_by, ttd_s=0.125 if detected_by else None,
                      excess_shares=300, loss_usd=42.0)
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


def test_index_row_shows_verdict_metrics_and_detection() -> None:
    """The row carries verdict, TTD, excess shares, loss and the kind of detection."""
    page = render(SUITE, [SuiteRun(_record("one", "passed", "operator"), "01-one")], started="t", backend="local")
    row = page.split('<table class="runs">')[1].split("</tr>")[1]
    assert all(text in row for text in ("passed", "0.125 s", "300", "$42.00", "human (operator)"))


def test_failed_assertions_and_title_are_escaped_and_shown() -> None:
    """The failing assertion is listed under its run; the title is HTML-escaped."""
    page = render(SUITE, [SuiteRun(_record("two", "failed", None), "02-two")], started="t", backend="local")
    assert ("ttd_max: not detected" in page, "Nightly &lt;resilience&gt;" in page) == (True, True)
