"""The local backend against tiny fake services (real processes, real ports).

The fakes speak only the launcher contract of docs/targets.md: flags, ready
file, /health. The real components are exercised in tests/integration.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from powerpeg.harness.backends.base import FleetError, FleetSpec
from powerpeg.harness.backends.local import LocalBackend, cleanup
from powerpeg.harness.context import RunContext
from powerpeg.harness.procs import ProcIdentity, StartError
from powerpeg.harness.state import FleetState, ProcessRecord, read_current

FAKE_SERVICE = r'''
import argparse, json, os, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
kind = sys.argv[1]
if "--crash" in sys.argv:
    print(f"{kind}: boom, bad configuration", file=sys.stderr)
    sys.exit(2)
if "--hang" in sys.argv:
    time.sleep(60)
p = argparse.ArgumentParser()
p.add_argument("--ready-file"); p.add_argument("--admin-port", type=int, default=0)
args, _ = p.parse_known_args(sys.argv[2:])
argv = sys.argv[2:]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "kind": kind, "argv": argv,
                           "token": os.environ.get("POWERPEG_TOKEN")}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", args.admin_port), H)
port = srv.server_address[1]
info = {"pid": os.getpid(), "admin_port": port}
extra = []
if kind == "exchange":
    for key in ("fix_port", "dropcopy_port"):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); extra.append(s)
        info[key] = s.getsockname()[1]
if kind == "router":
    info.update(orders_url=f"http://127.0.0.1:{port}/orders", admin_url=f"http://127.0.0.1:{port}")
tmp = args.ready_file + ".tmp"
open(tmp, "w").write(json.dumps(info)); os.replace(tmp, args.ready_file)
srv.serve_forever()
'''


def fake_commands(script: Path, **overrides: list[str]) -> dict[str, list[str]]:
    commands = {k: [sys.executable, str(script), k] for k in ("alerts", "exchange", "monitor", "router")}
    for kind, extra in overrides.items():
        commands[kind] = commands[kind] + extra
    return commands


@pytest.fixture(scope="module")
def fake_script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fake") / "fake_service.py"
    path.write_text(FAKE_SERVICE)
    return path


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


async def wait_for_state(pid: int, wanted: set[str], timeout: float = 3.0) -> str:
    """The process state letter once it is one of ``wanted`` (signals land asynchronously)."""
    state = "?"
    for _ in range(int(timeout / 0.02)):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in wanted:
            break
        await asyncio.sleep(0.02)
    return state


def alive(state: FleetState) -> list[str]:
    return [p.component for p in state.processes if p.ident.alive()]


@pytest.fixture(scope="module")
def fake_fleet(fake_script, tmp_path_factory):
    """One fake fleet (2 routers, toxiproxy when present) shared by the read-only tests."""
    home = tmp_path_factory.mktemp("home")
    ctx = RunContext.create(home=home, run_id="fake-1")
    backend = LocalBackend(ctx)
    topology = asyncio.run(backend.up(FleetSpec(routers=2, commands=fake_commands(fake_script))))
    state = FleetState.load(ctx.state_file)
    yield backend, topology, state
    asyncio.run(backend.down())
    assert [] == alive(state)


def test_up_answers_health_on_every_admin_url(fake_fleet):
    """Every component in the topology serves /health once `up` returns."""
    _, topology, _ = fake_fleet
    kinds = {name: get_json(url + "/health")["kind"] for name, url in topology.admin_urls().items()}
    assert {"alerts": "alerts", "exchange": "exchange", "monitor": "monitor",
            "router-1": "router", "router-2": "router"} == kinds


def test_up_passes_the_token_through_the_environment_only(fake_fleet):
    """Services see POWERPEG_TOKEN in their env and never in argv."""
    _, topology, _ = fake_fleet
    health = get_json(topology.exchange.admin + "/health")
    assert (topology.token, False) == (health["token"], topology.token in " ".join(health["argv"]))


def test_up_records_current_run_and_state(fake_fleet):
    """`current` names the run; the state lists every process it started."""
    backend, _, state = fake_fleet
    expected = {"alerts", "exchange", "monitor", "router-1", "router-2"} | (
        {"toxiproxy"} if state.topology.toxiproxy else set())
    assert ("fake-1", expected) == (read_current(backend.ctx.home), {p.component for p in state.processes})


def test_monitor_and_routers_know_each_other(fake_fleet):
    """The monitor gets every router admin URL; routers get the monitor's."""
    _, topology, _ = fake_fleet
    monitor_argv = get_json(topology.monitor.admin + "/health")["argv"]
    router_argv = get_json(topology.routers[0].admin + "/health")["argv"]
    assert ([r.admin for r in topology.routers], [topology.monitor.admin]) == (
        flag_values(monitor_argv, "--router"), flag_values(router_argv, "--monitor"))


