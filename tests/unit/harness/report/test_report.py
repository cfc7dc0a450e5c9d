"""The reports of a run: journal.json, junit.xml, report.html and the terminal summary."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from powerpeg.harness.measure import Mark, Metrics, Series
from powerpeg.harness.outages import Outage
from powerpeg.harness.report import RunRecord, RunStatus, SourceRecord, iso_utc, write_all
from powerpeg.harness.report.html import render as render_html
from powerpeg.harness.report.summary import render, side_by_side
from powerpeg.harness.verdict import CONTROL_NOT_RUNNING, NOTHING_TO_MEASURE, AssertionResult

T0 = 1_700_000_000 * 10**9
S = 10**9


def metrics(**overrides) -> Metrics:
    base = dict(first_violation_at=T0 + 2 * S, detected_at=T0 + 3 * S, detected_by="page",
                kill_issued_at=T0 + 4 * S, contained_at=T0 + 4 * S, contained_by="control", flat_at=T0 + 4 * S,
                ttd_s=1.0, ttk_s=1.0, ttc_s=2.0, excess_shares=2300, runaway_child_orders=41,
                gross_notional_usd=98765.43, net_position_usd=90000.0, loss_usd=1234.5, runaway_parents=1,
                parents=12)
    base.update(overrides)
    m = Metrics(**base)
    m.series = Series(t0_ns=T0, child_orders_per_s=[0, 10, 20, 400, 800, 30, 0],
                      exposure_usd=[0, 1e3, 5e3, 4e4, 9e4, 9e4, 9e4])
    m.marks = [Mark(T0 + S, "fault_injected", "inject partial_deploy router-8"),
               Mark(T0 + 2 * S, "first_violation", "first violation"),
               Mark(T0 + 3 * S, "detected", "detected (page from monitor)"), Mark(T0 + 4 * S, "kill", "kill switch")]
    return m


ASSERTIONS = [AssertionResult("ttd_max", 2.0, 1.0, True, "ttd 1.000s <= 2.000s (by page)"),
              AssertionResult("ttk_max", 0.5, 1.0, False, "ttk 1.000s > 0.500s"),
              AssertionResult("excess_shares_max", 0, 2300, False, "2300 shares > 0")]


def run(**overrides) -> RunRecord:
    base = dict(experiment="knight-2012", description="the 2012 replay", hypothesis="the monitor pages within 2s",
                status="failed", backend="local", seed=7, started_ns=T0 - S, ended_ns=T0 + 9 * S,
                metrics=metrics(), assertions=ASSERTIONS,
                faults=[{"kind": "partial_deploy", "target": "router-8", "step": 0, "at": "1s",
                         "injected_at": T0 + S, "reverted_at": None, "error": None}],
                load={"requests": 420, "failures": 3, "rps": 41.9, "p50": 4.0, "p95": 12.0, "p99": 30.0},
                steady_state=[{"probe": "healthy", "phase": "before", "ok": True, "value": 1, "message": "all up"}],
                abort={"triggered": False, "reason": None, "at": None})
    base.update(overrides)
    return RunRecord(**base)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    write_all(tmp_path, run())
    return tmp_path


def test_iso_utc_keeps_nanoseconds():
    """ns since the epoch become ISO 8601 UTC with nine fractional digits."""
    assert "2023-11-14T22:13:20.000000042Z" == iso_utc(T0 + 42)


def test_write_all_writes_the_three_files(written: Path):
    """journal.json, junit.xml and report.html land in the output directory."""
    assert ["journal.json", "junit.xml", "report.html"] == sorted(p.name for p in written.iterdir())


def test_journal_json_has_the_keys(written: Path):
    """journal.json carries every top-level key of the contract."""
    doc = json.loads((written / "journal.json").read_text())
    required = {"experiment", "status", "backend", "seed", "started_at", "ended_at", "started_ns", "ended_ns",
                "metrics", "assertions", "faults", "load", "steady_state", "abort", "error"}
    assert set() == required - set(doc)


def test_journal_json_metrics_are_the_metric_keys(written: Path):
    """The metrics object holds exactly the metric keys."""
    doc = json.loads((written / "journal.json").read_text())
    assert set(metrics().to_dict()) == set(doc["metrics"])


def test_journal_json_times_and_assertions(written: Path):
    """Start time as ISO and ns; assertions with name, expected, actual, passed, message and cause."""
    doc = json.loads((written / "journal.json").read_text())
    assert (iso_utc(T0 - S), T0 - S, {"name": "ttk_max", "expected": 0.5, "actual": 1.0, "passed": False,
                                       "message": "ttk 1.000s > 0.500s", "cause": None}) == (
        doc["started_at"], doc["started_ns"], doc["assertions"][1])


def test_journal_json_load_parses_locust_names(written: Path):
    """Locust's p50/p95/p99 become the load's millisecond figures."""
    doc = json.loads((written / "journal.json").read_text())
    assert (420, 4.0, 30.0) == (doc["load"]["requests"], doc["load"]["p50_ms"], doc["load"]["p99_ms"])


def test_junit_has_one_testcase_per_assertion(written: Path):
    """One testsuite named after the experiment, one testcase per assertion, classname powerpeg.<experiment>."""
    suite = ET.parse(written / "junit.xml").getroot()
    cases = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert ("knight-2012", [("powerpeg.knight-2012", a.name) for a in ASSERTIONS]) == (suite.get("name"), cases)


def test_junit_failures_carry_the_message(written: Path):
    """Failing assertions have a <failure> with their message; the suite counts them."""
    suite = ET.parse(written / "junit.xml").getroot()
    messages = [f.get("message") for f in suite.iter("failure")]
    assert ("2", ["ttk 1.000s > 0.500s", "2300 shares > 0"]) == (suite.get("failures"), messages)


def test_junit_properties_hold_the_headline_metrics(written: Path):
    """ttd_s, ttk_s, ttc_s, excess_shares and loss_usd are suite properties."""
    suite = ET.parse(written / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    expected = {"ttd_s": "1.0", "ttk_s": "1.0", "ttc_s": "2.0", "excess_shares": "2300", "loss_usd": "1234.5"}
    assert expected == {k: props[k] for k in expected}


def test_junit_null_metric_is_written_null(tmp_path: Path):
    """An undetected runaway's ttd_s property reads null."""
    write_all(tmp_path, run(metrics=metrics(detected_at=None, ttd_s=None, ttk_s=None)))
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "junit.xml").getroot().iter("property")}
    assert "null" == props["ttd_s"]


