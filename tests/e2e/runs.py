"""Helpers for end-to-end runs (tests/e2e, tests/compose): `powerpeg run` as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powerpeg.harness import procs

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


@dataclass
class Result:
    code: int
    out: Path
    stdout: str

    @property
    def journal(self) -> dict[str, Any]:
        return json.loads((self.out / "journal.json").read_text())

    @property
    def metrics(self) -> dict[str, Any]:
        return self.journal["metrics"]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.out / "events.jsonl").read_text().splitlines() if line.strip()]

    def run_id(self) -> str:
        return self.events()[0]["run_id"]


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "POWERPEG_HOME": str(home)}


def powerpeg(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", *args], env=env(home), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run(file: Path, out: Path, home: Path, *extra: str) -> Result:
    proc = powerpeg("run", str(file), "--out", str(out), "--quiet", *extra, home=home)
    return Result(proc.returncode, out, proc.stdout + proc.stderr)


def start(file: Path, out: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "run", str(file), "--out", str(out)],
                            env=env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_event(out: Path, event: str, timeout: float = 90) -> dict[str, Any]:
    """Poll the run's events.jsonl until ``event`` appears."""
    path = out / "events.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    if record.get("event") == event:
                        return record
        time.sleep(0.1)
    raise AssertionError(f"no {event} event in {path} within {timeout}s")


def alive(run_id: str) -> list[int]:
    """Pids of every live process carrying the run id in its environment."""
    return [ident.pid for ident in procs.run_processes(run_id)]
