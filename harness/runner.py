"""One experiment, start to verdict.

stand up → start load → steady state (before) → method timeline, with the
stop conditions watched every 100 ms → steady state (during/after) →
rollback per policy → stop load → collect evidence → tear down → measure →
verdict → reports.

Rollback and teardown run on every exit path: success, a failed assertion,
an exception, Ctrl-C and SIGTERM (the CLI turns both signals into a
cancellation of the run task; the ``finally`` blocks below still run).
"""
from __future__ import annotations

import asyncio
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import aiohttp

from harness.backends.base import Backend
from harness.events import EventLog
from harness.experiment.model import Experiment, Step
from harness.faults.base import Fault, FaultContext, FaultError
from harness.faults.registry import FAULTS
from harness.load.config import LoadConfig, SymbolRef, router_targets
from harness.load.control import LoadControl
from harness.load.runner import LoadRunner
from harness import measure, probes
from harness.report import RunRecord
from harness.topology import Topology
from harness.verdict import evaluate
from harness.watch import Watch

WARMUP_S = 1.5  # load runs this long before the method's time zero
WATCH_INTERVAL_S = 0.1
SETTLE_S = 0.5  # after an abort or the end, before evidence is read
ABORT_BY = "powerpeg-abort"
BLIND_LIMIT_S = 2.0
LOG_LINES = 200_000  # per component, when the backend keeps the logs (containers)  # the stop conditions may go unread this long before the run is an error


@dataclass
class ScheduledFault:
    index: int
    step: Step
    fault: Fault
    at_s: float
    injected_ns: int | None = None
    reverted_ns: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.step.fault, "name": self.step.name, "target": self.fault.target(),
                "at": self.at_s, "injected_at": self.injected_ns, "reverted_at": self.reverted_ns, "error": self.error}