def test_junit_errored_run_has_an_error_case(tmp_path: Path):
    """A run that errored shows up as an error in CI, never green."""
    write_all(tmp_path, run(status="error", assertions=[], error="steady state before: exchange unhealthy"))
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert ("1", ["steady state before: exchange unhealthy"]) == (
        suite.get("errors"), [e.get("message") for e in suite.iter("error")])


def test_html_has_an_svg_with_every_mark(written: Path):
    """The timeline picture is inline SVG carrying each mark's label."""
    page = (written / "report.html").read_text()
    svg = page[page.index("<svg"):page.index("</svg>")]
    labels = [m.label for m in metrics().marks]
    assert [True] * len(labels) == [label in svg for label in labels]


def test_html_has_no_external_url(written: Path):
    """The page is self-contained: no http(s) URL, no script."""
    page = (written / "report.html").read_text()
    assert ([], False) == (re.findall(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page), "<script" in page)


def test_html_shows_status_hypothesis_and_tables(written: Path):
    """Status badge, hypothesis and the assertions, metrics, faults and load tables are on the page."""
    page = (written / "report.html").read_text()
    wanted = ['class="badge"', "the monitor pages within 2s", "<h2>Assertions</h2>", "<h2>Metrics</h2>",
              "<h2>Faults</h2>", "<h2>Load</h2>", "partial_deploy", "ttk 1.000s &gt; 0.500s"]
    assert [w for w in wanted if w not in page] == []


def test_html_escapes_text():
    """Experiment text is escaped, never injected as markup."""
    page = render_html(run(hypothesis="<b>bold</b> & co"))
    assert ("&lt;b&gt;bold&lt;/b&gt; &amp; co" in page, "<b>bold</b>" in page) == (True, False)


def test_html_handles_empty_series_and_null_metrics():
    """A run with no timeline and no metrics still renders, saying there is no data."""
    empty = Metrics()
    page = render_html(run(status="error", metrics=empty, assertions=[], faults=[], error="boom"))
    assert ("no timeline data" in page, "<svg" in page) == (True, True)


def test_summary_states_verdict_and_ttd():
    """The summary names the verdict and the time to detect."""
    text = render(run(), out_dir="out/knight")
    assert ("FAILED" in text, "TTD  time to detect    1.000 s" in text, "out/knight/report.html" in text) == (
        True, True, True)


def test_summary_marks_assertions():
    """Each assertion is listed with ✓ or ✗."""
    text = render(run())
    assert ["✓ ttd_max", "✗ ttk_max", "✗ excess_shares_max"] == re.findall(r"[✓✗] \w+", text)