def test_router_dials_the_exchange_through_its_own_proxy(fake_fleet):
    """With toxiproxy each router's --exchange is its proxy, whose upstream is the exchange FIX port."""
    _, topology, _ = fake_fleet
    if topology.toxiproxy is None:
        pytest.fail("toxiproxy-server is expected in the venv (make setup installs it)")
    router = topology.routers[1]
    proxy = topology.toxiproxy.proxy("router-2->exchange")
    proxies = get_json(topology.toxiproxy.api + "/proxies")
    argv = get_json(router.admin + "/health")["argv"]
    assert ([proxy.listen], topology.exchange.fix, proxy.listen) == (
        flag_values(argv, "--exchange"), proxies["router-2->exchange"]["upstream"],
        proxies["router-2->exchange"]["listen"])


def test_every_component_logs_to_its_own_file(fake_fleet):
    """stdout/stderr of each component go to <state>/logs/<component>.log."""
    backend, _, state = fake_fleet
    assert [str(backend.ctx.log_path(p.component)) for p in state.processes] == [p.log for p in state.processes]


async def test_failed_start_names_the_component_and_leaves_nothing(fake_script, tmp_path):
    """A router that exits at once fails `up` with its log tail, and everything else is stopped."""
    ctx = RunContext.create(home=tmp_path, run_id="crash-1")
    spec = FleetSpec(routers=2, toxiproxy=False, commands=fake_commands(fake_script, router=["--crash"]))
    with pytest.raises(StartError) as info:
        await LocalBackend(ctx).up(spec)
    assert ("router", True) == (info.value.component[:6], "boom, bad configuration" in info.value.log_tail)
    assert (False, None) == (ctx.state_file.exists(), read_current(tmp_path))


async def test_failed_start_stops_what_had_started(fake_script, tmp_path, monkeypatch):
    """Processes started before the failure are gone after it."""
    ctx = RunContext.create(home=tmp_path, run_id="crash-2")
    spec = FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script, monitor=["--crash"]))
    started: list[ProcessRecord] = []
    original_save = FleetState.save

    def spy(self, path):
        started[:] = list(self.processes)
        original_save(self, path)

    monkeypatch.setattr(FleetState, "save", spy)
    with pytest.raises(StartError):
        await LocalBackend(ctx).up(spec)
    assert ["alerts", "exchange", "monitor", "router-1"] == [p.component for p in started]
    assert [] == [p.component for p in started if p.ident.alive()]


