"""Where the Prometheus control runs: the addresses its configuration holds on each backend, the compose
override file's contract with the placement, and the reasons a backend refuses it."""
from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import yaml

from powerpeg.harness.backends.base import FleetSpec
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.backend import ComposeRecord
from powerpeg.harness.backends.compose.env import CONTROL_FILES, PROMETHEUS_IMAGE, ComposePlan, HostPorts
from powerpeg.harness.controls.external import unsupported_controls
from powerpeg.harness.controls.placement import (ALERTMANAGER_PORT_IN_NETWORK, CONFIG_IN_CONTAINER, DAEMONS, PLACEMENTS,
                                                 PROMETHEUS_PORT_IN_NETWORK, ComposeContainers, Wiring, compose_env)
from powerpeg.harness.controls.prometheus import Prometheus, PrometheusParams, alertmanager_config, prometheus_config
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.topology import Topology

OVERRIDE = CONTROL_FILES["prometheus"]


def compose_topology(toxiproxy: bool) -> Topology:
    spec = FleetSpec(routers=2, toxiproxy=toxiproxy)
    plan = ComposePlan(run_id="r1", home="/h", token="tok", spec=spec, ports=HostPorts.allocate(spec.router_ids()))
    return plan.topology("/h/runs/r1", logs={})


def in_network(toxiproxy: bool = False) -> Wiring:
    return Wiring.in_network(compose_topology(toxiproxy), alertmanager=f"alertmanager:{ALERTMANAGER_PORT_IN_NETWORK}",
                             token_file=f"{CONFIG_IN_CONTAINER}/token")


def services() -> dict:
    return yaml.safe_load(OVERRIDE.read_text())["services"]


def test_in_the_compose_network_prometheus_scrapes_services_by_name() -> None:
    """On compose the scrape targets are the services' admin ports inside the fleet's network, not the host's."""
    config = prometheus_config(PrometheusParams(), in_network())
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert ([{"targets": ["exchange:8080"]}],
            [{"targets": ["router-1:8080"], "labels": {"router": "router-1"}},
             {"targets": ["router-2:8080"], "labels": {"router": "router-2"}}],
            [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]) == (
        jobs["exchange"], jobs["routers"], config["alerting"]["alertmanagers"])


def test_in_the_compose_network_alertmanager_pages_and_kills_by_service_name() -> None:
    """The sink directly (no proxies) or through toxiproxy's ->alerts link; the kill at the exchange; the token
    from where the container mounts it."""
    def hooks(wiring: Wiring) -> list[tuple[str, str]]:
        config = alertmanager_config(PrometheusParams(), wiring)
        return [(h["url"], h["http_config"]["authorization"]["credentials_file"])
                for r in config["receivers"] for h in r["webhook_configs"]]

    token = f"{CONFIG_IN_CONTAINER}/token"
    assert [("http://alerts:8080/alertmanager", token), ("http://exchange:8080/kill/alertmanager", token)] == hooks(
        in_network(toxiproxy=False))
    assert "http://toxiproxy:20101/alertmanager" == hooks(in_network(toxiproxy=True))[0][0]


def test_the_override_file_runs_what_the_placement_configures() -> None:
    """Each daemon reads the config file the control writes, from the mounted run directory, and listens on the
    port the other daemon and the wiring dial."""
    svc = services()
    assert set(DAEMONS) == set(svc)
    flags = {name: dict(arg.removeprefix("--").split("=", 1) for arg in svc[name]["command"]) for name in DAEMONS}
    assert (f"{CONFIG_IN_CONTAINER}/prometheus.yml", f"0.0.0.0:{PROMETHEUS_PORT_IN_NETWORK}") == (
        flags["prometheus"]["config.file"], flags["prometheus"]["web.listen-address"])
    assert (f"{CONFIG_IN_CONTAINER}/alertmanager.yml", f"0.0.0.0:{ALERTMANAGER_PORT_IN_NETWORK}", "") == (
        flags["alertmanager"]["config.file"], flags["alertmanager"]["web.listen-address"],
        flags["alertmanager"]["cluster.listen-address"])
    assert {f"${{PP_CONTROL_DIR:-/dev/null}}:{CONFIG_IN_CONTAINER}:ro"} == {
        v for name in DAEMONS for v in svc[name]["volumes"]}
    assert {PROMETHEUS_IMAGE} == {svc[name]["image"] for name in DAEMONS}


