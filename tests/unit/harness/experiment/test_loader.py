"""Loading experiment files: YAML with line numbers into the typed model, every error located."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.harness.experiment.loader import ExperimentError, Issue, format_loc, load, load_many, parse_loc

BROKEN = Path(__file__).parents[4] / "tests" / "fixtures" / "broken"


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def issues_of(path: Path, **kwargs: object) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ExperimentError) as caught:
        load(path, **kwargs)
    return [(i.line, i.path, i.message) for i in caught.value.errors]


def test_minimal_file_gives_defaults(tmp_path: Path) -> None:
    """A file with only a name is a valid experiment with the model's defaults."""
    exp = load(write(tmp_path, "name: minimal\n"))
    assert (8, "v2", 10.0, []) == (exp.topology.routers, exp.topology.version, exp.duration, exp.method)


def test_step_fields_are_typed(tmp_path: Path) -> None:
    """Durations become seconds and 'open' stays 'open'."""
    path = write(tmp_path, "name: t\nmethod:\n  - {at: 1500ms, fault: kill, args: {target: router-1}, duration: 2s}\n"
                           "  - {at: open, fault: pause, args: {target: router-2}}\n")
    exp = load(path)
    assert [(1.5, 2.0), ("open", None)] == [(s.at, s.duration) for s in exp.method]


def test_assert_section_is_read_by_its_alias(tmp_path: Path) -> None:
    """`assert:` in the file fills Experiment.assertions."""
    exp = load(write(tmp_path, "name: t\nassert:\n  ttd_max: 250ms\n"))
    assert 0.25 == exp.assertions.ttd_max


def test_off_is_a_string_not_a_boolean(tmp_path: Path) -> None:
    """YAML 1.2 booleans: `mode: off` stays the word off (PyYAML's 1.1 rules would make it False)."""
    exp = load(write(tmp_path, "name: t\nmethod:\n  - at: 0s\n    fault: alert_blackout\n    args: {mode: off}\n"))
    assert {"mode": "off"} == exp.method[0].args


def test_true_is_still_a_boolean(tmp_path: Path) -> None:
    """`true` is a boolean."""
    exp = load(write(tmp_path, "name: t\ncontrols:\n  monitor:\n    enabled: true\n"))
    assert True is exp.controls.monitor.enabled


def test_unknown_top_level_key_is_located_and_lists_allowed_keys() -> None:
    """An unknown top-level key is reported on its line with the allowed keys."""
    [(line, path, message)] = issues_of(BROKEN / "unknown-top-level-key.yaml")
    assert (4, "retries", True) == (line, path, message.startswith("unknown key 'retries'; allowed: name, description"))


def test_unknown_deep_key_shows_its_path_and_a_suggestion() -> None:
    """A typo deep inside is reported with its dotted path and the key it probably meant."""
    [(line, path, message)] = issues_of(BROKEN / "unknown-deep-key.yaml")
    assert (7, "controls.monitor.limits.overfil_shares",
            "unknown key 'overfil_shares' (did you mean 'overfill_shares'?)") == (line, path, message.split("; ")[0])


def test_bad_duration_is_reported_with_the_value() -> None:
    """`duration: 2 seconds` is refused, saying how to write it."""
    [(line, path, message)] = issues_of(BROKEN / "bad-duration.yaml")
    assert (3, "duration", "bad duration '2 seconds': use a number with ms, s, m or h, like '250ms', '2s', '1m'") == (
        line, path, message)


def test_bad_step_time_gives_one_error_not_one_per_union_branch(tmp_path: Path) -> None:
    """A bad `at` is a single error that mentions 'open' as the other choice."""
    path = write(tmp_path, "name: t\nmethod:\n  - at: soon\n    fault: kill\n    args: {target: router-1}\n")
    assert [(3, "method[0].at",
             "bad duration 'soon': use a number with ms, s, m or h, like '250ms', '2s', '1m' (or 'open')")] == (
        issues_of(path))


def test_bare_number_duration_is_refused(tmp_path: Path) -> None:
    """`duration: 10` has no unit and is an error."""
    [(line, path, _)] = issues_of(write(tmp_path, "name: t\nduration: 10\n"))
    assert (2, "duration") == (line, path)


