"""``python -m powerpeg.targets.router`` as a real process: ready file, health, SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from powerpeg.targets.router.service import StartupError, fetch_symbols

from tests.unit.targets.router.fakes import TOKEN, exchange, get_json, http, wait_until, world  # noqa: F401 - fixtures


async def spawn(exchange, world, tmp_path, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "POWERPEG_TOKEN": TOKEN, "POWERPEG_LOG_JSON": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "powerpeg.targets.router", "--id", "router-7", "--version", "v1",
        "--exchange", f"127.0.0.1:{exchange.port}", "--exchange-admin", world.url,
        "--ready-file", str(tmp_path / "ready.json"), *extra,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def test_process_writes_ready_file_serves_health_and_exits_cleanly(exchange, world, http, tmp_path) -> None:
    """The ready file names the ports, /health answers, SIGTERM logs out of FIX and exits 0."""
    proc = await spawn(exchange, world, tmp_path)
    ready_path = tmp_path / "ready.json"
    try:
        assert await wait_until(ready_path.exists, timeout=15.0)
        ready = json.loads(ready_path.read_text())
        health = await get_json(http, f"{ready['admin_url']}/health")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10.0)
    await wait_until(lambda: exchange.logouts == 1)
    expected = {"pid": proc.pid, "admin_port": ready["admin_port"],
                "orders_url": f"http://127.0.0.1:{ready['admin_port']}/orders",
                "admin_url": f"http://127.0.0.1:{ready['admin_port']}"}
    assert (expected, "router-7", "logged_on", "ROUTER-7", 0, 1) == (
        ready, health["id"], health["fix"], exchange.logons[0][49], code, exchange.logouts)


async def test_unreachable_exchange_admin_fails_start_with_clear_error() -> None:
    """Symbols that cannot be fetched within the deadline raise an error naming the URL."""
    with pytest.raises(StartupError, match=r"cannot fetch symbols from http://127.0.0.1:9/symbols"):
        await fetch_symbols("http://127.0.0.1:9", deadline_s=0.3)
