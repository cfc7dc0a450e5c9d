"""The game day's terminal summary and the event logs it reads for who killed."""
from __future__ import annotations

from pathlib import Path

from powerpeg.harness.gameday.index import SuiteRun
from powerpeg.harness.gameday.runner import read_events, summary_table
from powerpeg.harness.measure import Metrics
from powerpeg.harness.report import RunRecord


def _run(name: str, kill_at: int | None, events: list[dict]) -> SuiteRun:
    metrics = Metrics(first_violation_at=1, detected_by="page", ttd_s=0.01, kill_issued_at=kill_at, excess_shares=5)
    record = RunRecord(experiment=name, status="passed", backend="local", seed=1, started_ns=0, ended_ns=1,
                       metrics=metrics)
    return SuiteRun(record, f"01-{name}", events)


def test_summary_table_says_who_killed_and_who_detected() -> None:
    """One row per run: the kill column says human or automated, the detection column the channel."""
    table = summary_table([_run("by-hand", 9, [{"event": "operator_kill", "ts_ns": 9}]), _run("by-monitor", 9, [])])
    rows = {line.split()[0]: line.split()[7:] for line in table.splitlines()[1:]}
    assert {"by-hand": ["human", "automated", "(page)"], "by-monitor": ["automated", "automated", "(page)"]} == rows


def test_read_events_skips_a_cut_line_and_a_missing_log_is_empty(tmp_path: Path) -> None:
    """A crash can cut the last line of events.jsonl; a run that never started has none."""
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "method_start", "ts_ns": 1}\n{"event": "operator_kill", "ts_ns": 2}\n{"event": "op')
    assert ([1, 2], []) == ([e["ts_ns"] for e in read_events(log)], read_events(tmp_path / "none.jsonl"))
