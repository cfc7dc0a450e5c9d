"""The swarm backend: the compose file's fleet as a Docker Swarm stack.

backend.py (SwarmBackend: up and down through `docker stack deploy`, faults
on task containers and `docker service update`), stack.py (from a FleetSpec
to the stack file; pure), engine.py (swarm membership, the loopback-only
docker_gwbridge, the run's services, networks and secrets by label).
See docs/swarm.md.
"""
from __future__ import annotations

from powerpeg.harness.backends.swarm.backend import SwarmBackend, cleanup

__all__ = ["SwarmBackend", "cleanup"]
