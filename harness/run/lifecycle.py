"""One run, start to verdict, whatever its method.

stand up → a firm's own controls started and ready (``controls.external``) →
start load → steady state (before) → the method (a strategy:
the file's timeline or a person on the Chaos tab), with the stop conditions
watched and the host's CPU sampled → the measurement floor read → rollback →
stop load → steady state (after) → collect evidence → tear down → measure →
verdict → record.

Rollback, evidence and teardown run on every exit path: success, a failed
assertion, an exception, Ctrl-C and SIGTERM (the CLI turns both signals into
a cancellation of the run task; the ``finally`` blocks below still run, each
step shielded so a second signal cannot cut it short).
"""
from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable

import aiohttp

from powerpeg.harness import measure
from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.controls import pipeline
from powerpeg.harness.controls.base import ControlError
from powerpeg.harness.controls.external import ExternalControlsRun, unsupported_controls
from powerpeg.harness.events import RunEvent
from powerpeg.harness.faults.base import FaultError
from powerpeg.harness.load.config import LoadConfig, SymbolRef, router_targets
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.report import RunRecord
from powerpeg.harness.measurement import Readings
from powerpeg.harness.run import evidence, floor
from powerpeg.harness.run.method import Method, ScheduledMethod
from powerpeg.harness.run.safety import Safety, failing_now
from powerpeg.harness.run.steady import steady
from powerpeg.harness.run.state import LiveRun, Run, schedule
from powerpeg.harness.run.timeline import Timeline, wait_until

WARMUP_S = 1.5  # load runs this long before the method's time zero
FOREVER_NS = 2**63 - 1  # a watch with no deadline: it ends when told


