"""harness/resources.py: the bundled experiments, suites and compose files are found by name, from a checkout
or an installed wheel (tests/packaging/test_wheel.py covers the wheel)."""
from __future__ import annotations

import os

import pytest

from powerpeg.harness import resources
from powerpeg.harness.cli import main
from powerpeg.harness.experiment.loader import ExperimentError, load


def test_every_bundled_experiment_has_a_one_line_description() -> None:
    """`powerpeg list`'s rows: each bundled experiment with its description on one line."""
    listed = resources.bundled_experiments()
    assert {"knight-2012", "knight-2012-controls"} <= {b.name for b in listed}
    assert [] == [b.name for b in listed if not b.description or "\n" in b.description]


def test_a_bare_name_loads_the_bundled_experiment(tmp_path, monkeypatch) -> None:
    """`knight-2012` names the bundled file from any directory."""
    monkeypatch.chdir(tmp_path)
    assert "knight-2012" == load("knight-2012", toxiproxy_available=True).name


def test_a_file_in_the_working_directory_wins_over_the_bundled_one(tmp_path, monkeypatch) -> None:
    """A firm's own knight-2012.yaml here is the one loaded, not powerpeg's."""
    own = (resources.experiments_dir() / "knight-2012.yaml").read_text().replace("name: knight-2012\n",
                                                                              "name: our-knight\n")
    (tmp_path / "knight-2012.yaml").write_text(own)
    monkeypatch.chdir(tmp_path)
    assert "our-knight" == load("knight-2012.yaml", toxiproxy_available=True).name


def test_an_unknown_name_suggests_the_closest_bundled_one(tmp_path, monkeypatch) -> None:
    """A typo is an error that names the bundled experiment meant."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExperimentError) as caught:
        load("knigt-2012")
    assert "no such file, nor a bundled experiment (`powerpeg list`); did you mean 'knight-2012'?" in str(caught.value)


def test_a_path_is_never_looked_up_by_name(tmp_path, monkeypatch) -> None:
    """`somewhere/knight-2012` is a path: missing, it is just missing."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExperimentError) as caught:
        load(os.path.join("somewhere", "knight-2012"))
    assert str(caught.value).endswith(": no such file")


def test_the_bundled_suite_is_found_by_name() -> None:
    assert resources.suites_dir() / "nightly.yaml" == resources.find_suite("nightly")


def test_the_compose_file_is_where_the_backends_read_it() -> None:
    """The compose and swarm backends take their file from the one module that locates bundled files."""
    from powerpeg.harness.backends.compose.env import COMPOSE_FILE

    assert (resources.compose_file(), True) == (COMPOSE_FILE, COMPOSE_FILE.is_file())


def test_where_names_an_existing_directory_for_every_kind() -> None:
    assert [] == [kind for kind in resources.KINDS if not resources.where(kind).exists()]


def test_an_unknown_bundled_directory_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no bundled directory 'dashboards'; known: compose, experiments"):
        resources.bundled_dir("dashboards")


def test_version_prints_the_installed_version(capsys) -> None:
    """`powerpeg --version`: the distribution's version, from pyproject.toml through its metadata."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert (0, f"powerpeg {resources.version()}\n") == (exited.value.code, capsys.readouterr().out)


def test_list_shows_names_and_descriptions(capsys) -> None:
    assert 0 == main(["list"])
    out = capsys.readouterr().out
    assert "knight-2012-controls" in out and "the Knight partial deploy against an independent monitor" in out


def test_list_json_gives_every_bundled_experiment_a_path_that_exists(capsys) -> None:
    import json

    assert 0 == main(["list", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert [] == [e["name"] for e in listed["experiments"] if not os.path.isfile(e["path"])]
    assert ["nightly"] == [s["name"] for s in listed["suites"]]
