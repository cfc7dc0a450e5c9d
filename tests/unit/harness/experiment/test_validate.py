"""Semantic checks: fault kinds and their arguments, topology references, timing, capabilities."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.harness.experiment.loader import ExperimentError, load
from powerpeg.harness.experiment.model import Market, Step, FleetShape
from powerpeg.harness.experiment.validate import check, json_schema, toxiproxy_found, venv_bin
from powerpeg.harness.faults.registry import FAULTS

BROKEN = Path(__file__).parents[4] / "tests" / "fixtures" / "broken"
EXPERIMENTS = Path(__file__).parents[4] / "experiments"
KINDS = "alert_blackout, flag_flip, kill, network, partial_deploy, pause, restart, rollback_deploy"


def issues_of(path: Path, toxiproxy_available: bool = True) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        load(path, toxiproxy_available=toxiproxy_available)
    return [f"{i.line}: {i.path}: {i.message}" for i in caught.value.errors]


def step(fault: str, at: str = "0s", **args: object) -> Step:
    return Step.model_validate({"at": at, "fault": fault, "args": args})


def test_unknown_fault_kind_lists_the_known_ones() -> None:
    """An unknown kind names the likely one and every known kind."""
    assert [f"5: method[0].fault: unknown fault kind 'partial_deplo' (did you mean 'partial_deploy'?); "
            f"known kinds: {KINDS}"] == issues_of(BROKEN / "unknown-fault-kind.yaml")


def test_router_outside_the_topology_is_located_in_the_args() -> None:
    """partial_deploy missing router-9 in a fleet of 8 is an error at method[0].args.miss[0]."""
    assert ["10: method[0].args.miss[0]: no router 'router-9' in a fleet of 8"] == (
        issues_of(BROKEN / "router-not-in-topology.yaml"))


def test_link_outside_the_topology_is_an_error() -> None:
    """A network fault on router-5's link in a fleet of 3 names the known links."""
    assert ["9: method[0].args.link: no link 'router-5->exchange'; known: router-1->exchange, router-2->exchange, "
            "router-3->exchange, exchange->monitor, ->alerts"] == issues_of(BROKEN / "link-not-in-topology.yaml")


def test_versions_naming_a_router_outside_the_topology_is_an_error() -> None:
    """topology.versions for router-4 of a 3-router fleet is refused."""
    assert ["7: topology.versions.router-4: no router 'router-4' in a fleet of 3"] == (
        issues_of(BROKEN / "versions-outside-topology.yaml"))


def test_step_after_duration_is_an_error() -> None:
    """A step at 12s in a 10s method never runs."""
    assert ["5: method[0].at: step at 12s never runs: the method lasts 10s (duration)"] == (
        issues_of(BROKEN / "step-after-duration.yaml"))


def test_step_at_open_after_duration_is_an_error() -> None:
    """A step at 'open' when the market opens after the method ends never runs."""
    got = check(FleetShape(), Market(open_at="12s"), 10.0, [(0, step("kill", at="open", target="router-1"))],
                toxiproxy_available=True)
    assert [(("method", 0, "at"),
             "step at 'open' (market.open_at 12s) never runs: the method lasts 10s (duration)")] == got


def test_step_at_open_before_the_end_is_fine() -> None:
    """A step at 'open' with the open inside the method is valid."""
    assert [] == check(FleetShape(), Market(open_at="2s"), 10.0, [(0, step("kill", at="open", target="router-1"))],
                       toxiproxy_available=True)


def test_fault_args_are_checked_against_the_kind_params(tmp_path: Path) -> None:
    """An argument the kind does not take is an unknown key under method[i].args."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 0s\n    fault: kill\n"
                    "    args:\n      target: router-1\n      signal: 9\n")
    assert ["7: method[0].args.signal: unknown key 'signal'; allowed: target"] == issues_of(path)


def test_fault_args_missing_a_required_one(tmp_path: Path) -> None:
    """partial_deploy without a version says version is required."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 0s\n    fault: partial_deploy\n    args: {miss: [router-8]}\n")
    assert ["5: method[0].args.version: required"] == issues_of(path)


def test_component_outside_the_topology_is_an_error() -> None:
    """kill router-5 in a fleet of 3 is an error at method[0].args.target."""
    got = check(FleetShape(routers=3), Market(), 10.0, [(0, step("kill", target="router-5"))], toxiproxy_available=True)
    assert [("method", 0, "args", "target")] == [loc for loc, _ in got]


