"""The game-day suite file: typed, overrides merged before validation, errors with paths."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from powerpeg.harness.experiment.loader import ExperimentError
from powerpeg.harness.gameday.suite import load_suite, merge

EXPERIMENT = """\
name: tiny
duration: 3s
topology: {routers: 2}
load: {users: 2}
"""


def _write(tmp_path: Path, suite: str) -> Path:
    (tmp_path / "tiny.yaml").write_text(EXPERIMENT)
    path = tmp_path / "suite.yaml"
    path.write_text(suite)
    return path


def _errors(path: Path) -> list[str]:
    with pytest.raises(ExperimentError) as info:
        load_suite(path, toxiproxy_available=False)
    return [str(issue) for issue in info.value.errors]


def test_merge_replaces_leaves_and_keeps_siblings() -> None:
    """Mappings merge key by key; a scalar or list in the overrides replaces the base value."""
    base = {"duration": "10s", "load": {"users": 8, "wait": "250ms"}, "method": [1]}
    assert {"duration": "5s", "load": {"users": 4, "wait": "250ms"}, "method": [2]} == \
        merge(base, {"duration": "5s", "load": {"users": 4}, "method": [2]})


def test_overrides_are_applied_to_the_experiment(tmp_path) -> None:
    """`overrides: {duration: 5s, load: {users: 4}}` changes exactly those fields."""
    path = _write(tmp_path, "title: T\nexperiments:\n  - path: tiny.yaml\n"
                            "    overrides: {duration: 5s, load: {users: 4}}\n")
    [exp] = load_suite(path, toxiproxy_available=False).experiments
    assert (5.0, 4, 2) == (exp.duration, exp.load.users, exp.topology.routers)


def test_suite_fields_are_parsed(tmp_path) -> None:
    """Title, participants and notes are kept as given."""
    path = _write(tmp_path, "title: T\nparticipants: [ann, bo]\nnotes: hi\nexperiments:\n  - path: tiny.yaml\n")
    suite = load_suite(path, toxiproxy_available=False).suite
    assert ("T", ["ann", "bo"], "hi") == (suite.title, suite.participants, suite.notes)


def test_bad_override_is_reported_at_its_line_in_the_suite(tmp_path) -> None:
    """An invalid merged value points at the override in the suite file, with its path."""
    path = _write(tmp_path, "title: T\nexperiments:\n  - path: tiny.yaml\n    overrides:\n      load: {users: -1}\n")
    assert [f"{path}:5: experiments[0].overrides.load.users: Input should be greater than or equal to 0, got -1"] == \
        _errors(path)


def test_unknown_suite_key_is_an_error(tmp_path) -> None:
    """A typo in the suite is reported with the allowed keys."""
    path = _write(tmp_path, "title: T\nparticipant: [ann]\nexperiments:\n  - path: tiny.yaml\n")
    [error] = _errors(path)
    assert error.startswith(f"{path}:2: participant: unknown key 'participant' (did you mean 'participants'?)")


def test_missing_experiment_file_is_reported_with_its_index(tmp_path) -> None:
    """A path naming no file is an error at experiments[i].path."""
    path = _write(tmp_path, "title: T\nexperiments:\n  - path: tiny.yaml\n  - path: nope.yaml\n")
    assert [f"{path}:4: experiments[1].path: no such experiment file: {tmp_path / 'nope.yaml'}"] == _errors(path)


def test_error_in_the_experiment_file_itself_names_that_file(tmp_path) -> None:
    """An error not caused by an override is reported in the experiment file."""
    (tmp_path / "broken.yaml").write_text("name: tiny\nduration: soon\n")
    path = _write(tmp_path, "title: T\nexperiments:\n  - path: broken.yaml\n")
    [error] = _errors(path)
    assert error.startswith(f"{tmp_path / 'broken.yaml'}:2: duration: ")


def test_a_suite_needs_at_least_one_experiment(tmp_path) -> None:
    """An empty experiment list is invalid."""
    path = _write(tmp_path, "title: T\nexperiments: []\n")
    [error] = _errors(path)
    assert error.startswith(f"{path}:2: experiments: ")


ROOT = Path(__file__).parents[4]


def test_every_suite_the_scheduling_docs_run_is_bundled_and_valid() -> None:
    """The cron line and the CI workflow of docs/gameday.md run suites that exist and validate (no toxiproxy needed)."""
    docs = (ROOT / "docs" / "gameday.md").read_text().split("## Scheduling", 1)[1].split("\n## ", 1)[0]
    suites = sorted(set(re.findall(r"powerpeg gameday (\S+\.ya?ml)", docs)))
    loaded = {s: [e.name for e in load_suite(ROOT / s, toxiproxy_available=False).experiments] for s in suites}
    assert {"experiments/suites/nightly.yaml": ["knight-2012-controls", "router-crash", "alert-blackout"]} == loaded
