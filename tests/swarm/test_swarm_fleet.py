"""The swarm backend on a real engine: up/status/down, runs, and cleanup after a SIGKILL.

A few tests, not a parallel suite (CI time): the stack mapping is in
tests/unit/harness/backends/swarm/, the faults' wiring is the compose tests' and the
experiments below exercise deploy, kill switch and teardown on Swarm.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from powerpeg.harness.backends.compose.env import LABEL_RUN
from powerpeg.harness.backends.swarm import engine as sw
from powerpeg.harness import procs
from tests.compose.test_compose_gameday_ui import _phase
from tests.e2e.runs import EXPERIMENTS, ROOT, env, powerpeg, run, wait_for_event
from tests.e2e.test_ui import request, routers_halted, start_gameday


def _left(engine, run_id: str) -> list[str]:
    return sw.leftovers(engine, {"label": [f"{LABEL_RUN}={run_id}"]})


def test_up_status_down_leaves_nothing(engine, membership, tmp_path) -> None:
    """`powerpeg up --backend swarm`, `status --json` (backend swarm, every component healthy), `down`:
    no service, container, network, volume or secret of the run left; swarm membership as found."""
    home = tmp_path / "home"
    up = powerpeg("up", "--backend", "swarm", "--routers", "2", home=home)
    assert 0 == up.returncode, up.stdout + up.stderr
    status = powerpeg("status", "--json", home=home)
    topology = json.loads(status.stdout)
    health = powerpeg("status", home=home)
    down = powerpeg("down", home=home)
    assert ("swarm", 2, 0, 0) == (topology["backend"], len(topology["routers"]), health.returncode,
                                  down.returncode), health.stdout + down.stdout + down.stderr
    assert ("down (" not in health.stdout and "not running" not in health.stdout), health.stdout
    assert ([], membership) == (_left(engine, topology["run_id"]), sw.swarm_state(engine)[0])


def test_knight_controls_passes_on_swarm_with_locust_workers_as_a_service(engine, membership, tmp_path) -> None:
    """knight-2012-controls on swarm with `--load-workers 2`: exit 0, contained by control, TTD and TTK within
    250 ms; Locust ran as Swarm services (a master and a replicated worker service of 2 tasks), each worker's
    parents are measured and each task's log is kept; nothing left."""
    r = run(EXPERIMENTS / "knight-2012-controls.yaml", tmp_path / "out", tmp_path / "home", "--backend", "swarm",
            "--load-workers", "2")
    m = r.metrics
    assert (0, "passed", "control", "swarm") == (r.code, r.journal["status"], m["contained_by"],
                                                 r.journal["backend"]), r.stdout
    assert m["ttd_s"] <= 0.25 and m["ttk_s"] <= 0.25, m
    started = [(e["workers"], e["where"]) for e in r.events() if e.get("event") == "load_start"]
    logs = sorted(p.name for p in (r.out / "load").glob("*.log"))
    files = sorted((r.out / "load" / "parents").glob("parents-*.jsonl"))
    per_worker = [sum(1 for line in f.read_text().splitlines() if line.strip()) for f in files]
    assert ([(2, "swarm services")], ["master.log", "worker-1.log", "worker-2.log"]) == (started, logs), r.stdout
    assert (2, True, m["parents"]) == (len(per_worker), all(n > 0 for n in per_worker), sum(per_worker))
    assert ([], membership) == (_left(engine, r.run_id()), sw.swarm_state(engine)[0])


def test_knight_without_controls_is_not_detected_on_swarm(engine, membership, tmp_path) -> None:
    """knight-2012 on swarm: exit 1, not detected (TTD null), nothing left."""
    r = run(EXPERIMENTS / "knight-2012.yaml", tmp_path / "out", tmp_path / "home", "--backend", "swarm")
    assert (1, None) == (r.code, r.metrics["detected_at"]), r.stdout
    assert ([], membership) == (_left(engine, r.run_id()), sw.swarm_state(engine)[0])


