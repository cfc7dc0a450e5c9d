"""A real exchange process against the reference model, over FIX on TCP.

``python -m powerpeg.targets.exchange --no-liquidity`` (only these orders trade)
gets seeded streams of orders, cancels, cancel/replaces, mass cancels and
unsupported messages from three order-entry sessions (two of one firm);
a drop-copy session listens to that firm. Every message each session and
the drop copy receive, and every journal line, must be what the model of
tests/unit/targets/exchange/refmodel.py predicts.

The sessions take turns: a session sends a run of messages back to back,
then a TestRequest, and the next session starts only once the Heartbeat
answering it is in. The exchange handles one session's messages in order,
so then it has handled the whole run, and the order in which it saw all
messages is the order of the stream, which is what the model assumes.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from powerpeg.targets.exchange.journal import read_records
from tests.integration.fixclient import WAIT_S, Client
from tests.unit.targets.exchange.refmodel import Model, Stream, first_difference, journal_view, received

TOKEN = "test-token"
SESSIONS: dict[str, str | None] = {"DIFF-A": "ALPHA", "DIFF-B": "ALPHA", "DIFF-C": None}
WATCHED_FIRM = "ALPHA"


async def start_exchange(tmp_path: Path) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    ready = tmp_path / "ready.json"
    log = (tmp_path / "exchange.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "powerpeg.targets.exchange", "--ready-file", str(ready), "--journal",
        str(tmp_path / "journal.ndjson"), "--no-liquidity", env={**os.environ, "POWERPEG_TOKEN": TOKEN},
        stdout=asyncio.subprocess.DEVNULL, stderr=log)
    log.close()
    for _ in range(300):
        if ready.exists() or proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    if not ready.exists():
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"exchange did not start: {(tmp_path / 'exchange.log').read_text()[-2000:]}")
    return proc, json.loads(ready.read_text())


async def play(tmp_path: Path, seed: int, n: int) -> list[str]:
    """``n`` messages of stream ``seed`` into a real exchange; every difference from the model."""
    proc, info = await start_exchange(tmp_path)
    clients: dict[str, Client] = {}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{info['admin_port']}/symbols") as resp:
                listed = await resp.json()
        symbols = {s["symbol"]: round(s["ref_price"] * 100) for s in listed[:3]}
        model = Model(symbols)
        stream = Stream(seed, symbols, SESSIONS)
        model.watch(WATCHED_FIRM)
        dropcopy = await Client.open(info["dropcopy_port"], WATCHED_FIRM)
        for comp in SESSIONS:
            clients[comp] = await Client.open(info["fix_port"], comp)
            model.logon(comp)
        current = None
        for _ in range(n):
            comp = stream.session()
            if current is not None and comp != current:
                await clients[current].barrier()
                model.admin(current)
            current = comp
            msg_type, fields = stream.draw(model, comp)
            clients[comp].send(msg_type, {t: v for t, v in fields.items() if v is not None})
            model.apply(comp, msg_type, fields)
        for comp, client in clients.items():
            await client.barrier()
            model.admin(comp)
        await dropcopy.barrier()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), WAIT_S)
        for client in clients.values():
            await client.close()
    differences = [first_difference(comp, model.out[comp], received(client.received))
                   for comp, client in clients.items()]
    differences.append(first_difference(f"drop copy {WATCHED_FIRM}", model.dropcopy[WATCHED_FIRM],
                                        received(dropcopy.received)))
    differences.append(first_difference("journal", model.journal,
                                        journal_view(read_records(tmp_path / "journal.ndjson"))))
    await dropcopy.close()
    return [d for d in differences if d is not None]


@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_exchange_process_matches_the_reference_model(tmp_path: Path, seed: int) -> None:
    """3,000 messages of a seeded stream over FIX: every report, reject, copy and journal line as the model predicts."""
    differences = await play(tmp_path, seed, 3000)
    assert [] == differences, "\n\n".join(differences)
