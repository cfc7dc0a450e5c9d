"""`powerpeg validate` and `powerpeg schema`: output and exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from powerpeg.harness.cli import main
from powerpeg.harness.experiment import validate
from powerpeg.harness.faults.registry import FAULTS

ROOT = Path(__file__).parents[4]
BROKEN = Path("tests/fixtures/broken")
KINDS = "alert_blackout, flag_flip, kill, network, partial_deploy, pause, restart, rollback_deploy"

# each broken file and a line its report must contain
BROKEN_CASES = {
    "unknown-top-level-key": "unknown-top-level-key.yaml:4: retries: unknown key 'retries'; allowed: name,",
    "unknown-deep-key": "unknown-deep-key.yaml:7: controls.monitor.limits.overfil_shares: unknown key 'overfil_shares'",
    "unknown-fault-kind": f"unknown-fault-kind.yaml:5: method[0].fault: unknown fault kind 'partial_deplo' "
                          f"(did you mean 'partial_deploy'?); known kinds: {KINDS}",
    "bad-duration": "bad-duration.yaml:3: duration: bad duration '2 seconds'",
    "router-not-in-topology": "router-not-in-topology.yaml:10: method[0].args.miss[0]: "
                              "no router 'router-9' in a fleet of 8",
    "link-not-in-topology": "link-not-in-topology.yaml:9: method[0].args.link: no link 'router-5->exchange'",
    "versions-outside-topology": "versions-outside-topology.yaml:7: topology.versions.router-4: "
                                 "no router 'router-4' in a fleet of 3",
    "step-after-duration": "step-after-duration.yaml:5: method[0].at: "
                           "step at 12s never runs: the method lasts 10s (duration)",
    "yaml-syntax": "yaml-syntax.yaml:6: YAML syntax error: while parsing a flow sequence",
    "not-a-mapping": "not-a-mapping.yaml:2: the top level must be a mapping of sections",
    "several-errors": "several-errors.yaml:17: method[2].fault: unknown fault kind 'flood'",
}


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # report lines carry the path as given; run from the root so they read tests/fixtures/broken/...
    monkeypatch.chdir(ROOT)


def test_every_broken_file_has_a_case() -> None:
    """No broken example goes untested."""
    assert sorted(p.stem for p in BROKEN.glob("*.yaml")) == sorted(BROKEN_CASES)


@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_validate_reports_a_broken_file_and_exits_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each broken file exits 2 and its report holds the expected `file:line: path: message`."""
    code = main(["validate", str(BROKEN / f"{name}.yaml")])
    out = capsys.readouterr().out
    assert (2, True) == (code, f"{BROKEN}/{BROKEN_CASES[name]}" in out), out


def test_validate_reports_every_error_of_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A file with six errors prints six lines."""
    main(["validate", str(BROKEN / "several-errors.yaml")])
    assert 6 == len(capsys.readouterr().out.splitlines())


def test_validate_says_ok_with_name_and_steps(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file prints `ok  FILE  (name: N steps)` and exits 0."""
    code = main(["validate", "experiments/knight-2012-rollback.yaml"])
    assert (0, "ok  experiments/knight-2012-rollback.yaml  (knight-2012-rollback: 2 steps)\n") == (
        code, capsys.readouterr().out)


def test_validate_all_bundled_experiments(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole library validates in one call: exit 0, one ok line per file."""
    monkeypatch.setattr(validate, "binary_found", lambda _binaries: True)  # the bundled Prometheus control's
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "experiments").glob("*.yaml"))
    code = main(["validate", *files])
    lines = capsys.readouterr().out.splitlines()
    assert (0, len(files)) == (code, sum(line.startswith("ok  ") for line in lines))


def test_validate_mixed_files_reports_both_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """One valid and one invalid file: the ok line, the error, exit 2."""
    code = main(["validate", "experiments/router-crash.yaml", str(BROKEN / "bad-duration.yaml")])
    lines = capsys.readouterr().out.splitlines()
    assert (2, "ok  experiments/router-crash.yaml  (router-crash: 1 step)", True) == (
        code, lines[0], lines[1].startswith(f"{BROKEN}/bad-duration.yaml:3: duration: bad duration"))


def test_validate_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is an invalid file."""
    assert (2, "nowhere.yaml: no such file\n") == (main(["validate", "nowhere.yaml"]), capsys.readouterr().out)


def test_validate_without_files_is_a_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`powerpeg validate` with no FILE exits 2, not the fleet commands' 3."""
    with pytest.raises(SystemExit) as caught:
        main(["validate"])
    assert 2 == caught.value.code


@pytest.mark.parametrize("argv", [
    ["validate", "--strict", "experiments/knight-2012.yaml"],
    ["run", "--strict", "experiments/knight-2012.yaml"],
    ["gameday", "--strict", "experiments/suites/nightly.yaml"],
    ["ui", "--port", "eighty"],
])
def test_experiment_file_command_with_a_bad_flag_is_a_usage_error_exit_2(
        argv, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown flag or a bad value for a command that reads experiment files exits 2, and says which."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert 2 == caught.value.code
    assert argv[1] in capsys.readouterr().err


def test_fleet_command_usage_error_still_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    """Fleet commands keep their contract: a bad flag exits 3."""
    with pytest.raises(SystemExit) as caught:
        main(["status", "--bogus"])
    assert 3 == caught.value.code


def test_schema_prints_json_with_method_and_fault_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    """`powerpeg schema` prints JSON with properties.method and every fault kind, exit 0."""
    code = main(["schema"])
    schema = json.loads(capsys.readouterr().out)
    assert (0, True, sorted(FAULTS)) == (
        code, "method" in schema["properties"], schema["$defs"]["Step"]["properties"]["fault"]["enum"])


def test_schema_names_the_assert_section_by_its_alias(capsys: pytest.CaptureFixture[str]) -> None:
    """The schema says `assert` (what files write), not the Python field name."""
    main(["schema"])
    properties = json.loads(capsys.readouterr().out)["properties"]
    assert (True, False) == ("assert" in properties, "assertions" in properties)


def test_console_script_validates_in_a_subprocess() -> None:
    """The real command line: broken file → exit 2 with its error on stdout."""
    proc = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "validate",
                           str(BROKEN / "router-not-in-topology.yaml")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (2, f"{BROKEN}/{BROKEN_CASES['router-not-in-topology']}\n") == (proc.returncode, proc.stdout)