def test_cleanup_after_a_sigkilled_run_removes_everything(engine, membership, tmp_path) -> None:
    """SIGKILL `powerpeg run --backend swarm` mid-method; `powerpeg cleanup` leaves no service, container,
    network, volume or secret of the run, and the swarm membership as it was found."""
    home, out = tmp_path / "home", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "run",
                             str(EXPERIMENTS / "router-crash.yaml"),
                             "--backend", "swarm", "--out", str(out), "--quiet"], env=env(home), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        run_id = wait_for_event(out, "method_start", timeout=120)["run_id"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _left(engine, run_id)
    cleaned = powerpeg("cleanup", home=home)
    assert (True, 0, [], [], membership) == (
        bool(before), cleaned.returncode, _left(engine, run_id), procs.run_processes(run_id),
        sw.swarm_state(engine)[0]), cleaned.stdout


# stand-up, a rollout of 8 tasks one at a time behind a gate (about 45 s on a shared 2-core machine), the method
# and teardown: more than the suite's 120 s default
@pytest.mark.timeout(360)
def test_knight_rolling_update_stalls_and_is_detected_on_swarm(engine, membership, tmp_path) -> None:
    """knight-2012-rolling: Swarm's update pauses after 7 of 8 tasks (the run records who was left on v1),
    the monitor's version check pages before the open (negative TTD) and its over-fill check kills: exit 0."""
    r = run(EXPERIMENTS / "knight-2012-rolling.yaml", tmp_path / "out", tmp_path / "home", "--backend", "swarm")
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    rollout = next(e for e in events if e["event"] == "rollout")
    left = [rid for rid, task in rollout["tasks"].items() if not task["updated"]]
    assert (0, "paused", 1, ["v1"], "control") == (
        r.code, rollout["update_state"], len(left), [rollout["tasks"][rid]["version"] for rid in left],
        r.metrics["contained_by"]), r.stdout
    assert r.metrics["ttd_s"] < 0 and f"v1 left on {left[0]}" in r.journal["faults"][0]["target"], r.metrics
    assert ([], membership) == (_left(engine, r.run_id()), sw.swarm_state(engine)[0])


def test_sigterm_mid_run_leaves_nothing(engine, membership, tmp_path) -> None:
    """SIGTERM `powerpeg run --backend swarm` mid-method: it rolls back and tears down by itself; no service,
    container, network, volume or secret of the run left, swarm membership as found."""
    home, out = tmp_path / "home", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "run",
                             str(EXPERIMENTS / "router-crash.yaml"),
                             "--backend", "swarm", "--out", str(out), "--quiet"], env=env(home), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        run_id = wait_for_event(out, "method_start", timeout=120)["run_id"]
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert ([], [], membership) == (_left(engine, run_id), procs.run_processes(run_id), sw.swarm_state(engine)[0])


@pytest.mark.timeout(300)
def test_ui_on_swarm_kills_the_fleet_and_tears_down_on_sigterm(engine, membership, tmp_path) -> None:
    """`powerpeg ui --backend swarm`: the Chaos API answers with the token and its KILL halts the routers in
    their tasks; SIGTERM (as Ctrl-C) ends the game day with exit 0, nothing of the run left, swarm membership
    as found."""
    gd = start_gameday(tmp_path, "--backend", "swarm")
    try:
        unauthorised, _ = request("POST", f"{gd.url}/chaos/kill")  # no token: refused, nothing halted
        deadline = time.monotonic() + 60
        while _phase(gd) != "open" and time.monotonic() < deadline:
            time.sleep(0.2)
        code, _ = request("POST", f"{gd.url}/chaos/kill", token=gd.token)
        topology = gd.topology()
        halted = routers_halted(topology)
    finally:
        exit_code = gd.stop(timeout=180)
    assert (401, 200, [True, True], "swarm", 0) == (unauthorised, code, halted, topology["backend"], exit_code), \
        "".join(gd.lines)
    assert ([], [], membership) == (_left(engine, gd.run_id), procs.run_processes(gd.run_id),
                                    sw.swarm_state(engine)[0])
