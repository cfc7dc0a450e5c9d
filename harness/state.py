"""The state file of a run: what `up` started, so that `status`, `down` and
`cleanup` (other processes, maybe after a crash) can find it again.

``$POWERPEG_HOME/runs/<run_id>/state.json`` holds the topology and every
process with its identity (pid + start time) and launch argv;
``$POWERPEG_HOME/current`` names the active run.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powerpeg.harness.procs import ProcIdentity
from powerpeg.harness.topology import Topology

STATE_VERSION = 1


@dataclass
class ProcessRecord:
    """One started process: enough to check it, stop it and start it again."""

    component: str
    ident: ProcIdentity
    argv: list[str]
    log: str
    ready: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, **self.ident.to_json(), "argv": self.argv, "log": self.log,
                "ready": self.ready}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(data["component"], ProcIdentity.from_json(data), list(data["argv"]), data["log"],
                   dict(data.get("ready", {})))


@dataclass
class FleetState:
    """Topology plus processes in start order (stopped in reverse)."""

    run_id: str
    topology: Topology | None
    processes: list[ProcessRecord] = field(default_factory=list)
    created_ns: int = 0

    def process(self, component: str) -> ProcessRecord:
        for record in self.processes:
            if record.component == component:
                return record
        raise KeyError(f"no component {component!r}; known: {', '.join(p.component for p in self.processes)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "created_ns": self.created_ns,
            "topology": None if self.topology is None else self.topology.to_json(),
            "processes": [p.to_json() for p in self.processes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state file version {data.get('version')!r}, expected {STATE_VERSION}")
        topo = data.get("topology")
        return cls(
            run_id=data["run_id"],
            topology=None if topo is None else Topology.from_json(topo),
            processes=[ProcessRecord.from_json(p) for p in data.get("processes", [])],
            created_ns=int(data.get("created_ns", 0)),
        )

    def save(self, path: Path) -> None:
        """Atomic (temp + rename), readable only by us: it holds the token."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_json(), fh, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> FleetState:
        return cls.from_json(json.loads(path.read_text()))


def read_current(home: Path) -> str | None:
    try:
        run_id = (home / "current").read_text().strip()
    except FileNotFoundError:
        return None
    return run_id or None


def write_current(home: Path, run_id: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / "current.tmp"
    tmp.write_text(run_id + "\n")
    os.replace(tmp, home / "current")


def clear_current(home: Path, run_id: str) -> None:
    """Remove ``current`` only if it still names this run."""
    if read_current(home) == run_id:
        (home / "current").unlink(missing_ok=True)
