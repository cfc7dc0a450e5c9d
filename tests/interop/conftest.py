"""A real exchange process and a real toxiproxy-server for the interop tests.

The engine on the other side is QuickFIX/Go (``qfclient.py``): nothing in
these tests speaks FIX with powerpeg's own code, so they prove that a
production engine with its usual settings connects, recovers and trades.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.backends.local.toxiproxy import find_binary

TOKEN = "interop-token"
COMP = "EXCHANGE"
# the CompIDs the tests' engines log on as, each with its password (the exchange asks for them, as a
# harness fleet's does); QFDC is also the drop-copy subscriber of its own firm
CLIENTS = ("QF-Y", "QF-N", "QF-CUT", "QFDC", "QFDC-OE", "QF-APP", "QF-AWAY", "QF-TAKER")


def password(comp_id: str) -> str:
    return f"pw-{comp_id.lower()}"


def write_credentials(path: Path) -> Path:
    path.write_text(json.dumps({"passwords": {c: password(c) for c in CLIENTS}, "drop_copy": {"QFDC": ["QFDC"]}}))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw.strip() else None


@dataclass
class Exchange:
    proc: subprocess.Popen[bytes]
    fix_port: int
    dropcopy_port: int
    admin: str
    journal: Path
    store: Path

    def records(self, settle_s: float = 0.2) -> list[dict[str, Any]]:
        time.sleep(settle_s)  # the journal is flushed every 20 ms
        with self.journal.open() as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def symbol(self) -> str:
        return str(http("GET", f"{self.admin}/symbols", token=TOKEN)[0]["symbol"])


def start_exchange(tmp_path: Path, *flags: str) -> Exchange:
    """``python -m powerpeg.targets.exchange`` without market makers, open at once."""
    ready, journal, store = tmp_path / "ready.json", tmp_path / "journal.jsonl", tmp_path / "fixstore"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.targets.exchange", "--ready-file", str(ready),
                             "--journal", str(journal), "--store", str(store), "--no-liquidity", "--open-in", "0",
                             *flags],
                            env={**os.environ, "POWERPEG_TOKEN": TOKEN},
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "exchange.log", "ab"))  # noqa: SIM115 - the child owns it
    deadline = time.monotonic() + 15
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"exchange did not start: {(tmp_path / 'exchange.log').read_text()[-2000:]}")
        time.sleep(0.05)
    time.sleep(0.05)  # the ready file is written whole, but give the writer its close
    info = json.loads(ready.read_text())
    return Exchange(proc, info["fix_port"], info["dropcopy_port"], f"http://127.0.0.1:{info['admin_port']}",
                    journal, store)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    credentials = write_credentials(tmp_path / "credentials.json")
    ex = start_exchange(tmp_path, "--cod-default", "off", "--credentials", str(credentials))
    try:
        yield ex
    finally:
        stop(ex.proc)


@dataclass
class Toxiproxy:
    api: str

    def proxy(self, name: str, upstream_port: int) -> int:
        listen = free_port()
        http("POST", f"{self.api}/proxies", {"name": name, "listen": f"127.0.0.1:{listen}",
                                             "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})
        return listen

    def toxic(self, proxy: str, kind: str, **attributes: Any) -> str:
        name = f"{kind}-{time.monotonic_ns()}"
        http("POST", f"{self.api}/proxies/{proxy}/toxics",
             {"name": name, "type": kind, "stream": "downstream", "toxicity": 1.0, "attributes": attributes})
        return name

    def remove(self, proxy: str, toxic: str) -> None:
        http("DELETE", f"{self.api}/proxies/{proxy}/toxics/{toxic}")

    def enable(self, proxy: str, enabled: bool) -> None:
        http("POST", f"{self.api}/proxies/{proxy}", {"enabled": enabled})


@pytest.fixture
def toxiproxy() -> Iterator[Toxiproxy]:
    binary = find_binary()
    if binary is None:
        message = "toxiproxy-server not found (make setup builds it with Go)"
        if os.environ.get("POWERPEG_REQUIRE_INTEROP"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    proc = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            http("GET", f"{api}/version")
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield Toxiproxy(api)
    finally:
        stop(proc)
