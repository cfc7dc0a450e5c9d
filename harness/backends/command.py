"""One external command of a container backend (`docker compose ...`, `docker ...`), bounded.

The compose and swarm backends drive their engines through the CLI for what the
Docker SDK does not cover (compose projects, stacks, secrets). A command that
outlives its timeout, or whose caller is cancelled (Ctrl-C), is killed and
reaped here, never left behind; a non-zero exit is a :class:`FleetError`
carrying the command and the tail of its output, for the user.
"""
from __future__ import annotations

import asyncio
import os

from powerpeg.harness.backends.base import FleetError

OUTPUT_SHOWN = 2000  # characters of a failed command's output in its error


async def run_command(argv: list[str], *, shown: str, env: dict[str, str] | None = None,
                      stdin: bytes | None = None, timeout: float) -> str:
    """Run ``argv``; its combined output, or FleetError naming ``shown`` (the command as the user knows it)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **(env or {})}, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise FleetError(f"`{shown}` failed (exit {proc.returncode}):\n{text[-OUTPUT_SHOWN:]}")
    return text
