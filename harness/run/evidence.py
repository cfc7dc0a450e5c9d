"""The evidence a run leaves, collected while the fleet is still up, and the
record the reports are written from.

The exchange journal is the ground truth: without it there is nothing to
measure, and the run is an infrastructure error, never a pass.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import aiohttp

from harness import measure
from harness.events import RunEvent
from harness.report import RunRecord
from harness.report.record import LoadFigures, ProbeRecord, RunStatus, from_dict
from harness.run.state import LiveRun, Run
from harness.verdict import evaluate
from targets.exchange.records import JournalRecord

LOG_LINES = 200_000  # per component, when the backend keeps the logs (containers)
JOURNAL_FLUSH_S = 0.1  # the exchange's journal flush interval
DOWNLOAD_TIMEOUT_S = 120  # a runaway's journal can be large


async def collect(live: LiveRun) -> measure.Evidence | None:
    """Marks, alerts, component logs and the exchange journal, into the report directory
    (call it one :data:`JOURNAL_FLUSH_S` after the load stopped)."""
    run, topo = live.run, live.topology
    try:
        async with live.http.get(f"{topo.exchange.admin}/positions") as resp:
            marks = (await resp.json()).get("marks", {})
        async with live.http.get(f"{topo.alerts.admin}/alerts") as resp:
            body = await resp.json()
        alerts = body if isinstance(body, list) else body.get("alerts", [])
    except (TimeoutError, aiohttp.ClientError) as exc:
        run.events.warning(RunEvent.EVIDENCE_READ_FAILED, error=repr(exc))
        marks, alerts = {}, []
    await copy_logs(live)
    journal_path = run.out_dir / "exchange-journal.jsonl"
    try:
        await download(live.http, f"{topo.exchange.admin}/journal", journal_path)
    except (TimeoutError, aiohttp.ClientError) as exc:
        run.events.warning(RunEvent.JOURNAL_READ_FAILED, error=repr(exc))
        run.fail(f"could not read the exchange journal: {exc!r}")
        return None
    parents = run.load.parents() if run.load is not None else []
    return measure.Evidence(journal=read_jsonl(journal_path), parents=parents, alerts=alerts,
                            events=list(run.events.events), marks=marks, firm=topo.firm)


async def copy_logs(live: LiveRun) -> None:
    """The components' logs go with the fleet: keep them for the post-mortem."""
    run = live.run
    logs = Path(live.topology.state_dir) / "logs"
    if logs.is_dir() and any(logs.iterdir()):
        shutil.copytree(logs, run.out_dir / "logs", dirs_exist_ok=True)
        return
    (run.out_dir / "logs").mkdir(exist_ok=True)  # containers: ask the backend
    for component in live.topology.admin_urls():
        text = await asyncio.to_thread(run.backend.logs, component, LOG_LINES)
        (run.out_dir / "logs" / f"{component}.log").write_text(text + "\n")


async def download(http: aiohttp.ClientSession, url: str, path: Path) -> None:
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)) as resp:
        resp.raise_for_status()
        with path.open("wb") as fh:
            async for chunk in resp.content.iter_chunked(1 << 20):
                fh.write(chunk)


def read_jsonl(path: Path) -> list[JournalRecord]:
    """The exchange journal's records, in the shapes its writer gives them (trusted, not re-checked)."""
    out: list[JournalRecord] = []
    try:
        with path.open() as fh:
            for line in fh:
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a torn last line (crash): measured on what is whole
    except FileNotFoundError:
        pass
    return out


def record(run: Run, evidence: measure.Evidence | None, load_stop_ns: int | None) -> RunRecord:
    """Measure, judge and describe the run for the reports."""
    exp = run.experiment
    metrics = measure.compute(evidence) if evidence is not None else None
    results = []
    if evidence is not None and metrics is not None and run.error is None:
        lost = measure.lost_orders(evidence, load_stop_ns or time.time_ns()) if exp.assertions.no_lost_orders else []
        results = evaluate(exp.assertions, metrics, lost, evidence)
        if run.abort.triggered:
            run.status = RunStatus.ABORTED
        else:
            run.status = RunStatus.PASSED if all(r.passed for r in results) else RunStatus.FAILED
    stats = run.load.stats() if run.load is not None else None
    return RunRecord(
        experiment=exp.name, description=exp.description, hypothesis=exp.hypothesis, status=run.status,
        backend=run.backend.name, seed=exp.seed, started_ns=run.started_ns, ended_ns=time.time_ns(),
        metrics=metrics if metrics is not None else measure.Metrics(), assertions=results,
        faults=[f.to_record() for f in run.faults],
        load=from_dict(LoadFigures, stats.to_json()) if stats is not None else LoadFigures(),
        steady_state=[from_dict(ProbeRecord, r.to_dict()) for r in run.steady],
        abort=run.abort, error=run.error, expect=exp.expect,
    )
