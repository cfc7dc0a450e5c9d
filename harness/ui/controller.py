"""A game-day run: the runner's stand-up, evidence, teardown and verdict, with
a person in the loop instead of the method's timeline.

The fleet, the load and the stop conditions are the runner's (it is a
:class:`harness.runner.Runner`); what changes is the middle of the run: the
method's faults wait for an Inject button, alerts for an Ack, the kill switch
for a KILL press, and the run lasts until the operator stops it (Ctrl-C,
SIGTERM) or ``max_duration`` passes. Every operator action is an event in the
run's event log (``operator_ack``, ``operator_kill``), which is how
measurement tells a human detection or kill from an automated one; when the
person was logged in on the web UI, the event names them (``operator``).
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from harness import measure
from harness.faults.base import FaultError
from harness.load.config import LoadConfig, SymbolRef, router_targets
from harness.load.runner import LoadRunner
from harness.runner import Run, Runner, ScheduledFault
from harness.ui.attribution import OPERATOR, attribution
from harness.watch import HttpTail, Watch

API_ENV = "POWERPEG_CHAOS_API"
LIVE_METRICS_EVERY = 20  # watch ticks (100 ms) between two live measurements (TTD/TTK)
ALERTS_EVERY = 5
KEPT_KINDS = frozenset({"kill", "reinstate", "open"})


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


class _KeepingTail(HttpTail):
    """The journal tail of the watch, keeping the firm's records for live TTD/TTK."""

    def __init__(self, url: str, firm: str) -> None:
        super().__init__(url)
        self.firm = firm
        self.kept: list[dict[str, Any]] = []

    async def read_new(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        records = await super().read_new(http)
        self.kept += [r for r in records if r.get("firm") == self.firm or r.get("kind") in KEPT_KINDS]
        return records


class ChaosRunner(Runner):
    """The run behind `powerpeg ui`; its public methods are the control API's actions."""

    def __init__(self, run: Run, *, web_port: int, max_duration_s: float, stop: asyncio.Event,
                 api_url: str = "") -> None:
        super().__init__(run)
        self.web_port = web_port
        self.max_duration_s = max_duration_s
        self.stop = stop
        self.api_url = api_url
        self.phase = "starting"
        self.killed = False
        self.alerts: list[dict[str, Any]] = []
        self.rate = 0.0
        self.live: measure.Metrics | None = None
        self._tail: _KeepingTail | None = None
        self._actions = asyncio.Lock()  # one fleet action at a time: a double click must not race itself

    # -- the run ------------------------------------------------------------------
    async def _start_load(self) -> None:
        run, exp = self.run, self.exp
        assert run.topology is not None and self.http is not None
        self.phase = "warmup"
        run.faults = self._schedule()  # listed (pending) from the start: the page shows them at once
        now = time.time_ns()
        run.method_start_ns = now + int(1.5e9)
        run.open_at_ns = run.method_start_ns + int(exp.market.open_at * 1e9)
        async with self.http.post(f"{run.topology.exchange.admin}/clock",
                                  json={"open_in_s": (run.open_at_ns - time.time_ns()) / 1e9}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"exchange refused to schedule the open: {resp.status} {await resp.text()}")
        load_dir = run.out_dir / "load"
        self.watch = Watch(exp.topology.firm, f"{run.topology.exchange.admin}/journal", load_dir / "parents")
        self._tail = _KeepingTail(f"{run.topology.exchange.admin}/journal", exp.topology.firm)
        self.watch._journal = self._tail  # noqa: SLF001 - the same reads, kept for live measurement
        async with self.http.get(f"{run.topology.exchange.admin}/symbols") as resp:
            universe = [SymbolRef(**s) for s in await resp.json()]
        config = LoadConfig.build(
            exp.load, run_id=run.topology.run_id, routers=router_targets(run.topology), token=run.topology.token,
            universe=universe, symbol_count=exp.topology.symbols, open_at_ns=run.open_at_ns, seed=exp.seed,
            duration_s=self.max_duration_s + 5, out_dir=load_dir,
        )
        run.load = LoadRunner(config, load_dir, log=run.log, web_port=self.web_port,
                              extra_env={API_ENV: self.api_url})
        run.control = run.load.control
        run.progress.phase(f"starting load: {exp.load.users} users, Locust web UI on http://127.0.0.1:{self.web_port}")
        await run.load.start()
        run.events.emit("load_start", users=exp.load.users, workers=exp.load.workers, web_port=self.web_port)
        await self._wait_web_ui()
        run.progress.phase(f"Chaos tab: http://127.0.0.1:{self.web_port}/chaos — Ctrl-C to end the game day")

    async def _wait_web_ui(self, timeout_s: float = 15.0) -> None:
        """Locust reports the load running before its web server necessarily listens: wait for it."""
        deadline = time.monotonic() + timeout_s
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

    async def _method(self) -> None:
        run = self.run
        assert run.method_start_ns is not None and self.watch is not None
        run.events.emit("method_start", steps=len(run.faults), mode="ui")
        market = asyncio.ensure_future(self._market_open_event())
        deadline = run.method_start_ns + int(self.max_duration_s * 1e9)
        last_orders, last_t, ticks = 0, time.monotonic(), 0
        try:
            while not self.stop.is_set() and time.time_ns() < deadline:
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=0.1)
                except asyncio.TimeoutError:
                    pass
                ticks += 1
                self.phase = self._phase_now()
                await self._refresh(alerts=False)
                if ticks % ALERTS_EVERY == 0:
                    await self._read_alerts()
                now = time.monotonic()
                if now - last_t >= 1.0:
                    self.rate = (self.watch.state.child_orders - last_orders) / (now - last_t)
                    last_orders, last_t = self.watch.state.child_orders, now
                if ticks % LIVE_METRICS_EVERY == 0:
                    self.live = self._measure_live()
                reason = self._abort_reason()
                if reason:
                    await self._abort(reason)
        finally:
            market.cancel()
            await asyncio.gather(market, return_exceptions=True)
            self.phase = "stopping"

    def _phase_now(self) -> str:
        if self._aborted.is_set():
            return "aborted"
        if self.killed:
            return "killed"
        if self.run.open_at_ns is not None and time.time_ns() < self.run.open_at_ns:
            return "pre-open"
        return "open"

    async def _rollback_if_due(self) -> None:
        # a game day always leaves the fleet as it found it, whatever the file's policy
        for sf in reversed(self.run.faults):
            await self._revert(sf)

    async def _read_alerts(self) -> None:
        run = self.run
        assert run.topology is not None and self.http is not None and self.watch is not None
        try:
            async with self.http.get(f"{run.topology.alerts.admin}/alerts") as resp:
                body = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            run.events.warning("watch_read_failed", error=repr(exc))
            return
        self.alerts = body if isinstance(body, list) else body.get("alerts", [])
        self.watch.on_alerts(self.alerts)

    def _measure_live(self) -> measure.Metrics | None:
        run = self.run
        if self._tail is None or run.topology is None:
            return None
        parents = run.load.parents() if run.load is not None else []
        return measure.compute(measure.Evidence(journal=self._tail.kept, parents=parents, alerts=self.alerts,
                                                events=list(run.events.events), marks={}, firm=run.topology.firm))

    # -- operator actions -------------------------------------------------------------
    def _fault(self, index: int) -> ScheduledFault:
        if not 0 <= index < len(self.run.faults):
            raise ActionError(404, f"no fault {index}: the method has {len(self.run.faults)}")
        return self.run.faults[index]

    async def inject(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        sf = self._fault(index)
        async with self._actions:
            if sf.injected_ns is not None and sf.reverted_ns is None:
                return fault_view(sf)  # injected already: inject is idempotent from the page
            try:
                await sf.fault.inject(self._fault_ctx())
            except FaultError as exc:
                sf.error = str(exc)
                self.run.events.warning("fault_failed", step=index, kind=sf.step.fault, error=str(exc), by=OPERATOR,
                                        **_named(operator))
                raise ActionError(409, f"inject failed: {exc}") from exc
            sf.error, sf.reverted_ns = None, None
            sf.injected_ns = self.run.events.emit("fault_injected", step=index, kind=sf.step.fault,
                                                  target=sf.fault.target(), by=OPERATOR, **_named(operator))["ts_ns"]
            self.run.progress.phase(f"operator{_by(operator)} injected {sf.step.fault} {sf.fault.target()}")
        return fault_view(sf)

    async def revert(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        sf = self._fault(index)
        async with self._actions:
            # the runner's revert, its events marked as the operator's (the rollback's are not)
            await self._revert(sf, by=OPERATOR, **_named(operator))
        if sf.error:
            raise ActionError(409, sf.error)
        return fault_view(sf)

    async def ack(self, alert_id: str, *, operator: str | None = None) -> dict[str, Any]:
        run = self.run
        assert run.topology is not None and self.http is not None
        async with self.http.post(f"{run.topology.alerts.admin}/alerts/{alert_id}/ack", json={}) as resp:
            if resp.status >= 300:
                raise ActionError(resp.status, f"alert sink refused the ack: {resp.status} {await resp.text()}")
        ev = run.events.emit("operator_ack", alert=alert_id, **_named(operator))
        run.progress.phase(f"operator{_by(operator)} acknowledged alert {alert_id}")
        await self._read_alerts()
        return {"alert": alert_id, "acked_ns": ev["ts_ns"]}

    async def kill(self, *, operator: str | None = None) -> dict[str, Any]:
        """The KILL SWITCH: block the firm at the exchange (its working orders cancelled) and halt every router."""
        run = self.run
        assert run.topology is not None and self.http is not None
        async with self._actions:
            ev = run.events.warning("operator_kill", firm=run.topology.firm, **_named(operator))
            async with self.http.post(f"{run.topology.exchange.admin}/kill",
                                      json={"firm": run.topology.firm, "by": OPERATOR}) as resp:
                if resp.status != 200:
                    raise ActionError(502, f"exchange refused the kill: {resp.status} {await resp.text()}")
                exchange = await resp.json()
            halts = await asyncio.gather(*(self._status(self.http.post(f"{r.admin}/halt", json={}))
                                           for r in run.topology.routers))
            self.killed = True
            self.phase = self._phase_now()
            routers = {r.id: h for r, h in zip(run.topology.routers, halts)}
            run.events.emit("operator_kill_done", exchange=exchange, routers=routers)
            run.progress.phase(f"KILL SWITCH by the operator{_by(operator)}: {exchange.get('cancelled')} orders cancelled, routers halted")
        return {"killed": True, "ts_ns": ev["ts_ns"], "exchange": exchange, "routers": routers}

    async def reinstate(self, *, operator: str | None = None) -> dict[str, Any]:
        run = self.run
        assert run.topology is not None and self.http is not None
        async with self._actions:
            async with self.http.post(f"{run.topology.exchange.admin}/reinstate",
                                      json={"firm": run.topology.firm, "by": OPERATOR}) as resp:
                if resp.status != 200:
                    raise ActionError(502, f"exchange refused to reinstate: {resp.status} {await resp.text()}")
            resumes = await asyncio.gather(*(self._status(self.http.post(f"{r.admin}/resume", json={}))
                                             for r in run.topology.routers))
            self.killed = False
            self.phase = self._phase_now()
            run.events.emit("operator_reinstate", routers={r.id: s for r, s in zip(run.topology.routers, resumes)},
                            **_named(operator))
        return {"killed": False}

    def status(self) -> dict[str, Any]:
        state = self.watch.state if self.watch is not None else None
        live = self.live
        return {
            "experiment": self.exp.name,
            "phase": self.phase,
            "killed": self.killed,
            "faults": [fault_view(sf) for sf in self.run.faults],
            "alerts": self.alerts,
            "metrics": {
                "child_orders_per_s": self.rate,
                "child_orders": state.child_orders if state else 0,
                "exposure_usd": state.gross_usd if state else 0.0,
                "loss_usd": state.loss_usd if state else 0.0,
                "excess_shares": state.excess_shares if state else 0,
                "ttd_s": live.ttd_s if live else None,
                "ttk_s": live.ttk_s if live else None,
                "detected_by": live.detected_by if live else None,
                "killed_by": attribution(live, self.run.events.events)["ttk"] if live else None,
            },
            "abort": self.run.abort,
        }


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

