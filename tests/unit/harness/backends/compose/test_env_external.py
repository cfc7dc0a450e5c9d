"""The compose plan for a firm's own controls: a named network to join, the PagerDuty route, the
monitor detached."""
from __future__ import annotations

import json
from typing import Any

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose.env import ComposePlan, HostPorts
from powerpeg.harness.topology import pagerduty_routing_key


def plan(**spec: Any) -> ComposePlan:
    fleet = FleetSpec(routers=2, **spec)
    return ComposePlan("Run.1", "/home", "tok", fleet, HostPorts.allocate(fleet.router_ids()))


def test_the_network_is_named_after_the_run_and_published() -> None:
    """PP_NETWORK names the project network; the topology carries it for `powerpeg env`."""
    p = plan()
    assert ("powerpeg-run-1", "powerpeg-run-1") == (p.environment()["PP_NETWORK"], p.topology("/s", {}).network)


def test_the_sink_takes_the_fleets_pagerduty_key() -> None:
    """The alerts container routes the key derived from the token to the pager."""
    assert [f"--route=pagerduty:{pagerduty_routing_key('tok')}=page"] == json.loads(
        plan().environment()["PP_ALERTS_ARGS"])


def test_a_detached_monitor_gets_no_wiring() -> None:
    """No drop copy, no sink, no exchange, no routers: only its firm and the passive flag."""
    assert ["--firm", "KNIGHT", "--passive"] == plan(monitor_detached=True, monitor_args=["--passive"]).monitor_args()
