"""report.html's alert pipeline: the bar of stages (scrape, rule, Alertmanager, delivery) and their table,
drawn from the pipeline section harness/controls/pipeline.py computes."""
from __future__ import annotations

import re

from powerpeg.harness.controls.pipeline import stages
from powerpeg.harness.measure import Metrics
from powerpeg.harness.report import RunRecord, RunStatus
from powerpeg.harness.report.html import pipeline_section, render

S = 1_000_000_000
V = 1_000 * S  # the first violation
LABELS = {"alertname": "KnightExecutedAboveParents", "session": "ROUTER-8", "firm": "KNIGHT"}
RECT = re.compile(r'<rect x="([\d.]+)" y="\d+" width="([\d.]+)"[^>]*fill="(#[0-9a-f]{6}|none)"')


def record(pipeline: dict | None) -> RunRecord:
    return RunRecord(experiment="knight-2012-prometheus", status=RunStatus.PASSED, backend="compose", seed=1,
                     started_ns=V - 10 * S, ended_ns=V + 90 * S, metrics=Metrics(first_violation_at=V),
                     pipeline=pipeline)


def delivered() -> dict:
    """Scrape 2 s, rule 1 s, Alertmanager 6 s, delivery 1 s: the page 10 s after the violation."""
    raw = {"control": "prometheus", "settings": {"scrape_interval_s": 1.0, "group_wait_s": 5.0, "kill": True},
           "alerts": [{"alertname": LABELS["alertname"], "labels": LABELS, "expr_true_at_ns": V + 2 * S,
                       "active_at_ns": V + 3 * S, "fired_at_ns": V + 3 * S, "alertmanager_at_ns": V + 4 * S}]}
    page = {"source": "alertmanager:trading-pager", "channel": "page", "labels": LABELS,
            "received_ns": V + 9 * S, "delivered_ns": V + 10 * S}
    metrics = Metrics(first_violation_at=V, detected_at=V + 10 * S, kill_issued_at=V + 9 * S,
                      kill_issued_by="alertmanager:venue-kill")
    return stages(raw, metrics, [page])


def test_each_stage_is_a_segment_as_long_as_its_seconds() -> None:
    """Four segments, left to right in pipeline order, their widths in the ratio of the stages' seconds."""
    rects = RECT.findall(pipeline_section(record(delivered())))
    widths = [float(w) for _x, w, _fill in rects]
    assert 4 == len(rects)
    assert [2.0, 1.0, 6.0, 1.0] == [round(w / widths[1], 2) for w in widths]
    xs = [float(x) for x, _w, _fill in rects]
    assert all(abs(xs[i] + widths[i] - xs[i + 1]) < 0.2 for i in range(3)), rects  # contiguous, in order


def test_the_table_lists_every_stage_with_its_seconds_and_the_kill() -> None:
    """The stages' table carries each figure and share; the summary and the kill by Alertmanager are stated."""
    html = pipeline_section(record(delivered()))
    wanted = ("2.000 s", "6.000 s", "60%", "most in alertmanager", "by alertmanager:venue-kill")
    assert [] == [text for text in wanted if text not in html]
    table = html[html.index("<table>"):]
    assert table.index("scrape") < table.index("rule evaluation") < table.index("Alertmanager") < table.index(
        "delivery")


def test_a_page_not_delivered_is_drawn_as_due_with_the_stages_it_reached() -> None:
    """Held in group_wait at the end: scrape and rule drawn, then a dashed segment up to when the page was due."""
    raw = {"control": "prometheus", "settings": {"group_wait_s": 30.0},
           "alerts": [{"alertname": LABELS["alertname"], "labels": LABELS, "expr_true_at_ns": V + 14 * S,
                       "active_at_ns": V + 22 * S, "fired_at_ns": V + 22 * S, "alertmanager_at_ns": V + 22 * S}]}
    html = pipeline_section(record(stages(raw, Metrics(first_violation_at=V), [])))
    rects = RECT.findall(html)
    assert ["#1f77b4", "#9467bd", "none"] == [fill for _x, _w, fill in rects]
    assert [14.0, 8.0, 30.0] == [round(float(w) / float(rects[1][1]) * 8.0, 1) for _x, w, _fill in rects]
    assert "page due +52.00 s" in html and "Alertmanager held it (group_wait)" in html


def test_a_rule_that_held_before_the_violation_runs_left_of_it() -> None:
    """A precursor rule (child orders per parent) true 0.75 s before any parent overfilled: its scrape bar ends
    left of the violation line, and the next stage starts there, so the bars still end at the TTD."""
    raw = {"control": "prometheus", "settings": {"group_wait_s": 0.0},
           "alerts": [{"alertname": "KnightChildOrdersPerParent", "labels": LABELS,
                       "expr_true_at_ns": V - 750_000_000, "active_at_ns": V + 70_000_000,
                       "fired_at_ns": V + 70_000_000, "alertmanager_at_ns": V + 75_000_000}]}
    page = {"source": "alertmanager:trading-pager", "channel": "page", "labels": LABELS,
            "received_ns": V + 80_000_000, "delivered_ns": V + 80_000_000}
    html = pipeline_section(record(stages(raw, Metrics(first_violation_at=V, detected_at=V + 80_000_000), [page])))
    rects = [(float(x), float(w)) for x, w, _fill in RECT.findall(html)]
    line = re.search(r'<line x1="([\d.]+)"', html)
    assert line is not None, html
    violation_x = float(line.group(1))
    assert abs(rects[0][0] + rects[0][1] - violation_x) < 0.2 and rects[1][0] == rects[0][0], rects
    assert "scrape -0.75 s (before the violation)" in html and "+0.08 s page delivered" in html
    assert "%" not in html.split("<table>")[1].split("</table>")[0]  # no shares of a negative whole


def test_a_pipeline_that_saw_nothing_has_its_table_and_no_bar() -> None:
    """No alert of the control matched (nothing scraped, nothing fired): the stages are all —, no bar drawn."""
    html = pipeline_section(record(stages({"control": "prometheus", "alerts": []}, Metrics(first_violation_at=V), [])))
    assert ([], False, True) == (RECT.findall(html), "<svg" in html, "the scraped data never showed it" in html)


def test_report_has_no_pipeline_section_without_a_bundled_control() -> None:
    """A run measured without a bundled control has no pipeline to draw."""
    assert ("", False) == (pipeline_section(record(None)), "Alert pipeline" in render(record(None)))


def test_the_pipeline_is_drawn_in_report_html_and_its_text_escaped() -> None:
    """The section is part of the page, and label values from the control are text, never markup."""
    p = delivered()
    p["alert"] = {**p["alert"], "session": "<script>x</script>"}
    page = render(record(p))
    assert ("Alert pipeline" in page, "<script>x" in page, "&lt;script&gt;x" in page) == (True, False, True)
