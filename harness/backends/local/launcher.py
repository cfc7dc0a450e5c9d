"""A fork server for the fleet's Python services.

Every service imports aiohttp, pydantic, structlog, uvloop and friends:
about 0.8 s of CPU each. Twelve of them on a 2-core machine cannot start in
under 5 s by exec'ing each. So `up` starts this launcher once; it imports the
shared libraries (and the service packages) once, then forks one child per
service. A child starts its own session, points stdin at /dev/null and
stdout/stderr at its log, and runs ``python -m <module>`` semantics through
runpy. The fleet's processes are therefore ordinary detached processes with
the launcher's environment (``POWERPEG_RUN_ID``/``POWERPEG_TOKEN`` included,
so ``/proc/<pid>/environ`` identifies them exactly as an exec'd child).

Protocol (one JSON object per line): the harness writes
``{"module", "argv", "log", "exit_file"}`` on stdin and reads ``{"pid"}``
(or ``{"error"}``) on stdout; stdin closed → the launcher exits, leaving
its children running. It never creates an event loop or a thread, so forking
is safe. It is started by its path (processes.LAUNCH) and imports nothing of
the harness.
"""
from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import sys
import time
import traceback
from typing import TextIO

PRELOAD = (
    "asyncio", "json", "ssl", "uvloop", "aiohttp", "aiohttp.web", "pydantic", "structlog", "prometheus_client",
    "powerpeg.targets.common.service", "powerpeg.targets.common.log", "powerpeg.targets.fix.session",
)
SERVICE_PACKAGES = ("powerpeg.targets.alerts", "powerpeg.targets.exchange", "powerpeg.targets.monitor",
                    "powerpeg.targets.router")


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    for pkg in SERVICE_PACKAGES:
        # a broken package must fail in its own child, with its traceback in its log
        try:
            importlib.import_module(pkg + ".__main__")
        except Exception:  # noqa: BLE001 - it fails again in its child, with its traceback in its log
            sys.modules.pop(pkg + ".__main__", None)


def _child(request: dict) -> None:
    """In the forked child: become a detached service process. Never returns."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        # As in an exec'd interpreter (which ignores SIGPIPE at startup): a
        # write to a peer that went away must raise BrokenPipeError, not kill
        # the service without a word. With SIG_DFL here the exchange died
        # silently when routers restarted under load.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(null_fd)
        sys.argv = [request["module"], *request["argv"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - whatever it is, it belongs in the log
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            with open(request["exit_file"], "w") as fh:
                fh.write(str(code))
        finally:
            os._exit(code)


def _wait_detached(pid: int, timeout: float = 2.0) -> None:
    """Reply only once the child leads its own session, so whoever stops it by
    process group right after the reply reaches it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.getsid(pid) == pid:
                return
        except ProcessLookupError:
            return  # died already; the harness sees that through the exit file
        time.sleep(0.0005)


def serve(stdin: TextIO, stdout: TextIO) -> None:
    for line in stdin:
        try:
            request = json.loads(line)
            stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
        except Exception as exc:  # noqa: BLE001 - the harness shows it as a failed start
            stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            stdout.flush()
            continue
        if pid == 0:
            _child(request)
        _wait_detached(pid)
        stdout.write(json.dumps({"pid": pid}) + "\n")
        stdout.flush()


def main() -> None:
    # children outlive us and are reaped by init; we never wait for them
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    preload()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    serve(sys.stdin, sys.stdout)
    # skip interpreter teardown of everything preloaded (most of a second); nothing is left to flush
    os._exit(0)


if __name__ == "__main__":
    main()
