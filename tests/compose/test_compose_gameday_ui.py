"""Game days on compose: `powerpeg gameday --backend compose` and `powerpeg ui --backend compose`."""
from __future__ import annotations

import json
import time

import pytest

from powerpeg.harness.backends.compose import docker as dk
from tests.e2e.runs import powerpeg
from tests.e2e.test_gameday import STEADY as LOCAL_STEADY
from tests.e2e.test_ui import request, routers_halted, start_gameday

# the local game day's steady run, on containers (slower to stand up: a longer abort)
STEADY = LOCAL_STEADY.replace("tiny-steady", "compose-steady").replace("max_duration: 10s", "max_duration: 20s")

SUITE = """\
title: Compose game day
participants: [ann]
experiments:
  - path: steady.yaml
"""


@pytest.mark.timeout(300)
def test_gameday_suite_runs_on_compose_and_leaves_nothing(engine, tmp_path) -> None:
    """A one-run suite on compose: exit 0, the index lists the run as passed on compose, no container is left."""
    (tmp_path / "steady.yaml").write_text(STEADY)
    (tmp_path / "suite.yaml").write_text(SUITE)
    proc = powerpeg("gameday", str(tmp_path / "suite.yaml"), "--backend", "compose", "--out",
                    str(tmp_path / "reports"), home=tmp_path / "home")
    [day] = list((tmp_path / "reports").iterdir())
    journal = json.loads((day / "01-compose-steady" / "journal.json").read_text())
    first_event = (day / "01-compose-steady" / "events.jsonl").read_text().splitlines()[0]
    run_id = json.loads(first_event)["run_id"]
    assert (0, "passed", "compose", True) == (proc.returncode, journal["status"], journal["backend"],
                                              (day / "index.html").exists()), proc.stdout + proc.stderr
    assert [] == dk.leftovers(engine, dk.run_filter(run_id))


@pytest.mark.timeout(300)
def test_ui_on_compose_kills_the_fleet_and_tears_down_on_sigterm(engine, tmp_path) -> None:
    """`powerpeg ui --backend compose`: the Chaos API's KILL halts the routers in their containers;
    SIGTERM ends it with exit 0 and no container, network or volume of the run left."""
    gd = start_gameday(tmp_path, "--backend", "compose")
    try:
        # past the open, as the local game-day test: stopped before it, the run measured nothing (exit 4)
        deadline = time.monotonic() + 60
        while _phase(gd) != "open" and time.monotonic() < deadline:
            time.sleep(0.2)
        code, _ = request("POST", f"{gd.url}/chaos/kill", token=gd.token)
        halted = routers_halted(gd.topology())
        backend = gd.topology()["backend"]
    finally:
        exit_code = gd.stop(timeout=120)
    assert (200, [True, True], "compose", 0) == (code, halted, backend, exit_code), "".join(gd.lines)
    assert [] == dk.leftovers(engine, dk.run_filter(gd.run_id))


def _phase(gd) -> str | None:
    _, status = request("GET", f"{gd.url}/chaos/status", token=gd.token)
    return status.get("phase") if isinstance(status, dict) else None