def test_wrong_type_names_the_value(tmp_path: Path) -> None:
    """A value of the wrong type is reported with what was written."""
    assert [(3, "topology.routers",
             "Input should be a valid integer, unable to parse string as an integer, got 'eight'")] == (
        issues_of(write(tmp_path, "name: t\ntopology:\n  routers: eight\n")))


def test_missing_required_key_is_reported_on_its_parent(tmp_path: Path) -> None:
    """A step without `fault` is an error located at the step."""
    assert [(3, "method[0].fault", "required")] == issues_of(write(tmp_path, "name: t\nmethod:\n  - at: 0s\n"))


def test_yaml_syntax_error_gives_the_line() -> None:
    """A YAML syntax error is one issue with the line YAML reports."""
    [(line, path, message)] = issues_of(BROKEN / "yaml-syntax.yaml")
    assert (6, "", True) == (line, path, message.startswith("YAML syntax error: while parsing a flow sequence"))


def test_top_level_must_be_a_mapping() -> None:
    """A list at the top level is refused."""
    assert [(2, "", "the top level must be a mapping of sections (name, topology, method, ...), got a list")] == (
        issues_of(BROKEN / "not-a-mapping.yaml"))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    """An empty file is not an experiment."""
    [(_, _, message)] = issues_of(write(tmp_path, "# nothing here\n"))
    assert message.startswith("the file is empty")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """A path that does not exist is one issue without a line."""
    assert [(None, "", "no such file")] == issues_of(tmp_path / "absent.yaml")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """A key given twice is reported where it repeats: the later value would silently win."""
    path = write(tmp_path, "name: t\nduration: 5s\nduration: 8s\n")
    assert [(3, "duration", "duplicate key 'duration': the later value would silently win")] == issues_of(path)


def test_every_error_of_a_file_is_reported() -> None:
    """Schema errors first, then semantic ones, each with its own line."""
    got = [(line, path) for line, path, _ in issues_of(BROKEN / "several-errors.yaml", toxiproxy_available=True)]
    assert [(2, "name"), (8, "load.users"), (6, "topology.versions.router-7"), (12, "method[0].args.version"),
            (13, "method[1].at"), (17, "method[2].fault")] == got


def test_issue_reads_file_line_path_message() -> None:
    """An issue prints as `file:line: path: message`."""
    issue = Issue("experiments/x.yaml", 14, "method[0].args.miss[0]", "no router 'router-9' in a fleet of 8")
    assert "experiments/x.yaml:14: method[0].args.miss[0]: no router 'router-9' in a fleet of 8" == str(issue)


def test_issue_without_line_or_path() -> None:
    """Without line and path an issue prints as `file: message`."""
    assert "x.yaml: no such file" == str(Issue("x.yaml", None, "", "no such file"))


def test_format_loc_writes_indexes_in_brackets() -> None:
    """Pydantic locations read like the file: method[2].args.miss[0]."""
    assert "method[2].args.miss[0]" == format_loc(("method", 2, "args", "miss", 0))


def test_parse_loc_inverts_format_loc() -> None:
    """A fault's string path becomes a location again."""
    assert ("miss", 0, "x") == parse_loc("miss[0].x")


def test_load_many_reports_the_errors_of_every_file(tmp_path: Path) -> None:
    """One ExperimentError carries the issues of all invalid files."""
    good = write(tmp_path, "name: good\n", "good.yaml")
    with pytest.raises(ExperimentError) as caught:
        load_many([good, BROKEN / "bad-duration.yaml", BROKEN / "not-a-mapping.yaml"])
    assert ["bad-duration.yaml", "not-a-mapping.yaml"] == [Path(i.file).name for i in caught.value.errors]


def test_load_many_returns_every_experiment(tmp_path: Path) -> None:
    """All valid: the experiments in order."""
    paths = [write(tmp_path, f"name: e{i}\n", f"e{i}.yaml") for i in range(3)]
    assert ["e0", "e1", "e2"] == [e.name for e in load_many(paths)]
