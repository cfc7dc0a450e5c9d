"""Every run measures its own floor and says it: knight-2012-controls end to end, and journal.json's
``measurement`` holds each component's loop lag, the host's CPU over the method, the monitor's drop-copy
lag and the kill's transit (docs/harness.md, "The measurement floor")."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.runs import EXPERIMENTS, Result, alive, run


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Result:
    home = tmp_path_factory.mktemp("home")
    r = run(EXPERIMENTS / "knight-2012-controls.yaml", tmp_path_factory.mktemp("reports") / "controls", home)
    assert [] == alive(r.run_id()), "the run left processes behind"
    return r


@pytest.fixture(scope="module")
def measurement(result: Result) -> dict[str, Any]:
    assert 0 == result.code, result.stdout
    section: dict[str, Any] = result.journal["measurement"]
    return section


def test_every_component_reports_its_loop_lag(measurement: dict[str, Any]) -> None:
    """The exchange, the eight routers, the monitor and the alert sink: each sampled, each named as itself."""
    loops = measurement["loop_lag_s"]
    expected = {"exchange", "monitor", "alerts", *(f"router-{i}" for i in range(1, 9))}
    assert expected == set(loops)
    unmeasured = {name: lag["not_measured"] for name, lag in loops.items() if lag["not_measured"] or not lag["n"]}
    assert {} == unmeasured
    assert all(lag["p50"] <= lag["p99"] <= lag["max"] for lag in loops.values()), loops
    assert {name: name for name in expected} == {name: lag["instance"] for name, lag in loops.items()}


def test_the_hosts_cpu_was_sampled_over_the_method(measurement: dict[str, Any]) -> None:
    cpu = measurement["cpu"]
    assert (None, True) == (cpu["not_measured"], cpu["samples"] > 0)
    assert 0 <= cpu["busy_p50"] <= cpu["busy_max"] <= 1 and 0 <= cpu["saturated_share"] <= 1


def test_the_drop_copy_lag_is_the_monitors(measurement: dict[str, Any]) -> None:
    """The monitor read the whole run's drop copy: many reports, each with its lag."""
    lag = measurement["drop_copy_lag_s"]
    assert (None, True) == (lag["not_measured"], lag["n"] > 0), lag
    assert lag["p50"] <= lag["p99"] <= lag["max"]


def test_the_kill_transit_is_the_monitors_kill_in_the_journal(result: Result, measurement: dict[str, Any]) -> None:
    """Decision → the exchange's kill record: the very kill measurement counts as the control's."""
    transit = measurement["kill_transit"]
    assert None is transit["not_measured"], transit
    assert (result.metrics["kill_issued_at"], True) == (transit["at_exchange_ns"], transit["transit_s"] >= 0)


def test_the_floor_is_stated_in_the_summary_and_the_report(result: Result, measurement: dict[str, Any]) -> None:
    """Both floors judged against TTD and TTK; the summary and report.html show the figures and any warning."""
    floor = measurement["floor"]
    assert (result.metrics["ttd_s"], result.metrics["ttk_s"]) == (floor["ttd"]["value_s"], floor["ttk"]["value_s"])
    page = (result.out / "report.html").read_text()
    assert ("  floor: drop-copy lag p50" in result.stdout, "<h2>Measurement floor</h2>" in page) == (True, True)
    assert all(f"⚠ {w}" in result.stdout for w in measurement["warnings"])


def test_the_run_keeps_its_other_evidence(result: Result) -> None:
    """Reading the floor costs nothing else: the journal, marks and alerts are read as ever."""
    evidence = result.journal["evidence"]
    assert {"journal": True, "marks": True, "alerts": True} == {k: evidence[k]["ok"] for k in
                                                                 ("journal", "marks", "alerts")}
    assert Path(result.out / "exchange-journal.jsonl").is_file()
