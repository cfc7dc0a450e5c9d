"""Fault parameters: typed validation of args and check() against the experiment topology."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from powerpeg.harness.experiment.model import FleetShape
from powerpeg.harness.faults import registry
from powerpeg.harness.faults.alert_blackout import AlertBlackout
from powerpeg.harness.faults.flag_flip import FlagFlip
from powerpeg.harness.faults.network import Network
from powerpeg.harness.faults.partial_deploy import PartialDeploy
from powerpeg.harness.faults.process import Kill, Pause, Restart
from powerpeg.harness.faults.rollback_deploy import RollbackDeploy

FLEET = FleetShape(routers=8)


def _error(cls, **args) -> str:
    with pytest.raises(ValidationError) as err:
        cls.Params(**args)
    return str(err.value)


# -- registry ---------------------------------------------------------------
def test_registry_lists_every_kind_of_the_design() -> None:
    """The registry holds exactly the kinds docs/harness.md names."""
    expected = ["alert_blackout", "flag_flip", "kill", "network", "partial_deploy", "pause", "restart",
                "rollback_deploy"]
    assert expected == sorted(registry.FAULTS)


def test_registry_keys_are_the_classes_kinds() -> None:
    """Each name maps to the class whose kind it is."""
    assert {name: name for name in registry.FAULTS} == {name: cls.kind for name, cls in registry.FAULTS.items()}


def test_get_returns_the_class() -> None:
    """get('kill') is the Kill class."""
    assert Kill is registry.get("kill")


def test_get_unknown_kind_lists_the_known_ones() -> None:
    """An unknown kind is an UnknownFault (a KeyError) whose message lists the kinds."""
    with pytest.raises(KeyError) as err:
        registry.get("partial_deploi")
    assert (True, "unknown fault kind 'partial_deploi'; known: alert_blackout, flag_flip, kill, network, "
            "partial_deploy, pause, restart, rollback_deploy") == (
        isinstance(err.value, registry.UnknownFault), str(err.value))


def test_only_network_requires_toxiproxy() -> None:
    """network is the one kind needing a capability."""
    assert {"network": frozenset({"toxiproxy"})} == {k: c.requires for k, c in registry.FAULTS.items() if c.requires}


# -- partial_deploy / rollback_deploy ---------------------------------------
def test_partial_deploy_defaults_to_all_routers_missing_none() -> None:
    """routers defaults to all, miss to []."""
    params = PartialDeploy.Params(version="v2")
    assert ("all", []) == (params.routers, params.miss)


def test_partial_deploy_needs_a_version() -> None:
    """version is required."""
    assert "version" in _error(PartialDeploy)


def test_partial_deploy_refuses_an_unknown_version() -> None:
    """Only v1 and v2 exist."""
    assert "'v1' or 'v2'" in _error(PartialDeploy, version="v3")


def test_partial_deploy_refuses_unknown_keys() -> None:
    """A typo'd key is an error, not ignored."""
    assert "mis" in _error(PartialDeploy, version="v2", mis=["router-1"])


def test_partial_deploy_check_names_a_missed_router_outside_the_fleet() -> None:
    """miss[0] = router-9 in a fleet of 8 is reported at its path."""
    params = PartialDeploy.Params(version="v2", miss=["router-9"])
    assert [("miss[0]", "no router 'router-9' in a fleet of 8")] == params.check(FLEET)


def test_partial_deploy_check_names_routers_outside_the_fleet() -> None:
    """Each unknown entry of routers is reported with its index."""
    params = PartialDeploy.Params(version="v2", routers=["router-1", "router-12"])
    assert [("routers[1]", "no router 'router-12' in a fleet of 8")] == params.check(FLEET)


def test_partial_deploy_check_passes_known_routers() -> None:
    """Routers of the fleet give no error."""
    assert [] == PartialDeploy.Params(version="v1", routers=["router-8"], miss=["router-1"]).check(FLEET)


def test_router_ids_must_look_like_router_ids() -> None:
    """'exchange' is no router id."""
    assert "routers" in _error(PartialDeploy, version="v2", routers=["exchange"])


