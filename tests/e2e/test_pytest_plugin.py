"""The pytest plugin: `pytest --powerpeg` runs experiment files as items; without the flag nothing changes."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.e2e.runs import env
from tests.e2e.test_gameday import RUNAWAY, STEADY

pytest_plugins = ["pytester"]

PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    """One pytest --powerpeg session over two experiment files and a broken one, with --junitxml."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "steady.yaml").write_text(STEADY)
    (root / "runaway.yaml").write_text(RUNAWAY)
    (root / "broken.yaml").write_text("name: Broken\nduration: soon\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--powerpeg", str(root),
                           "--powerpeg-out", str(root / "out"), "--junitxml", str(root / "junit.xml"),
                           "--rootdir", str(root), "-rA"],
                          cwd=root, env=env(root / "home"), capture_output=True, text=True, timeout=240)
    return proc, ET.parse(root / "junit.xml").getroot(), root


def _case(junit, name: str):
    [case] = [c for c in junit.iter("testcase") if c.get("name") == name]
    return case


def test_each_experiment_file_is_one_item_and_the_session_fails(plugin_run) -> None:
    """Three YAML files → three items: one passes, the runaway and the invalid file fail; exit 1."""
    proc, junit, _ = plugin_run
    outcomes = {c.get("name"): ("failed" if c.find("failure") is not None else "passed")
                for c in junit.iter("testcase")}
    expected = {"tiny-steady": "passed", "tiny-runaway": "failed", "broken": "failed"}
    assert (1, expected) == (proc.returncode, outcomes), proc.stdout[-3000:]


def test_failure_message_lists_the_failed_assertion(plugin_run) -> None:
    """The runaway item fails with one line for ttd_max saying it was not detected."""
    _, junit, _ = plugin_run
    text = _case(junit, "tiny-runaway").find("failure").text
    assert ["ttd_max: not detected: no page reached the pager (detected_at is null)"] == \
        [line for line in text.splitlines() if line.startswith("ttd_max")]


def test_invalid_experiment_fails_with_its_errors(plugin_run) -> None:
    """An invalid file is a failing item listing every error with its line."""
    _, junit, root = plugin_run
    text = _case(junit, "broken").find("failure").text
    assert [f"{root / 'broken.yaml'}:1: name:", f"{root / 'broken.yaml'}:2: duration:"] == \
        [line.split(" ", 2)[0] + " " + line.split(" ", 2)[1] for line in text.splitlines()[1:]]


def test_metrics_are_junit_properties(plugin_run) -> None:
    """ttd_s, ttk_s, ttc_s, excess_shares and loss_usd are properties of each run's testcase."""
    _, junit, _ = plugin_run
    props = {p.get("name"): p.get("value") for p in _case(junit, "tiny-runaway").iter("property")}
    assert {"ttd_s", "ttk_s", "ttc_s", "excess_shares", "loss_usd"} <= set(props)
    assert ("", True) == (props["ttd_s"], int(props["excess_shares"]) > 0)


def test_reports_go_to_powerpeg_out(plugin_run) -> None:
    """--powerpeg-out DIR gets one report directory per experiment."""
    _, _, root = plugin_run
    assert ["tiny-runaway", "tiny-steady"] == sorted(p.name for p in (root / "out").iterdir()
                                                     if (p / "report.html").exists())


def test_without_the_flag_a_normal_run_is_unchanged(pytester) -> None:
    """Same items and outcome with the plugin loaded but no --powerpeg as with the plugin disabled."""
    pytester.makefile(".yaml", steady=STEADY)
    pytester.makepyfile(test_plain=PLAIN_TEST)
    plugged = pytester.runpytest_subprocess("--collect-only", "-q")
    unplugged = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:powerpeg")
    items = [line for line in plugged.outlines if "::" in line]
    assert (["test_plain.py::test_plain"], 0) == (items, plugged.ret)
    assert items == [line for line in unplugged.outlines if "::" in line]


def test_with_the_flag_the_yaml_file_is_collected_too(pytester) -> None:
    """The same directory with --powerpeg collects the experiment next to the plain test."""
    pytester.makefile(".yaml", steady=STEADY)
    pytester.makepyfile(test_plain=PLAIN_TEST)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "--powerpeg")
    assert ["steady.yaml::tiny-steady", "test_plain.py::test_plain"] == sorted(
        line for line in result.outlines if "::" in line)


def test_suite_files_are_not_collected_as_experiments(pytester) -> None:
    """A game-day suite next to experiments is left alone."""
    pytester.makefile(".yaml", suite="title: T\nexperiments:\n  - path: steady.yaml\n")
    result = pytester.runpytest_subprocess("--collect-only", "-q", "--powerpeg")
    assert [] == [line for line in result.outlines if "::" in line]


