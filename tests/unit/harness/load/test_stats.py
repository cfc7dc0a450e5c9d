"""Locust's stats files and the parents logs, parsed into what the harness uses."""
from __future__ import annotations

import json

import pytest

from powerpeg.harness.load.stats import LoadStats, StatsError, read_parents

HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
          "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
          "99.99%,100%\n")
# as Locust 2.47 writes it
CSV = HEADER + (
    "POST,POST /orders router-1,60,2,5,6.12,1.72,19.55,32.0,19.97,0.66,5,7,8,10,12,14,15,20,20,20,20\n"
    "POST,POST /orders router-2,60,1,6,6.44,1.82,23.59,32.0,19.97,0.33,6,8,8,10,12,13,13,24,24,24,24\n"
    ",Aggregated,120,3,5,6.28,1.72,23.59,32.0,39.94,1.0,5,7,8,10,12,13,15,21,24,24,24\n"
)


def parent(pid: str, ts: int, **extra) -> dict:
    return {"parent_id": pid, "router": "router-1", "symbol": "AM", "side": "buy", "qty": 100, "rlp": False,
            "ts_ns": ts, **extra}


def test_aggregated_row_is_the_whole_load():
    """The Aggregated row gives requests, failures, rps and the percentiles."""
    expected = LoadStats(requests=120, failures=3, rps=39.94, p50_ms=5.0, p95_ms=13.0, p99_ms=21.0)
    assert expected == LoadStats.from_csv(CSV)


def test_failure_ratio_is_failures_over_requests():
    """failure_ratio divides failures by requests."""
    assert 0.025 == LoadStats.from_csv(CSV).failure_ratio


def test_failure_ratio_of_no_requests_is_zero():
    """With no request yet there is no failure ratio to speak of: 0."""
    assert 0.0 == LoadStats().failure_ratio


def test_na_percentiles_read_as_zero():
    """Locust writes N/A percentiles before the first answer; they read as 0."""
    text = HEADER + ",Aggregated,0,0,0,0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
    assert LoadStats() == LoadStats.from_csv(text)


def test_csv_without_aggregated_row_is_an_error():
    """A stats file with no Aggregated row is not Locust's: StatsError."""
    with pytest.raises(StatsError, match="no Aggregated row"):
        LoadStats.from_csv(HEADER)


def test_csv_missing_a_column_is_an_error():
    """A missing column is named in the error."""
    with pytest.raises(StatsError, match="Requests/s"):
        LoadStats.from_csv("Type,Name,Request Count,Failure Count\n,Aggregated,1,0\n")


def test_no_files_yet_is_zero_stats(tmp_path):
    """Before Locust wrote anything the stats are all zero."""
    assert LoadStats() == LoadStats.from_files(tmp_path / "locust_stats.csv", tmp_path / "final.json")


def test_live_csv_is_read_while_no_final_stats(tmp_path):
    """While Locust runs, the stats come from its CSV."""
    (tmp_path / "locust_stats.csv").write_text(CSV)
    assert 120 == LoadStats.from_files(tmp_path / "locust_stats.csv", tmp_path / "final.json").requests


def test_final_stats_win_over_the_csv(tmp_path):
    """Once Locust quit, its final numbers replace the (up to a second old) CSV."""
    (tmp_path / "locust_stats.csv").write_text(CSV)
    final = {"requests": 124, "failures": 3, "rps": 40.0, "p50_ms": 5, "p95_ms": 13, "p99_ms": 20}
    (tmp_path / "final.json").write_text(json.dumps(final))
    expected = LoadStats(requests=124, failures=3, rps=40.0, p50_ms=5.0, p95_ms=13.0, p99_ms=20.0)
    assert expected == LoadStats.from_files(tmp_path / "locust_stats.csv", tmp_path / "final.json")


def test_bad_final_stats_are_an_error():
    """Final stats missing a key are refused, naming it."""
    with pytest.raises(StatsError, match="rps"):
        LoadStats.from_final(json.dumps({"requests": 1, "failures": 0}))


def test_parents_of_every_process_merge_oldest_first(tmp_path):
    """Parents logs of several Locust processes merge into one list by ts_ns."""
    (tmp_path / "parents-11.jsonl").write_text(json.dumps(parent("router-1-000001", 30)) + "\n"
                                               + json.dumps(parent("router-1-000003", 10)) + "\n")
    (tmp_path / "parents-12.jsonl").write_text(json.dumps(parent("router-2-000001", 20)) + "\n")
    expected = ["router-1-000003", "router-2-000001", "router-1-000001"]
    assert expected == [p["parent_id"] for p in read_parents(tmp_path)]


def test_torn_last_line_is_dropped(tmp_path):
    """A process killed mid-write leaves a torn last line, which is not a parent."""
    (tmp_path / "parents-11.jsonl").write_text(json.dumps(parent("router-1-000001", 1)) + "\n"
                                               + '{"parent_id": "router-1-0000')
    assert ["router-1-000001"] == [p["parent_id"] for p in read_parents(tmp_path)]


def test_bad_line_inside_a_log_is_an_error(tmp_path):
    """A complete line that is not a parent record is an error naming file and line."""
    (tmp_path / "parents-11.jsonl").write_text(json.dumps(parent("router-1-000001", 1, extra=1)) + "\n")
    with pytest.raises(ValueError, match="parents-11.jsonl:1"):
        read_parents(tmp_path)


def test_no_parents_logs_is_no_parents(tmp_path):
    """A load that never got a 202 has no parents."""
    assert [] == read_parents(tmp_path)
