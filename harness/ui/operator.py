"""The game day's method: a person in the loop instead of the file's timeline.

The runner (:class:`powerpeg.harness.run.Runner`) stands the fleet up, starts the
load, watches the stop conditions, rolls back, collects and judges, exactly
as for `powerpeg run`; this strategy is the middle of the run. The method's
faults wait for an Inject button, alerts for an Ack, the kill switch for a
KILL press, and the run lasts until the operator stops it (Ctrl-C, SIGTERM)
or ``max_duration`` passes. Every operator action is an event in the run's
event log (``operator_ack``, ``operator_kill``), which is how measurement
tells a human detection or kill from an automated one; when the person was
logged in on the web UI, the event names them (``operator``).

The public coroutines (inject, revert, ack, kill, reinstate) and
:meth:`OperatorMethod.status` are the Chaos tab's control API.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from powerpeg.harness import measure
from powerpeg.harness.events import RunEvent
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.faults.base import FaultError
from powerpeg.harness.run.method import LOAD_GRACE_S, LoadPlan
from powerpeg.harness.run.safety import Safety, status_of
from powerpeg.harness.run.state import LiveRun, ScheduledFault
from powerpeg.harness.run.timeline import Timeline
from powerpeg.harness.ui.alert_groups import group as group_alerts
from powerpeg.harness.ui.attribution import OPERATOR, attribution

API_ENV = "POWERPEG_CHAOS_API"
LIVE_METRICS_EVERY = 20  # watch ticks (100 ms) between two live measurements (TTD/TTK)
WEB_UI_WAIT_S = 15.0


def _named(operator: str | None) -> dict[str, str]:
    """The event field naming the logged-in operator who acted (none for a bare token)."""
    return {"operator": operator} if operator else {}


def _by(operator: str | None) -> str:
    return f" {operator}" if operator else ""


class ActionError(Exception):
    """An operator action the fleet refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class OperatorMethod:
    """The run behind `powerpeg ui`; its public methods are the control API's actions."""

    mode = "ui"
    keep_journal = True  # live TTD/TTK on the page
    rollback_all = True  # a game day always leaves the fleet as it found it, whatever the file's policy

    def __init__(self, experiment: Experiment, *, web_port: int, max_duration_s: float, stop: asyncio.Event,
                 api_url: str = "") -> None:
        self.experiment = experiment
        self.web_port = web_port
        self.max_duration_s = max_duration_s
        self.stop = stop
        self.api_url = api_url
        self.phase = "starting"
        self.killed = False
        self.live_metrics: measure.Metrics | None = None
        self._live: LiveRun | None = None
        self._safety: Safety | None = None
        self._actions = asyncio.Lock()  # one fleet action at a time: a double click must not race itself
        self._reinstated_ns = 0  # the operator's last Reinstate: kills journaled before it are lifted

    # -- the method --------------------------------------------------------------
    def load_plan(self, exp: Experiment) -> LoadPlan:
        return LoadPlan(duration_s=self.max_duration_s + LOAD_GRACE_S, web_port=self.web_port,
                        extra_env={API_ENV: self.api_url})

    async def load_started(self, live: LiveRun) -> None:
        self._live = live
        self.phase = "warmup"
        await self._wait_web_ui()
        live.run.progress.phase(f"Chaos tab: http://127.0.0.1:{self.web_port}/chaos — Ctrl-C to end the game day")

    async def _wait_web_ui(self) -> None:
        """Locust reports the load running before its web server necessarily listens: wait for it."""
        deadline = time.monotonic() + WEB_UI_WAIT_S
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.web_port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Locust's web UI did not listen on 127.0.0.1:{self.web_port}") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return

    async def play(self, live: LiveRun, timeline: Timeline, safety: Safety) -> None:
        self._live, self._safety = live, safety
        live.run.events.emit(RunEvent.METHOD_START, steps=len(live.run.faults), mode=self.mode)
        market = asyncio.ensure_future(timeline.open_market([], safety.aborted))
        deadline = timeline.start_ns + int(self.max_duration_s * 1e9)

        def tick(ticks: int) -> None:
            self.phase = self._phase_now()
            if ticks % LIVE_METRICS_EVERY == 0:
                self.live_metrics = self._measure_live()

        try:
            self.phase = self._phase_now()
            await safety.watch(lambda: deadline, stop=self.stop, end_on_abort=False, on_tick=tick, progress=False)
        finally:
            market.cancel()
            await asyncio.gather(market, return_exceptions=True)
            self.phase = "stopping"

    def _phase_now(self) -> str:
        if self._safety is not None and self._safety.aborted.is_set():
            return "aborted"
        if self.killed:
            return "killed"
        run = self._live.run if self._live is not None else None
        if run is None or run.open_at_ns is None or time.time_ns() < run.open_at_ns:
            return "pre-open"
        return "open"

    def _measure_live(self) -> measure.Metrics | None:
        live = self._require()
        parents = live.run.load.parents() if live.run.load is not None else []
        return measure.compute(measure.Evidence(journal=live.watch.journal.kept, parents=parents, alerts=live.alerts,
                                                events=list(live.run.events.events), marks={},
                                                firm=live.topology.firm))

    # -- operator actions -------------------------------------------------------------
    def _require(self) -> LiveRun:
        if self._live is None:
            raise ActionError(409, "the fleet is still starting: try again in a moment")
        return self._live

    def _fault(self, index: int) -> ScheduledFault:
        faults = self._require().run.faults
        if not 0 <= index < len(faults):
            raise ActionError(404, f"no fault {index}: the method has {len(faults)}")
        return faults[index]

    def _refuse_after_abort(self) -> None:
        """After a stop condition fired the firm is killed and every router halted by the harness: a
        fault injected now would test nothing and could only hide what the abort says."""
        if self._safety is not None and self._safety.aborted.is_set():
            reason = self._live.run.abort.reason if self._live is not None else None
            raise ActionError(409, f"the run was aborted ({reason or 'a stop condition fired'}): the kill switch "
                                   "is on and every router is halted; nothing more is injected")

    async def inject(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        live, sf = self._require(), self._fault(index)
        self._refuse_after_abort()
        async with self._actions:
            if sf.active:
                return fault_view(sf)  # injected already: inject is idempotent from the page
            try:
                await live.inject(sf, by=OPERATOR, **_named(operator))
            except FaultError as exc:
                raise ActionError(409, f"inject failed: {exc}") from exc
            live.run.progress.phase(f"operator{_by(operator)} injected {sf.step.fault} {sf.fault.target()}")
        return fault_view(sf)

    async def revert(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        live, sf = self._require(), self._fault(index)
        async with self._actions:
            # the runner's revert, its events marked as the operator's (the rollback's are not)
            await live.revert(sf, by=OPERATOR, **_named(operator))
        if sf.error:
            raise ActionError(409, sf.error)
        return fault_view(sf)

    async def ack(self, alert_id: str, *, operator: str | None = None) -> dict[str, Any]:
        live = self._require()
        async with live.http.post(f"{live.topology.alerts.admin}/alerts/{alert_id}/ack", json={}) as resp:
            if resp.status >= 300:
                raise ActionError(resp.status, f"alert sink refused the ack: {resp.status} {await resp.text()}")
        ev = live.run.events.emit(RunEvent.OPERATOR_ACK, alert=alert_id, **_named(operator))
        live.run.progress.phase(f"operator{_by(operator)} acknowledged alert {alert_id}")
        if self._safety is not None:
            await self._safety.read_alerts()
        return {"alert": alert_id, "acked_ns": ev["ts_ns"]}

    async def kill(self, *, operator: str | None = None) -> dict[str, Any]:
        """The KILL SWITCH: block the firm at the exchange (its working orders cancelled) and halt every router."""
        live = self._require()
        run, topo = live.run, live.topology
        async with self._actions:
            ev = run.events.warning(RunEvent.OPERATOR_KILL, firm=topo.firm, **_named(operator))
            async with live.http.post(f"{topo.exchange.admin}/kill", json={"firm": topo.firm, "by": OPERATOR}) as resp:
                if resp.status != 200:
                    raise ActionError(502, f"exchange refused the kill: {resp.status} {await resp.text()}")
                exchange = await resp.json()
            halts = await asyncio.gather(*(status_of(live.http.post(f"{r.admin}/halt", json={}))
                                           for r in topo.routers))
            self.killed = True
            self.phase = self._phase_now()
            routers = {r.id: h for r, h in zip(topo.routers, halts, strict=True)}
            run.events.emit(RunEvent.OPERATOR_KILL_DONE, exchange=exchange, routers=routers)
            run.progress.phase(f"KILL SWITCH by the operator{_by(operator)}: {exchange.get('cancelled')} orders "
                               "cancelled, routers halted")
        return {"killed": True, "ts_ns": ev["ts_ns"], "exchange": exchange, "routers": routers}

    async def reinstate(self, *, operator: str | None = None) -> dict[str, Any]:
        live = self._require()
        topo = live.topology
        async with self._actions:
            async with live.http.post(f"{topo.exchange.admin}/reinstate",
                                      json={"firm": topo.firm, "by": OPERATOR}) as resp:
                if resp.status != 200:
                    raise ActionError(502, f"exchange refused to reinstate: {resp.status} {await resp.text()}")
            resumes = await asyncio.gather(*(status_of(live.http.post(f"{r.admin}/resume", json={}))
                                             for r in topo.routers))
            self.killed = False
            self._reinstated_ns = time.time_ns()
            self.phase = self._phase_now()
            routers = {r.id: s for r, s in zip(topo.routers, resumes, strict=True)}
            live.run.events.emit(RunEvent.OPERATOR_REINSTATE, routers=routers, **_named(operator))
        return {"killed": False}

    def _killed_by(self) -> str | None:
        """Who has the firm's kill switch on: the operator, the harness's abort, a control (the
        exchange journal's kill record says), or None."""
        if self._safety is not None and self._safety.aborted.is_set():
            return "powerpeg-abort"
        if self.killed:
            return OPERATOR
        state = self._live.watch.state if self._live is not None else None
        # a kill the journal shows from before the operator's last Reinstate is lifted already (the watch
        # may not have read the reinstate record yet)
        if state is None or state.killed_at_ns is None or state.killed_at_ns <= self._reinstated_ns:
            return None
        return state.killed_by

    def status(self) -> dict[str, Any]:
        live = self._live
        state = live.watch.state if live is not None else None
        metrics = self.live_metrics
        killed_by = self._killed_by()
        return {
            "experiment": self.experiment.name,
            "phase": self.phase,
            "killed": killed_by is not None,
            "killed_by": killed_by,
            "parts": live.parts.view() if live is not None else {},
            "faults": [fault_view(sf) for sf in live.run.faults] if live is not None else [],
            "alerts": live.alerts if live is not None else [],
            "alert_groups": group_alerts(live.alerts) if live is not None else [],
            "metrics": {
                "child_orders_per_s": self._safety.rate if self._safety is not None else 0.0,
                "child_orders": state.child_orders if state else 0,
                "exposure_usd": state.gross_usd if state else 0.0,
                "loss_usd": state.loss_usd if state else 0.0,
                "excess_shares": state.excess_shares if state else 0,
                "ttd_s": metrics.ttd_s if metrics else None,
                "ttk_s": metrics.ttk_s if metrics else None,
                "detected_by": metrics.detected_by if metrics else None,
                # pages before the first fault are not a detection of it, but the page must say they came
                "pages_before_fault": metrics.pages_before_fault if metrics else 0,
                "killed_by": attribution(metrics, live.run.events.events)["ttk"] if metrics and live else None,
            },
            "abort": _abort_view(live),
        }


def _abort_view(live: LiveRun | None) -> dict[str, Any]:
    abort = live.run.abort if live is not None else None
    if abort is None:
        return {"triggered": False, "reason": None, "at": None}
    return {"triggered": abort.triggered, "reason": abort.reason, "at": abort.at}


def fault_view(sf: ScheduledFault) -> dict[str, Any]:
    if sf.error:
        state = "failed"
    elif sf.injected_ns is None:
        state = "pending"
    elif sf.reverted_ns is None:
        state = "injected"
    else:
        state = "reverted"
    return {**sf.to_dict(), "state": state}
