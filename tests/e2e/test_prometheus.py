"""The bundled Prometheus + Alertmanager control end to end: the tight pipeline detects and kills the
Knight runaway; the defaults' cost is the finding. Measured as any control: TTD from the sink, TTK from
the exchange's kill record; the pipeline section says where the time went."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from powerpeg.harness import procs
from tests.e2e.runs import EXPERIMENTS, Result, alive, powerpeg, run, start, wait_for_event

MISSING = [b for b in ("prometheus", "prometheus-alertmanager") if shutil.which(b) is None]
if MISSING and os.environ.get("POWERPEG_REQUIRE_PROMETHEUS") == "1":
    pytest.fail(f"{', '.join(MISSING)} not installed (POWERPEG_REQUIRE_PROMETHEUS=1; .ci/ensure-prometheus.sh)",
                pytrace=False)
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed "
                                                       "(apt-get install prometheus prometheus-alertmanager)"),
              # the two runs take about 25 s and 110 s on 2 cores: the defaults' finding is a minute long
              pytest.mark.timeout(480)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Result]:
    home, out = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("reports")
    return {name: run(EXPERIMENTS / f"{name}.yaml", out / name, home)
            for name in ("knight-2012-prometheus", "knight-2012-prometheus-defaults")}


def test_tight_pipeline_detects_and_kills(runs) -> None:
    """Scrape and evaluate every second, group_wait 0: exit 0, paged and killed through Alertmanager."""
    r = runs["knight-2012-prometheus"]
    m, p = r.metrics, r.journal["pipeline"]
    assert (0, "page", "alertmanager:venue-kill", "control") == (
        r.code, m["detected_by"], m["kill_issued_by"], m["contained_by"]), r.stdout
    assert 0 < m["ttd_s"] <= 5.0 and m["ttk_s"] <= 1.0, m
    assert ("delivered", "prometheus") == (p["reached"], p["control"])
    # the stages add up to the TTD the sink measured (each ends where a party recorded it)
    assert abs(sum(p["stages_s"].values()) - m["ttd_s"]) < 0.01, p["stages_s"]
    assert "pipeline (prometheus" in r.stdout


def test_defaults_cost_is_the_finding(runs) -> None:
    """Scrape/evaluate 15 s, group_wait 30 s: the 5 s hypothesis is refuted (exit 1, as the file expects),
    with TTD tens of seconds (or none before the cap) and a loss far beyond the tight pipeline's."""
    tight, r = runs["knight-2012-prometheus"], runs["knight-2012-prometheus-defaults"]
    m, p = r.metrics, r.journal["pipeline"]
    assert (1, True) == (r.code, r.journal["as_expected"]), r.stdout
    assert m["ttd_s"] is None or m["ttd_s"] > 30.0, m  # group_wait alone is 30 s
    assert m["loss_usd"] > 50 * max(tight.metrics["loss_usd"], 1.0), (m["loss_usd"], tight.metrics["loss_usd"])
    if m["ttd_s"] is not None:
        assert p["stages_s"]["alertmanager"] >= 29.9, p["stages_s"]
    else:
        assert p["reached"] in ("data", "fired", "alertmanager"), p


def test_cleanup_after_sigkill_stops_prometheus_and_alertmanager(tmp_path: Path) -> None:
    """A SIGKILLed run leaves its bundled control running; `powerpeg cleanup` stops both binaries too."""
    out, home = tmp_path / "out", tmp_path / "home"
    proc = start(EXPERIMENTS / "knight-2012-prometheus.yaml", out, home)
    run_id = wait_for_event(out, "controls_started")["run_id"]
    proc.kill()
    proc.wait(timeout=10)
    time.sleep(0.5)
    controls = [i.pid for i in procs.run_processes(run_id)
                if Path(f"/proc/{i.pid}/exe").resolve().name in ("prometheus", "prometheus-alertmanager")]
    cleaned = powerpeg("cleanup", home=home)
    assert (2, 0) == (len(controls), cleaned.returncode), cleaned.stdout + cleaned.stderr
    assert "stopped prometheus" in cleaned.stdout and "stopped alertmanager" in cleaned.stdout
    assert [] == alive(run_id)


def test_reports_and_nothing_left_running(runs, tmp_path: Path) -> None:
    """Prometheus's and Alertmanager's logs go with the report; no process of either run is alive."""
    for r in runs.values():
        assert {"prometheus.log", "alertmanager.log"} <= {f.name for f in (r.out / "logs").iterdir()}
    assert {} == {name: alive(r.run_id()) for name, r in runs.items() if alive(r.run_id())}
