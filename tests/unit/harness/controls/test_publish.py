"""What a firm's own control is told: `status --json`'s controls section and `powerpeg env`'s lines."""
from __future__ import annotations

import dataclasses
import shlex

import yaml

from powerpeg.harness import resources
from powerpeg.harness.controls.publish import INSIDE_BUNDLED, env_lines, env_pairs
from powerpeg.harness.topology import DROPCOPY_PROXY, ALERTS_PROXY, ProxyInfo, ToxiproxyEndpoints, pagerduty_routing_key
from tests.unit.harness.test_state import make_topology


def test_status_json_publishes_what_a_control_needs() -> None:
    """Drop copy with CompIDs, the kill switch's three doors, halts, receivers, metrics and the routing key."""
    c = make_topology(toxiproxy=False).status_json()["controls"]
    assert {"address": "127.0.0.1:1002", "sender_comp_id": "KNIGHT", "target_comp_id": "EXCHANGE"}.items() <= (
        c["dropcopy"].items())
    assert ("http://127.0.0.1:1003/kill", "http://127.0.0.1:1003/kill/alertmanager", "127.0.0.1:1001", "q") == (
        c["kill"]["http"], c["kill"]["alertmanager"], c["kill"]["fix"]["address"], c["kill"]["fix"]["msg_type"])
    assert {"router-1": "http://127.0.0.1:2001/halt"} == c["halt"]
    assert {"alertmanager": "http://127.0.0.1:5001/alertmanager", "pagerduty": "http://127.0.0.1:5001/v2/enqueue",
            "webhook": "http://127.0.0.1:5001/alerts"} == c["receivers"]
    assert (pagerduty_routing_key("tok"), 32) == (c["pagerduty_routing_key"], len(c["pagerduty_routing_key"]))


def test_with_toxiproxy_the_control_dials_through_the_links() -> None:
    """On local, the drop copy and the receivers go through their links, so network faults reach the firm's control."""
    topo = make_topology(toxiproxy=False)
    topo = dataclasses.replace(topo, toxiproxy=ToxiproxyEndpoints("http://127.0.0.1:6001", (
        ProxyInfo(DROPCOPY_PROXY, "127.0.0.1:7002", "127.0.0.1:1002"),
        ProxyInfo(ALERTS_PROXY, "127.0.0.1:7003", "127.0.0.1:5001"))))
    c = topo.for_controls()
    assert ("127.0.0.1:7002", "http://127.0.0.1:7003/alertmanager") == (
        c["dropcopy"]["address"], c["receivers"]["alertmanager"])


def test_env_lines_are_dotenv_and_shell() -> None:
    """KEY=value lines, quoted where needed, that a shell reads back to the same values."""
    topo = dataclasses.replace(make_topology(toxiproxy=False), controls={"prometheus": "http://127.0.0.1:9090"})
    lines = env_lines(topo, export=True)
    assert lines[0].startswith("# powerpeg env: run r1") and all(line.startswith("export ") for line in lines[1:])
    values = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in lines[1:])
    assert {"POWERPEG_DROPCOPY": "127.0.0.1:1002", "POWERPEG_DROPCOPY_PORT": "1002",
            "POWERPEG_KILL_URL": "http://127.0.0.1:1003/kill", "POWERPEG_TOKEN": "tok",
            "POWERPEG_EXCHANGE_METRICS_TARGET": "127.0.0.1:1003", "POWERPEG_ROUTER_METRICS_TARGETS": "127.0.0.1:2001",
            "POWERPEG_PROMETHEUS_URL": "http://127.0.0.1:9090"}.items() <= values.items()


def test_inside_addresses_are_the_compose_networks() -> None:
    """--inside: service names and fixed ports, as a container on the fleet's network dials them."""
    topo = dataclasses.replace(make_topology(toxiproxy=False), backend="compose", network="powerpeg-r1")
    values = dict(env_pairs(topo, inside=True))
    assert ("exchange:9879", "exchange:9878", "http://exchange:8080/kill", "http://alerts:8080/alertmanager",
            "http://router-1:8080/halt", "powerpeg-r1") == (
        values["POWERPEG_DROPCOPY"], values["POWERPEG_ORDER_ENTRY"], values["POWERPEG_KILL_URL"],
        values["POWERPEG_ALERTMANAGER_WEBHOOK_URL"], values["POWERPEG_ROUTER_HALT_URLS"], values["POWERPEG_NETWORK"])


def test_inside_the_bundled_controls_are_their_services() -> None:
    """--inside: the bundled Prometheus and Alertmanager by service name and port, not their 127.0.0.1 publications."""
    topo = dataclasses.replace(make_topology(toxiproxy=False), backend="compose", network="powerpeg-r1",
                               controls={"prometheus": "http://127.0.0.1:41001",
                                         "alertmanager": "http://127.0.0.1:41002"})
    values = dict(env_pairs(topo, inside=True))
    assert ("http://prometheus:9090", "http://alertmanager:9093") == (
        values["POWERPEG_PROMETHEUS_URL"], values["POWERPEG_ALERTMANAGER_URL"])
    outside = dict(env_pairs(topo))
    assert ("http://127.0.0.1:41001", "http://127.0.0.1:41002") == (
        outside["POWERPEG_PROMETHEUS_URL"], outside["POWERPEG_ALERTMANAGER_URL"])


def test_inside_a_bundled_control_without_a_known_service_is_left_out() -> None:
    """A host URL would name the dialling container itself: no line rather than a wrong address."""
    topo = dataclasses.replace(make_topology(toxiproxy=False), backend="compose",
                               controls={"grafana": "http://127.0.0.1:41003"})
    assert not [key for key, _ in env_pairs(topo, inside=True) if key == "POWERPEG_GRAFANA_URL"]


def test_inside_ports_are_the_override_files_listen_addresses() -> None:
    """INSIDE_BUNDLED follows compose/control-prometheus.yml: each service's --web.listen-address port."""
    compose = yaml.safe_load((resources.compose_dir() / "control-prometheus.yml").read_text())
    listen = {}
    for name, service in compose["services"].items():
        flag = next(arg for arg in service["command"] if arg.startswith("--web.listen-address="))
        listen[name] = int(flag.rsplit(":", 1)[1])
    assert listen == INSIDE_BUNDLED
