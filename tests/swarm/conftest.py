"""Swarm tests: a one-node swarm on this engine, images from `make images`.

Without an engine they skip with the reason "Docker not available"; with
POWERPEG_REQUIRE_DOCKER=1 (CI) a missing engine or image fails them instead.
An engine already in a swarm is used as found (and left in it); one in none is
made a swarm by the backend and left again by `down`/`cleanup`. The stack-file
mapping needs no engine: tests/unit/harness/backends/swarm/.
"""
from __future__ import annotations

from typing import Any

import pytest

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.swarm import engine as sw
from tests.compose.conftest import IMAGES, _unavailable


@pytest.fixture(scope="session")
def engine() -> Any:
    """A Docker SDK client with every image built, on an engine the swarm backend accepts."""
    try:
        client = dk.client()
    except dk.DockerUnavailable:
        _unavailable("Docker not available")
    missing = dk.missing_images(client, IMAGES)
    if missing:
        _unavailable(f"Docker images not built ({', '.join(missing)}): run `make images`")
    why = sw.refusal(client)
    if why is not None:
        _unavailable(f"the swarm backend refuses this engine: {why}")
    yield client
    client.close()


@pytest.fixture
def membership(engine: Any) -> Any:
    """The engine's swarm membership before the test; the test asserts it is the same after."""
    return sw.swarm_state(engine)[0]
