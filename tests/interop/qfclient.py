"""Drive QuickFIX/Go (tests/interop/qfclient, built by `make setup` as
``.venv/bin/pp-qfclient``) from pytest: a FIX engine powerpeg did not write.

One :class:`QfClient` is one engine process with its own file store; a second
logon of the day is a second process on the same store (as a firm restarting
its engine). Its stdout is JSON lines (see main.go), read on a thread.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

SOH = "|"


def binary() -> str:
    """The engine binary; CI (POWERPEG_REQUIRE_INTEROP=1) fails where a developer without Go skips."""
    here = Path(sys.executable).parent / "pp-qfclient"
    found = str(here) if here.exists() else shutil.which("pp-qfclient")
    if found is None:
        message = "pp-qfclient not built (needs Go: `make setup` builds tests/interop/qfclient)"
        if os.environ.get("POWERPEG_REQUIRE_INTEROP"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def parse(raw: str) -> dict[int, str]:
    """A raw message (SOH shown as '|') as tag → value (last wins: for reading, not validating)."""
    out: dict[int, str] = {}
    for field in raw.strip(SOH).split(SOH):
        tag, _, value = field.partition("=")
        out[int(tag)] = value
    return out


class QfClient:
    """One QuickFIX/Go initiator process."""

    def __init__(self, *, port: int, sender: str, store: Path, target: str = "EXCHANGE", reset: bool = False,
                 heartbeat: int = 30, username: str = "", password: str = "", host: str = "127.0.0.1") -> None:
        args = [binary(), "-host", host, "-port", str(port), "-sender", sender, "-target", target,
                "-store", str(store), "-reset-on-logon", "Y" if reset else "N", "-heartbeat", str(heartbeat)]
        if username:
            args += ["-username", username, "-password", password]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.events: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                if "raw" in event:
                    event["msg"] = parse(event["raw"])
                self.events.append(event)
                self._new.put(event)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                 what: str = "an event") -> dict[str, Any]:
        """The first event (already seen or new) matching ``predicate``."""
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"QuickFIX/Go: no {what} within {timeout}s; saw {self.events[-10:]}")
            try:
                self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass

    def wait_logon(self, timeout: float = 10.0) -> None:
        self.wait_for(lambda e: e["ev"] == "logon", timeout, "logon")

    def app_messages(self, msg_type: str | None = None) -> list[dict[int, str]]:
        return [e["msg"] for e in self.events
                if e["ev"] == "from_app" and (msg_type is None or e["msg"][35] == msg_type)]

    def admin_received(self, msg_type: str) -> list[dict[int, str]]:
        return [e["msg"] for e in self.events if e["ev"] == "from_admin" and e["msg"][35] == msg_type]

    def send(self, msg_type: str, fields: list[tuple[int, Any]]) -> None:
        self._write({"cmd": "send", "msgtype": msg_type, "fields": [[t, str(v)] for t, v in fields]})

    def send_many(self, messages: list[tuple[str, list[tuple[int, Any]]]]) -> None:
        """Pipelined: every command written at once; the engine sends as fast as it can."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(json.dumps({"cmd": "send", "msgtype": t, "fields": [[k, str(v)] for k, v in f]})
                                      + "\n" for t, f in messages))
        self.proc.stdin.flush()

    def _write(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful Logout, then the process ends (killed if it does not)."""
        if self.proc.poll() is None:
            try:
                self._write({"cmd": "stop"})
                self.proc.wait(timeout)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)

    def kill(self) -> None:
        """As a crash: no Logout."""
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=2)

    def __enter__(self) -> QfClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def store_seqnums(store: Path) -> tuple[int, int]:
    """(next sender, next target) MsgSeqNum from QuickFIX/Go's file store."""
    [sender] = list(store.glob("*.senderseqnums"))
    [target] = list(store.glob("*.targetseqnums"))
    return int(sender.read_text().strip()), int(target.read_text().strip())
