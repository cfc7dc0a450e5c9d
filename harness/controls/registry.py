"""Every bundled control by kind. Listed explicitly, as fault kinds are: importing a
module must not be what makes a kind exist."""
from __future__ import annotations

from harness.controls.base import Control
from harness.controls.prometheus import Prometheus

CONTROLS: dict[str, type[Control]] = {cls.kind: cls for cls in (Prometheus,)}


class UnknownControl(KeyError):
    """A control kind no module implements; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get(kind: str) -> type[Control]:
    try:
        return CONTROLS[kind]
    except KeyError:
        raise UnknownControl(f"unknown control kind {kind!r}; known: {', '.join(sorted(CONTROLS))}") from None
