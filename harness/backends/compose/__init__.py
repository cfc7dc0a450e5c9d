"""The compose backend: one container per component, through Docker Compose
and the Docker SDK.

backend.py (ComposeBackend: up and down through Compose, faults on
containers), env.py (from a FleetSpec to the compose file's variables and the
Topology; pure), docker.py (the engine, the Compose command, this run's
containers by label), load.py (Locust in containers, the `load` profile).
"""
from __future__ import annotations

from powerpeg.harness.backends.compose.backend import ComposeBackend, cleanup

__all__ = ["ComposeBackend", "cleanup"]
