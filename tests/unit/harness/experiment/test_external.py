"""controls.external: the schema, its checks (kinds, args, readiness declared, binaries), and what it
changes in the fleet (powerpeg's monitor detached) and in the backends (compose refuses bundled ones)."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.harness.controls.external import unsupported_controls
from powerpeg.harness.experiment.loader import ExperimentError, load
from powerpeg.harness.experiment.model import Controls, Experiment
from powerpeg.harness.experiment.validate import check_controls, json_schema
from powerpeg.harness.plan import fleet_spec

HEAD = "name: ext\nduration: 10s\n"


def issues(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "exp.yaml"
    path.write_text(HEAD + text)
    with pytest.raises(ExperimentError) as caught:
        load(path, toxiproxy_available=True)
    return [f"{i.line}: {i.path}: {i.message}" for i in caught.value.errors]


def controls(external: dict) -> Controls:
    return Controls.model_validate({"external": external})


def test_an_unknown_control_kind_lists_the_known_ones(tmp_path) -> None:
    """A typo in a bundled kind names the likely one, with its file line."""
    assert ["6: controls.external.bundled[0].kind: unknown control kind 'prometeus' (did you mean 'prometheus'?); "
            "known kinds: prometheus"] == issues(
        tmp_path, "controls:\n  external:\n    bundled:\n      - kind: prometeus\n")


def test_bad_control_args_are_located_in_the_args(tmp_path) -> None:
    """A bundled control's args are checked against its typed parameters."""
    found = issues(tmp_path, "controls:\n  external:\n    bundled:\n      - kind: prometheus\n        args:\n"
                             "          scrape_interval: 15 seconds\n")
    assert any(i.startswith("8: controls.external.bundled[0].args.scrape_interval: bad duration") for i in found), found


def test_external_controls_must_say_how_readiness_is_known() -> None:
    """Neither ready.dropcopy nor ready.http nor a bundled control: the run could not know when to open."""
    [(where, message)] = check_controls(controls({}))
    assert (("controls", "external", "ready"), True) == (where, message.startswith("say how the run knows"))
    assert [] == check_controls(controls({"ready": {"dropcopy": True}}))
    assert [] == check_controls(controls({"ready": {"http": ["http://127.0.0.1:8000/health"]}}))


def test_missing_binaries_refuse_the_prometheus_control_with_the_package_to_install() -> None:
    """On local, without prometheus or alertmanager the file is refused at validate time, saying what to install."""
    got = check_controls(controls({"bundled": [{"kind": "prometheus"}]}),
                         capabilities={"prometheus": False, "alertmanager": False}, backend="local")
    assert [m for _, m in got] == [
        "control kind 'prometheus' needs alertmanager: no prometheus-alertmanager or alertmanager binary on PATH "
        "(Debian: apt-get install prometheus-alertmanager)",
        "control kind 'prometheus' needs prometheus: no prometheus binary on PATH (Debian: apt-get install prometheus)"]


def test_backend_unsaid_missing_binaries_refuse_naming_the_image_way() -> None:
    """No --backend: the binaries are checked (run's default is local), the message saying compose needs the image."""
    got = check_controls(controls({"bundled": [{"kind": "prometheus"}]}),
                         capabilities={"prometheus": False, "alertmanager": True})
    assert [(("controls", "external", "bundled", 0, "kind"),
             "control kind 'prometheus' needs prometheus: no prometheus binary on PATH (Debian: apt-get install "
             "prometheus); that is the local backend's need (the default): --backend compose runs it from its image "
             "instead (`make images`), checked when the run starts")] == got


def test_on_compose_the_host_binaries_are_not_asked_for() -> None:
    """--backend compose: the image is what runs (its start checks it, with an engine validate does not need)."""
    assert [] == check_controls(controls({"bundled": [{"kind": "prometheus"}]}),
                                capabilities={"prometheus": False, "alertmanager": False}, backend="compose")


def test_a_backend_that_cannot_run_the_control_is_refused_at_validate_time() -> None:
    """--backend swarm: refused before anything starts, naming the backends that can and the way out."""
    [(where, message)] = check_controls(controls({"bundled": [{"kind": "prometheus"}]}),
                                        capabilities={"prometheus": True, "alertmanager": True}, backend="swarm")
    assert (("controls", "external", "bundled", 0, "kind"),
            "the swarm backend cannot run the bundled control 'prometheus': it runs on compose, local only; run "
            "your own prometheus against the fleet instead (docs/external-controls.md)") == (where, message)


def test_one_of_each_kind() -> None:
    """The same control bundled twice is refused."""
    got = check_controls(controls({"bundled": [{"kind": "prometheus"}, {"kind": "prometheus"}]}),
                         capabilities={"prometheus": True, "alertmanager": True})
    assert [(("controls", "external", "bundled", 1, "kind"), "control 'prometheus' is bundled twice; one of each kind")
            ] == got


def test_powerpegs_monitor_is_detached_unless_the_file_keeps_it() -> None:
    """With controls.external the monitor runs wired to nothing; enabled, it is kept as the file says."""
    off = Experiment.model_validate({"name": "x", "controls": {"external": {"ready": {"dropcopy": True}}}})
    on = Experiment.model_validate({"name": "x", "controls": {"monitor": {"enabled": True},
                                                              "external": {"ready": {"dropcopy": True}}}})
    plain = Experiment.model_validate({"name": "x"})
    assert (True, False, False) == tuple(fleet_spec(e, toxiproxy=False).monitor_detached for e in (off, on, plain))
    assert "--passive" in fleet_spec(off, toxiproxy=False).monitor_args


def test_swarm_refuses_bundled_controls_with_the_reason() -> None:
    """The swarm backend cannot run the Prometheus control: refused before anything starts."""
    exp = Experiment.model_validate({"name": "x", "controls": {"external": {"bundled": [{"kind": "prometheus"}]}}})
    assert unsupported_controls(exp, "local") is None
    assert "the swarm backend cannot run the bundled control 'prometheus'" in unsupported_controls(exp, "swarm")


def test_schema_ties_bundled_args_to_the_control_kind() -> None:
    """`powerpeg schema`: each bundled control's args refer to its kind's parameters (if/then per kind)."""
    defs = json_schema()["$defs"]
    assert (["prometheus"], "#/$defs/control.prometheus.args", True) == (
        defs["BundledControl"]["properties"]["kind"]["enum"],
        defs["BundledControl"]["allOf"][0]["then"]["properties"]["args"]["$ref"],
        "scrape_interval" in defs["control.prometheus.args"]["properties"])
