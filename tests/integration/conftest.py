"""Real local fleets for integration tests.

``fleet``: one fleet per test module (2 routers, v2; parametrise indirectly
with FleetSpec keyword arguments to change it). ``fleet_factory``: several
fleets with special set-ups, e.g.
``fleet_factory(routers=2, versions={"router-2": "v1"}, monitor_args=["--auto-kill"])``.
Both yield/return a :class:`powerpeg.harness.topology.Topology` (``token``,
``exchange.fix``/``.dropcopy``/``.admin``, ``routers[i].orders``/``.admin``/
``.version``, ``monitor.admin``, ``alerts.admin``, ``state_dir``,
``journal``) and tear their fleets down at the end of the module, checking
that no process is left. ``fleet_factory.backend(topology)`` gives the
backend for faults (kill, pause, restart, deploy).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.local import LocalBackend
from powerpeg.harness.context import RunContext
from powerpeg.harness.state import FleetState
from powerpeg.harness.topology import Topology


# CompIDs the tests' own FIX clients log on as (the exchange admits only the fleet's and these)
FIX_CLIENTS = ("CODTEST", "NOCOD", "OUTSIDER")


class FleetFactory:
    """Stands up fleets under one POWERPEG_HOME and tears them all down."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._backends: dict[str, LocalBackend] = {}

    def __call__(self, **spec: Any) -> Topology:
        spec.setdefault("routers", 2)
        spec.setdefault("fix_clients", list(FIX_CLIENTS))
        ctx = RunContext.create(home=self.home)
        backend = LocalBackend(ctx)
        topology = asyncio.run(backend.up(FleetSpec(**spec)))
        self._backends[topology.run_id] = backend
        return topology

    def backend(self, topology: Topology) -> LocalBackend:
        return self._backends[topology.run_id]

    def down(self, topology: Topology) -> list[str]:
        """Tear one fleet down now; the components still alive afterwards (none, normally)."""
        backend = self._backends.pop(topology.run_id)
        state = FleetState.load(backend.ctx.state_file)
        asyncio.run(backend.down())
        return [p.component for p in state.processes if p.ident.alive()]

    def down_all(self) -> list[str]:
        left: list[str] = []
        for backend in list(self._backends.values()):
            left += self.down(backend.topology())
        return left


@pytest.fixture(scope="module")
def fleet_factory(tmp_path_factory):
    factory = FleetFactory(tmp_path_factory.mktemp("powerpeg-home"))
    yield factory
    assert [] == factory.down_all(), "processes left running after teardown"


@pytest.fixture(scope="module")
def fleet(request, fleet_factory) -> Topology:
    """A real 2-router fleet; ``@pytest.mark.parametrize("fleet", [{...}], indirect=True)`` changes it."""
    return fleet_factory(**getattr(request, "param", {}))
