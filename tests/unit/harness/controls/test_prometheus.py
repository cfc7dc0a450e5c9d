"""The Prometheus control's configuration: what Prometheus scrapes, the PromQL rules, Alertmanager's
routing to the sink and to the venue's kill switch; checked by promtool/amtool where installed."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from powerpeg.harness.controls.placement import Wiring
from powerpeg.harness.controls.prometheus import (KILL_RECEIVER, PAGE_RECEIVER, alertmanager_config, prom_duration,
                                                  prometheus_config, rules, write_yaml)
from powerpeg.harness.controls.prometheus import PrometheusParams as Params
from tests.unit.harness.test_state import make_topology


def on_host(token_file: str = "/run/x/token") -> Wiring:
    return Wiring.on_host(make_topology(toxiproxy=False), alertmanager="127.0.0.1:9093", token_file=token_file)


def require(tool: str, package: str) -> None:
    """A developer without the Debian package skips; CI (POWERPEG_REQUIRE_PROMETHEUS=1) fails instead."""
    if shutil.which(tool) is None:
        message = f"{tool} not installed (apt-get install {package})"
        if os.environ.get("POWERPEG_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)

TIGHT = {"scrape_interval": "1s", "evaluation_interval": "1s", "for": "0s", "group_wait": "0s",
         "group_interval": "1s"}


def test_defaults_are_what_most_firms_run() -> None:
    """Unset, the timings are Prometheus's shipped config and Alertmanager's defaults."""
    s = Params().settings()
    assert (15.0, 15.0, 0.0, 30.0, 300.0, 14400.0, 60.0) == (
        s["scrape_interval_s"], s["evaluation_interval_s"], s["for_s"], s["group_wait_s"], s["group_interval_s"],
        s["repeat_interval_s"], s["rate_window_s"])


@pytest.mark.parametrize("args, message", [
    ({"scrape_interval": "50ms"}, "scrape_interval must be at least 100ms"),
    ({"scrape_interval": "15s", "rate_window": "20s"}, "holds fewer than two scrapes"),
    ({"scrape_intervall": "1s"}, "Extra inputs are not permitted"),
])
def test_bad_params_are_refused(args, message) -> None:
    """Intervals below 100 ms, a rate window of fewer than two scrapes and unknown keys are errors."""
    with pytest.raises(ValidationError, match=message):
        Params.model_validate(args)


def test_durations_in_prometheus_syntax() -> None:
    """Whole seconds as s, the rest in ms (both parse in Prometheus and Alertmanager)."""
    assert ["0s", "1s", "15s", "1500ms", "300s"] == [prom_duration(s) for s in (0, 1, 15, 1.5, 300)]


def test_rules_hold_the_venues_executions_against_the_routers_parents() -> None:
    """The overfill rule reads the exchange's count one scrape ago, within the router's day, per session and firm."""
    params = Params.model_validate(TIGHT)
    overfill, ratio, fill = rules(params, "KNIGHT")["groups"][0]["rules"]
    assert ("KnightExecutedAboveParents", {"severity": "page", "action": "kill"}) == (
        overfill["alert"], overfill["labels"])
    assert 'powerpeg_exchange_session_executed_shares_total{firm="KNIGHT"} offset 1s' in overfill["expr"]
    assert "powerpeg_router_accepted_parent_shares_total" in overfill["expr"]
    assert "powerpeg_router_start_time_seconds" in overfill["expr"]
    assert "[4s]" in ratio["expr"] and "> 20" in ratio["expr"]
    assert "action" not in fill["labels"]  # a fill rate pages, it does not kill


def test_rules_use_the_overfill_allowance_and_drop_the_kill_label_without_kill() -> None:
    """overfill_shares adds to the parents' quantity; kill: false labels nothing for the kill route."""
    params = Params.model_validate({**TIGHT, "overfill_shares": 500, "kill": False})
    groups = rules(params, "KNIGHT")["groups"][0]["rules"]
    assert "+ 500" in groups[0]["expr"] and all("action" not in r["labels"] for r in groups)


def test_prometheus_scrapes_the_exchange_and_every_router_without_a_token() -> None:
    """Targets are the admin host:ports; GET /metrics needs no token, so no authorization is configured."""
    config = prometheus_config(Params.model_validate(TIGHT), on_host())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert (["127.0.0.1:1003"], [{"targets": ["127.0.0.1:2001"], "labels": {"router": "router-1"}}]) == (
        jobs["exchange"]["static_configs"][0]["targets"], jobs["routers"]["static_configs"])
    assert ("1s", "1s", "1s") == (config["global"]["scrape_interval"], config["global"]["scrape_timeout"],
                                  config["global"]["evaluation_interval"])
    assert "authorization" not in str(config)


def test_alertmanager_pages_the_sink_and_kills_at_the_venue(tmp_path) -> None:
    """action=kill goes to POST /kill/alertmanager and continues to the pager route; both with the token file."""
    token = tmp_path / "token"
    config = alertmanager_config(Params.model_validate(TIGHT), on_host(str(token)))
    route = config["route"]
    assert ("0s", "1s", [KILL_RECEIVER, PAGE_RECEIVER], True) == (
        route["group_wait"], route["group_interval"], [r["receiver"] for r in route["routes"]],
        route["routes"][0]["continue"])
    hooks = {r["name"]: r["webhook_configs"][0] for r in config["receivers"]}
    assert ("http://127.0.0.1:5001/alertmanager", "http://127.0.0.1:1003/kill/alertmanager") == (
        hooks[PAGE_RECEIVER]["url"], hooks[KILL_RECEIVER]["url"])
    assert {str(token)} == {h["http_config"]["authorization"]["credentials_file"] for h in hooks.values()}


def test_promtool_accepts_the_config_and_the_rules(tmp_path: Path) -> None:
    """promtool check config (which checks the rules file too) passes on what the control writes."""
    require("promtool", "prometheus")
    params = Params.model_validate(TIGHT)
    write_yaml(tmp_path / "rules.yml", "# test\n", rules(params, "KNIGHT"))
    write_yaml(tmp_path / "prometheus.yml", "# test\n",
               prometheus_config(params, on_host()))
    done = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert yaml.safe_load((tmp_path / "rules.yml").read_text())["groups"][0]["name"] == "knight-runaway"


def test_amtool_accepts_the_alertmanager_config(tmp_path: Path) -> None:
    require("amtool", "prometheus-alertmanager")
    """amtool check-config passes on the routing the control writes."""
    (tmp_path / "token").write_text("t")
    write_yaml(tmp_path / "alertmanager.yml", "# test\n",
               alertmanager_config(Params(), on_host(str(tmp_path / "token"))))
    done = subprocess.run(["amtool", "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True,
                          text=True)
    assert 0 == done.returncode, done.stdout + done.stderr