def test_rollback_deploy_defaults_to_v1_on_the_deployed_routers() -> None:
    """version v1, routers 'deployed'."""
    params = RollbackDeploy.Params()
    assert ("v1", "deployed") == (params.version, params.routers)


def test_rollback_deploy_check_names_unknown_routers() -> None:
    """An explicit router list is checked against the fleet."""
    assert [("routers[0]", "no router 'router-10' in a fleet of 8")] == RollbackDeploy.Params(
        routers=["router-10"]).check(FLEET)


# -- flag_flip --------------------------------------------------------------
def test_flag_flip_flag_defaults_to_true_on_all_routers() -> None:
    """flag rlp: value true, routers all."""
    params = FlagFlip.Params(flag="rlp")
    assert (True, "all") == (params.value, params.routers)


def test_flag_flip_needs_flag_or_share() -> None:
    """Neither flag nor rlp_share is an error."""
    assert "either `flag`" in _error(FlagFlip)


def test_flag_flip_refuses_flag_and_share_together() -> None:
    """Both flag and rlp_share is an error."""
    assert "either `flag`" in _error(FlagFlip, flag="rlp", rlp_share=0.2)


def test_flag_flip_share_refuses_router_args() -> None:
    """routers only goes with flag."""
    assert "routers only go with `flag`" in _error(FlagFlip, rlp_share=0.2, routers=["router-1"])


def test_flag_flip_share_is_between_0_and_1() -> None:
    """rlp_share 1.5 is out of range."""
    assert "less than or equal to 1" in _error(FlagFlip, rlp_share=1.5)


def test_flag_flip_value_must_be_a_real_bool() -> None:
    """value 'yes' is not coerced into a bool."""
    assert "value" in _error(FlagFlip, flag="rlp", value="yes")


def test_flag_flip_refuses_unknown_flags() -> None:
    """Only the rlp flag exists."""
    assert "'rlp'" in _error(FlagFlip, flag="power_peg")


def test_flag_flip_check_names_unknown_routers() -> None:
    """routers[0] outside the fleet is reported."""
    assert [("routers[0]", "no router 'router-9' in a fleet of 8")] == FlagFlip.Params(
        flag="rlp", routers=["router-9"]).check(FLEET)


# -- alert_blackout ---------------------------------------------------------
@pytest.mark.parametrize(("args", "body"), [
    ({"mode": "off"}, {"enabled": False}),
    ({"mode": "downgrade"}, {"downgrade_to": "email"}),
    ({"mode": "delay", "delay": "2s"}, {"delay_ms": 2000}),
])
def test_alert_blackout_change_is_the_channel_update(args, body) -> None:
    """Each mode maps onto its PUT /channels body."""
    assert body == AlertBlackout.Params(**args).change()


def test_alert_blackout_defaults_to_the_page_channel() -> None:
    """channel defaults to page."""
    assert "page" == AlertBlackout.Params(mode="off").channel


def test_alert_blackout_delay_mode_needs_a_delay() -> None:
    """mode delay without delay is an error."""
    assert "mode delay needs `delay`" in _error(AlertBlackout, mode="delay")


def test_alert_blackout_delay_only_with_delay_mode() -> None:
    """delay with mode off is an error."""
    assert "only goes with mode delay" in _error(AlertBlackout, mode="off", delay="1s")


def test_alert_blackout_delay_is_a_duration_string() -> None:
    """A bare number is no duration."""
    assert "duration" in _error(AlertBlackout, mode="delay", delay=5)


def test_alert_blackout_cannot_downgrade_email() -> None:
    """Only page can be downgraded."""
    assert "only the page channel can be downgraded" in _error(AlertBlackout, channel="email", mode="downgrade")


def test_alert_blackout_refuses_unknown_mode() -> None:
    """mode must be off, downgrade or delay."""
    assert "mode" in _error(AlertBlackout, mode="mute")