class Runner:
    """Runs one :class:`Run` with a method (the file's timeline unless told otherwise)."""

    def __init__(self, run: Run, method: Method | None = None) -> None:
        self.run = run
        self.method: Method = method or ScheduledMethod()
        self.live: LiveRun | None = None  # once the fleet is up
        self._observer: asyncio.Future | None = None  # the bundled controls' observation while the method runs
        self.cpu = floor.CpuSampler(host=floor.host_of(run.backend.name))  # the host, over the method's window
        self.readings: Readings | None = None  # the measurement floor, read as the method ends

    async def execute(self, *, spec: FleetSpec) -> RunRecord:
        run, exp = self.run, self.run.experiment
        found: measure.Evidence | None = None
        load_stop_ns: int | None = None
        try:
            refused = unsupported_controls(exp, run.backend.name)
            if refused is not None:
                raise ControlError(refused)
            run.progress.phase(f"standing up {exp.topology.routers} routers on {run.backend.name} …")
            topology = await run.backend.up(spec)
            run.events.emit(RunEvent.FLEET_UP, routers=exp.topology.routers, run=topology.run_id)
            live = self.live = LiveRun.open(run, topology, keep_journal=self.method.keep_journal)
            observing = asyncio.Event()
            safety: Safety | None = None
            try:
                await self._external_controls(live)
                timeline = await self._start_load(live)
                if run.external is not None:
                    run.external.set_method_start(run.method_start_ns)
                    self._observer = asyncio.ensure_future(run.external.observe(observing))
                safety = Safety(live)
                await wait_until(timeline.start_ns)
                if not await steady(live, "before"):
                    run.fail("steady state did not hold before the method: " + "; ".join(
                        r.message for r in run.steady if r.phase == "before" and not r.ok))
                else:
                    self.cpu.start()
                    await self.method.play(live, timeline, safety)
            finally:
                # the floor, rollback and evidence happen with the fleet still up
                await asyncio.shield(self._measure(live))
                await asyncio.shield(self._watched(safety, self._rollback(live)))
                load_stop_ns = await asyncio.shield(self._stop_load())
                found = await asyncio.shield(self._evidence(live, observing))
                await asyncio.shield(live.http.close())
        except asyncio.CancelledError:
            # Ctrl-C or SIGTERM: the finally blocks rolled back and collected;
            # tear down below, then report the run as interrupted (exit 3)
            run.fail("interrupted (Ctrl-C or SIGTERM): rolled back and torn down")
            run.events.warning(RunEvent.RUN_INTERRUPTED)
        except FaultError as exc:
            run.fail(f"fault failed: {exc}")
            run.events.warning(RunEvent.RUN_ERROR, error=str(exc))
        except ControlError as exc:  # a bundled control that did not start, or readiness ran out
            run.fail(str(exc))
            run.events.warning(RunEvent.RUN_ERROR, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - infrastructure: still tear down, still report
            run.fail(f"{type(exc).__name__}: {exc}")
            run.events.warning(RunEvent.RUN_ERROR, error=run.error, traceback=traceback.format_exc())
        finally:
            run.progress.phase("tearing down …")
            await asyncio.shield(self._teardown())
        record = evidence.record(run, found, load_stop_ns, readings=self.readings)
        if run.pipeline_raw and found is not None:
            record.pipeline = pipeline.stages(run.pipeline_raw[0], record.metrics, found.alerts)
        return record

    # -- a firm's own controls -------------------------------------------------------
    async def _external_controls(self, live: LiveRun) -> None:
        """``controls.external``: start the bundled controls (published with the fleet), then wait,
        before the load starts and the market opens, until every control says it is ready."""
        run, external = self.run, self.run.experiment.controls.external
        if external is None:
            return
        own = 1 if run.experiment.controls.monitor.enabled else 0  # powerpeg's monitor, kept, on the drop copy
        run.external = ExternalControlsRun(external, own_dropcopy_listeners=own)
        if run.external.controls:
            run.progress.phase(f"starting bundled controls: {', '.join(c.kind for c in run.external.controls)} …")
            live.topology = await run.external.start(backend=run.backend, topology=live.topology, http=live.http,
                                                     log=run.log)
            run.events.emit(RunEvent.CONTROLS_STARTED, endpoints=dict(live.topology.controls))
        run.events.emit(RunEvent.CONTROLS_WAIT, timeout_s=external.ready.timeout, dropcopy=external.ready.dropcopy,
                        http=list(external.ready.http), bundled=[c.kind for c in run.external.controls])
        waited = await run.external.wait_ready(live.topology, live.http, say=run.progress.phase)
        run.events.emit(RunEvent.CONTROLS_READY, waited_s=round(waited, 3))
        run.progress.phase(f"external control ready after {waited:.1f} s")

    # -- load ----------------------------------------------------------------
    async def _start_load(self, live: LiveRun) -> Timeline:
        """Start the load (if any) and fix the method's time zero one warm-up from now."""
        run, exp = self.run, self.run.experiment
        run.faults = schedule(exp)  # listed from the start: the Chaos page shows them pending
        run.method_start_ns = time.time_ns() + int(WARMUP_S * 1e9)
        timeline = Timeline(live, run.method_start_ns)
        run.open_at_ns = timeline.planned_open_ns  # planned; pre-open until the timeline opens it
        if exp.load.users == 0:
            return timeline
        plan = self.method.load_plan(exp)
        async with live.http.get(f"{live.topology.exchange.admin}/symbols") as resp:
            universe = [SymbolRef(**s) for s in await resp.json()]
        load = exp.load if run.load_workers is None else exp.load.model_copy(update={"workers": run.load_workers})
        load_dir = run.out_dir / "load"
        config = LoadConfig.build(
            load, run_id=live.topology.run_id, routers=router_targets(live.topology), token=live.topology.token,
            universe=universe, symbol_count=exp.topology.symbols, open_at_ns=run.open_at_ns, seed=exp.seed,
            duration_s=WARMUP_S + plan.duration_s, out_dir=load_dir,
        )
        if plan.web_port is None:
            run.load = run.backend.load_runner(config, load_dir, log=run.log)
        else:  # a person watches Locust's web UI: it runs here, next to the Chaos tab's API
            run.load = LoadRunner(config, load_dir, log=run.log, web_port=plan.web_port, extra_env=plan.extra_env)
        run.control = run.load.control
        run.control.set_open(None)  # the brokers switch to the open's mix when the open really comes
        workers = f", {load.workers} workers" if load.workers else ""
        web = f", Locust web UI on http://127.0.0.1:{plan.web_port}" if plan.web_port else ""
        run.progress.phase(f"starting load: {load.users} users{workers}{web} …")
        await run.load.start()
        extra = {"web_port": plan.web_port} if plan.web_port else {}
        run.events.emit(RunEvent.LOAD_START, users=load.users, workers=load.workers, where=run.load.where, **extra)
        await self.method.load_started(live)
        return timeline

    async def _stop_load(self) -> int | None:
        if self.run.load is None:
            return None
        await self.run.load.stop()
        return self.run.events.emit(RunEvent.LOAD_STOP)["ts_ns"]

    # -- the end -------------------------------------------------------------
    async def _watched(self, safety: Safety | None, work: Awaitable[None]) -> None:
        """``work`` (the rollback) with the stop conditions still watched: the load runs until it is
        stopped after the rollback, and a rollback can take seconds (a redeploy on containers) or
        make the runaway worse (knight-2012-rollback: v1 back on every router). Found on swarm: the
        method's watch ended while a rollback redeploy was still in flight, and the excess went from
        36,000 to 377,000 shares past a 60,000 cap with nothing watching."""
        if safety is None or safety.ended is not None or self.run.load is None:
            await work
            return
        done = asyncio.Event()
        watcher = asyncio.ensure_future(safety.watch(lambda: FOREVER_NS, stop=done, end_on_abort=False,
                                                     progress=False))
        try:
            await work
        finally:
            done.set()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _rollback(self, live: LiveRun) -> None:
        run, policy = self.run, self.run.experiment.rollback
        if not run.faults:
            return
        if not self.method.rollback_all:
            if policy == "never":
                return
            if policy == "on_failure" and not failing_now(live):
                return
        for sf in reversed(run.faults):
            await live.revert(sf)

    async def _measure(self, live: LiveRun) -> None:
        """The measurement floor, read as the method ends (harness/run/floor.py): before the rollback's
        redeploys restart the routers (and their loop samplers) and before the evidence's downloads
        load the exchange with work no control ever saw."""
        await self.cpu.stop()
        try:
            self.readings = await floor.read(live, self.cpu.result())
        except Exception as exc:  # noqa: BLE001 - the floor is said about the evidence: it must never cost it
            why = f"the measurement could not be read: {type(exc).__name__}: {exc}"
            self.run.events.warning(RunEvent.EVIDENCE_READ_FAILED, source="measurement", error=why)
            self.readings = Readings.unread(why, external=self.run.experiment.controls.external is not None)

    async def _evidence(self, live: LiveRun, observing: asyncio.Event) -> measure.Evidence | None:
        await asyncio.sleep(evidence.JOURNAL_FLUSH_S)
        await steady(live, "after")
        found = await evidence.collect(live)
        if self.run.external is not None and self.run.external.contexts:
            observing.set()  # the observer's last look is the pipeline's own
            if self._observer is not None:
                await asyncio.gather(self._observer, return_exceptions=True)
            try:
                self.run.pipeline_raw = await self.run.external.pipeline()
            except (TimeoutError, aiohttp.ClientError, ControlError) as exc:
                self.run.events.warning(RunEvent.EVIDENCE_READ_FAILED, error=f"bundled control: {exc!r}")
        return found

    async def _teardown(self) -> None:
        try:
            outcomes = await self.run.backend.down()
            self.run.events.emit(RunEvent.TORN_DOWN, outcomes=[f"{what}: {outcome}" for what, outcome in outcomes])
        except Exception as exc:  # noqa: BLE001 - a half-started fleet: cleanup() removes the rest
            self.run.events.warning(RunEvent.TEARDOWN_FAILED, error=repr(exc))


def exit_code(record: RunRecord) -> int:
    """0 every assertion holds, 1 one fails (or the run aborted), 3 infrastructure error, 4 inconclusive."""
    return record.status.exit_code