def test_toxiproxy_missing_fails_network_faults(tmp_path: Path) -> None:
    """With no toxiproxy-server, a network step is an error saying why."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 1s\n    fault: network\n"
                    "    args: {link: router-1->exchange, toxic: latency, attributes: {latency: 100}}\n")
    assert [f"4: method[0].fault: fault kind 'network' needs toxiproxy: "
            f"no toxiproxy-server binary on PATH or in {venv_bin()}"] == issues_of(path, toxiproxy_available=False)


@pytest.mark.parametrize("backend", ["compose", "swarm"])
def test_toxiproxy_on_the_host_is_the_local_backends_need_only(backend: str) -> None:
    """compose and swarm run toxiproxy from its image: a network step validates there without the host
    binary, and still fails on local (and when no backend is said: run's default is local)."""
    net = [(0, step("network", link="router-1->exchange", toxic="latency", attributes={"latency": 100}))]
    shape = FleetShape()
    got = {b: [loc for loc, _ in check(shape, None, None, net, toxiproxy_available=False, backend=b)]
           for b in (backend, "local", None)}
    assert {backend: [], "local": [("method", 0, "fault")], None: [("method", 0, "fault")]} == got


def test_toxiproxy_present_lets_network_faults_validate() -> None:
    """The bundled latency experiment is valid when toxiproxy is available."""
    assert "exchange-latency" == load(EXPERIMENTS / "exchange-latency.yaml", toxiproxy_available=True).name


def test_toxiproxy_missing_does_not_affect_other_faults() -> None:
    """Without toxiproxy, a process fault is still valid."""
    assert "router-crash" == load(EXPERIMENTS / "router-crash.yaml", toxiproxy_available=False).name


def test_toxiproxy_binary_is_found_in_the_venv() -> None:
    """The venv's toxiproxy-server counts as available (this project installs it there)."""
    assert True is toxiproxy_found()


def test_check_skips_topology_checks_when_topology_did_not_parse() -> None:
    """No topology (it failed to parse): the fault kind is still checked, references are not."""
    got = check(None, None, None, [(0, step("flood")), (1, step("kill", target="router-99"))], toxiproxy_available=True)
    assert [("method", 0, "fault")] == [loc for loc, _ in got]


def test_schema_has_every_fault_kind_args() -> None:
    """The schema holds `<kind>.args` under $defs for every registered kind."""
    defs = json_schema()["$defs"]
    assert sorted(FAULTS) == sorted(k.removesuffix(".args") for k in defs
                                    if k.endswith(".args") and not k.startswith("control."))


def test_schema_ties_args_to_the_fault_kind() -> None:
    """Each step's args refer to the args schema of the fault written (if/then per kind)."""
    step_schema = json_schema()["$defs"]["Step"]
    pairs = [(rule["if"]["properties"]["fault"]["const"], rule["then"]["properties"]["args"]["$ref"])
             for rule in step_schema["allOf"]]
    assert [(k, f"#/$defs/{k}.args") for k in sorted(FAULTS)] == pairs


def test_schema_refs_all_resolve() -> None:
    """Every $ref in the schema points at a definition it holds."""
    schema = json_schema()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert [] == [r for r in refs if r.removeprefix("#/$defs/") not in schema["$defs"]]


def test_union_error_points_into_the_list_not_at_the_other_alternative(tmp_path: Path) -> None:
    """routers: [router-1, bob] is an error at routers[1], without "should be 'all'" noise."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 0s\n    fault: partial_deploy\n    args:\n      version: v2\n"
                    "      routers: [router-1, bob]\n")
    assert ["7: method[0].args.routers[1]: String should match pattern '^router-[1-9][0-9]*$', got 'bob'"] == (
        issues_of(path))


def test_union_error_at_the_top_names_every_alternative(tmp_path: Path) -> None:
    """routers: everyone is one error saying 'all' or a list."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 0s\n    fault: partial_deploy\n"
                    "    args: {version: v2, routers: everyone}\n")
    assert ["5: method[0].args.routers: Input should be 'all' or a valid list, got 'everyone'"] == issues_of(path)


def test_cross_field_args_error_is_located_on_the_args(tmp_path: Path) -> None:
    """alert_blackout mode delay without a delay is reported on method[0].args."""
    path = tmp_path / "x.yaml"
    path.write_text("name: t\nmethod:\n  - at: 0s\n    fault: alert_blackout\n    args: {mode: delay}\n")
    assert ["5: method[0].args"] == [issue.split(": ")[0] + ": " + issue.split(": ")[1] for issue in issues_of(path)]