def test_the_override_file_reads_only_variables_the_backend_sets() -> None:
    """Every ${PP_*} of the override is in the placement's variables; its ports are on loopback, its
    containers carry the run's labels (so `down` and `cleanup` find them)."""
    text = OVERRIDE.read_text()
    read = set(re.findall(r"\$\{(PP_[A-Z_]+)", text))
    assert read == set(compose_env(Path("/tmp/x"), {"prometheus": 1, "alertmanager": 2}))
    svc = services()
    assert all(p.startswith("127.0.0.1:") for name in DAEMONS for p in svc[name]["ports"])
    assert all({"powerpeg.run_id", "powerpeg.home"} <= set(svc[name]["labels"]) for name in DAEMONS)


def test_compose_env_mounts_an_absolute_directory(tmp_path, monkeypatch) -> None:
    """The engine resolves bind mounts on its side: a relative state directory is made absolute."""
    monkeypatch.chdir(tmp_path)
    env = compose_env(Path("home/runs/r1/controls/prometheus"), {"prometheus": 41000, "alertmanager": 41001})
    assert (str(tmp_path / "home/runs/r1/controls/prometheus"), "41000", "41001") == (
        env["PP_CONTROL_DIR"], env["PP_PROMETHEUS_PORT"], env["PP_ALERTMANAGER_PORT"])


def test_the_compose_record_keeps_the_override_for_every_later_command(tmp_path) -> None:
    """Saved with its overrides, the record gives `down` their --file options; one written before them loads."""
    record = ComposeRecord("p", "/c/docker-compose.yml", {"A": "1"}, HostPorts.allocate(["router-1"]),
                           overrides=(str(OVERRIDE),))
    record.save(tmp_path / "compose.json")
    loaded = ComposeRecord.load(tmp_path / "compose.json")
    assert (record, ["--file", str(OVERRIDE)]) == (loaded, loaded.files())
    old = json.loads((tmp_path / "compose.json").read_text())
    del old["overrides"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert () == ComposeRecord.load(tmp_path / "old.json").overrides


def bundled() -> Experiment:
    return Experiment.model_validate({"name": "x", "controls": {"external": {"bundled": [{"kind": "prometheus"}]}}})


def test_swarm_refuses_the_control_and_names_where_it_runs() -> None:
    """Swarm has no placement (its tasks may land where the run's configuration is not): refused, saying so."""
    assert ({"local", "compose"}, None) == (set(PLACEMENTS), PLACEMENTS.get("swarm"))
    message = unsupported_controls(bundled(), "swarm")
    assert message is not None and "runs on compose, local only" in message


def test_compose_without_the_image_refuses_the_control_saying_how_to_build_it(monkeypatch) -> None:
    """An engine without powerpeg-prometheus: the run is refused before anything starts, naming `make images`."""
    monkeypatch.setattr(dk, "docker_client", lambda: contextlib.nullcontext(object()))
    monkeypatch.setattr(dk, "missing_images", lambda _engine, images: list(images))
    message = unsupported_controls(bundled(), "compose")
    assert message is not None and PROMETHEUS_IMAGE in message and "make images" in message


def test_compose_with_the_image_or_without_an_engine_does_not_refuse(monkeypatch) -> None:
    """The image built: nothing to refuse; no engine: the backend's own start says so for the whole fleet."""
    monkeypatch.setattr(dk, "docker_client", lambda: contextlib.nullcontext(object()))
    monkeypatch.setattr(dk, "missing_images", lambda _engine, _images: [])
    assert None is unsupported_controls(bundled(), "compose")

    def no_engine() -> contextlib.AbstractContextManager:
        raise dk.DockerUnavailable("Docker engine not available")

    monkeypatch.setattr(dk, "docker_client", no_engine)
    assert (None, None) == (ComposeContainers().unavailable(), Prometheus.unavailable("compose"))
