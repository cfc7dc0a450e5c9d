"""The state file, pid identity and the `status --json` contract."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from powerpeg.harness.context import RunContext, check_run_id
from powerpeg.harness.procs import ProcIdentity, is_ours, read_run_id, read_start_time
from powerpeg.harness.state import FleetState, ProcessRecord, clear_current, read_current, write_current
from powerpeg.harness.topology import (
    ExchangeEndpoints,
    ProxyInfo,
    RouterEndpoints,
    ServiceEndpoints,
    Topology,
    ToxiproxyEndpoints,
)

STATUS_KEYS = {"backend", "token", "exchange", "routers", "monitor", "alerts", "toxiproxy"}


def make_topology(toxiproxy: bool = True) -> Topology:
    return Topology(
        backend="local", run_id="r1", token="tok", firm="KNIGHT", state_dir="/tmp/x", journal="/tmp/x/journal.jsonl",
        exchange=ExchangeEndpoints("EXCHANGE", "127.0.0.1:1001", "127.0.0.1:1002", "http://127.0.0.1:1003"),
        routers=(RouterEndpoints("router-1", "v2", "http://127.0.0.1:2001/orders", "http://127.0.0.1:2001",
                                 "127.0.0.1:3001"),),
        monitor=ServiceEndpoints("http://127.0.0.1:4001"),
        alerts=ServiceEndpoints("http://127.0.0.1:5001"),
        toxiproxy=ToxiproxyEndpoints("http://127.0.0.1:6001",
                                     (ProxyInfo("router-1->exchange", "127.0.0.1:3001", "127.0.0.1:1001"),))
        if toxiproxy else None,
        logs={"exchange": "/tmp/x/logs/exchange.log"},
    )


def test_state_file_round_trips(tmp_path):
    """A saved state loads back equal, processes and topology included."""
    state = FleetState(run_id="r1", topology=make_topology(), created_ns=5,
                       processes=[ProcessRecord("exchange", ProcIdentity(10, 20), ["python", "-m", "x"], "/l",
                                                {"admin_port": 1003})])
    state.save(tmp_path / "state.json")
    assert state == FleetState.load(tmp_path / "state.json")


def test_state_file_is_private(tmp_path):
    """The state file holds the token, so only its owner may read it."""
    FleetState(run_id="r1", topology=make_topology()).save(tmp_path / "state.json")
    assert 0o600 == (tmp_path / "state.json").stat().st_mode & 0o777


def test_state_file_of_another_version_is_refused(tmp_path):
    """An unknown state layout is an error, not a guess."""
    (tmp_path / "state.json").write_text('{"version": 99, "run_id": "r1"}')
    with pytest.raises(ValueError, match="version"):
        FleetState.load(tmp_path / "state.json")


def test_status_json_has_the_contract_keys():
    """`status --json` carries every key of the contract."""
    status = make_topology().status_json()
    assert STATUS_KEYS <= set(status)
    assert {"comp_id", "fix", "dropcopy", "admin"} == set(status["exchange"])
    assert [{"id", "version", "orders", "admin"}] == [set(r) for r in status["routers"]]
    assert {"admin"} == set(status["monitor"]) == set(status["alerts"])
    assert "http://127.0.0.1:6001" == status["toxiproxy"]["api"]


def test_status_json_toxiproxy_is_null_without_it():
    """Without toxiproxy the key is there and null."""
    assert None is make_topology(toxiproxy=False).status_json()["toxiproxy"]


def test_exchange_fix_is_the_exchange_port_not_a_proxy():
    """status shows the exchange's own FIX port; the router's proxied one is separate."""
    topo = make_topology()
    assert "127.0.0.1:1001" == topo.status_json()["exchange"]["fix"]


def test_current_names_the_active_run(tmp_path):
    """`current` is written, read back, and cleared only by its own run."""
    write_current(tmp_path, "r1")
    clear_current(tmp_path, "other")
    assert "r1" == read_current(tmp_path)
    clear_current(tmp_path, "r1")
    assert None is read_current(tmp_path)


def test_identity_of_this_process_is_alive():
    """Our own pid with its real start time is alive."""
    ident = ProcIdentity.of(os.getpid())
    assert ident is not None and ident.alive()


def test_identity_with_another_start_time_is_not_alive():
    """A recycled pid (same number, other start time) is never taken for ours."""
    start = read_start_time(os.getpid())
    assert False is ProcIdentity(os.getpid(), start + 1).alive()


def test_identity_of_an_exited_process_is_not_alive():
    """Once the process is gone its identity is dead."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = ProcIdentity.of(proc.pid)
    proc.wait()
    assert False is (ident is not None and ident.alive())


def test_run_id_is_read_from_the_environment_of_a_process():
    """is_ours needs POWERPEG_RUN_ID in /proc/<pid>/environ to match."""
    env = dict(os.environ, POWERPEG_RUN_ID="run-xyz")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"], env=env)
    try:
        # the kernel publishes a new program's environment a moment after exec returns to Popen
        for _ in range(200):
            if read_run_id(proc.pid) is not None:
                break
            time.sleep(0.01)
        ident = ProcIdentity.of(proc.pid)
        assert ("run-xyz", True, False) == (read_run_id(proc.pid), is_ours(ident, "run-xyz"), is_ours(ident, "other"))
    finally:
        proc.kill()
        proc.wait()


def test_child_env_carries_token_and_run_id(tmp_path):
    """Services get the token and run id through the environment."""
    ctx = RunContext.create(home=tmp_path, run_id="r-1")
    env = ctx.child_env({})
    assert {"POWERPEG_TOKEN": ctx.token, "POWERPEG_RUN_ID": "r-1"} == env


def test_tokens_differ_between_runs(tmp_path):
    """Every run gets a fresh token."""
    assert RunContext.create(home=tmp_path).token != RunContext.create(home=tmp_path).token


def test_run_id_with_a_path_separator_is_rejected():
    """A run id becomes a directory name: no '/' or '..'."""
    with pytest.raises(ValueError, match="invalid run id"):
        check_run_id("../etc")
