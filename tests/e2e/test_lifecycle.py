"""Everything the harness starts, it stops: on SIGTERM, on an exception, and
`powerpeg cleanup` after a SIGKILL."""
from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

from tests.e2e.runs import Result, alive, powerpeg, run, start, wait_for_event

LONG = """\
name: lifecycle
duration: 30s
topology: {routers: 2, version: v2}
market: {open_at: 0s}
load: {users: 2, spawn_rate: 2, wait: 200ms}
method:
  - name: pager off
    at: 0s
    fault: alert_blackout
    args: {channel: page, mode: off}
abort: {max_duration: 40s}
"""

BROKEN_SECOND_STEP = """\
name: broken-second-step
duration: 10s
topology: {routers: 2, version: v2}
market: {open_at: 0s}
load: {users: 2, spawn_rate: 2, wait: 200ms}
method:
  - name: crash router-2
    at: 0s
    fault: kill
    args: {target: router-2}
  - name: freeze the router that is already dead
    at: 1s
    fault: pause
    args: {target: router-2}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _events(out: Path) -> list[str]:
    return [e["event"] for e in Result(0, out, "").events()]


def test_sigterm_mid_run_rolls_back_tears_down_and_reports(tmp_path) -> None:
    """SIGTERM during the method: the fault is reverted, nothing is left, the report says interrupted, exit 3."""
    out = tmp_path / "out"
    proc = start(_write(tmp_path, LONG), out, tmp_path / "home")
    run_id = wait_for_event(out, "fault_injected")["run_id"]
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    journal = Result(proc.returncode, out, stdout).journal
    assert (3, "error") == (proc.returncode, journal["status"]), stdout
    assert "interrupted" in journal["error"]
    assert "fault_reverted" in _events(out)
    assert [] == alive(run_id)


def test_failing_fault_still_rolls_back_and_tears_down(tmp_path) -> None:
    """A fault that cannot be injected ends the run as an error (exit 3), after reverting the one that was."""
    out = tmp_path / "out"
    result = run(_write(tmp_path, BROKEN_SECOND_STEP), out, tmp_path / "home")
    journal = result.journal
    assert (3, "error") == (result.code, journal["status"]), result.stdout
    assert "pause" in journal["error"] and "router-2" in journal["error"]
    reverted = [f for f in journal["faults"] if f["kind"] == "kill"]
    assert [True] == [f["reverted_at"] is not None for f in reverted]
    assert [] == alive(result.run_id())


def test_cleanup_after_sigkill_removes_every_process_and_state(tmp_path) -> None:
    """A SIGKILLed run leaves its fleet and load running; `powerpeg cleanup` removes them and its state."""
    out, home = tmp_path / "out", tmp_path / "home"
    proc = start(_write(tmp_path, LONG), out, home)
    run_id = wait_for_event(out, "fault_injected")["run_id"]
    proc.kill()
    proc.wait(timeout=10)
    time.sleep(0.5)
    left_behind = alive(run_id)
    cleaned = powerpeg("cleanup", home=home)
    assert (True, 0) == (len(left_behind) >= 5, cleaned.returncode), cleaned.stdout + cleaned.stderr
    assert run_id in cleaned.stdout
    assert ([], []) == (alive(run_id), list((home / "runs").iterdir()))
