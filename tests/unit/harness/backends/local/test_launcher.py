"""The fork server that starts the fleet's Python services."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from powerpeg.harness.backends.local.processes import ForkServer
from powerpeg.harness.procs import ProcIdentity, read_run_id

FAKE_MODULE = '''
import os, signal, sys, time
print("argv", sys.argv[1:], flush=True)
print("token", os.environ.get("POWERPEG_TOKEN"), flush=True)
if "--wait" in sys.argv:
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("waiting", flush=True)  # the handler is in: a SIGTERM from now on exits 0
    time.sleep(30)
sys.exit(int(sys.argv[-1]))
'''


@pytest.fixture
def env(tmp_path):
    (tmp_path / "pp_fake_service.py").write_text(FAKE_MODULE)
    base = {k: v for k, v in os.environ.items() if not k.startswith("POWERPEG_")}
    return dict(base, PYTHONPATH=str(tmp_path), POWERPEG_RUN_ID="launch-1", POWERPEG_TOKEN="tok")


async def wait_exit(proc, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return proc.poll()


async def test_forked_service_runs_its_module_with_argv_and_env(env, tmp_path):
    """The child runs the module as __main__ with its argv; its output goes to its log."""
    server = await ForkServer.start(python=sys.executable, env=env, log_path=tmp_path / "launcher.log", timeout=30)
    try:
        proc = await server.spawn("pp_fake_service", ["--x", "1", "0"], log_path=tmp_path / "svc.log",
                                  exit_file=tmp_path / "svc.exit")
        await wait_exit(proc)
    finally:
        await server.close()
    assert "argv ['--x', '1', '0']\ntoken tok\n" == (tmp_path / "svc.log").read_text()


async def test_forked_service_exit_code_is_reported(env, tmp_path):
    """poll() gives the code the module exited with."""
    server = await ForkServer.start(python=sys.executable, env=env, log_path=tmp_path / "launcher.log", timeout=30)
    try:
        proc = await server.spawn("pp_fake_service", ["7"], log_path=tmp_path / "svc.log",
                                  exit_file=tmp_path / "svc.exit")
        assert 7 == await wait_exit(proc)
    finally:
        await server.close()


async def test_forked_service_is_detached_and_carries_the_run_id(env, tmp_path):
    """Own session (survives the CLI), run id visible in /proc/<pid>/environ, outlives the launcher."""
    server = await ForkServer.start(python=sys.executable, env=env, log_path=tmp_path / "launcher.log", timeout=30)
    proc = await server.spawn("pp_fake_service", ["--wait", "0"], log_path=tmp_path / "svc.log",
                              exit_file=tmp_path / "svc.exit")
    await server.close()
    try:
        ident = ProcIdentity.of(proc.pid)
        assert (proc.pid, "launch-1", True) == (os.getsid(proc.pid), read_run_id(proc.pid), ident.alive())
        # not before its handler is in (under load, a SIGTERM during its start killed it: exit -1, not 0)
        log = tmp_path / "svc.log"
        deadline = time.monotonic() + 10
        while "waiting" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
    assert 0 == await wait_exit(proc)


async def test_missing_module_fails_in_its_own_log(env, tmp_path):
    """A module that does not exist: exit 1 with the error in the service's log, launcher unharmed."""
    server = await ForkServer.start(python=sys.executable, env=env, log_path=tmp_path / "launcher.log", timeout=30)
    try:
        bad = await server.spawn("pp_no_such_module", [], log_path=tmp_path / "bad.log",
                                 exit_file=tmp_path / "bad.exit")
        code = await wait_exit(bad)
        good = await server.spawn("pp_fake_service", ["0"], log_path=tmp_path / "good.log",
                                  exit_file=tmp_path / "good.exit")
        assert (1, True, 0) == (code, "No module named" in (tmp_path / "bad.log").read_text(), await wait_exit(good))
    finally:
        await server.close()


PIPE_MODULE = '''
import socket, sys, time
a, b = socket.socketpair()
b.close()
time.sleep(0.05)
try:
    for _ in range(3):
        a.send(b"x" * 1024)
except BrokenPipeError:
    print("broken pipe raised", flush=True)
    sys.exit(5)
sys.exit(0)
'''


async def test_forked_service_survives_writing_to_a_dead_peer(env, tmp_path):
    """Like an exec'd Python, a forked service ignores SIGPIPE: writing to a socket whose peer
    went away raises BrokenPipeError instead of killing the process without a word (the exchange
    died that way when routers restarted under load)."""
    (tmp_path / "pp_pipe_service.py").write_text(PIPE_MODULE)
    server = await ForkServer.start(python=sys.executable, env=env, log_path=tmp_path / "launcher.log", timeout=30)
    try:
        proc = await server.spawn("pp_pipe_service", [], log_path=tmp_path / "svc.log",
                                  exit_file=tmp_path / "svc.exit")
        code = await wait_exit(proc)
    finally:
        await server.close()
    assert (5, "broken pipe raised\n") == (code, (tmp_path / "svc.log").read_text())
