"""Compose tests: real containers from `make images`.

Without an engine they skip with the reason "Docker not available"; with
POWERPEG_REQUIRE_DOCKER=1 (CI) a missing engine or image fails them instead.
Tests that need no engine (the compose file, the mapping) always run.
"""
from __future__ import annotations

import os
from typing import Any

import pytest

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.env import TARGETS_IMAGE, TOXIPROXY_IMAGE, router_image

REQUIRED = os.environ.get("POWERPEG_REQUIRE_DOCKER") == "1"
IMAGES = [TARGETS_IMAGE, router_image("v1"), router_image("v2"), TOXIPROXY_IMAGE]


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (POWERPEG_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Any:
    """A Docker SDK client with every image built; skip or fail otherwise."""
    try:
        client = dk.client()
    except dk.DockerUnavailable:
        _unavailable("Docker not available")
    missing = dk.missing_images(client, IMAGES)
    if missing:
        _unavailable(f"Docker images not built ({', '.join(missing)}): run `make images`")
    yield client
    client.close()