async def test_cancelled_up_leaves_nothing_running(fake_script, tmp_path):
    """Ctrl-C (task cancelled) while routers are starting stops everything already started."""
    ctx = RunContext.create(home=tmp_path, run_id="cancel-1")
    spec = FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script, router=["--hang"]))
    task = asyncio.create_task(LocalBackend(ctx).up(spec))
    for _ in range(500):
        await asyncio.sleep(0.02)
        if ctx.state_file.exists() and len(FleetState.load(ctx.state_file).processes) == 4:
            break
    state = FleetState.load(ctx.state_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (4, []) == (len(state.processes), alive(state))


async def test_cleanup_stops_processes_of_a_crashed_cli_and_removes_state(fake_script, tmp_path):
    """After `up` (its CLI gone without `down`), cleanup stops the fleet and removes the run."""
    ctx = RunContext.create(home=tmp_path, run_id="orphan-1")
    await LocalBackend(ctx).up(FleetSpec(routers=2, commands=fake_commands(fake_script)))
    state = FleetState.load(ctx.state_file)
    removed = await cleanup(tmp_path)
    assert ([], False, None) == (alive(state), ctx.state_dir.exists(), read_current(tmp_path))
    assert any("stopped router-2" in line for line in removed)


async def test_cleanup_never_touches_a_process_of_another_run(tmp_path):
    """A live pid recorded in a state file but not started for that run survives cleanup."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            env={k: v for k, v in os.environ.items() if k != "POWERPEG_RUN_ID"})
    try:
        ident = ProcIdentity.of(proc.pid)
        ctx = RunContext.create(home=tmp_path, run_id="stale-1")
        FleetState(run_id="stale-1", topology=None,
                   processes=[ProcessRecord("exchange", ident, ["x"], "/dev/null")]).save(ctx.state_file)
        await cleanup(tmp_path)
        assert (True, False) == (ident.alive(), ctx.state_dir.exists())
    finally:
        proc.kill()
        proc.wait()


async def test_cleanup_with_nothing_left_removes_nothing(tmp_path):
    """An empty home has nothing to clean."""
    assert [] == await cleanup(tmp_path)


async def test_restart_comes_back_on_the_same_admin_port(fake_script, tmp_path):
    """A restarted router has a new pid and the same address."""
    ctx = RunContext.create(home=tmp_path, run_id="restart-1")
    backend = LocalBackend(ctx)
    topology = await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        before = FleetState.load(ctx.state_file).process("router-1").ident
        await backend.restart("router-1")
        after = FleetState.load(ctx.state_file).process("router-1").ident
        health = get_json(topology.routers[0].admin + "/health")
        assert (False, True, "router") == (before.alive(), after.alive(), health["kind"])
    finally:
        await backend.down()


async def test_deploy_restarts_a_router_on_another_version(fake_script, tmp_path):
    """deploy(router, v1) restarts it with --version v1 and records the version."""
    ctx = RunContext.create(home=tmp_path, run_id="deploy-1")
    backend = LocalBackend(ctx)
    topology = await backend.up(FleetSpec(routers=2, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        await backend.deploy("router-2", "v1")
        argv = get_json(topology.routers[1].admin + "/health")["argv"]
        assert (["v1"], ["v2", "v1"]) == (flag_values(argv, "--version"),
                                          [r.version for r in backend.topology().routers])
    finally:
        await backend.down()


async def test_pause_stops_a_process_and_resume_continues_it(fake_script, tmp_path):
    """pause → state T (stopped); resume → running again."""
    ctx = RunContext.create(home=tmp_path, run_id="pause-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        pid = FleetState.load(ctx.state_file).process("alerts").ident.pid
        await backend.pause("alerts")
        paused = await wait_for_state(pid, {"T"})
        await backend.resume("alerts")
        resumed = await wait_for_state(pid, {"S", "R"})
        assert ("T", True) == (paused, resumed in {"S", "R"})
    finally:
        await backend.down()


async def test_down_stops_in_reverse_dependency_order(fake_script, tmp_path):
    """Routers, then monitor, toxiproxy, exchange, alerts."""
    ctx = RunContext.create(home=tmp_path, run_id="order-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=2, commands=fake_commands(fake_script)))
    stopped = [component for component, _ in await backend.down()]
    expected = ["router-2", "router-1", "monitor", "toxiproxy", "exchange", "alerts"]
    assert [c for c in expected if c in stopped] == stopped


async def test_down_stops_a_paused_fleet(fake_script, tmp_path):
    """A frozen process still stops on `down` (SIGCONT after SIGTERM)."""
    ctx = RunContext.create(home=tmp_path, run_id="pause-2")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    state = FleetState.load(ctx.state_file)
    await backend.pause("exchange")
    await backend.down()
    assert [] == alive(state)


def test_bad_spec_names_the_setting():
    """An invalid fleet spec says which flag is wrong."""
    with pytest.raises(ValueError, match="--routers"):
        FleetSpec(routers=0).validate()


def test_unknown_router_version_is_rejected():
    """Per-router versions must name a router of the fleet and a known version."""
    with pytest.raises(ValueError, match="v3"):
        FleetSpec(routers=2, versions={"router-2": "v3"}).validate()


async def test_killed_component_shows_as_not_running(fake_script, tmp_path):
    """kill(router-1) SIGKILLs it; health() then says so while the rest stay ok."""
    ctx = RunContext.create(home=tmp_path, run_id="kill-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        ident = FleetState.load(ctx.state_file).process("router-1").ident
        await backend.kill("router-1")
        for _ in range(100):
            if not ident.alive():
                break
            await asyncio.sleep(0.02)
        health = await backend.health()
        assert {"alerts": "ok", "exchange": "ok", "monitor": "ok", "router-1": "not running"} == health
    finally:
        await backend.down()


async def test_process_state_says_exited_once_a_component_is_killed(fake_script, tmp_path):
    """The runner asks after a failed read: None while the monitor runs (and for an unknown name), exited once
    it is gone."""
    ctx = RunContext.create(home=tmp_path, run_id="state-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        before = await backend.process_state("monitor")
        await backend.kill("monitor")
        assert (None, "exited", None) == (before, await backend.process_state("monitor"),
                                          await backend.process_state("router-9"))
    finally:
        await backend.down()


async def test_copy_journal_copies_the_file_under_the_state_directory(tmp_path):
    """The exchange may be dead: the journal file it wrote is copied as it is, and the answer says from where."""
    ctx = RunContext.create(home=tmp_path, run_id="journal-1")
    ctx.state_dir.mkdir(parents=True)
    ctx.journal_path.write_text('{"kind": "accepted"}\n{"kind": "fill"}\n')
    how = await LocalBackend(ctx).copy_journal(tmp_path / "copy.jsonl")
    assert (ctx.journal_path.read_text(), f"copied from {ctx.journal_path}") == (
        (tmp_path / "copy.jsonl").read_text(), how)


async def test_copy_journal_without_a_file_is_a_fleet_error(tmp_path):
    """No journal written: a FleetError naming where it looked, nothing created."""
    ctx = RunContext.create(home=tmp_path, run_id="journal-2")
    with pytest.raises(FleetError, match="no exchange journal at"):
        await LocalBackend(ctx).copy_journal(tmp_path / "copy.jsonl")
    assert not (tmp_path / "copy.jsonl").exists()


async def test_a_detached_monitor_is_wired_to_nothing(fake_script, tmp_path):
    """monitor_detached (controls.external): no drop copy, no sink, no exchange, no routers on its command line."""
    ctx = RunContext.create(home=tmp_path, run_id="detached-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script),
                               monitor_detached=True, monitor_args=["--passive"]))
    try:
        argv = FleetState.load(ctx.state_file).process("monitor").argv
        assert ([], ["--passive"]) == ([f for f in ("--dropcopy", "--alerts", "--exchange-admin", "--router")
                                        if f in argv], [a for a in argv if a == "--passive"])
    finally:
        await backend.down()


async def test_bundled_control_processes_are_recorded_and_stopped_with_the_fleet(fake_script, tmp_path):
    """start_process: in the state file at once (cleanup finds it), healthy in status, stopped by down."""
    ctx = RunContext.create(home=tmp_path, run_id="control-1")
    backend = LocalBackend(ctx)
    await backend.up(FleetSpec(routers=1, toxiproxy=False, commands=fake_commands(fake_script)))
    try:
        proc = await backend.start_process("prometheus", ["sleep", "60"])
        record = FleetState.load(ctx.state_file).process("prometheus")
        assert (proc.pid, "ok") == (record.ident.pid, (await backend.health())["prometheus"])
    finally:
        stopped = dict(await backend.down())
    assert "terminated" == stopped["prometheus"] and not record.ident.alive()
