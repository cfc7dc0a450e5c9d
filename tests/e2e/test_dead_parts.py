"""A dead part is a finding, named as such: the monitor, the alert sink and the exchange each killed mid-run
on a real local fleet (SIGKILL from outside, so no fault means it), and one monitor killed on purpose by the
method. What the reports say, that the other sources' evidence is intact, and that the exchange's journal
reaches the report directory even when the exchange is the one that died."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.measure import Evidence, compute
from powerpeg.harness.state import FleetState
from tests.e2e.runs import ROOT, Result, alive, start, wait_for_event

FIXTURES = ROOT / "tests" / "fixtures" / "dead-parts"


def _kill(home: Path, run_id: str, component: str) -> None:
    """SIGKILL one component of the run, as a crash would: the harness is not told."""
    pid = FleetState.load(home / "runs" / run_id / "state.json").process(component).ident.pid
    os.kill(pid, signal.SIGKILL)


def _wait_for_a_fill(home: Path, run_id: str, timeout: float = 60) -> None:
    """Until the exchange's journal on disk holds a fill (the market is open and trading)."""
    path = home / "runs" / run_id / "journal.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and '"kind":"fill"' in path.read_text().replace(" ", ""):
            return
        time.sleep(0.05)
    raise AssertionError(f"no fill in {path} within {timeout}s")


