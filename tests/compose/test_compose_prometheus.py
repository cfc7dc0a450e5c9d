"""The bundled Prometheus + Alertmanager control on compose: two containers of powerpeg-prometheus on the
fleet's network (compose/control-prometheus.yml), measured like on local, removed with the fleet."""
from __future__ import annotations

from typing import Any

import pytest

from powerpeg.harness import procs
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.env import PROMETHEUS_IMAGE
from tests.compose.conftest import _unavailable
from tests.e2e.runs import EXPERIMENTS, run

# the fleet, then the two containers, then a 12 s method: about 110 s on this 2-core box when it is shared
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def prometheus_engine(engine: Any) -> Any:
    """The engine, with powerpeg-prometheus built (`make images`, from the host's Debian binaries)."""
    if dk.missing_images(engine, [PROMETHEUS_IMAGE]):
        _unavailable(f"Docker image {PROMETHEUS_IMAGE} not built: run `make images` on a host with the "
                     "prometheus and prometheus-alertmanager packages")
    return engine


def test_tight_prometheus_pipeline_detects_and_kills_on_compose(prometheus_engine, tmp_path) -> None:
    """knight-2012-prometheus on compose: exit 0, paged and killed through the containers' Alertmanager, the
    pipeline read from their APIs, and nothing of the run left (no container, network, volume or process)."""
    r = run(EXPERIMENTS / "knight-2012-prometheus.yaml", tmp_path / "out", tmp_path / "home", "--backend", "compose")
    m, p = r.metrics, r.journal["pipeline"]
    assert (0, "compose", "page", "alertmanager:venue-kill") == (
        r.code, r.journal["backend"], m["detected_by"], m["kill_issued_by"]), r.stdout
    if m["first_violation_at"] is None:
        # the child-per-parent rule can pull the kill before any parent is over-committed (a busy machine
        # slows Power Peg's children more than the rule): a prevention, every timing assertion says so
        assert [(a["name"], True, "prevented") for a in r.journal["assertions"]] == [
            (a["name"], a["passed"], a["message"].split(":")[0]) for a in r.journal["assertions"]], r.stdout
    else:
        assert ("control", "prometheus", "delivered", None) == (
            m["contained_by"], p["control"], p["reached"], p.get("errors")), (m, p)
    started = [e["endpoints"] for e in r.events() if e.get("event") == "controls_started"]
    assert [["alertmanager", "prometheus"]] == [sorted(e) for e in started]
    assert all(url.startswith("http://127.0.0.1:") for url in started[0].values())  # published on loopback only
    assert ([], []) == (dk.leftovers(prometheus_engine, dk.run_filter(r.run_id())), procs.run_processes(r.run_id()))
