"""Where a fleet runs. ``local``: processes on loopback (the default)."""
from __future__ import annotations

from harness.backends.base import Backend, FleetError, FleetSpec, NoFleet

__all__ = ["Backend", "FleetError", "FleetSpec", "NoFleet", "get_backend"]

BACKENDS = ("local",)


def get_backend(name: str, ctx):  # noqa: ANN001, ANN201 - thin factory
    if name == "local":
        from harness.backends.local import LocalBackend  # noqa: PLC0415

        return LocalBackend(ctx)
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
