"""Steady-state probes at a phase of the run (before, during, after the method)."""
from __future__ import annotations

from powerpeg.harness import probes
from powerpeg.harness.events import RunEvent
from powerpeg.harness.run.state import LiveRun, Run


async def steady(live: LiveRun, phase: str) -> bool:
    """Check the steady-state probes due in ``phase``; each result is an event."""
    run = live.run
    if not live.experiment.steady_state.probes:
        return True
    ctx = probes.ProbeContext(run.backend, live.topology, live.http, lambda: _load_failure_ratio(run))
    results = await probes.check(ctx, list(live.experiment.steady_state.probes), phase)
    run.steady += results
    for r in results:
        run.events.emit(RunEvent.STEADY_STATE, probe=r.probe, phase=phase, ok=r.ok, value=r.value, message=r.message)
    return all(r.ok for r in results)


def _load_failure_ratio(run: Run) -> float | None:
    if run.load is None:
        return 0.0
    stats = run.load.stats()
    if stats is None or not stats.requests:
        return None
    return stats.failures / stats.requests
