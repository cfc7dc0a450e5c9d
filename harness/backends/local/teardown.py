"""Stopping a local run's processes: shared by `down`, a failed `up` and
`cleanup` after a crash (which also forgets the runs it finds)."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import procs, toxi
from powerpeg.harness.backends.base import remove_run
from powerpeg.harness.backends.local.processes import HOST
from powerpeg.harness.context import RunContext
from powerpeg.harness.state import FleetState, ProcessRecord

STOP_GRACE_S = 5.0


async def stop_processes(state: FleetState, run_id: str, *, log: Any = None,
                         verify_env: bool = False) -> list[tuple[str, str]]:
    """Stop a run's processes in reverse start order. With ``verify_env`` a
    process is touched only if its environment names the run (cleanup after
    a crash, when the state file is all we have)."""
    stopped: list[tuple[str, str]] = []
    ordered = sorted(reversed(state.processes), key=lambda r: _stop_rank(r.component))
    # one rank at a time (routers before the monitor before ...), the members of a rank together
    for _rank, group in itertools.groupby(ordered, key=lambda r: _stop_rank(r.component)):
        records = list(group)
        outcomes = await asyncio.gather(*(_stop_one(state, r, run_id, verify_env) for r in records))
        for record, outcome in zip(records, outcomes, strict=True):
            stopped.append((record.component, outcome))
            if log is not None:
                log.info("stopped", target=record.component, pid=record.ident.pid, outcome=outcome)
    return stopped


async def _stop_one(state: FleetState, record: ProcessRecord, run_id: str, verify_env: bool) -> str:
    if verify_env and not procs.is_ours(record.ident, run_id):
        return "gone"
    if record.component == "toxiproxy" and record.ident.alive():
        await _drop_proxies(state)
    return await procs.stop(record.ident, grace=STOP_GRACE_S)


def _stop_rank(component: str) -> int:
    """Routers first (they send orders), alerts last (it hears about the rest)."""
    if component.startswith("router-"):
        return 0
    return {"monitor": 1, "toxiproxy": 2, "exchange": 3, "alerts": 4}.get(component, 0)


async def _drop_proxies(state: FleetState) -> None:
    """Remove proxies and toxics before the server goes (a clean slate even
    if something outside keeps the server alive)."""
    port = state.process("toxiproxy").ready.get("api_port")
    if not port:
        return
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, toxi.ToxiproxyError):
        async with aiohttp.ClientSession() as session:
            client = toxi.ToxiproxyClient(f"http://{HOST}:{port}", session)
            for name in await client.proxies():
                await client.delete_proxy(name)


async def cleanup(home: Path, *, log: Any = None) -> list[str]:
    """Undo whatever crashed runs left under ``home``: processes that are
    really theirs, toxiproxy proxies, state. Lines saying what was removed."""
    removed: list[str] = []
    runs = home / "runs"
    for run_dir in sorted(runs.iterdir()) if runs.is_dir() else []:
        if not run_dir.is_dir():
            continue
        run_id = run_dir.name
        ctx = RunContext(run_id=run_id, home=home, token="", log=log)
        try:
            state = FleetState.load(ctx.state_file)
        except FileNotFoundError:
            state = None  # a failed `up` leaves only its logs
        except (ValueError, KeyError) as exc:
            state = None
            removed.append(f"run {run_id}: unreadable state ({type(exc).__name__}: {exc})")
        if state is not None:
            for component, outcome in await stop_processes(state, run_id, log=log, verify_env=True):
                if outcome != "gone":
                    removed.append(f"run {run_id}: stopped {component} ({outcome})")
        # processes forked after the last state save (a CLI killed mid-`up`) carry the run id too
        for ident in procs.run_processes(run_id):
            outcome = await procs.stop(ident, grace=STOP_GRACE_S)
            removed.append(f"run {run_id}: stopped unrecorded pid {ident.pid} ({outcome})")
        remove_run(ctx, run_id)
        removed.append(f"run {run_id}: removed {run_dir}")
    if (home / "current").exists():
        (home / "current").unlink()
        removed.append(f"removed {home / 'current'}")
    return removed
