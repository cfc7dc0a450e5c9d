"""The registry path for a multi-node swarm, against a real docker-registry on 127.0.0.1.

This machine has one node, so the backend never starts a registry here by itself; this test runs the
same pieces it uses (registry.start, registry.push, RegistryProcess.stop) on a tiny image built from
scratch, and checks the push through the registry's HTTP API. Skips without an engine (fails under
POWERPEG_REQUIRE_DOCKER=1) and without /usr/bin/docker-registry (Debian's `docker-registry`).
"""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.swarm import engine as sw
from powerpeg.harness.backends.swarm import registry as rg
from tests.compose.conftest import _unavailable


@pytest.fixture
def docker_engine() -> Any:
    try:
        client = dk.client()
    except dk.DockerUnavailable:
        _unavailable("Docker not available")
    yield client
    client.close()


@pytest.fixture
def tiny_image(docker_engine: Any, tmp_path: Path) -> Any:
    """A one-file image named like powerpeg's (so it is qualified and pushed); removed after."""
    context = tmp_path / "image"
    context.mkdir()
    (context / "marker").write_text("powerpeg registry test\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    name = f"powerpeg-regtest-{uuid.uuid4().hex[:8]}"
    docker_engine.images.build(path=str(context), tag=f"{name}:v1", rm=True)
    yield name
    for image in docker_engine.images.list(name=f"*{name}"):
        docker_engine.images.remove(image.id, force=True)


def test_the_backend_pushes_an_image_to_a_registry_it_started(docker_engine: Any, tiny_image: str,
                                                              tmp_path: Path) -> None:
    """docker-registry started on 127.0.0.1, the image tagged <registry>/name:v1 and pushed, listed by
    /v2/_catalog with its tag; then the registry is stopped and its process is gone."""
    if not Path(rg.REGISTRY_BIN).is_file():
        why = f"{rg.REGISTRY_BIN} not installed (`apt-get install docker-registry`; .ci/ensure-prometheus.sh does)"
        if os.environ.get("POWERPEG_REQUIRE_PROMETHEUS") == "1":  # CI installs it with the Prometheus packages
            pytest.fail(why)
        pytest.skip(why)

    async def scenario() -> tuple[list[str], list[str], list[str], bool, bool]:
        process = await rg.start(tmp_path / "registry", "127.0.0.1", rg.free_port("127.0.0.1"))
        try:
            pushed = await rg.push([f"{tiny_image}:v1"], process.address, sw.docker_cli)
            repositories = await rg.catalog(process.address)
            tags = await rg.tags(process.address, tiny_image)
            running = process.alive()
        finally:
            await asyncio.to_thread(process.stop)
        return pushed, repositories, tags, running, process.alive()

    pushed, repositories, tags, running, alive_after = asyncio.run(scenario())
    assert ([f"{tiny_image}:v1"], True, ["v1"], True, False) == (
        [p.split("/", 1)[1] for p in pushed], tiny_image in repositories, tags, running, alive_after)
