"""What the Chaos tab shows: fault states, human/automated attribution, the Locust tab's rows, web mode."""
from __future__ import annotations

from pathlib import Path

import structlog

from powerpeg.harness import measure
from powerpeg.harness.experiment.model import Step
from powerpeg.harness.faults.registry import FAULTS
from powerpeg.harness.load.config import LoadConfig, RouterTarget, SymbolRef
from powerpeg.harness.experiment.model import Load
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.run import ScheduledFault
from powerpeg.harness.ui.operator import attribution, fault_view
from powerpeg.harness.ui.tab import status_rows


def scheduled(**times: int | str | None) -> ScheduledFault:
    step = Step.model_validate({"fault": "pause", "at": "0s", "args": {"target": "router-1"}})
    cls = FAULTS["pause"]
    sf = ScheduledFault(0, step, cls(cls.Params.model_validate(step.args)), 0.0)
    for key, value in times.items():
        setattr(sf, key, value)
    return sf


def test_fault_never_injected_is_pending() -> None:
    """A fault nobody pressed Inject for is pending."""
    assert "pending" == fault_view(scheduled())["state"]


def test_fault_injected_and_not_reverted_is_injected() -> None:
    """Injected without a revert since: injected."""
    assert "injected" == fault_view(scheduled(injected_ns=5))["state"]


def test_fault_reverted_is_reverted() -> None:
    """Injected then reverted: reverted."""
    assert "reverted" == fault_view(scheduled(injected_ns=5, reverted_ns=9))["state"]


def test_fault_with_an_error_is_failed() -> None:
    """A fault whose inject or revert failed shows failed."""
    assert "failed" == fault_view(scheduled(injected_ns=5, error="boom"))["state"]


def test_operator_ack_and_kill_are_human() -> None:
    """Detection by an operator's ack and a kill at an operator_kill event are both human."""
    metrics = measure.Metrics(detected_by="operator", kill_issued_at=200)
    events = [{"event": "operator_ack", "ts_ns": 100}, {"event": "operator_kill", "ts_ns": 200}]
    assert {"ttd": "human", "ttk": "human"} == attribution(metrics, events)


def test_page_and_monitor_kill_are_automated() -> None:
    """A page and a kill that no operator pressed are automated."""
    metrics = measure.Metrics(detected_by="page", kill_issued_at=300)
    assert {"ttd": "automated", "ttk": "automated"} == attribution(metrics, [{"event": "operator_kill", "ts_ns": 400}])


def test_no_detection_no_kill_is_neither() -> None:
    """Without detection or kill there is nothing to attribute."""
    assert {"ttd": None, "ttk": None} == attribution(measure.Metrics(), [])


def test_locust_tab_rows_show_phase_and_fault_state() -> None:
    """The Chaos tab in Locust's UI lists the phase and each fault's state as rows."""
    rows = status_rows({"experiment": "e", "phase": "open", "killed": True, "metrics": {},
                        "faults": [{"index": 0, "name": "deploy", "state": "injected"}], "alerts": []})
    assert [("phase", "open"), ("killed", "yes"), ("fault 0: deploy", "injected")] == [
        (r["item"], r["value"]) for r in rows if r["item"] in ("phase", "killed", "fault 0: deploy")]


def _runner(tmp_path: Path, web_port: int | None) -> LoadRunner:
    router = RouterTarget(id="router-1", orders="http://127.0.0.1:1/orders")
    config = LoadConfig.build(Load(users=1, spawn_rate=1, wait="1s"), run_id="r", routers=[router], token="t",
                              universe=[SymbolRef(symbol="A", ref_price=1.0)], symbol_count=1,
                              open_at_ns=0, seed=1, duration_s=5, out_dir=tmp_path)
    return LoadRunner(config, tmp_path, log=structlog.get_logger(), web_port=web_port, extra_env={"X_CHAOS": "1"})


def test_web_mode_serves_the_ui_on_loopback_and_autostarts(tmp_path: Path) -> None:
    """With a web port Locust runs its web UI on 127.0.0.1 and starts the load by itself, not headless."""
    argv = _runner(tmp_path, 8089).commands()[0][1]
    assert (False, ["--web-host", "127.0.0.1", "--web-port", "8089", "--autostart"]) == (
        "--headless" in argv, argv[argv.index("--web-host"):argv.index("--autostart") + 1])


def test_headless_mode_is_unchanged(tmp_path: Path) -> None:
    """Without a web port the load stays headless with no web UI."""
    argv = _runner(tmp_path, None).commands()[0][1]
    assert (True, False) == ("--headless" in argv, "--web-port" in argv)


def test_extra_env_reaches_locust(tmp_path: Path) -> None:
    """The control API's address (extra env) is in Locust's environment."""
    assert "1" == _runner(tmp_path, 8089).env()["X_CHAOS"]
