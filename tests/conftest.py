"""How `make test` shares the suite between its two pytest-xdist workers (`-n 2`).

The Docker tests (tests/compose, tests/swarm) spend most of their time waiting on
the engine: image layers, container start, rolling updates behind a health gate.
They form one unit of work, run one after another on one worker (one engine, one
swarm membership to find and leave as found: a swarm init or leave drops the
published ports of a compose fleet running beside it), while the other worker takes
the rest. Every other file is a unit of its own: a module-scoped fleet or run
(tests/e2e) is stood up once, on the worker that runs all of its tests.

The units are made by a scheduler of our own, not by ``xdist_group`` marks: with
pytest 9.2, ``--dist loadgroup`` no longer sees marks (pytest-xdist issue #1386).
"""
from __future__ import annotations

from typing import Any

DOCKER_DIRS = ("compose", "swarm")


def work_unit(nodeid: str) -> str:
    """``docker`` for the Docker tests, else the test's file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return "docker" if len(parts) > 2 and parts[0] == "tests" and parts[1] in DOCKER_DIRS else path


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # xdist is only here with `-n`

    class WorkUnits(LoadScopeScheduling):
        """Whole units to whichever worker is free, in collection order: the Docker unit (tests/compose
        comes first) starts at once, the longest unit of all."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return WorkUnits(config, log)
