"""The one context object a harness command passes around explicitly.

A run has an id, a state directory under ``$POWERPEG_HOME/runs/<run_id>``,
an admin token shared by every service of the fleet, and a logger bound to
the run. Nothing here is process-global: two fleets in one test process get
two contexts.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

HOME_ENV = "POWERPEG_HOME"
RUN_ID_ENV = "POWERPEG_RUN_ID"
TOKEN_ENV = "POWERPEG_TOKEN"
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def powerpeg_home(environ: dict[str, str] | None = None) -> Path:
    """``$POWERPEG_HOME``, else ``~/.powerpeg``."""
    env = os.environ if environ is None else environ
    return Path(env.get(HOME_ENV) or Path.home() / ".powerpeg")


def new_run_id() -> str:
    """Sortable by start time and unique enough for one machine."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """A run id becomes a directory name and an env value: keep it plain."""
    if not _RUN_ID_RE.match(run_id):
        raise ValueError(
            f"invalid run id {run_id!r}: use 1-64 letters, digits, '_', '.', '-' (not starting with a symbol)"
        )
    return run_id


@dataclass
class RunContext:
    """Run id, where its files live, its token and its logger."""

    run_id: str
    home: Path
    token: str
    log: Any = field(default=None, repr=False)

    @classmethod
    def create(cls, *, home: Path | None = None, run_id: str | None = None, log: Any = None) -> RunContext:
        run_id = check_run_id(run_id) if run_id else new_run_id()
        return cls(
            run_id=run_id,
            home=home or powerpeg_home(),
            token=secrets.token_urlsafe(32),
            log=log or structlog.get_logger().bind(run_id=run_id),
        )

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def state_dir(self) -> Path:
        return self.runs_dir / self.run_id

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def ready_dir(self) -> Path:
        return self.state_dir / "ready"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.jsonl"

    @property
    def current_file(self) -> Path:
        return self.home / "current"

    def log_path(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def child_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every service: token and run id, never in argv."""
        env = dict(os.environ if base is None else base)
        env[TOKEN_ENV] = self.token
        env[RUN_ID_ENV] = self.run_id
        return env
