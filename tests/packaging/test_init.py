"""`powerpeg init DIR`: a starter suite that validates and runs as written."""
from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from powerpeg.harness.cli import build_parser, main
from powerpeg.harness.experiment.loader import load
from powerpeg.harness.gameday.suite import load_suite
from powerpeg.harness.resources import experiments_dir

ROOT = Path(__file__).resolve().parents[2]
WRITTEN = [".github/workflows/powerpeg.yml", "README.md", "experiments/exchange-latency.yaml",
           "experiments/knight-2012-controls.yaml", "experiments/knight-2012.yaml", "experiments/suites/nightly.yaml"]


@pytest.fixture
def suite(tmp_path, capsys) -> Path:
    directory = tmp_path / "acme-resilience"
    assert 0 == main(["init", str(directory)])
    capsys.readouterr()
    return directory


def test_init_writes_the_starter_suite(suite) -> None:
    assert WRITTEN == sorted(str(p.relative_to(suite)) for p in suite.rglob("*") if p.is_file())


def test_the_experiments_are_the_bundled_ones(suite) -> None:
    """Copies, not a second set to keep in step: what `powerpeg list` shows is what a firm starts from."""
    copied = sorted((suite / "experiments").glob("*.yaml"))
    assert [(experiments_dir() / p.name).read_text() for p in copied] == [p.read_text() for p in copied]


def test_every_experiment_it_writes_validates(suite) -> None:
    # a machine's toxiproxy-server is not the files' business: the network fault is checked as if present
    names = [load(p, toxiproxy_available=True).name for p in sorted((suite / "experiments").glob("*.yaml"))]
    assert ["exchange-latency", "knight-2012-controls", "knight-2012"] == names


def test_the_nightly_suite_validates_with_its_overrides(suite) -> None:
    loaded = load_suite(suite / "experiments/suites/nightly.yaml", toxiproxy_available=True)
    assert [("knight-2012-controls", 12.0), ("exchange-latency", 7.0)] == [
        (e.name, e.duration) for e in loaded.experiments]


def _commands(workflow: dict) -> list[list[str]]:
    """Every shell command line of every job's `run:` steps, split as the shell would."""
    lines = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                if line.strip():
                    lines.append(shlex.split(line))
    return lines


def test_the_workflow_has_a_scheduled_game_day_and_a_resilience_job(suite) -> None:
    workflow = yaml.safe_load((suite / ".github/workflows/powerpeg.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean, as PyYAML does
    assert (["0 6 * * 1-5"], ["gameday", "resilience"]) == (
        [s["cron"] for s in triggers["schedule"]], sorted(workflow["jobs"]))


def test_every_powerpeg_command_of_the_workflow_parses_and_names_files_that_exist(suite) -> None:
    """What CI will run, checked here: each `powerpeg ...` parses, each file or glob it names is in the suite."""
    workflow = yaml.safe_load((suite / ".github/workflows/powerpeg.yml").read_text())
    ours = [c for c in _commands(workflow) if c[0] == "powerpeg" or c[:4] == ["python", "-m", "pytest", "--powerpeg"]]
    missing = []
    for command in ours:
        if command[0] == "powerpeg":
            build_parser().parse_args(command[1:])
        for arg in command[1:]:
            if arg.startswith("experiments"):
                if not glob.glob(str(suite / arg)):
                    missing.append(arg)
    assert (4, []) == (len(ours), missing), ours


def test_the_readme_is_five_lines(suite) -> None:
    assert 5 == len((suite / "README.md").read_text().splitlines())


def test_init_never_overwrites_without_force(suite, capsys) -> None:
    """A firm's edited file survives a second init; the error names it and nothing is written."""
    (suite / "README.md").write_text("ours\n")
    (suite / "experiments/knight-2012.yaml").unlink()
    assert 2 == main(["init", str(suite)])
    err = capsys.readouterr().err
    assert ("ours\n", False) == ((suite / "README.md").read_text(), (suite / "experiments/knight-2012.yaml").exists())
    named = err.removeprefix("powerpeg init: error: already there (nothing was written; --force overwrites): ")
    assert sorted(str(suite / p) for p in WRITTEN if p != "experiments/knight-2012.yaml") == \
        sorted(named.strip().split(", "))


def test_init_force_writes_over(suite) -> None:
    (suite / "README.md").write_text("ours\n")
    assert 0 == main(["init", str(suite), "--force"])
    assert "ours\n" != (suite / "README.md").read_text()


def test_init_into_a_file_is_an_error(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("")
    assert 2 == main(["init", str(tmp_path / "file")])
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_controls_experiment_runs_as_written(suite, tmp_path) -> None:
    """`powerpeg run experiments/knight-2012-controls.yaml` from the new suite's directory: exit 0."""
    env = {**os.environ, "POWERPEG_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "run", "experiments/knight-2012-controls.yaml",
                           "--out", str(tmp_path / "out"), "--quiet"], cwd=suite, env=env, capture_output=True,
                          text=True, timeout=280)
    assert 0 == proc.returncode, proc.stdout + proc.stderr
