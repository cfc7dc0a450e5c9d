"""The compose backend's answers about a dead exchange, against a fake Docker engine: the container's
status, and the journal copied out of it (``get_archive``, as ``docker cp``)."""
from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.backend import JOURNAL_IN_CONTAINER, ComposeBackend
from powerpeg.harness.context import RunContext

JOURNAL = b'{"kind": "accepted"}\n{"kind": "fill"}\n'


def tar_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Container:
    def __init__(self, status: str, files: dict[str, bytes]) -> None:
        self.status, self.files, self.name = status, files, "pp-run-exchange-1"

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]]:
        if path not in self.files:
            raise docker.errors.NotFound(f"404 Client Error: Could not find the file {path} in container")
        data = tar_of(Path(path).name, self.files[path])
        return iter([data[:700], data[700:]]), {"name": Path(path).name}


class Engine:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.filters: list[dict] = []
        self.containers = self

    def list(self, all: bool, filters: dict) -> list[Container]:
        self.filters.append(filters)
        return [self.container]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    fake = Engine(Container("exited", {JOURNAL_IN_CONTAINER: JOURNAL}))

    @contextlib.contextmanager
    def client() -> Iterator[Engine]:
        yield fake

    monkeypatch.setattr(dk, "docker_client", client)
    return fake


@pytest.fixture
def backend(tmp_path: Path) -> ComposeBackend:
    return ComposeBackend(RunContext.create(home=tmp_path, run_id="compose-1"))


async def test_copy_journal_takes_it_out_of_the_stopped_exchange_container(engine: Engine, backend: ComposeBackend,
                                                                           tmp_path: Path) -> None:
    """The exchange container exited: its journal is copied out all the same, and the answer says how."""
    how = await backend.copy_journal(tmp_path / "exchange-journal.jsonl")
    assert (JOURNAL, True, ["compose-1"]) == (
        (tmp_path / "exchange-journal.jsonl").read_bytes(), "docker get_archive" in how and "pp-run-exchange-1" in how,
        [f["label"][0].split("=")[1] for f in engine.filters])


async def test_copy_journal_concatenates_every_segment_in_order(engine: Engine, backend: ComposeBackend,
                                                                tmp_path: Path) -> None:
    """A journal rotated into segments (journal.jsonl, journal.1.jsonl, journal.2.jsonl): one file, in order,
    up to the first missing segment (a stray journal.4.jsonl after the gap is not part of it)."""
    parts = [b'{"kind":"open","ts_ns":1}\n', b'{"kind":"order","ts_ns":2}\n', b'{"kind":"fill","ts_ns":3}\n']
    stem = JOURNAL_IN_CONTAINER.removesuffix(".jsonl")
    engine.container.files = {JOURNAL_IN_CONTAINER: parts[0], f"{stem}.1.jsonl": parts[1],
                              f"{stem}.2.jsonl": parts[2], f"{stem}.4.jsonl": b"stray\n"}
    how = await backend.copy_journal(tmp_path / "exchange-journal.jsonl")
    assert (b"".join(parts), True) == ((tmp_path / "exchange-journal.jsonl").read_bytes(), "3 segment(s)" in how)


async def test_copy_journal_of_a_missing_file_is_a_fleet_error(engine: Engine, backend: ComposeBackend,
                                                               tmp_path: Path) -> None:
    """No journal in the container: a FleetError naming the file and the container; no stray tar left."""
    engine.container.files = {}
    with pytest.raises(FleetError, match=f"{JOURNAL_IN_CONTAINER} out of pp-run-exchange-1"):
        await backend.copy_journal(tmp_path / "exchange-journal.jsonl")
    assert [] == list(tmp_path.glob("exchange-journal.jsonl*"))


async def test_process_state_is_the_container_status_unless_running(engine: Engine, backend: ComposeBackend) -> None:
    """exited → "exited"; running → None."""
    exited = await backend.process_state("exchange")
    engine.container.status = "running"
    assert ("exited", None) == (exited, await backend.process_state("exchange"))


def test_extract_one_writes_the_archives_file(tmp_path: Path) -> None:
    """A get_archive stream in chunks: the one file inside it, byte for byte."""
    data = tar_of("journal.jsonl", JOURNAL)
    dk.extract_one([data[:100], data[100:]], tmp_path / "out.jsonl")
    assert JOURNAL == (tmp_path / "out.jsonl").read_bytes()
