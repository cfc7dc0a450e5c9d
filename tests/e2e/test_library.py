"""The bundled experiments beyond Knight give the verdicts their opening comments promise,
on the local backend (test_knight.py covers the three Knight files)."""
from __future__ import annotations

import pytest

from tests.e2e.runs import EXPERIMENTS, run

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("name", ["exchange-latency", "exchange-disconnect", "router-crash", "router-freeze"])
def test_resilience_experiment_passes(name, tmp_path) -> None:
    """Network and process faults on v2 routers: exit 0, no excess shares."""
    r = run(EXPERIMENTS / f"{name}.yaml", tmp_path / "out", tmp_path / "home")
    assert (0, "passed", 0) == (r.code, r.journal["status"], r.metrics["excess_shares"]), r.stdout


def test_fleet_version_drift_is_detected_before_the_first_violation(tmp_path) -> None:
    """The version check pages before the open: detected_at earlier than first_violation_at, a negative TTD."""
    r = run(EXPERIMENTS / "fleet-version-drift.yaml", tmp_path / "out", tmp_path / "home")
    m = r.metrics
    assert (0, True) == (r.code, m["detected_at"] < m["first_violation_at"] and m["ttd_s"] < 0), (m, r.stdout)


def test_alert_blackout_is_caught_by_the_phone_escalation(tmp_path) -> None:
    """The pager is off: the heartbeat's phone escalation detects the runaway instead."""
    r = run(EXPERIMENTS / "alert-blackout.yaml", tmp_path / "out", tmp_path / "home")
    assert (0, "phone") == (r.code, r.metrics["detected_by"]), r.stdout


def test_dropcopy_lag_adds_about_the_lag_to_detection(tmp_path) -> None:
    """A 500 ms drop-copy latency: TTD is at least the lag (and the run still passes its own bound)."""
    r = run(EXPERIMENTS / "dropcopy-lag.yaml", tmp_path / "out", tmp_path / "home")
    assert r.code == 0 and r.metrics["ttd_s"] >= 0.45, (r.metrics, r.stdout)
