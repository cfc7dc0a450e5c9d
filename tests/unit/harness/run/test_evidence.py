"""harness/run/evidence.py: each source read on its own, its failure recorded; the journal rescued from
a dead exchange; the record's verdict from what the run measured and which parts were down."""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from powerpeg.harness import measure
from powerpeg.harness.events import RunEvent
from powerpeg.harness.report import RunStatus
from powerpeg.harness.run.evidence import collect, record
from powerpeg.harness.verdict import MARKET_NEVER_OPENED
from tests.unit.harness.run.fakes import FIRM, JOURNAL, MARKS, Fleet, experiment


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path, listed_alerts=[{"id": "a1", "channel": "page", "delivered_ns": 5}])
    await f.up()
    yield f
    await f.down()


def sources(fleet: Fleet) -> dict[str, tuple[bool, str | None]]:
    return {s.source: (s.ok, s.error) for s in fleet.live.run.sources}


async def test_a_dead_alert_sink_leaves_the_marks_and_the_journal(fleet: Fleet) -> None:
    """The alerts are lost and said to be; the marks (the loss's prices) and the journal are read all the same."""
    await fleet.alerts.kill()
    found = await collect(fleet.live)
    assert found is not None
    assert (MARKS, JOURNAL, []) == (found.marks, found.journal, found.alerts)
    assert ((True, False, True), ["alerts"]) == (
        tuple(sources(fleet)[s][0] for s in ("marks", "alerts", "journal")),
        [e["source"] for e in fleet.events(RunEvent.EVIDENCE_READ_FAILED)])
    assert MARKS == json.loads((fleet.live.run.out_dir / "marks.json").read_text())


async def test_the_sources_read_are_kept_in_the_report_directory(fleet: Fleet) -> None:
    """marks.json, alerts.json and exchange-journal.jsonl: the evidence as it came, each source's record naming it."""
    await collect(fleet.live)
    files = {s.source: s.file for s in fleet.live.run.sources}
    out = fleet.live.run.out_dir
    assert ({"marks": "marks.json", "alerts": "alerts.json", "journal": "exchange-journal.jsonl"}, True) == (
        files, all((out / name).is_file() for name in files.values()))


async def test_a_dead_exchange_journal_is_copied_by_the_backend(fleet: Fleet, tmp_path: Path) -> None:
    """GET /journal fails: the backend copies the file, the run measures it, and the record says how."""
    on_disk = tmp_path / "journal-on-disk.jsonl"
    on_disk.write_text("".join(json.dumps(r) + "\n" for r in JOURNAL))
    fleet.backend.journal_file = on_disk
    await fleet.exchange.kill()
    found = await collect(fleet.live)
    [journal] = [s for s in fleet.live.run.sources if s.source == "journal"]
    assert found is not None
    assert (JOURNAL, {}, True, True) == (found.journal, found.marks, journal.extra["rescued"],
                                        journal.how.startswith(f"copied from {on_disk}"))
    assert (1, None) == (len(fleet.events(RunEvent.JOURNAL_RESCUED)), fleet.live.run.error)


async def test_no_journal_at_all_is_an_error_naming_both_failures(fleet: Fleet) -> None:
    """Neither downloaded nor copied: nothing to measure, and the error says why each way failed."""
    await fleet.exchange.kill()
    assert await collect(fleet.live) is None
    error = fleet.live.run.error or ""
    assert (False, True) == (sources(fleet)["journal"][0], "no journal file here" in error)


async def test_a_part_that_exited_since_the_last_read_is_found_at_the_end(fleet: Fleet) -> None:
    """The monitor is not read at the end, but the backend says it exited: it is down."""
    fleet.backend.exited.add("monitor")
    await collect(fleet.live)
    assert ["monitor"] == [e["part"] for e in fleet.events(RunEvent.PART_DOWN)]


def _runaway(fleet: Fleet) -> measure.Evidence:
    """A parent of 100 with two children of 100, from now: a violation at the second."""
    now = time.time_ns()
    journal = [{"ts_ns": now + k, "kind": "accepted", "firm": FIRM, "cl_ord_id": f"router-1-000001.{k}",
                "session": "R1", "qty": 100, "symbol": "AAA", "side": "buy"} for k in (1, 2)]
    parents = [{"parent_id": "router-1-000001", "qty": 100, "ts_ns": now}]
    return measure.Evidence(journal=journal, parents=parents, alerts=[], events=list(fleet.live.run.events.events),
                            marks={}, firm=FIRM)


async def test_a_market_that_never_opened_is_inconclusive(fleet: Fleet) -> None:
    """No market_open event: nothing was tested, whatever the numbers; exit 4 and the reason."""
    run = fleet.live.run
    run.experiment = experiment().model_copy(update={"assertions": experiment().assertions.model_copy(
        update={"excess_shares_max": 0})})
    rec = record(run, measure.Evidence([], [], [], list(run.events.events), {}, FIRM), None)
    assert (RunStatus.INCONCLUSIVE, 4, MARKET_NEVER_OPENED) == (rec.status, rec.status.exit_code, rec.verdict)


async def test_a_dead_monitor_fails_ttd_as_a_control_not_running(fleet: Fleet) -> None:
    """The market opened, the runaway was not detected, the monitor had exited by itself: failed, saying why."""
    run = fleet.live.run
    run.experiment = experiment().model_copy(update={"assertions": experiment().assertions.model_copy(
        update={"ttd_max": 0.25})})
    run.events.emit(RunEvent.METHOD_START, steps=0)
    run.events.emit(RunEvent.MARKET_OPEN, planned_ns=0, held_s=0)
    fleet.backend.exited.add("monitor")
    await fleet.live.parts.check("monitor")  # down from before the runaway below
    rec = record(run, _runaway(fleet), None)
    assert (RunStatus.FAILED, "control_not_running", ["monitor"]) == (
        rec.status, rec.assertions[0].cause, [o.part for o in rec.findings()])
    assert (rec.verdict or "").startswith("the control was not running: monitor down from")


async def test_container_logs_include_the_bundled_controls(fleet: Fleet) -> None:
    """Containers (no log files of the run's own): the backend's logs of every service, Prometheus's and
    Alertmanager's among them."""
    shutil.rmtree(fleet.tmp / "state" / "logs")
    fleet.live.topology = dataclasses.replace(fleet.live.topology, backend="compose", controls={
        "prometheus": "http://127.0.0.1:41001", "alertmanager": "http://127.0.0.1:41002"})
    await collect(fleet.live)
    logs = fleet.live.run.out_dir / "logs"
    assert ({"alerts.log", "exchange.log", "monitor.log", "prometheus.log", "alertmanager.log"},
            "prometheus log\n") == ({p.name for p in logs.iterdir()}, (logs / "prometheus.log").read_text())


async def test_process_logs_are_copied_with_the_bundled_controls(fleet: Fleet) -> None:
    """Processes: the run's log files as they are, a bundled control's (Backend.start_process) included."""
    (fleet.tmp / "state" / "logs" / "prometheus.log").write_text("level=info msg=\"Server is ready\"\n")
    await collect(fleet.live)
    logs = fleet.live.run.out_dir / "logs"
    assert ({"exchange.log", "prometheus.log"}, 'level=info msg="Server is ready"\n') == (
        {p.name for p in logs.iterdir()}, (logs / "prometheus.log").read_text())
