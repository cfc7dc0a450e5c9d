"""Every bundled control by kind. Listed explicitly, as fault kinds are: importing a
module must not be what makes a kind exist. A firm's own come from ``powerpeg.controls``
entry points (harness/plugins.py, docs/plugins.md)."""
from __future__ import annotations

from powerpeg.harness.controls.base import Control, Params
from powerpeg.harness.controls.prometheus import Prometheus
from powerpeg.harness.plugins import CONTROLS_GROUP, Registry, check_class

BUILTIN: dict[str, type[Control]] = {cls.kind: cls for cls in (Prometheus,)}
CONTROLS: Registry[type[Control]] = Registry(CONTROLS_GROUP, BUILTIN, check_class(Control, Params))


class UnknownControl(KeyError):
    """A control kind no module implements; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get(kind: str) -> type[Control]:
    try:
        return CONTROLS[kind]
    except KeyError:
        raise UnknownControl(f"unknown control kind {kind!r}; known: {', '.join(sorted(CONTROLS))}") from None