def _run_and_kill(file: Path, out: Path, home: Path, component: str | None) -> Result:
    """Run ``file``; kill ``component`` once the method started (the exchange: once it traded)."""
    proc = start(file, out, home)
    try:
        if component is not None:
            run_id = wait_for_event(out, "method_start")["run_id"]
            if component == "exchange":
                _wait_for_a_fill(home, run_id)
            _kill(home, run_id, component)
        stdout, _ = proc.communicate(timeout=180)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return Result(proc.returncode, out, stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("dead-parts")
    home = root / "home"
    return {
        "monitor": _run_and_kill(FIXTURES / "runaway.yaml", root / "monitor", home, "monitor"),
        "alerts": _run_and_kill(FIXTURES / "runaway.yaml", root / "alerts", home, "alerts"),
        "exchange": _run_and_kill(FIXTURES / "steady.yaml", root / "exchange", home, "exchange"),
        "planned": _run_and_kill(FIXTURES / "monitor-killed-on-purpose.yaml", root / "planned", home, None),
    }


def _finding(r: Result, part: str) -> dict[str, Any]:
    [outage] = [o for o in r.journal["outages"] if o["part"] == part]
    return outage


def _recomputed_loss(r: Result) -> float:
    """The loss from the report directory's own evidence: its journal, its parents, its marks.json."""
    journal = [json.loads(x) for x in (r.out / "exchange-journal.jsonl").read_text().splitlines() if x.strip()]
    parents = [json.loads(x) for f in sorted((r.out / "load" / "parents").glob("*.jsonl"))
               for x in f.read_text().splitlines() if x.strip()]
    marks = json.loads((r.out / "marks.json").read_text())
    return compute(Evidence(journal=journal, parents=parents, alerts=[], events=r.events(), marks=marks,
                            firm="KNIGHT")).loss_usd


@pytest.mark.parametrize("part", ["monitor", "alerts"])
def test_a_dead_control_fails_the_run_saying_it_was_not_running(runs: dict[str, Result], part: str) -> None:
    """Exit 1, failed; ttd_max's cause is control_not_running; the outage is a finding with when and why."""
    r = runs[part]
    outage = _finding(r, part)
    assert (1, "failed", "control_not_running") == (r.code, r.journal["status"], r.journal["assertions"][0]["cause"]), \
        r.stdout
    assert (True, "exited", True) == (outage["finding"], outage["reason"], outage["down_s"] is not None)
    assert r.journal["verdict"].startswith(f"the control was not running: {part} down from +"), r.journal["verdict"]


def test_the_summary_names_the_dead_monitor_and_what_it_meant(runs: dict[str, Result]) -> None:
    """The terminal summary: the verdict line and a finding line with the part, when, and "nothing was watching"."""
    r = runs["monitor"]
    finding = next(line for line in r.stdout.splitlines() if line.startswith("  finding: monitor down from +"))
    assert ("the control was not running: monitor down from +" in r.stdout, finding.endswith("nothing was watching")) \
        == (True, True), r.stdout


@pytest.mark.parametrize("part", ["monitor", "alerts"])
def test_a_dead_control_leaves_the_other_evidence_intact(runs: dict[str, Result], part: str) -> None:
    """Marks read (marks.json in the report), the journal downloaded, and the loss is the one the marks give."""
    r = runs[part]
    evidence = r.journal["evidence"]
    assert (True, True, False) == (evidence["marks"]["ok"], evidence["marks"]["count"] > 0,
                                   evidence["journal"]["extra"]["rescued"]), evidence
    assert r.metrics["loss_usd"] == pytest.approx(_recomputed_loss(r), abs=0.01)


def test_the_report_html_has_the_parts_down(runs: dict[str, Result]) -> None:
    """report.html lists the dead alert sink as a finding, with what it meant."""
    page = (runs["alerts"].out / "report.html").read_text()
    parts = page.split("<h2>Parts down</h2>")[1].split("</table>")[0]
    assert (True, True) == (">finding<" in parts, "no alert could reach anyone" in parts)


def test_a_dead_exchange_is_inconclusive_with_its_journal_rescued(runs: dict[str, Result]) -> None:
    """Exit 4, inconclusive, saying the exchange was down; the method ended there; the journal was copied from
    disk into the report directory and holds the trading that happened."""
    r = runs["exchange"]
    outage = _finding(r, "exchange")
    assert (4, "inconclusive", True, "exited") == (r.code, r.journal["status"], outage["finding"], outage["reason"]), \
        r.stdout
    assert r.journal["verdict"].startswith("exchange down from +"), r.journal["verdict"]
    assert "method_ended_early" in [e["event"] for e in r.events()]
    journal = r.journal["evidence"]["journal"]
    records = [json.loads(x) for x in (r.out / "exchange-journal.jsonl").read_text().splitlines() if x.strip()]
    assert (True, True, journal["count"], True) == (
        journal["ok"], journal["extra"]["rescued"], len(records), any(rec["kind"] == "fill" for rec in records))


def test_a_dead_exchange_costs_the_marks_and_says_so(runs: dict[str, Result]) -> None:
    """The marks could not be read from a dead exchange: recorded as such (not silently empty), and the
    summary says the journal came from the backend."""
    r = runs["exchange"]
    evidence_line = next(line for line in r.stdout.splitlines() if line.startswith("  evidence:"))
    assert (False, True, True) == (r.journal["evidence"]["marks"]["ok"], "marks not read" in evidence_line,
                                   "journal copied from" in evidence_line), r.stdout


def test_a_monitor_killed_by_the_method_is_reported_as_planned_not_as_a_finding(runs: dict[str, Result]) -> None:
    """The `kill` fault's outage: planned, naming the fault; ttd_max fails as the experiment's own doing."""
    r = runs["planned"]
    outage = _finding(r, "monitor")
    assert (1, "failed", None, None) == (r.code, r.journal["status"], r.journal["assertions"][0]["cause"],
                                         r.journal["verdict"]), r.stdout
    assert (False, "kill monitor") == (outage["finding"], outage["fault"])
    assert ("  planned: monitor down from +" in r.stdout, "  finding:" in r.stdout) == (True, False), r.stdout


def test_nothing_is_left_running(runs: dict[str, Result]) -> None:
    """Each run tore down what it started, dead parts or not."""
    assert {} == {name: alive(r.run_id()) for name, r in runs.items() if alive(r.run_id())}