def test_summary_says_why_ttk_is_missing():
    """A runaway contained by the abort shows TTK missing and why."""
    text = render(run(status="aborted", metrics=metrics(contained_by="abort", ttk_s=None, ttc_s=None),
                      abort={"triggered": True, "reason": "max_loss_usd", "at": T0 + 5 * S}))
    assert ("ABORTED: max_loss_usd" in text, "— (contained by abort)" in text) == (True, True)


def test_summary_says_what_a_negative_ttk_means():
    """A kill that landed before the page was delivered gives a negative TTK: the summary says why."""
    text = render(run(metrics=metrics(ttk_s=-0.036, ttc_s=0.0)))
    assert "TTK  time to kill      -0.036 s (contained before the page was delivered: the kill beat the pager)" in text


def test_side_by_side_shows_both_runs_in_columns():
    """Two runs of the same faults: one line per figure, both values on it."""
    without = run(metrics=metrics(detected_at=None, ttd_s=None, ttk_s=None, ttc_s=None, contained_by="end"))
    text = side_by_side(without, run(status="passed"))
    ttd_line = next(line for line in text.splitlines() if line.startswith("TTD"))
    assert ("not detected" in ttd_line, "1.000 s" in ttd_line) == (True, True)


def test_run_record_parses_runner_dicts_into_records():
    """The runner's fault, probe and load dicts become typed records, unknown figures kept in extra."""
    record = run(faults=[{"index": 2, "kind": "kill", "name": "kill monitor", "target": "monitor", "at": 1.5,
                          "injected_at": T0, "reverted_at": None, "error": None}],
                 steady_state=[{"probe": "up", "kind": "healthy", "phase": "before", "ok": True, "value": 1,
                                "message": ""}],
                 load={"requests": 10, "failures": 1, "rps": 2.0, "p50_ms": 3.0, "p95_ms": 4.0, "p99_ms": 5.0,
                       "failure_ratio": 0.1})
    assert (2, "kill monitor", "healthy", {"failure_ratio": 0.1}) == (
        record.faults[0].step, record.faults[0].name, record.steady_state[0].kind, record.load.extra)


def test_run_record_without_metrics_still_reports(tmp_path: Path):
    """A run that failed before measuring writes reports with empty metrics."""
    write_all(tmp_path, run(status="error", metrics=None, assertions=[], error="fleet did not start"))
    doc = json.loads((tmp_path / "journal.json").read_text())
    assert (None, 0, "fleet did not start") == (doc["metrics"]["ttd_s"], doc["metrics"]["excess_shares"], doc["error"])


def test_html_draws_marks_at_the_same_instant(tmp_path: Path):
    """Two marks at the very same nanosecond (kill and contained) both make it onto the picture."""
    m = metrics()
    same = m.marks[0].ts_ns
    m.marks += [Mark(same, "kill", "kill @same"), Mark(same, "contained", "contained @same")]
    write_all(tmp_path, run(metrics=m))
    page = (tmp_path / "report.html").read_text()
    assert (True, True) == ("kill @same" in page, "contained @same" in page)


