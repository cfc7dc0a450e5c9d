"""The measurement floor in every report: journal.json's ``measurement``, the terminal summary's floor
lines and warning, report.html's section, the game-day index's column and the history's entry."""
from __future__ import annotations

import json
from pathlib import Path

from powerpeg.harness.gameday.history import HistoryEntry, trend_table
from powerpeg.harness.gameday.index import SuiteRun
from powerpeg.harness.gameday.index import render as render_index
from powerpeg.harness.gameday.suite import Suite, SuiteEntry
from powerpeg.harness.measure import Metrics
from powerpeg.harness.measurement import ComponentLag, CpuSaturation, KillDecision, Lag, Measurement, Readings, judge
from powerpeg.harness.report import RunRecord, RunStatus, write_all
from powerpeg.harness.report.html import render as render_html
from powerpeg.harness.report.summary import render

T = 1_700_000_000 * 10**9
WARNING = "TTD 0.39 s includes 0.32 s of drop-copy backlog"


def floor(ttd_s: float = 0.39, dropcopy: Lag | None = None) -> Measurement:
    readings = Readings(
        loop=[ComponentLag("alerts", Lag(100, 0.0, 0.0, 0.0)), ComponentLag("exchange", Lag(100, 0.004, 0.02, 0.03)),
              ComponentLag("monitor", Lag.missing("monitor does not serve GET /measurement/loop (HTTP 404)")),
              ComponentLag("router-1", Lag(100, 0.001, 0.003, 0.01)),
              ComponentLag("router-2", Lag(100, 0.001, 0.006, 0.01))],
        drop_copy_lag_s=dropcopy or Lag(14000, 0.32, 0.4, 0.45),
        kill_decisions=[KillDecision(T, "KNIGHT", "overfill")], kill_note=None,
        cpu=CpuSaturation(samples=40, interval_s=0.25, busy_p50=0.6, busy_max=1.0, saturated_share=0.1, cores=2))
    return judge(readings, Metrics(ttd_s=ttd_s, ttk_s=0.05), [])


def record(measurement: Measurement | None) -> RunRecord:
    return RunRecord(experiment="open-burst", status=RunStatus.PASSED, backend="local", seed=1, started_ns=T,
                     ended_ns=T + 10**10, metrics=Metrics(ttd_s=0.39, ttk_s=0.05), measurement=measurement)


def test_journal_json_carries_the_measurement_section(tmp_path: Path) -> None:
    write_all(tmp_path, record(floor()))
    doc = json.loads((tmp_path / "journal.json").read_text())["measurement"]
    assert (0.32, 0.004, 0.25, True) == (doc["drop_copy_lag_s"]["p50"], doc["loop_lag_s"]["exchange"]["p50"],
                                         doc["significant_share"], doc["warnings"][0].startswith(WARNING))
    assert "HTTP 404" in doc["loop_lag_s"]["monitor"]["not_measured"]


def test_a_run_that_never_came_up_has_a_null_measurement(tmp_path: Path) -> None:
    write_all(tmp_path, record(None))
    assert json.loads((tmp_path / "journal.json").read_text())["measurement"] is None
    assert "floor:" not in render(record(None))


def test_the_summary_gives_the_floor_and_the_warning() -> None:
    """Two lines of figures (the routers as their worst), then the warning, marked."""
    text = render(record(floor()))
    assert ("  floor: drop-copy lag p50 0.32 s, p99 0.4 s · kill transit not measured · CPU p50 60%, max 100%, "
            "saturated in 10% of 40 samples") in text
    assert "  loop lag p99: alerts 0 s, exchange 0.02 s, monitor not measured, 2 routers ≤ 0.006 s" in text
    assert f"  ⚠ {WARNING}" in text


def test_an_insignificant_floor_gives_figures_and_no_warning() -> None:
    text = render(record(floor(dropcopy=Lag(100, 0.001, 0.002, 0.003))))
    assert ("floor: drop-copy lag p50 0.001 s, p99 0.002 s" in text, "⚠" in text) == (True, False)


def test_the_report_shows_the_warning_and_why_a_figure_is_missing() -> None:
    page = render_html(record(floor()))
    section = page.split("<h2>Measurement floor</h2>")[1].split("<h2>")[0]
    assert (True, True, True, False) == (f"⚠ {WARNING}" in section, "not measured: monitor does not serve" in section,
                                         "25%" in section, "http://" in section)


def test_the_gameday_index_shows_the_floor_per_run() -> None:
    """A ⚠ with the shares in the run's row, and the warning in the run's section."""
    suite = Suite(title="nightly", experiments=[SuiteEntry(path="x.yaml")])
    page = render_index(suite, [SuiteRun(record(floor()), "01-open-burst"),
                                SuiteRun(record(floor(dropcopy=Lag(100, 0.001, 0.002, 0.003))), "02-calm"),
                                SuiteRun(record(None), "03-none")], started="t", backend="local")
    table = page.split('<table class="runs">')[1].split("</table>")[0]
    rows = table.split("</tr>")[1:4]
    assert ("<th>floor</th>" in table, "⚠ TTD 82% · TTK 8%" in rows[0], "⚠" in rows[1], "not measured" in rows[2]) \
        == (True, True, False, True)
    assert f'<li class="ko">⚠ {WARNING}' in page


def test_the_history_keeps_the_warnings_and_flags_them() -> None:
    entry = HistoryEntry.of(record(floor()), date="2026-01-01T00:00:00Z", gameday="g", suite="s",
                            report=Path("r.html"))
    assert (True, True) == (entry.floor_warnings[0].startswith(WARNING), trend_table([entry]).endswith("⚠ floor"))
    old = HistoryEntry.model_validate_json('{"date": "d", "gameday": "g", "suite": "s", "experiment": "e", '
                                           '"status": "passed", "report": "r"}')
    assert [] == old.floor_warnings  # a line written before the floor still reads
