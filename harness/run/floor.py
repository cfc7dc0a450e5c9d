"""The run's measurement floor as read from the fleet and the host: each component's event-loop lag,
the monitor's drop-copy lag and kill decisions, and the host's CPU during the method
(harness/measurement.py judges them).

Read when the method ends, before the rollback and the evidence: a rollback's redeploy restarts the
routers (and their loop samplers with them), and the journal's download is load on the exchange that
no control ever saw. Each read is on its own and short: a part that does not answer, or a service
older than the measurement (404), costs that one figure — said as "not measured" with the reason —
and never the run's evidence.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.events import RunEvent
from powerpeg.harness.measurement import (
    ComponentLag, CpuSaturation, KillDecision, Lag, MeasurementError, Readings, busy_summary, dropcopy_reading,
    loop_reading,
)
from powerpeg.harness.run.state import LiveRun

READ_TIMEOUT_S = 2.0  # per read: a frozen part must not hold the end of the run for long
CPU_INTERVAL_S = 0.25
PROC_STAT = Path("/proc/stat")
LOOP_PATH = "/measurement/loop"
DROPCOPY_PATH = "/measurement/dropcopy"


@dataclass(frozen=True)
class _Answer:
    """One read: its JSON body, or why there is none (``missing``: 404, the service predates it)."""

    body: Any = None
    error: str | None = None
    missing: bool = False


async def _get(http: aiohttp.ClientSession, url: str) -> _Answer:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=READ_TIMEOUT_S)) as resp:
            if resp.status == 404:
                return _Answer(missing=True, error="HTTP 404")
            resp.raise_for_status()
            return _Answer(body=await resp.json())
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:  # ValueError: a body that is not JSON
        return _Answer(error=f"{type(exc).__name__}: {exc}".rstrip(": "))


async def read(live: LiveRun, cpu: CpuSaturation) -> Readings:
    """Every component's ``GET /measurement/loop`` and the monitor's ``GET /measurement/dropcopy``, at once."""
    run, topo = live.run, live.topology
    external = run.experiment.controls.external is not None
    urls = topo.admin_urls()
    names = sorted(urls)
    answers = await asyncio.gather(*(_get(live.http, urls[name] + LOOP_PATH) for name in names),
                                   _get(live.http, topo.monitor.admin + DROPCOPY_PATH))
    loop: list[ComponentLag] = []
    for name, answer in zip(names, answers[:-1], strict=True):
        try:
            loop.append(_loop(name, answer))
        except MeasurementError as exc:
            loop.append(ComponentLag(name, Lag.missing(str(exc))))
        if answer.error is not None and not answer.missing:
            run.events.warning(RunEvent.EVIDENCE_READ_FAILED, source=f"measurement: {name} loop lag",
                               error=answer.error)
    dropcopy = answers[-1]
    lag, decisions, note, breach_lag = _dropcopy(dropcopy, monitor_enabled=run.experiment.controls.monitor.enabled,
                                                 external=external)
    if dropcopy.error is not None and not dropcopy.missing:
        run.events.warning(RunEvent.EVIDENCE_READ_FAILED, source="measurement: monitor drop copy",
                           error=dropcopy.error)
    return Readings(loop=loop, drop_copy_lag_s=lag, kill_decisions=decisions, kill_note=note, cpu=cpu,
                    external=external, breach_report_lag_s=breach_lag)


def _loop(name: str, answer: _Answer) -> ComponentLag:
    if answer.missing:
        return ComponentLag(name, Lag.missing(f"{name} does not serve GET {LOOP_PATH} (HTTP 404: older than the "
                                              "measurement floor)"))
    if answer.error is not None:
        return ComponentLag(name, Lag.missing(f"{name} did not answer GET {LOOP_PATH}: {answer.error}"))
    return loop_reading(name, answer.body)


def _dropcopy(answer: _Answer, *, monitor_enabled: bool,
              external: bool) -> tuple[Lag, list[KillDecision] | None, str | None, float | None]:
    """(the drop-copy lag, the monitor's kill decisions or None, why they are None, the lag of the report
    that raised the monitor's first risk breach or None)."""
    if answer.missing:
        why = (f"the monitor does not serve GET {DROPCOPY_PATH} (HTTP 404: a monitor older than the measurement "
               "floor)")
        return Lag.missing(why), None, why, None
    if answer.error is not None:
        why = f"the monitor did not answer GET {DROPCOPY_PATH}: {answer.error}"
        return Lag.missing(why), None, why, None
    try:
        lag, decisions, breach_lag = dropcopy_reading(answer.body)
    except MeasurementError as exc:
        return Lag.missing(str(exc)), None, str(exc), None
    if not lag.measured and not monitor_enabled:
        # a passive monitor reads no drop copy: say that rather than "no report"
        why = ("powerpeg's monitor was passive (controls.external without controls.monitor.enabled): it read no drop "
               "copy" if external else "the monitor was not under test (controls.monitor.enabled: false)")
        lag = Lag(n=lag.n, not_measured=why)
    return lag, decisions, None, breach_lag


def _busy_counters(text: str) -> tuple[int, int]:
    """(busy, total) jiffies of the ``cpu`` line of /proc/stat (all cores): idle and iowait are not busy;
    guest time is already in user (counted once)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
            if len(fields) < 5:
                break
            total = sum(fields)
            return total - fields[3] - fields[4], total
    raise ValueError("no aggregate 'cpu' line")


class CpuSampler:
    """The host's CPU busy fraction every ``interval_s`` while it runs (the method's window):
    ``start()``, ``stop()``, then ``result()``."""

    def __init__(self, *, interval_s: float = CPU_INTERVAL_S, path: Path = PROC_STAT,
                 host: str = "the harness's host") -> None:
        self.interval_s = interval_s
        self.path = path
        self.host = host
        self.busy: list[float] = []
        self.error: str | None = None
        self.started = False
        self._last: tuple[int, int] | None = None
        self._task: asyncio.Task | None = None

    def _read(self) -> tuple[int, int] | None:
        try:
            return _busy_counters(self.path.read_text())
        except (OSError, ValueError) as exc:
            self.error = f"{self.path} not readable ({type(exc).__name__}: {exc}): not a Linux host"
            return None

    def _sample(self) -> None:
        now = self._read()
        if now is None or self._last is None:
            self._last = now
            return
        busy, total = now[0] - self._last[0], now[1] - self._last[1]
        if total > 0:
            self.busy.append(min(1.0, max(0.0, busy / total)))
        self._last = now

    def start(self) -> None:
        if self._task is not None:
            return
        self.started = True
        self._last = self._read()
        if self._last is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cpu-sampler")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self._sample()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if not self.busy:  # a method shorter than one interval still gets its one sample
            self._sample()

    def result(self) -> CpuSaturation:
        if not self.started:
            return CpuSaturation(not_measured="the method did not run", host=self.host)
        if self.error is not None and not self.busy:
            return CpuSaturation(not_measured=self.error, host=self.host)
        return busy_summary(self.busy, interval_s=self.interval_s, cores=os.cpu_count(), host=self.host)


def host_of(backend: str) -> str:
    """Whose CPU the sampler sees: the harness's host, which is the Docker host for compose; a swarm
    may put the fleet on other nodes too."""
    if backend == "swarm":
        return "the harness's host only (a swarm's other nodes are not sampled)"
    if backend == "compose":
        return "the harness's host (the Docker host)"
    return "the harness's host"
