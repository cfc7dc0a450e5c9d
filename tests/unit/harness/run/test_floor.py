"""harness/run/floor.py: the measurement floor read from the fleet as the method ends — each part on its
own, a 404 (a service older than the floor) or a dead part costing that figure only — and the host's
CPU sampled over the method."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from powerpeg.harness.events import RunEvent
from powerpeg.harness.measurement import CpuSaturation
from powerpeg.harness.run.evidence import collect
from powerpeg.harness.run import floor as floor_module
from powerpeg.harness.run.floor import CpuSampler, _busy_counters, host_of, read
from powerpeg.harness.run.lifecycle import Runner
from tests.unit.harness.run.fakes import FIRM, Fleet

CPU = CpuSaturation(samples=4, interval_s=0.25, busy_p50=0.5, busy_max=0.7, saturated_share=0.0, cores=2)
DROPCOPY = {"drop_copy_lag_s": {"n": 500, "p50": 0.001, "p99": 0.02, "max": 0.03},
            "kill_decisions": [{"at_ns": 5, "firm": FIRM, "reason": "overfill"}]}


def loop_route(component: str, p99: float) -> web.RouteDef:
    async def handler(_r: web.Request) -> web.Response:
        return web.json_response({"component": component, "instance": component,
                                  "loop_lag_s": {"n": 100, "p50": p99 / 2, "p99": p99, "max": p99}})

    return web.get("/measurement/loop", handler)


def json_route(path: str, body: Any) -> web.RouteDef:
    async def handler(_r: web.Request) -> web.Response:
        return web.json_response(body)

    return web.get(path, handler)


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    f = Fleet(tmp_path)
    f.exchange.app.add_routes([loop_route("exchange", 0.001)])
    f.monitor.app.add_routes([loop_route("monitor", 0.002), json_route("/measurement/dropcopy", DROPCOPY)])
    # the alert sink is left without the routes: a service older than the measurement floor
    await f.up()
    yield f
    await f.down()


def loop_of(readings: Any, component: str) -> Any:
    return next(c.loop_lag_s for c in readings.loop if c.component == component)


async def test_every_part_is_read_and_the_monitor_gives_its_lag_and_decisions(fleet: Fleet) -> None:
    got = await read(fleet.live, CPU)
    assert (0.001, 0.002, 0.02, [5], CPU) == (loop_of(got, "exchange").p99, loop_of(got, "monitor").p99,
                                              got.drop_copy_lag_s.p99, [d.at_ns for d in got.kill_decisions or []],
                                              got.cpu)


async def test_a_service_older_than_the_floor_is_not_measured_quietly(fleet: Fleet) -> None:
    """The alert sink answers 404: its loop lag is "not measured" saying so, and no read failure is reported."""
    got = await read(fleet.live, CPU)
    assert "HTTP 404" in (loop_of(got, "alerts").not_measured or "")
    assert [] == fleet.events(RunEvent.EVIDENCE_READ_FAILED)


async def test_a_dead_monitor_costs_its_figures_and_nothing_else(fleet: Fleet) -> None:
    """The monitor does not answer: its loop lag, the drop-copy lag and the kill decisions are not measured
    (said, and warned), the exchange's loop lag is read, and the evidence after it is whole."""
    await fleet.monitor.kill()
    got = await read(fleet.live, CPU)
    assert (None, True, 0.001) == (got.kill_decisions, "did not answer" in (got.kill_note or ""),
                                   loop_of(got, "exchange").p99)
    assert "did not answer" in (loop_of(got, "monitor").not_measured or "")
    assert {"measurement: monitor loop lag", "measurement: monitor drop copy"} == {
        e["source"] for e in fleet.events(RunEvent.EVIDENCE_READ_FAILED)}
    found = await collect(fleet.live)
    assert found is not None and found.journal and fleet.live.run.error is None


async def test_a_body_off_the_contract_is_not_measured_naming_the_field(tmp_path: Path) -> None:
    f = Fleet(tmp_path)
    f.monitor.app.add_routes([json_route("/measurement/dropcopy", {"drop_copy_lag_s": {"n": "many"}})])
    await f.up()
    try:
        got = await read(f.live, CPU)
    finally:
        await f.down()
    assert "drop_copy_lag_s.n" in (got.drop_copy_lag_s.not_measured or "")


async def test_a_passive_monitor_says_it_read_no_drop_copy(tmp_path: Path) -> None:
    """controls.monitor.enabled false: an empty drop-copy lag says the monitor was not under test."""
    f = Fleet(tmp_path, monitor_enabled=False)
    f.monitor.app.add_routes([json_route("/measurement/dropcopy", {
        "drop_copy_lag_s": {"n": 0, "p50": None, "p99": None, "max": None}, "kill_decisions": []})])
    await f.up()
    try:
        got = await read(f.live, CPU)
    finally:
        await f.down()
    assert "not under test" in (got.drop_copy_lag_s.not_measured or "")


def test_proc_stat_busy_is_everything_but_idle_and_iowait() -> None:
    text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
    assert (150, 1000) == _busy_counters(text)


def test_proc_stat_without_a_cpu_line_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu"):
        _busy_counters("intr 1 2 3\n")


async def test_the_sampler_takes_busy_fractions_between_reads(tmp_path: Path) -> None:
    """Two intervals of /proc/stat counters: 50 % then 100 % busy."""
    stat = tmp_path / "stat"
    stat.write_text("cpu  0 0 0 0 0 0 0 0\n")
    sampler = CpuSampler(path=stat, interval_s=3600)  # sampled by hand below, not by its task
    sampler.start()
    for busy, idle in ((50, 50), (150, 50)):
        stat.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0\n")
        sampler._sample()
    await sampler.stop()
    cpu = sampler.result()
    assert (2, 0.5, 1.0, 0.5) == (cpu.samples, cpu.busy_p50, cpu.busy_max, cpu.saturated_share)


async def test_a_host_without_proc_stat_is_not_measured(tmp_path: Path) -> None:
    sampler = CpuSampler(path=tmp_path / "missing")
    sampler.start()
    await sampler.stop()
    assert "not a Linux host" in (sampler.result().not_measured or "")


def test_a_method_that_never_ran_has_no_cpu_figure() -> None:
    assert "the method did not run" == CpuSampler().result().not_measured


async def test_the_sampler_stops_its_task() -> None:
    """Everything it starts, it stops (and stopping twice is harmless)."""
    sampler = CpuSampler(interval_s=0.01)
    sampler.start()
    await sampler.stop()
    await sampler.stop()
    assert sampler._task is None


def test_a_swarm_says_its_other_nodes_are_not_sampled() -> None:
    assert ("the harness's host", True) == (host_of("local"), "not sampled" in host_of("swarm"))


async def test_a_broken_read_leaves_the_run_its_evidence(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The floor is said about the evidence and must never cost it: a read that raises becomes "not
    measured" with the reason, warned, and the evidence is collected after it as ever."""
    async def broken(*_a: Any) -> Any:
        raise RuntimeError("surprise")

    monkeypatch.setattr(floor_module, "read", broken)
    runner = Runner(fleet.live.run)
    await runner._measure(fleet.live)
    assert runner.readings is not None
    assert ("the measurement could not be read: RuntimeError: surprise", ["measurement"]) == (
        runner.readings.drop_copy_lag_s.not_measured,
        [e["source"] for e in fleet.events(RunEvent.EVIDENCE_READ_FAILED)])
    assert await collect(fleet.live) is not None and fleet.live.run.error is None
