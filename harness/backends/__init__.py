"""Where a fleet runs. ``local``: processes on loopback (the default);
``compose``: containers through Docker Compose (compose/docker-compose.yml);
``swarm``: the same file as a Docker Swarm stack (docs/swarm.md).
One package each; what they share is base.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from powerpeg.harness.backends.base import Backend, FleetError, FleetSpec, NoFleet
from powerpeg.harness.context import RunContext
from powerpeg.harness.state import FleetState, read_current

__all__ = ["Backend", "FleetError", "FleetSpec", "NoFleet", "attach_backend", "make_backend"]

BACKENDS = ("local", "compose", "swarm")


def make_backend(name: str, ctx: RunContext, *, keep_launcher: bool = False) -> Backend:
    """The backend called ``name`` for a new run. ``keep_launcher`` is the
    local backend's long-lived fork server (the runner); compose has none."""
    if name == "local":
        from powerpeg.harness.backends.local import LocalBackend  # noqa: PLC0415 - only the backend in use is imported

        return LocalBackend(ctx, keep_launcher=keep_launcher)
    if name == "compose":
        from powerpeg.harness.backends.compose import ComposeBackend  # noqa: PLC0415 - only the backend in use is imported

        return ComposeBackend(ctx)
    if name == "swarm":
        from powerpeg.harness.backends.swarm import SwarmBackend  # noqa: PLC0415 - only the backend in use is imported

        return SwarmBackend(ctx)
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")


def attach_backend(home: Path, run_id: str | None = None, log: Any = None) -> Backend:
    """The backend of the active run (or of ``run_id``), whichever kind it is; NoFleet if none."""
    from powerpeg.harness.backends.local import LocalBackend  # noqa: PLC0415 - only the backend in use is imported

    run_id = run_id or read_current(home)
    if run_id is None:
        raise NoFleet(f"no fleet is up (nothing in {home / 'current'}); start one with `powerpeg up`")
    state_file = home / "runs" / run_id / "state.json"
    if state_file.exists():
        state = FleetState.load(state_file)
        if state.topology is not None and state.topology.backend == "compose":
            from powerpeg.harness.backends.compose import ComposeBackend  # noqa: PLC0415 - only the backend in use is imported

            return ComposeBackend.attach(home, run_id, log=log)
        if state.topology is not None and state.topology.backend == "swarm":
            from powerpeg.harness.backends.swarm import SwarmBackend  # noqa: PLC0415 - only the backend in use is imported

            return SwarmBackend.attach(home, run_id, log=log)
    return LocalBackend.attach(home, run_id, log=log)
