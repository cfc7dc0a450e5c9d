"""One run's external controls: the bundled ones started (their endpoints published with
the fleet's), the wait until every control is ready, their observation while the method
runs, and what they say of themselves at the end.

Readiness is declared, not guessed (``controls.external.ready``): a drop-copy session of
the firm's own logged on at the exchange (the venue's ``GET /sessions``: the exchange
knows who listens), and/or the control's own health URLs answering 2xx, and every bundled
control's own ``ready()``. The wait is bounded; running out is the run's infrastructure
error (exit 3) with what was still missing.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness.experiment.durations import format_duration
from powerpeg.harness.experiment.model import Experiment, ExternalControls
from powerpeg.harness.topology import Topology

from .base import Control, ControlContext, ControlNotReady
from .registry import get

POLL_S = 0.2
OBSERVE_S = 0.25


def unsupported_controls(exp: Experiment, backend: str) -> str | None:
    """Why ``backend`` cannot run the experiment's bundled controls (never, or not on this machine
    now: an image not built), or None."""
    external = exp.controls.external
    for entry in external.bundled if external is not None else []:
        cls = get(entry.kind)
        if backend not in cls.backends:
            return (f"the {backend} backend cannot run the bundled control {entry.kind!r} "
                    f"(controls.external.bundled): it runs on {', '.join(sorted(cls.backends))} only; "
                    f"use --backend {sorted(cls.backends)[0]}, or run your own {entry.kind} against the fleet "
                    "(docs/external-controls.md)")
        missing = cls.unavailable(backend)
        if missing is not None:
            return f"the bundled control {entry.kind!r} (controls.external.bundled) cannot run here: {missing}"
    return None


def make(spec: ExternalControls) -> list[Control]:
    """The file's bundled controls as objects (their args were validated when it loaded)."""
    out: list[Control] = []
    for entry in spec.bundled:
        cls = get(entry.kind)
        out.append(cls(cls.Params.model_validate(entry.args)))
    return out


class ExternalControlsRun:
    """The external controls of one run."""

    def __init__(self, spec: ExternalControls, *, own_dropcopy_listeners: int = 0) -> None:
        """``own_dropcopy_listeners``: drop-copy sessions of the firm that are powerpeg's own (its
        monitor, when the file keeps it wired), not counted as the firm's control."""
        self.spec = spec
        self.own_dropcopy_listeners = own_dropcopy_listeners
        self.controls = make(spec)
        self.contexts: list[ControlContext] = []

    # -- start ---------------------------------------------------------------------------
    async def start(self, *, backend: Any, topology: Topology, http: aiohttp.ClientSession, log: Any) -> Topology:
        """Start every bundled control; the topology with their endpoints (also saved for `status`)."""
        for control in self.controls:
            ctx = ControlContext(backend=backend, topology=topology, http=http, log=log,
                                 directory=Path(topology.state_dir) / "controls" / control.kind)
            self.contexts.append(ctx)
            await control.start(ctx)
        endpoints = {name: url for c in self.controls for name, url in c.endpoints.items()}
        if not endpoints:
            return topology
        topology = backend.record_controls(endpoints)
        for ctx in self.contexts:
            ctx.topology = topology
        return topology

    def set_method_start(self, ts_ns: int | None) -> None:
        for ctx in self.contexts:
            ctx.method_start_ns = ts_ns

    # -- readiness -----------------------------------------------------------------------
    async def wait_ready(self, topology: Topology, http: aiohttp.ClientSession,
                         say: Callable[[str], None] | None = None) -> float:
        """Until every declared readiness holds; the seconds it took, or ControlNotReady."""
        timeout = self.spec.ready.timeout
        started = time.monotonic()
        said = False
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as plain:
            while True:
                missing = await self.missing(topology, http, plain)
                if not missing:
                    return time.monotonic() - started
                if time.monotonic() - started > timeout:
                    raise ControlNotReady(
                        f"the external control was not ready within {format_duration(timeout)} "
                        f"(controls.external.ready.timeout): {'; '.join(missing)}. What a control needs: "
                        f"`powerpeg env` (run {topology.run_id}) or `powerpeg status --json`")
                if say is not None and not said:
                    say(f"waiting up to {format_duration(timeout)} for the external control: {'; '.join(missing)} "
                        f"(endpoints: `powerpeg env`)")
                    said = True
                await asyncio.sleep(POLL_S)

    async def missing(self, topology: Topology, http: aiohttp.ClientSession,
                      plain: aiohttp.ClientSession) -> list[str]:
        """What is not ready yet, in words (empty: ready)."""
        out: list[str] = []
        ready = self.spec.ready
        if ready.dropcopy:
            out += await self._dropcopy(topology, http)
        for url in ready.http:
            out += await _health(plain, url)
        for control, ctx in zip(self.controls, self.contexts, strict=True):
            waiting = await control.ready(ctx)
            if waiting is not None:
                out.append(waiting)
        return out

    async def _dropcopy(self, topology: Topology, http: aiohttp.ClientSession) -> list[str]:
        dc = topology.for_controls()["dropcopy"]
        try:
            async with http.get(f"{topology.exchange.admin}/sessions") as resp:
                sessions = await resp.json()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return [f"the exchange's GET /sessions failed ({exc!r})"]
        listeners = sum(1 for s in sessions if s.get("kind") == "drop-copy" and s.get("firm") == topology.firm
                        and s.get("connected"))
        if listeners - self.own_dropcopy_listeners >= 1:
            return []
        return [f"no drop-copy session of firm {topology.firm} logged on (dial {dc['address']}, SenderCompID "
                f"{dc['sender_comp_id']}, TargetCompID {dc['target_comp_id']})"]

    # -- while the method runs, and at the end -----------------------------------------------
    async def observe(self, stop: asyncio.Event) -> None:
        """Every bundled control notes what its APIs say, until ``stop``."""
        if not self.controls:
            return
        while not stop.is_set():
            for control, ctx in zip(self.controls, self.contexts, strict=True):
                await control.observe(ctx)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), OBSERVE_S)

    async def pipeline(self) -> list[dict[str, Any]]:
        """Each bundled control's own account (raw), read while the fleet is up; none from a control
        that gave none (one that did not start)."""
        # strict=False: a control that failed to start ended the starting; those after it have no context
        accounts = [await control.pipeline(ctx) for control, ctx in zip(self.controls, self.contexts, strict=False)]
        return [account for account in accounts if account]


async def _health(plain: aiohttp.ClientSession, url: str) -> list[str]:
    """The control's own health URL: 2xx, or why not (sent without the fleet's token: it is theirs)."""
    try:
        async with plain.get(url) as resp:
            if 200 <= resp.status < 300:
                return []
            return [f"{url} answered HTTP {resp.status}"]
    except (TimeoutError, aiohttp.ClientError) as exc:
        return [f"{url} did not answer ({type(exc).__name__})"]
