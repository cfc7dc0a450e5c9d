"""The evidence a run leaves, collected while the fleet is still up, and the
record the reports are written from.

The exchange journal is the ground truth: without it there is nothing to
measure, and the run is an infrastructure error, never a pass. A dead exchange
does not take it along: when ``GET /journal`` fails, the backend copies the
file itself (local: from the run's state directory; compose: out of the
exchange's container).

Each source is read on its own and its outcome recorded (``run.sources``,
journal.json's ``evidence``): a dead alert sink costs the alerts, never the
marks — without marks the loss would be valued at the last trades instead of
the settled fair prices, and come out wrong.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import measure
from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.events import RunEvent
from powerpeg.harness.measurement import Readings, judge
from powerpeg.harness.outages import PARTS, from_events
from powerpeg.harness.report import RunRecord, SourceRecord
from powerpeg.harness.report.record import LoadFigures, ProbeRecord, RunStatus, from_dict
from powerpeg.harness.run.state import LiveRun, Run
from powerpeg.harness.verdict import evaluate, outcome
from powerpeg.targets.exchange.journal import read_journal
from powerpeg.targets.exchange.records import JournalRecord

LOG_LINES = 200_000  # per component, when the backend keeps the logs (containers)
JOURNAL_FLUSH_S = 0.1  # the exchange's journal flush interval
DOWNLOAD_TIMEOUT_S = 120  # a runaway's journal can be large


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _failed(run: Run, source: str, how: str, exc: BaseException | str) -> None:
    error = exc if isinstance(exc, str) else _error(exc)
    run.events.warning(RunEvent.EVIDENCE_READ_FAILED, source=source, error=error)
    run.sources.append(SourceRecord(source, ok=False, how=how, error=error))


async def _read_json(live: LiveRun, source: str, part: str, url: str, how: str) -> Any | None:
    """One source's JSON, or None with its failure recorded (and told to the part's health)."""
    try:
        async with live.http.get(url) as resp:
            resp.raise_for_status()
            return await resp.json()
    except (TimeoutError, aiohttp.ClientError) as exc:
        _failed(live.run, source, how, exc)
        await live.parts.failed(part, exc, report=False)
        return None


def _keep(run: Run, source: str, how: str, name: str, data: Any, count: int) -> None:
    """A source read: into the report directory as it came, and into the record."""
    (run.out_dir / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    run.sources.append(SourceRecord(source, ok=True, how=how, count=count, file=name))


async def collect(live: LiveRun) -> measure.Evidence | None:
    """Marks, alerts, component logs and the exchange journal, into the report directory, each source
    on its own (call it one :data:`JOURNAL_FLUSH_S` after the load stopped)."""
    run, topo = live.run, live.topology
    positions = await _read_json(live, "marks", "exchange", f"{topo.exchange.admin}/positions", "GET /positions")
    marks: dict[str, float] = {}
    if positions is not None:
        marks = positions.get("marks", {}) if isinstance(positions, dict) else {}
        _keep(run, "marks", "GET /positions", "marks.json", marks, len(marks))
    body = await _read_json(live, "alerts", "alerts", f"{topo.alerts.admin}/alerts", "GET /alerts")
    alerts: list[dict[str, Any]] = []
    if body is not None:
        alerts = body if isinstance(body, list) else body.get("alerts", [])
        _keep(run, "alerts", "GET /alerts", "alerts.json", alerts, len(alerts))
    for part in PARTS:  # a part that died since the watch's last read: the backend knows
        await live.parts.check(part)
    try:
        await copy_logs(live)
    except (OSError, FleetError) as exc:
        _failed(run, "logs", "the backend's logs", exc)
    journal_path = run.out_dir / "exchange-journal.jsonl"
    how = await _journal(live, journal_path)
    if how is None:
        return None
    journal = read_journal(journal_path)  # every segment, in order (one file once downloaded)
    run.sources.append(SourceRecord("journal", ok=True, how=how, count=len(journal), file=journal_path.name,
                                    extra={"rescued": how != "GET /journal"}))
    try:
        parents = run.load.parents() if run.load is not None else []
    except (OSError, ValueError) as exc:
        _failed(run, "parents", "the load's parents logs", exc)
        parents = []
    return measure.Evidence(journal=journal, parents=parents, alerts=alerts,
                            events=list(run.events.events), marks=marks, firm=topo.firm)


async def _journal(live: LiveRun, path: Path) -> str | None:
    """The journal into ``path``: downloaded, or else copied by the backend; how, or None (the run
    is then an error: nothing to measure)."""
    run = live.run
    try:
        await download(live.http, f"{live.topology.exchange.admin}/journal", path)
        return "GET /journal"
    except (TimeoutError, aiohttp.ClientError) as exc:
        error = _error(exc)
    try:
        how = await run.backend.copy_journal(path)
    except (OSError, FleetError) as exc:
        rescue = _error(exc)
        run.events.warning(RunEvent.JOURNAL_READ_FAILED, error=f"{error}; the backend's copy: {rescue}")
        run.sources.append(SourceRecord("journal", ok=False, how="GET /journal, then the backend's copy",
                                        error=f"{error}; {rescue}"))
        run.fail(f"could not read the exchange journal: {error}; nor copy it: {rescue}")
        return None
    run.events.warning(RunEvent.JOURNAL_RESCUED, how=how, error=error)
    return f"{how} (GET /journal failed: {error})"


async def copy_logs(live: LiveRun) -> None:
    """The components' logs go with the fleet: keep them for the post-mortem, the bundled controls'
    too (Prometheus's and Alertmanager's own say why a rule did not fire or a page was not sent)."""
    run, topology = live.run, live.topology
    logs = Path(topology.state_dir) / "logs"
    if logs.is_dir() and any(logs.iterdir()):
        # processes: every one of the run writes logs/<name>.log here, a bundled control's included
        # (Backend.start_process)
        shutil.copytree(logs, run.out_dir / "logs", dirs_exist_ok=True)
        return
    (run.out_dir / "logs").mkdir(exist_ok=True)  # containers: ask the backend
    # a bundled control's endpoints are named after its services (compose/control-*.yml)
    for component in [*topology.admin_urls(), *sorted(topology.controls)]:
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


def record(run: Run, evidence: measure.Evidence | None, load_stop_ns: int | None, *,
           readings: Readings | None = None) -> RunRecord:
    """Measure, judge and describe the run for the reports; ``readings``: the measurement floor as
    read when the method ended (harness/run/floor.py), judged against the metrics."""
    exp = run.experiment
    metrics = measure.compute(evidence) if evidence is not None else None
    outages = from_events(run.events.events)
    results = []
    why = None
    if evidence is not None and metrics is not None and run.error is None:
        opened = run.events.first(RunEvent.MARKET_OPEN) is not None
        t0 = metrics.series.t0_ns
        # parents accepted after the exchange died by itself never reached it: that is the outage, not a loss
        venue = [o.down_at for o in outages if o.finding and o.part == "exchange"]
        stop = min([load_stop_ns or time.time_ns(), *venue])
        lost = measure.lost_orders(evidence, stop) if exp.assertions.no_lost_orders else []
        results = evaluate(exp.assertions, metrics, lost, evidence, outages=outages, opened=opened, t0_ns=t0)
        verdict, why = outcome(results, outages, opened=opened, t0_ns=t0)
        if run.abort.triggered:  # the abort's reason says why; a control that was not running still says so
            run.status, why = RunStatus.ABORTED, why if verdict == RunStatus.FAILED else None
        else:
            run.status = RunStatus(verdict)
    stats = run.load.stats() if run.load is not None else None
    floor = None
    if readings is not None:  # the fleet was up: what its floor was, even when nothing could be measured
        floor = judge(readings, metrics or measure.Metrics(), evidence.journal if evidence is not None else [])
    return RunRecord(
        experiment=exp.name, description=exp.description, hypothesis=exp.hypothesis, status=run.status,
        backend=run.backend.name, seed=exp.seed, started_ns=run.started_ns, ended_ns=time.time_ns(),
        metrics=metrics if metrics is not None else measure.Metrics(), assertions=results,
        faults=[f.to_record() for f in run.faults],
        load=from_dict(LoadFigures, stats.to_json()) if stats is not None else LoadFigures(),
        steady_state=[from_dict(ProbeRecord, r.to_dict()) for r in run.steady],
        abort=run.abort, error=run.error, expect=exp.expect, outages=outages, sources=run.sources, verdict=why,
        measurement=floor,
    )