MONITOR_DEAD = Outage("monitor", T0 + 45 * S // 10, reason="exited", meaning="nothing was watching", control=True)
KILLED_ON_PURPOSE = Outage("alerts", T0 + S, T0 + 2 * S, planned=True, fault="kill alerts", reason="exited")
NOT_RUNNING = AssertionResult("ttd_max", 0.25, None, False, "not detected: ... — the control was not running: "
                              "monitor down from +4.5 s (exited): nothing was watching", CONTROL_NOT_RUNNING)
UNTESTED = AssertionResult("ttd_max", 0.25, None, False, "no violation happened: nothing to detect, so ttd_max "
                           "was not tested", NOTHING_TO_MEASURE)


def dead_monitor_run(**overrides) -> RunRecord:
    base = dict(assertions=[NOT_RUNNING], outages=[MONITOR_DEAD, KILLED_ON_PURPOSE],
                verdict="the control was not running: monitor down from +4.5 s (exited): nothing was watching",
                sources=[SourceRecord("marks", True, "GET /positions", 20, file="marks.json"),
                         SourceRecord("alerts", False, "GET /alerts", error="ClientConnectorError: refused"),
                         SourceRecord("journal", True, "copied from /x/journal.jsonl (GET /journal failed: boom)",
                                      1000, file="exchange-journal.jsonl", extra={"rescued": True})])
    base.update(overrides)
    return run(**base)


def inconclusive_run() -> RunRecord:
    return run(status="inconclusive", assertions=[UNTESTED], metrics=metrics(first_violation_at=None),
               verdict="ttd_max: no violation happened: nothing to detect, so ttd_max was not tested")


def test_inconclusive_is_never_a_pass_and_exits_4():
    """RunStatus.INCONCLUSIVE exits 4: not 0 (nothing was tested), not 1 (no control failed)."""
    assert [0, 1, 1, 3, 4] == [RunStatus(s).exit_code for s in ("passed", "failed", "aborted", "error", "inconclusive")]


def test_summary_of_an_inconclusive_run_says_why_and_marks_the_untested_assertion():
    """INCONCLUSIVE: the reason on the first line; the assertion marked ? rather than ✓ or ✗."""
    text = render(inconclusive_run())
    assert ("INCONCLUSIVE: ttd_max: no violation happened" in text.splitlines()[0], ["? ttd_max"]) == (
        True, re.findall(r"[✓✗?] \w+", text))


def test_summary_names_a_dead_control_as_not_running_and_lists_each_outage():
    """FAILED says the control was not running; a line per part down: the finding, and the planned one as such."""
    lines = render(dead_monitor_run()).splitlines()
    assert lines[0].endswith("FAILED: 1 of 1 assertion(s) failed — the control was not running: monitor down "
                             "from +4.5 s (exited): nothing was watching"), lines[0]
    assert ["  finding: monitor down from +4.5 s (exited): nothing was watching",
            "  planned: alerts down from +1.0 s to +2.0 s on purpose (kill alerts) (exited)"] == \
        [line for line in lines if line.startswith(("  finding:", "  planned:"))]


def test_summary_says_which_evidence_was_lost_or_rescued():
    """The alerts not read, and the journal copied by the backend, are on one evidence line."""
    [line] = [x for x in render(dead_monitor_run()).splitlines() if x.startswith("  evidence:")]
    assert ("alerts not read (ClientConnectorError: refused)" in line, "journal copied from /x/journal.jsonl" in line) \
        == (True, True)


def test_journal_json_carries_outages_evidence_and_verdict(tmp_path: Path):
    """journal.json: each outage with part, seconds, finding and its sentence; each source; the verdict's why."""
    write_all(tmp_path, dead_monitor_run())
    doc = json.loads((tmp_path / "journal.json").read_text())
    [finding, planned] = doc["outages"]
    assert (("monitor", 4.5, True, "monitor down from +4.5 s (exited): nothing was watching"), False) == (
        (finding["part"], finding["down_s"], finding["finding"], finding["text"]), planned["finding"])
    assert ({"marks": True, "alerts": False, "journal": True}, "control_not_running", True) == (
        {k: v["ok"] for k, v in doc["evidence"].items()}, doc["assertions"][0]["cause"],
        doc["verdict"].startswith("the control was not running"))


def test_journal_json_outages_parse_back_into_the_record():
    """A record built from journal.json's dicts holds the same outages (the game day reads them back)."""
    doc_outages = [o.to_dict(T0) for o in (MONITOR_DEAD, KILLED_ON_PURPOSE)]
    assert [MONITOR_DEAD, KILLED_ON_PURPOSE] == run(outages=doc_outages).outages


def test_junit_skips_what_was_not_tested_and_the_inconclusive_run(tmp_path: Path):
    """An inconclusive run: the untested assertion and a `run` case are <skipped>, nothing is a failure."""
    write_all(tmp_path, inconclusive_run())
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert ("0", "2", ["ttd_max", "run"]) == (
        suite.get("failures"), suite.get("skipped"),
        [case.get("name") for case in suite.iter("testcase") if case.find("skipped") is not None])


def test_junit_properties_name_each_outage(tmp_path: Path):
    """A finding and a planned outage become properties with their sentences."""
    write_all(tmp_path, dead_monitor_run())
    props = [(p.get("name"), p.get("value")) for p in ET.parse(tmp_path / "junit.xml").getroot().iter("property")]
    assert [("finding", MONITOR_DEAD.text(T0)), ("planned_outage", KILLED_ON_PURPOSE.text(T0))] == \
        [p for p in props if p[0] in ("finding", "planned_outage")]


def test_html_shows_the_verdict_the_parts_down_and_the_evidence():
    """report.html: the verdict's why, a Parts down table marking the finding, an Evidence table."""
    page = render_html(dead_monitor_run())
    parts = page.split("<h2>Parts down</h2>")[1].split("</table>")[0]
    assert (True, True, True, True) == ("the control was not running" in page.split("<h2>Verdict</h2>")[1],
                                        ">finding<" in parts and "on purpose (kill alerts)" in parts,
                                        "nothing was watching" in parts, "ClientConnectorError" in
                                        page.split("<h2>Evidence</h2>")[1])


def test_html_inconclusive_badge_and_untested_mark():
    """An inconclusive run has its own badge colour and the untested assertion a ? mark."""
    page = render_html(inconclusive_run())
    assert (True, True) == ('background:#9a6700">inconclusive<' in page, 'title="not tested">?<' in page)
