"""From an experiment to what the backend stands up: component flags.

Kept apart from the runner so the mapping of `controls`, `market` and
`topology` onto the targets' command lines is one readable table, testable
without starting anything.
"""
from __future__ import annotations

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.faults.partial_deploy import replicated_routers

# The exchange starts pre-open with the open far away; the runner reschedules
# it (POST /clock) once the method's time zero is known.
PREOPEN_HOLD_S = 3600.0


def _flag(args: list[str], name: str, value: object) -> None:
    if value is None or value is False:
        return
    args.append(name)
    if value is not True:
        args.append(str(value))


def fleet_spec(exp: Experiment, *, toxiproxy: bool, run_warmup_s: float = 0.0) -> FleetSpec:
    controls = exp.controls
    exchange_args = ["--preopen", exp.market.preopen, "--seed", str(exp.seed)]

    router_args = ["--warning-severity", controls.warnings]
    if exp.topology.working_children != 1:
        router_args += ["--max-working-children", str(exp.topology.working_children)]
    checks = controls.router_checks
    _flag(router_args, "--max-child-qty", checks.max_child_qty)
    _flag(router_args, "--price-collar-pct", checks.price_collar_pct)
    _flag(router_args, "--max-parent-notional", checks.max_parent_notional)
    _flag(router_args, "--reject-duplicates", checks.reject_duplicates)
    _flag(router_args, "--max-child-rate", None if checks.max_child_rate is None else int(checks.max_child_rate))

    mon = controls.monitor
    monitor_args: list[str] = []
    # a firm's own controls measured instead (controls.external): powerpeg's monitor, unless the file
    # enables it, is wired to nothing — no drop-copy session of its own (the firm's reader owns the
    # drop copy's store), no pages (they would be taken for the firm's), no kill switch
    detached = controls.external is not None and not mon.enabled
    if not mon.enabled:
        monitor_args.append("--passive")
    else:
        _flag(monitor_args, "--auto-kill", mon.auto_kill)
        limits = mon.limits
        _flag(monitor_args, "--max-gross-notional", limits.max_gross_notional)
        _flag(monitor_args, "--max-net-notional", limits.max_net_notional)
        _flag(monitor_args, "--max-position", limits.max_position)
        _flag(monitor_args, "--max-child-rate", None if limits.max_child_rate is None else int(limits.max_child_rate))
        _flag(monitor_args, "--max-fill-rate", None if limits.max_fill_rate is None else int(limits.max_fill_rate))
        monitor_args += ["--overfill-shares", str(limits.overfill_shares)]
        monitor_args += ["--heartbeat-ms", str(max(50, int(mon.heartbeat * 1000)))]
        if not mon.version_check:
            monitor_args += ["--version-check-ms", str(24 * 3600 * 1000)]

    topo = exp.topology
    return FleetSpec(
        routers=topo.routers,
        version=topo.version,
        versions=dict(topo.versions),
        firm=topo.firm,
        open_in=PREOPEN_HOLD_S,
        toxiproxy=toxiproxy,
        exchange_args=exchange_args,
        router_args=router_args,
        monitor_args=monitor_args,
        monitor_detached=detached,
        # swarm only (Backend.orchestrated refuses them elsewhere): a rolling partial deploy needs the
        # routers as one replicated service; placement constraints per component kind
        replicated_routers=replicated_routers(exp),
        placement={str(kind): constraint for kind, constraint in topo.placement.items()},
    )
