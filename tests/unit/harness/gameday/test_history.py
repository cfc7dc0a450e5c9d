"""The game-day history: JSON lines in, a trend table and a trend picture out."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from powerpeg.harness.gameday import history
from powerpeg.harness.gameday.history import HistoryEntry


def _entry(experiment: str, date: str, ttd: float | None, excess: int = 0) -> HistoryEntry:
    return HistoryEntry(date=date, gameday=f"{date[:10]}-x", suite="nightly", experiment=experiment, status="passed",
                        ttd_s=ttd, ttk_s=0.1, ttc_s=None, excess_shares=excess, loss_usd=12.5, detected_by="page",
                        report=f"/r/{experiment}/report.html")


def test_append_then_read_gives_back_the_entries(tmp_path) -> None:
    """Each append is one JSON line; reading parses them back unchanged."""
    path = tmp_path / "sub" / "history.jsonl"
    entries = [_entry("a", "2024-05-01T06:00:00Z", 0.2), _entry("b", "2024-05-01T06:00:00Z", None)]
    for entry in entries:
        history.append(path, entry)
    assert (2, entries) == (len(path.read_text().splitlines()), history.read(path))


def test_a_line_that_is_not_an_entry_names_file_and_line(tmp_path) -> None:
    """A corrupt line is an error with file:line, not silently dropped."""
    path = tmp_path / "h.jsonl"
    path.write_text(_entry("a", "2024-05-01T06:00:00Z", 0.2).model_dump_json() + "\n" + json.dumps({"x": 1}) + "\n")
    with pytest.raises(history.HistoryError) as info:
        history.read(path)
    assert str(info.value).startswith(f"{path}:2: not a history entry")


def test_missing_history_says_so(tmp_path) -> None:
    """No file yet is an error telling how to make one."""
    with pytest.raises(history.HistoryError) as info:
        history.read(tmp_path / "none.jsonl")
    assert "no history yet" in str(info.value)


def test_trend_table_groups_by_experiment_oldest_first() -> None:
    """Per experiment, one row per game day in date order, with TTD and excess."""
    table = history.trend_table([_entry("a", "2024-05-02T06:00:00Z", 0.3, 5), _entry("a", "2024-05-01T06:00:00Z", 0.2),
                                 _entry("b", "2024-05-01T06:00:00Z", None)])
    lines = table.splitlines()
    a_rows = [line for line in lines if line.startswith("  2024-05-0")][:2]
    assert ["a", "2024-05-01T06:00:00", "2024-05-02T06:00:00", "b"] == \
        [lines[0], a_rows[0].split()[0], a_rows[1].split()[0], next(line for line in lines if line == "b")]
    assert ["0.300", "5"] == [a_rows[1].split()[2], a_rows[1].split()[5]]


def test_trend_html_has_two_charts_per_experiment_and_no_url() -> None:
    """TTD/TTK/TTC and excess shares per experiment, inline SVG, self-contained."""
    page = history.trend_html([_entry("a", "2024-05-01T06:00:00Z", 0.2), _entry("a", "2024-05-02T06:00:00Z", 0.4),
                               _entry("b", "2024-05-01T06:00:00Z", 0.1)], Path("h.jsonl"))
    assert (4, 2, False) == (page.count("<svg"), page.count("<h2>"), "http://" in page.replace("http://www.w3.org", ""))


def test_trend_chart_plots_one_point_per_measured_value() -> None:
    """A null TTC draws no point; every measured value does."""
    page = history.trend_html([_entry("a", "2024-05-01T06:00:00Z", 0.2), _entry("a", "2024-05-02T06:00:00Z", None)],
                              Path("h.jsonl"))
    # TTD: 1 point, TTK: 2, TTC: 0, excess: 2
    assert 5 == page.count('class="point"')
