"""Processes the harness starts (a local fleet's services, Locust): spawning,
identity, stopping, finding them again. Waiting for a fleet process to be
ready, and the fork server, are the local backend's
(:mod:`powerpeg.harness.backends.local.processes`).

A pid alone is not an identity: after a crash the kernel may hand it to an
unrelated process. Every pid the harness records is paired with the start
time from ``/proc/<pid>/stat`` (clock ticks since boot), and cleanup also
checks ``POWERPEG_RUN_ID`` in ``/proc/<pid>/environ`` before signalling.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from powerpeg.harness.context import RUN_ID_ENV


class Started(Protocol):
    """A started process as waiting for it sees one: a ``subprocess.Popen``, or
    a service forked by the local backend's launcher (``ForkedProc``)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


class StartError(Exception):
    """A component did not come up; the message says which and why."""

    def __init__(self, component: str, reason: str, log_tail: str = "") -> None:
        self.component = component
        self.reason = reason
        self.log_tail = log_tail
        text = f"{component} failed to start: {reason}"
        if log_tail:
            text += f"\n--- last lines of the {component} log ---\n{log_tail}"
        super().__init__(text)


@dataclass(frozen=True)
class ProcIdentity:
    """A pid plus its start time: together they name one process, once."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcIdentity | None:
        start = read_start_time(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        """Same process still running (not recycled, not a zombie)."""
        stat = _read_stat(self.pid)
        return stat is not None and stat[0] != "Z" and stat[1] == self.start_time

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcIdentity:
        return cls(int(data["pid"]), int(data["start_time"]))


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state, starttime) from /proc/<pid>/stat, or None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def read_start_time(pid: int) -> int | None:
    stat = _read_stat(pid)
    return None if stat is None else stat[1]


def read_run_id(pid: int) -> str | None:
    """``POWERPEG_RUN_ID`` from a process's environment (None if unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    prefix = f"{RUN_ID_ENV}=".encode()
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def is_ours(ident: ProcIdentity, run_id: str) -> bool:
    """Alive, same start time, and started for this run."""
    return ident.alive() and read_run_id(ident.pid) == run_id


def tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("r", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return ""


def spawn(argv: Sequence[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None,
          nice: int = 0) -> subprocess.Popen:
    """Start a detached process (own session: it outlives the CLI and gets
    no terminal Ctrl-C) with stdout+stderr appended to ``log_path``.
    ``nice`` lowers its CPU priority (the load generator's, so that on a small
    machine it does not starve the system under test of the CPU it needs to
    detect and kill)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )


def exit_reason(code: int) -> str:
    return f"exited with code {code}" if code >= 0 else "was killed by a signal"


def _reap(pid: int) -> None:
    """Collect our own exited children so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def send_signal(ident: ProcIdentity, sig: int) -> bool:
    """Signal the process's group (it leads its own session) if it is still the
    same process; False when it is gone or recycled."""
    if not ident.alive():
        return False
    try:
        os.killpg(ident.pid, sig)
    except (ProcessLookupError, PermissionError):
        # not (yet) a group leader: signal the process itself
        try:
            os.kill(ident.pid, sig)
        except ProcessLookupError:
            return False
    return True


async def stop(ident: ProcIdentity, *, grace: float = 5.0) -> str:
    """SIGTERM, wait up to ``grace``, then SIGKILL. Returns how it ended:
    ``"gone"`` (nothing to stop), ``"terminated"`` or ``"killed"``."""
    _reap(ident.pid)
    if not send_signal(ident, signal.SIGTERM):
        return "gone"
    # a paused (SIGSTOP) process cannot act on SIGTERM until continued
    send_signal(ident, signal.SIGCONT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(ident.pid)
        if not ident.alive():
            return "terminated"
        await asyncio.sleep(0.02)
    send_signal(ident, signal.SIGKILL)
    for _ in range(100):
        _reap(ident.pid)
        if not ident.alive():
            break
        await asyncio.sleep(0.02)
    return "killed"


def run_processes(run_id: str) -> list[ProcIdentity]:
    """Every live process started for ``run_id`` (found by its environment),
    including any a crash kept out of the state file."""
    found: list[ProcIdentity] = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if read_run_id(pid) == run_id:
            ident = ProcIdentity.of(pid)
            if ident is not None and ident.alive():
                found.append(ident)
    return found
