"""Every fault kind by name. Listed explicitly: importing a module must not
be what makes a kind exist. A firm's own kinds come from installed
distributions' ``powerpeg.faults`` entry points (harness/plugins.py,
docs/plugins.md); a broken one is a PluginError naming it."""
from __future__ import annotations

from powerpeg.harness.faults.alert_blackout import AlertBlackout
from powerpeg.harness.faults.base import Fault, Params
from powerpeg.harness.faults.flag_flip import FlagFlip
from powerpeg.harness.faults.network import Network
from powerpeg.harness.faults.partial_deploy import PartialDeploy
from powerpeg.harness.faults.process import Kill, Pause, Restart
from powerpeg.harness.faults.rollback_deploy import RollbackDeploy
from powerpeg.harness.plugins import FAULTS_GROUP, Registry, check_class

BUILTIN: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (PartialDeploy, RollbackDeploy, FlagFlip, AlertBlackout, Network, Kill, Pause, Restart)
}
FAULTS: Registry[type[Fault]] = Registry(FAULTS_GROUP, BUILTIN, check_class(Fault, Params))


class UnknownFault(KeyError):
    """A fault kind no module implements; the message lists the known ones."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its argument, which mangles a sentence
        return str(self.args[0]) if self.args else ""


def get(kind: str) -> type[Fault]:
    try:
        return FAULTS[kind]
    except KeyError:
        raise UnknownFault(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULTS))}") from None
