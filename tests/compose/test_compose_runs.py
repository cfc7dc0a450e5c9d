"""Experiments on compose end to end: `powerpeg run FILE --backend compose`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness import procs
from tests.e2e.runs import EXPERIMENTS, ROOT, env, powerpeg, run, wait_for_event


def test_knight_controls_passes_on_compose(engine, tmp_path) -> None:
    """knight-2012-controls on compose: exit 0, contained by control, TTD and TTK within 250 ms, nothing left."""
    r = run(EXPERIMENTS / "knight-2012-controls.yaml", tmp_path / "out", tmp_path / "home", "--backend", "compose")
    m = r.metrics
    assert (0, "passed", "control", "compose") == (r.code, r.journal["status"], m["contained_by"],
                                                   r.journal["backend"]), r.stdout
    assert m["ttd_s"] <= 0.25 and m["ttk_s"] <= 0.25, m
    assert [] == dk.leftovers(engine, dk.run_filter(r.run_id()))
    # the kill reached the exchange and every router, recreated by the deploy or not
    kills = [json.loads(line) for line in (r.out / "logs" / "monitor.log").read_text().splitlines()
             if '"kill_done"' in line]
    assert [0] == [k["failed"] for k in kills], kills


def test_exchange_disconnect_passes_through_the_toxiproxy_container(engine, tmp_path) -> None:
    """exchange-disconnect on compose: the proxy cut is applied, the run passes, nothing is left."""
    r = run(EXPERIMENTS / "exchange-disconnect.yaml", tmp_path / "out", tmp_path / "home", "--backend", "compose")
    assert (0, True) == (r.code, "faults: network router-2->exchange down" in r.stdout), r.stdout
    assert [] == dk.leftovers(engine, dk.run_filter(r.run_id()))


def test_cleanup_after_a_sigkilled_run_removes_its_containers(engine, tmp_path) -> None:
    """SIGKILL `powerpeg run` mid-method; `powerpeg cleanup` leaves no container, network or volume."""
    home, out = tmp_path / "home", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "run",
                             str(EXPERIMENTS / "exchange-latency.yaml"),
                             "--backend", "compose", "--out", str(out), "--quiet"], env=env(home), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        run_id = wait_for_event(out, "method_start", timeout=90)["run_id"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its Locust: a crash leaves only the containers
        proc.wait()
    before = dk.leftovers(engine, dk.run_filter(run_id))
    cleaned = powerpeg("cleanup", home=home)
    assert (True, 0, [], []) == (bool(before), cleaned.returncode, dk.leftovers(engine, dk.run_filter(run_id)),
                                 procs.run_processes(run_id)), cleaned.stdout


def test_load_workers_run_as_containers_of_the_load_profile(engine, tmp_path) -> None:
    """`--backend compose --load-workers 2`: a Locust master and two worker containers (the compose file's
    `load` profile) drive the routers by service name; the run passes, each worker's parents are measured,
    each container's log is kept, and no container is left."""
    from tests.e2e.test_gameday import STEADY  # the same short steady-state experiment

    # max_duration 30 s: the open waits for Locust's containers, seconds more on a loaded host (the 10 s cap
    # fired once here with a soak beside it), and this test is about where Locust runs, not the cap
    (tmp_path / "steady.yaml").write_text(STEADY.replace("users: 2", "users: 4").replace("max_duration: 10s",
                                                                                       "max_duration: 30s"))
    r = run(tmp_path / "steady.yaml", tmp_path / "out", tmp_path / "home", "--backend", "compose",
            "--load-workers", "2")
    started = [(e["workers"], e["where"]) for e in r.events() if e.get("event") == "load_start"]
    assert (0, [(2, "containers")]) == (r.code, started), r.stdout
    logs = sorted(p.name for p in (r.out / "load").glob("*.log"))
    assert ["master.log", "worker-1.log", "worker-2.log"] == logs
    files = sorted((r.out / "load" / "parents").glob("parents-*.jsonl"))
    per_worker = [sum(1 for line in f.read_text().splitlines() if line.strip()) for f in files]
    assert (2, True, r.metrics["parents"]) == (len(per_worker), all(n > 0 for n in per_worker), sum(per_worker))
    assert [] == dk.leftovers(engine, dk.run_filter(r.run_id()))



def test_a_dead_exchange_journal_is_copied_out_of_its_container(engine, tmp_path) -> None:
    """The exchange container killed mid-run (no fault means it): the run is inconclusive (exit 4), names the
    exchange as down, and its journal still reaches the report, copied out of the stopped container."""
    home, out = tmp_path / "home", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "run",
                             str(ROOT / "tests" / "fixtures" / "dead-parts"
                             / "steady.yaml"), "--backend", "compose", "--out", str(out)],
                            env=env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run_id = wait_for_event(out, "market_open", timeout=120)["run_id"]
        dk.service_container(engine, run_id, "exchange").kill()
        stdout, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    doc = json.loads((out / "journal.json").read_text())
    journal = doc["evidence"]["journal"]
    records = [json.loads(line) for line in (out / "exchange-journal.jsonl").read_text().splitlines() if line.strip()]
    assert (4, "inconclusive", ["exchange"]) == (proc.returncode, doc["status"], [o["part"] for o in doc["outages"]]), \
        stdout
    assert (True, True, len(records), True) == (journal["ok"], "docker get_archive" in journal["how"],
                                               journal["count"], len(records) > 0), journal
    assert [] == dk.leftovers(engine, dk.run_filter(run_id))
