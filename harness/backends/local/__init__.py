"""The local backend: every component a detached process on 127.0.0.1.

backend.py (LocalBackend: start order, faults as signals, restarts),
processes.py (ready files, reserved ports, the fork server's client),
launcher.py (the fork server itself), toxiproxy.py (the toxiproxy-server
process), teardown.py (stopping a run's processes; `cleanup` after a crash).
"""
from __future__ import annotations

from powerpeg.harness.backends.local.backend import LocalBackend
from powerpeg.harness.backends.local.teardown import cleanup

__all__ = ["LocalBackend", "cleanup"]