@dataclass
class Progress:
    """Terminal progress: phase and the live numbers, one line at a time."""

    write: Callable[[str], None]
    every_s: float = 1.0
    _last: float = 0.0

    def phase(self, text: str) -> None:
        self.write(f"[powerpeg] {text}")

    def tick(self, elapsed: float, phase: str, live: Any, rate: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        self.write(f"  t={elapsed:5.1f}s  {phase:<8} child orders/s {rate:7.0f}  exposure ${live.gross_usd:>13,.0f}"
                   f"  loss ${live.loss_usd:>12,.0f}  excess {live.excess_shares:>9,} sh  alerts {live.alerts} (pages {live.pages})")


@dataclass
class Run:
    """State of one run; the runner fills it in as it goes."""

    experiment: Experiment
    backend: Backend
    out_dir: Path
    events: EventLog
    progress: Progress
    log: Any = None  # the harness's structlog logger (component logs, not the event log)
    load_workers: int | None = None
    status: str = "error"
    error: str | None = None
    topology: Topology | None = None
    faults: list[ScheduledFault] = field(default_factory=list)
    steady: list[probes.ProbeResult] = field(default_factory=list)
    abort: dict[str, Any] = field(default_factory=lambda: {"triggered": False, "reason": None, "at": None})
    load: LoadRunner | None = None
    control: LoadControl | None = None
    method_start_ns: int | None = None
    open_at_ns: int | None = None
    started_ns: int = field(default_factory=time.time_ns)


class Runner:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.exp = run.experiment
        self.http: aiohttp.ClientSession | None = None
        self.watch: Watch | None = None
        self._aborted = asyncio.Event()
        self._blind_since: float | None = None
        # The open is the runner's to give (see _open_market): until it has,
        # times at or after it on the method's timeline are not known yet.
        self._opened = asyncio.Event()
        self._planned_open_ns: int | None = None
        self._hold_ns = 0

    # -- the whole run -------------------------------------------------------
    async def execute(self, *, spec: Any) -> RunRecord:
        run, exp = self.run, self.exp
        evidence: measure.Evidence | None = None
        load_stop_ns: int | None = None
        try:
            run.progress.phase(f"standing up {exp.topology.routers} routers on {run.backend.name} …")
            run.topology = await run.backend.up(spec)
            run.events.emit("fleet_up", routers=exp.topology.routers, run=run.topology.run_id)
            self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {run.topology.token}"},
                                              timeout=aiohttp.ClientTimeout(total=5))
            try:
                await self._start_load()
                await self._wait_until(run.method_start_ns)
                if not await self._steady("before"):
                    run.status = "error"
                    run.error = "steady state did not hold before the method: " + "; ".join(
                        r.message for r in run.steady if r.phase == "before" and not r.ok)
                else:
                    await self._method()
            finally:
                # rollback and evidence happen with the fleet still up
                await asyncio.shield(self._rollback_if_due())
                load_stop_ns = await asyncio.shield(self._stop_load())
                evidence = await asyncio.shield(self._collect())
                await asyncio.shield(self.http.close())
        except asyncio.CancelledError:
            # Ctrl-C or SIGTERM: the finally blocks rolled back and collected;
            # tear down below, then report the run as interrupted (exit 3)
            run.status, run.error = "error", "interrupted (Ctrl-C or SIGTERM): rolled back and torn down"
            run.events.warning("run_interrupted")
        except FaultError as exc:
            run.status, run.error = "error", f"fault failed: {exc}"
            run.events.warning("run_error", error=str(exc))
        except Exception as exc:  # infrastructure: still tear down, still report
            run.status, run.error = "error", f"{type(exc).__name__}: {exc}"
            run.events.warning("run_error", error=run.error, traceback=traceback.format_exc())
        finally:
            run.progress.phase("tearing down …")
            await asyncio.shield(self._teardown())
        return self._record(evidence, load_stop_ns)

    # -- load ----------------------------------------------------------------
    async def _start_load(self) -> None:
        run, exp = self.run, self.exp
        assert run.topology is not None and self.http is not None
        now = time.time_ns()
        run.method_start_ns = now + int(WARMUP_S * 1e9)
        # planned; the exchange stays pre-open until _open_market opens it
        run.open_at_ns = self._planned_open_ns = run.method_start_ns + int(exp.market.open_at * 1e9)
        load_dir = run.out_dir / "load"
        self.watch = Watch(exp.topology.firm, f"{run.topology.exchange.admin}/journal", load_dir / "parents")
        if exp.load.users == 0:
            return
        async with self.http.get(f"{run.topology.exchange.admin}/symbols") as resp:
            universe = [SymbolRef(**s) for s in await resp.json()]
        load = exp.load if run.load_workers is None else exp.load.model_copy(update={"workers": run.load_workers})
        config = LoadConfig.build(
            load, run_id=run.topology.run_id, routers=router_targets(run.topology), token=run.topology.token,
            universe=universe, symbol_count=exp.topology.symbols, open_at_ns=run.open_at_ns, seed=exp.seed,
            duration_s=WARMUP_S + min(exp.duration, exp.abort.max_duration) + 5, out_dir=load_dir,
        )
        run.load = run.backend.load_runner(config, load_dir, log=run.log)
        run.control = run.load.control
        run.control.set_open(None)  # the brokers switch to the open's mix when the open really comes
        run.progress.phase(f"starting load: {load.users} users{f', {load.workers} workers' if load.workers else ''} …")
        await run.load.start()
        run.events.emit("load_start", users=load.users, workers=load.workers, where=run.load.where)

    async def _stop_load(self) -> int | None:
        if self.run.load is None:
            return None
        await self.run.load.stop()
        return self.run.events.emit("load_stop")["ts_ns"]

    # -- steady state ----------------------------------------------------------
    async def _steady(self, phase: str) -> bool:
        run = self.run
        if not self.exp.steady_state.probes:
            return True
        assert run.topology is not None and self.http is not None
        ctx = probes.ProbeContext(run.backend, run.topology, self.http, self._load_failure_ratio)
        results = await probes.check(ctx, list(self.exp.steady_state.probes), phase)
        run.steady += results
        for r in results:
            run.events.emit("steady_state", probe=r.probe, phase=phase, ok=r.ok, value=r.value, message=r.message)
        return all(r.ok for r in results)

    def _load_failure_ratio(self) -> float | None:
        if self.run.load is None:
            return 0.0
        stats = self.run.load.stats()
        if stats is None or not stats.requests:
            return None
        return stats.failures / stats.requests

    # -- the method ----------------------------------------------------------------
    def _schedule(self) -> list[ScheduledFault]:
        out = []
        for i, step in enumerate(self.exp.method):
            cls = FAULTS[step.fault]
            fault = cls(cls.Params.model_validate(step.args))
            at_s = self.exp.market.open_at if step.at == "open" else float(step.at)
            out.append(ScheduledFault(i, step, fault, at_s))
        return out

    def _fault_ctx(self) -> FaultContext:
        run = self.run
        assert run.topology is not None and self.http is not None
        return FaultContext(backend=run.backend, topology=run.topology, http=self.http,
                            log=run.events.logger, load=run.control)

    async def _method(self) -> None:
        run, exp = self.run, self.exp
        assert run.method_start_ns is not None
        run.faults = self._schedule()
        run.events.emit("method_start", steps=len(run.faults))
        run.progress.phase(f"method: {len(run.faults)} step(s) over {exp.duration:g}s; market opens at +{exp.market.open_at:g}s")
        injected = {sf.index: asyncio.Event() for sf in run.faults}
        tasks = [asyncio.ensure_future(self._play(sf, injected[sf.index])) for sf in run.faults]
        before_open = [injected[sf.index] for sf in run.faults if sf.at_s < exp.market.open_at]
        tasks.append(asyncio.ensure_future(self._open_market(before_open)))
        during_task = asyncio.ensure_future(self._during(min(exp.duration, exp.abort.max_duration) / 2))
        cap_ns = run.method_start_ns + int(exp.abort.max_duration * 1e9)
        try:
            await self._watch_until(lambda: min(self._plan_ns(exp.duration), cap_ns))
        finally:
            for t in [*tasks, during_task]:
                t.cancel()
            results = await asyncio.gather(*tasks, during_task, return_exceptions=True)
        for res in results:
            # a fault task that failed in any way fails the run, loudly
            if isinstance(res, Exception) and not isinstance(res, asyncio.CancelledError):
                raise res
        if self._plan_ns(exp.duration) > cap_ns and not run.abort["triggered"]:
            await self._abort(f"max_duration {exp.abort.max_duration:g}s reached")

    async def _open_market(self, before_open: list[asyncio.Event]) -> None:
        """Open the market at its planned time, but only once every step due before
        it has been injected: in 2012 the deploy was done before the open, and a
        deploy still restarting routers at the open (slow containers) would be
        another experiment. The timeline after the open moves by the hold."""
        run = self.run
        assert run.topology is not None and self.http is not None and self._planned_open_ns is not None
        await self._wait_until(self._planned_open_ns)
        pending = [e for e in before_open if not e.is_set()]
        if pending:
            run.progress.phase(f"holding the open: {len(pending)} step(s) due before it still running …")
            await asyncio.gather(*(e.wait() for e in pending))
        if self._aborted.is_set():
            return  # everything is halted: an open now would only be noise
        async with self.http.post(f"{run.topology.exchange.admin}/clock", json={"open_in_s": 0}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"exchange refused to open the market: {resp.status} {await resp.text()}")
            opened_ns = int((await resp.json()).get("open_at_ns") or time.time_ns())
        self._hold_ns = max(0, opened_ns - self._planned_open_ns)
        run.open_at_ns = opened_ns
        if run.control is not None:
            run.control.set_open(opened_ns)
        self._opened.set()
        held_s = round(self._hold_ns / 1e9, 3)
        run.events.emit("market_open", planned_ns=self._planned_open_ns, held_s=held_s)
        if held_s >= 0.1:
            run.events.warning("market_open_held", held_s=held_s,
                               reason="steps due before the open were still running; later steps move with it")

    def _plan_ns(self, t_s: float) -> int:
        """Wall time of ``t_s`` on the method's timeline: times at or after the open
        move by how long the open was held (while it still is: at least that long)."""
        run = self.run
        assert run.method_start_ns is not None
        at = run.method_start_ns + int(t_s * 1e9)
        if t_s < self.exp.market.open_at or self._planned_open_ns is None:
            return at
        if self._opened.is_set():
            return at + self._hold_ns
        return at + max(0, time.time_ns() - self._planned_open_ns)

    async def _wait_plan(self, t_s: float) -> None:
        if t_s >= self.exp.market.open_at:
            await self._opened.wait()
        await self._wait_until(self._plan_ns(t_s))

    async def _market_open_event(self) -> None:
        await self._wait_until(self.run.open_at_ns)
        self.run.events.emit("market_open")

    async def _during(self, at_s: float) -> None:
        await self._wait_plan(at_s)
        await self._steady("during")

    async def _play(self, sf: ScheduledFault, injected: asyncio.Event | None = None) -> None:
        run = self.run
        await self._wait_plan(sf.at_s)
        if self._aborted.is_set():
            return
        started_ns = time.time_ns()
        try:
            await sf.fault.inject(self._fault_ctx())
        except FaultError as exc:
            sf.error = str(exc)
            run.events.warning("fault_failed", step=sf.index, kind=sf.step.fault, error=str(exc))
            raise
        sf.injected_ns = run.events.emit("fault_injected", step=sf.index, kind=sf.step.fault,
                                         target=sf.fault.target(), started_ns=started_ns)["ts_ns"]
        if injected is not None:
            injected.set()
        run.progress.phase(f"+{(sf.injected_ns - run.method_start_ns) / 1e9:.1f}s injected {sf.step.fault} {sf.fault.target()}")
        if sf.step.duration is not None:
            await asyncio.sleep(sf.step.duration)
            await self._revert(sf)

    async def _revert(self, sf: ScheduledFault, **who: Any) -> None:
        """Revert one injected fault; ``who`` (e.g. an operator's name) goes into its events."""
        if sf.injected_ns is None or sf.reverted_ns is not None:
            return
        try:
            await sf.fault.revert(self._fault_ctx())
        except FaultError as exc:
            sf.error = f"revert failed: {exc}"
            self.run.events.warning("fault_revert_failed", step=sf.index, kind=sf.step.fault, error=str(exc), **who)
            return
        sf.reverted_ns = self.run.events.emit("fault_reverted", step=sf.index, kind=sf.step.fault,
                                              target=sf.fault.target(), **who)["ts_ns"]

    async def _rollback_if_due(self) -> None:
        run = self.run
        if self.exp.rollback == "never" or not run.faults:
            return
        if self.exp.rollback == "on_failure" and not self._failing_now():
            return
        for sf in reversed(run.faults):
            await self._revert(sf)

    def _failing_now(self) -> bool:
        """For rollback: on_failure — the run aborted, errored, or a live figure already breaks an assertion."""
        run = self.run
        if run.abort["triggered"] or run.error:
            return True
        live = self.watch.state if self.watch else None
        a = self.exp.assertions
        if live is not None and a.excess_shares_max is not None and live.excess_shares > a.excess_shares_max:
            return True
        return bool(live is not None and a.loss_usd_max is not None and live.loss_usd > a.loss_usd_max)

    # -- watching: stop conditions and progress -------------------------------------
    async def _watch_until(self, deadline: Callable[[], int]) -> None:
        """Watch the stop conditions until ``deadline()`` (ns; it moves while the open is held)."""
        run = self.run
        assert run.method_start_ns is not None and self.watch is not None
        last_orders, last_t = self.watch.state.child_orders, time.monotonic()
        rate = 0.0
        ticks = 0
        while time.time_ns() < deadline() and not self._aborted.is_set():
            await asyncio.sleep(WATCH_INTERVAL_S)
            ticks += 1
            await self._refresh(alerts=ticks % 5 == 0)
            live = self.watch.state
            now = time.monotonic()
            if now - last_t >= 1.0:
                rate = (live.child_orders - last_orders) / (now - last_t)
                last_orders, last_t = live.child_orders, now
            reason = self._abort_reason()
            if reason:
                await self._abort(reason)
            elapsed = (time.time_ns() - run.method_start_ns) / 1e9
            run.progress.tick(elapsed, "aborted" if self._aborted.is_set() else "method", live, rate)
        if self._aborted.is_set():
            await asyncio.sleep(SETTLE_S)

    async def _refresh(self, *, alerts: bool) -> None:
        run = self.run
        assert run.topology is not None and self.http is not None and self.watch is not None
        try:
            await self.watch.poll(self.http)
            async with self.http.get(f"{run.topology.exchange.admin}/positions") as resp:
                self.watch.on_positions(await resp.json())
            if alerts:
                async with self.http.get(f"{run.topology.alerts.admin}/alerts") as resp:
                    body = await resp.json()
                self.watch.on_alerts(body if isinstance(body, list) else body.get("alerts", []))
            self._blind_since = None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            run.events.warning("watch_read_failed", error=repr(exc))
            now = time.monotonic()
            self._blind_since = self._blind_since or now
            # the stop conditions are blind: unless a fault means to take the
            # exchange or the alert sink away, this is the harness's failure
            if now - self._blind_since > BLIND_LIMIT_S and not self._faulted({"exchange", "alerts"}):
                raise RuntimeError(
                    f"the fleet stopped answering for {now - self._blind_since:.1f}s ({exc!r}); "
                    "see logs/ in the report directory") from exc

    def _faulted(self, components: set[str]) -> bool:
        """Is one of these components the target of a fault injected and not reverted?"""
        return any(sf.injected_ns is not None and sf.reverted_ns is None
                   and any(c in sf.fault.target() for c in components) for sf in self.run.faults)

    def _abort_reason(self) -> str | None:
        a, live = self.exp.abort, self.watch.state  # type: ignore[union-attr]
        if a.max_loss_usd is not None and live.loss_usd > a.max_loss_usd:
            return f"loss ${live.loss_usd:,.0f} above max_loss_usd ${a.max_loss_usd:,.0f}"
        if a.max_excess_shares is not None and live.excess_shares > a.max_excess_shares:
            return f"excess shares {live.excess_shares:,} above max_excess_shares {a.max_excess_shares:,}"
        if a.max_exposure_usd is not None and live.gross_usd > a.max_exposure_usd:
            return f"exposure ${live.gross_usd:,.0f} above max_exposure_usd ${a.max_exposure_usd:,.0f}"
        return None

    async def _abort(self, reason: str) -> None:
        """The harness's own safety net: kill switch for the firm and halt every router."""
        run = self.run
        if self._aborted.is_set():
            return
        self._aborted.set()
        assert run.topology is not None and self.http is not None
        ev = run.events.warning("abort_triggered", reason=reason)
        run.abort = {"triggered": True, "reason": reason, "at": ev["ts_ns"]}
        run.progress.phase(f"ABORT: {reason} — kill switch and halting every router")
        calls = [self.http.post(f"{run.topology.exchange.admin}/kill", json={"firm": run.topology.firm, "by": ABORT_BY})]
        calls += [self.http.post(f"{r.admin}/halt", json={}) for r in run.topology.routers]
        results = await asyncio.gather(*(self._status(c) for c in calls))
        run.events.warning("abort_kill", results=results)

    @staticmethod
    async def _status(call: Any) -> int | str:
        try:
            async with call as resp:
                return resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return repr(exc)

    # -- evidence, teardown, record ------------------------------------------------
    async def _collect(self) -> measure.Evidence | None:
        run = self.run
        if run.topology is None or self.http is None:
            return None
        await asyncio.sleep(0.1)  # one journal flush interval
        try:
            async with self.http.get(f"{run.topology.exchange.admin}/positions") as resp:
                marks = (await resp.json()).get("marks", {})
            async with self.http.get(f"{run.topology.alerts.admin}/alerts") as resp:
                body = await resp.json()
            alerts = body if isinstance(body, list) else body.get("alerts", [])
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            run.events.warning("evidence_read_failed", error=repr(exc))
            marks, alerts = {}, []
        await self._steady("after")
        logs = Path(run.topology.state_dir) / "logs"
        if logs.is_dir() and any(logs.iterdir()):  # component logs go with the fleet too; keep them for the post-mortem
            shutil.copytree(logs, run.out_dir / "logs", dirs_exist_ok=True)
        else:  # containers: ask the backend
            (run.out_dir / "logs").mkdir(exist_ok=True)
            for component in run.topology.admin_urls():
                text = await asyncio.to_thread(run.backend.logs, component, LOG_LINES)
                (run.out_dir / "logs" / f"{component}.log").write_text(text + "\n")
        # the fleet's files go with it; the report keeps the ground truth
        journal_path = run.out_dir / "exchange-journal.jsonl"
        try:
            await self._download(f"{run.topology.exchange.admin}/journal", journal_path)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # no ground truth, no measurement: an infrastructure error, never a pass
            run.events.warning("journal_read_failed", error=repr(exc))
            run.error = run.error or f"could not read the exchange journal: {exc!r}"
            return None
        journal = _read_jsonl(journal_path)
        parents = run.load.parents() if run.load is not None else []
        return measure.Evidence(journal=journal, parents=parents, alerts=alerts, events=list(run.events.events),
                                marks=marks, firm=run.topology.firm)

    async def _download(self, url: str, path: Path) -> None:
        assert self.http is not None
        timeout = aiohttp.ClientTimeout(total=120)  # a runaway's journal can be large
        async with self.http.get(url, timeout=timeout) as resp:
            resp.raise_for_status()
            with path.open("wb") as fh:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    fh.write(chunk)

    async def _teardown(self) -> None:
        try:
            await self.run.backend.down()
        except Exception as exc:  # a half-started fleet: cleanup() removes the rest
            self.run.events.warning("teardown_failed", error=repr(exc))

    def _record(self, evidence: measure.Evidence | None, load_stop_ns: int | None) -> RunRecord:
        run, exp = self.run, self.exp
        metrics = measure.compute(evidence) if evidence is not None else None
        results = []
        if metrics is not None and run.error is None:
            lost = measure.lost_orders(evidence, load_stop_ns or time.time_ns()) if exp.assertions.no_lost_orders else []
            results = evaluate(exp.assertions, metrics, lost)
            if run.abort["triggered"]:
                run.status = "aborted"
            else:
                run.status = "passed" if all(r.passed for r in results) else "failed"
        stats = run.load.stats() if run.load is not None else None
        return RunRecord(
            experiment=exp.name, description=exp.description, hypothesis=exp.hypothesis, status=run.status,
            backend=run.backend.name, seed=exp.seed, started_ns=run.started_ns, ended_ns=time.time_ns(),
            metrics=metrics, assertions=results, faults=[f.to_dict() for f in run.faults],
            load=stats.to_json() if stats is not None else {}, steady_state=[r.to_dict() for r in run.steady],
            abort=run.abort, error=run.error,
        )

    # -- time --------------------------------------------------------------------------
    async def _wait_until(self, ts_ns: int | None) -> None:
        if ts_ns is None:
            return
        delay = (ts_ns - time.time_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    import json  # noqa: PLC0415

    out = []
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


def exit_code(record: RunRecord) -> int:
    """0 every assertion holds, 1 one fails (or the run aborted), 3 infrastructure error."""
    return {"passed": 0, "failed": 1, "aborted": 1}.get(record.status, 3)