# -- network ----------------------------------------------------------------
@pytest.mark.parametrize(("toxic", "attributes"), [
    ("latency", {"latency": 200, "jitter": 10}),
    ("jitter", {"jitter": 50}),
    ("bandwidth", {"rate": 10}),
    ("slow_close", {"delay": 100}),
    ("timeout", {"timeout": 0}),
    ("reset_peer", {}),
    ("slicer", {"average_size": 64, "size_variation": 8, "delay": 5}),
    ("limit_data", {"bytes": 0}),
])
def test_network_accepts_each_toxics_attributes(toxic, attributes) -> None:
    """Every toxic type takes its own attributes."""
    assert attributes == Network.Params(link="->alerts", toxic=toxic, attributes=attributes).attributes


def test_network_unknown_attribute_is_named() -> None:
    """An attribute the toxic does not take is an error naming it and what it takes."""
    assert "latency toxic has no attribute 'rate' (it takes: jitter, latency)" in _error(
        Network, link="->alerts", toxic="latency", attributes={"latency": 1, "rate": 5})


def test_network_needed_attribute_missing_is_named() -> None:
    """A bandwidth toxic without rate would do nothing: an error."""
    assert "bandwidth toxic needs attribute 'rate'" in _error(Network, link="->alerts", toxic="bandwidth")


def test_network_attributes_are_non_negative() -> None:
    """latency -5 is refused at its path."""
    assert "attributes.latency" in _error(Network, link="->alerts", toxic="latency", attributes={"latency": -5})


def test_network_attributes_are_ints() -> None:
    """latency '200' (a string) is refused."""
    assert "attributes.latency" in _error(Network, link="->alerts", toxic="latency", attributes={"latency": "200"})


def test_network_unknown_toxic_is_refused() -> None:
    """toxic 'lag' is no toxiproxy toxic."""
    assert "toxic" in _error(Network, link="->alerts", toxic="lag")


def test_network_needs_a_toxic_or_down() -> None:
    """A link alone does nothing: an error."""
    assert "give a `toxic`" in _error(Network, link="->alerts")


def test_network_down_refuses_toxic_args() -> None:
    """down: true with a toxic is contradictory."""
    assert "toxic cannot go with it" in _error(Network, link="->alerts", down=True, toxic="timeout")


def test_network_toxicity_is_between_0_and_1() -> None:
    """toxicity 2 is out of range."""
    assert "toxicity" in _error(Network, link="->alerts", toxic="timeout", toxicity=2)


def test_network_toxic_body_is_toxiproxys() -> None:
    """The body posted to toxiproxy carries type, stream, toxicity and attributes."""
    params = Network.Params(link="->alerts", toxic="bandwidth", attributes={"rate": 5}, stream="upstream",
                            toxicity=0.5)
    assert {"name": "n", "type": "bandwidth", "stream": "upstream", "toxicity": 0.5,
            "attributes": {"rate": 5}} == params.toxic_body("n")


def test_network_check_names_an_unknown_link() -> None:
    """A link the fleet does not have is reported with the known ones."""
    params = Network.Params(link="router-9->exchange", down=True)
    assert [("link", "no link 'router-9->exchange'; known: router-1->exchange, router-2->exchange, "
             "router-3->exchange, ..., router-8->exchange, exchange->monitor, ->alerts")] == params.check(FLEET)


@pytest.mark.parametrize("link", ["router-8->exchange", "exchange->monitor", "->alerts"])
def test_network_check_passes_known_links(link) -> None:
    """Every link of the fleet is accepted."""
    assert [] == Network.Params(link=link, down=True).check(FLEET)


# -- kill / pause / restart -------------------------------------------------
@pytest.mark.parametrize("cls", [Kill, Pause, Restart])
def test_process_faults_check_the_target(cls) -> None:
    """A component the fleet does not have is reported at `target`."""
    assert [("target", "no component 'router-9'; known: exchange, monitor, alerts, router-1, router-2, ..., "
             "router-8")] == cls.Params(target="router-9").check(FLEET)


@pytest.mark.parametrize("target", ["exchange", "monitor", "alerts", "router-8"])
def test_process_faults_accept_every_component(target) -> None:
    """exchange, monitor, alerts and each router are targets."""
    assert [] == Kill.Params(target=target).check(FLEET)


def test_process_faults_need_a_target() -> None:
    """target is required."""
    assert "target" in _error(Pause)