def test_powerpeg_fleet_fixture_gives_a_running_fleet(pytester) -> None:
    """A hand-written test sends a parent through the fixture's fleet and finds it in the exchange journal."""
    pytester.makepyfile(test_fleet='''
import asyncio

async def test_parent_reaches_the_exchange(powerpeg_fleet):
    fleet = await powerpeg_fleet(routers=2)
    [symbol, *_] = await fleet.symbols()
    parent = await fleet.send_parent("router-2", symbol=symbol, qty=100)
    for _ in range(100):
        records = await fleet.journal()
        if any(parent in str(r) for r in records):
            break
        await asyncio.sleep(0.05)
    assert (2, True) == (len(fleet.topology.routers), any(parent in str(r) for r in records))
''')
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    result = pytester.runpytest_subprocess("-q")
    assert {"passed": 1} == {k: v for k, v in result.parseoutcomes().items() if k in ("passed", "failed", "errors")}, \
        "\n".join(result.outlines[-30:])


# a stand-in for the run machinery: what the plugin passed, and a record with known metrics
FAKE_RUN = '''
import json
from pathlib import Path

import powerpeg.harness.run_cmd
from powerpeg.harness.measure import Metrics
from powerpeg.harness.report import RunRecord
from powerpeg.harness.verdict import AssertionResult


async def fake_run_experiment(exp, *, out, backend_name="local", quiet=False, **_kw):
    Path("calls.jsonl").open("a").write(json.dumps({"experiment": exp.name, "backend": backend_name,
                                                    "out": str(out), "quiet": quiet}) + "\\n")
    metrics = Metrics(first_violation_at=1, detected_by="page", ttd_s=0.25, ttk_s=0.5, ttc_s=0.75,
                      excess_shares=300, loss_usd=12.5)
    return RunRecord(experiment=exp.name, status="failed", backend=backend_name, seed=1, started_ns=0, ended_ns=1,
                     metrics=metrics, assertions=[AssertionResult("ttk_max", 0.1, 0.5, False, "ttk 0.500s > 0.100s")])


powerpeg.harness.run_cmd.run_experiment = fake_run_experiment
'''


def test_backend_option_reaches_the_run_and_metrics_are_the_runs(pytester) -> None:
    """--powerpeg-backend compose is the backend each item runs on; the JUnit properties carry the run's numbers."""
    pytester.makefile(".yaml", steady=STEADY)
    pytester.makeconftest(FAKE_RUN)
    result = pytester.runpytest_subprocess("--powerpeg", "--powerpeg-backend", "compose", "--powerpeg-out", "out",
                                           "--junitxml", "junit.xml")
    [call] = [json.loads(line) for line in (pytester.path / "calls.jsonl").read_text().splitlines()]
    props = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")}
    assert ({"experiment": "tiny-steady", "backend": "compose", "out": "out/tiny-steady", "quiet": True}, 1) == \
        (call, result.ret)
    assert {"ttd_s": "0.25", "ttk_s": "0.5", "ttc_s": "0.75", "excess_shares": "300", "loss_usd": "12.5",
            "status": "failed"} == {k: v for k, v in props.items() if k != "report"}


def test_an_unknown_backend_is_a_usage_error(pytester) -> None:
    """--powerpeg-backend accepts local, compose or swarm only; anything else stops pytest with a usage error."""
    result = pytester.runpytest_subprocess("--powerpeg", "--powerpeg-backend", "docker")
    assert (pytest.ExitCode.USAGE_ERROR, True) == (result.ret, any("invalid choice: 'docker'" in line
                                                                   for line in result.errlines))


def test_an_experiment_expecting_refutation_is_xfail_and_an_unexpected_pass_fails(tmp_path) -> None:
    """`expect: refuted` keeps a known weakness as a regression guard: the refuted runaway is xfailed (the
    session passes on it), and the same expectation on a steady experiment that passes fails the job
    (strict XPASS)."""
    (tmp_path / "weak.yaml").write_text(RUNAWAY.replace("name: tiny-runaway", "name: known-weakness")
                                        + "expect: refuted\n")
    (tmp_path / "fixed.yaml").write_text(STEADY.replace("name: tiny-steady", "name: fixed-weakness")
                                         + "expect: refuted\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--powerpeg", str(tmp_path),
                           "--powerpeg-out", str(tmp_path / "out"), "--rootdir", str(tmp_path), "-rA"],
                          cwd=tmp_path, env=env(tmp_path / "home"), capture_output=True, text=True, timeout=240)
    assert 1 == proc.returncode, proc.stdout[-3000:]
    assert "XFAIL weak.yaml::known-weakness" in proc.stdout, proc.stdout[-3000:]
    assert "FAILED fixed.yaml::fixed-weakness" in proc.stdout and "XPASS(strict)" in proc.stdout, proc.stdout[-3000:]
    doc = json.loads((tmp_path / "out" / "known-weakness" / "journal.json").read_text())
    assert ("refuted", True) == (doc["expect"], doc["as_expected"])
