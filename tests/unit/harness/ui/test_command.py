"""`powerpeg ui` flags: its defaults, and the errors it gives before standing anything up."""
from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import pytest
from aiohttp import web

from powerpeg.harness.cli import build_parser
from powerpeg.harness.experiment.loader import load
from powerpeg.harness.ui.api import serve
from powerpeg.harness.ui.command import DEFAULT_FILE, cmd_ui_async

ROOT = Path(__file__).parents[4]


def _args(tmp_path: Path, port: int) -> argparse.Namespace:
    return argparse.Namespace(file=ROOT / DEFAULT_FILE, backend="local", port=port, out=tmp_path / "out",
                              max_duration=60.0)


def test_defaults_are_port_8089_the_knight_controls_file_and_an_hour() -> None:
    """`powerpeg ui` alone: web UI port 8089, the Knight replay with controls, local backend, 3600 s at most."""
    args = build_parser().parse_args(["ui"])
    assert (8089, DEFAULT_FILE, "local", 3600.0, None) == (args.port, args.file, args.backend, args.max_duration,
                                                           args.out)


def test_the_default_file_is_a_valid_experiment_with_a_load() -> None:
    """The file `powerpeg ui` runs by default is bundled, valid, and has users for the web UI."""
    assert load(ROOT / DEFAULT_FILE).load.users >= 1


async def test_the_control_api_listens_on_loopback_only() -> None:
    """The harness's control API binds 127.0.0.1 (a free port), not every interface."""
    runner, port = await serve(web.Application())
    try:
        assert ("127.0.0.1", port) == tuple(runner.addresses[0][:2])
    finally:
        await runner.cleanup()


def test_a_busy_port_is_an_error_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Something already listens on the web UI port: exit 3, a message naming the port, no report directory."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = asyncio.run(cmd_ui_async(_args(tmp_path, port)))
    err = capsys.readouterr().err
    assert (3, True, True, False) == (code, f"cannot listen on 127.0.0.1:{port}" in err, "--port" in err,
                                      (tmp_path / "out").exists())


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: int, capsys: pytest.CaptureFixture[str]) -> None:
    """--port outside 1..65535: exit 2 saying so, nothing started."""
    code = asyncio.run(cmd_ui_async(_args(tmp_path, port)))
    assert (2, f"--port must be between 1 and 65535, got {port}", False) == (
        code, capsys.readouterr().err.strip().split("error: ", 1)[1], (tmp_path / "out").exists())
