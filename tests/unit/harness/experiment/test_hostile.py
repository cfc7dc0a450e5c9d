"""Hostile experiment files: each is an ordinary validation error (exit 2, `file:line: path: message`),
read in bounded time and memory, with nothing started.

`powerpeg` runs in a subprocess under resource limits (address space, CPU
seconds): a loader that regresses to expanding an alias bomb or recursing
without end gets a MemoryError or SIGXCPU there, and the test fails on the
exit code, instead of eating the machine.
"""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from powerpeg.harness.experiment.loader import MAX_FILE_BYTES, MAX_ISSUES, ExperimentError, Issue, load
from powerpeg.harness.experiment.validate import json_schema

ROOT = Path(__file__).parents[4]
HOSTILE = Path("tests/fixtures/hostile")
MEMORY_LIMIT = 512 << 20  # bytes of address space: validate needs about 100 MB
CPU_LIMIT_S = 30  # a bound, not a timing assertion: validating any of these takes about a second

# each hostile file and a line its report must contain
HOSTILE_CASES = {
    "alias-bomb": "alias-bomb.yaml:7: e: more than 50000 values once its aliases are expanded",
    "alias-recursive": "alias-recursive.yaml:7: method[0].args.target: alias *steps is recursive",
    "too-many-aliases": "too-many-aliases.yaml:105: x[100]: more than 100 aliases (*name) in one file",
    "deep-nesting": "deep-nesting.yaml:7: method[0].args.target[0][0]",
    "deep-keys": "deep-keys.yaml:3: x: nested more than 32 levels deep",
    "huge-integer": "huge-integer.yaml:3: seed: integer 999999999999999999999999... has more than 19 digits",
    "duration-of-years": "duration-of-years.yaml:3: duration: 17520h is beyond the maximum of 1h",
    "open-in-years": "open-in-years.yaml:5: market.open_at: 876000h is beyond the maximum of 1h",
    "not-a-number": "not-a-number.yaml:6: abort.max_loss_usd: Input should be a finite number, got nan",
    "unreadable-value": "unreadable-value.yaml:3: cannot read '2001-13-45' as a YAML timestamp: month must be in 1..12",
}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))


def powerpeg(*args: str) -> subprocess.CompletedProcess[str]:
    """`powerpeg ARGS` from the repository root under the memory and CPU limits."""
    return subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", *args], cwd=ROOT, preexec_fn=_limits,
                          capture_output=True, text=True, timeout=4 * CPU_LIMIT_S, check=False)


def test_every_hostile_file_has_a_case() -> None:
    """No hostile example goes untested."""
    assert sorted(p.stem for p in (ROOT / HOSTILE).glob("*.yaml")) == sorted(HOSTILE_CASES)


@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_validate_refuses_a_hostile_file_with_exit_2(name: str) -> None:
    """Each hostile file exits 2 with its `file:line: path: message`, within the limits, without a traceback."""
    done = powerpeg("validate", str(HOSTILE / f"{name}.yaml"))
    assert (2, True, "") == (done.returncode, f"{HOSTILE}/{HOSTILE_CASES[name]}" in done.stdout, done.stderr), done


@pytest.mark.parametrize("name", ["alias-bomb", "deep-nesting"])
def test_run_refuses_a_hostile_file_before_starting_anything(name: str, tmp_path: Path) -> None:
    """`powerpeg run` loads the file first: exit 2, the error, and no fleet state or report written."""
    done = powerpeg("run", str(HOSTILE / f"{name}.yaml"), "--out", str(tmp_path / "out"))
    assert (2, True, False) == (done.returncode, HOSTILE_CASES[name] in done.stderr, (tmp_path / "out").exists()), done


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """A multi-megabyte file of steps is refused by its size, not parsed."""
    step = "  - {at: 0s, fault: nope, args: {target: router-99}, duration: 2 years}\n"
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\nmethod:\n" + step * (3 * 1024 * 1024 // len(step)))
    done = powerpeg("validate", str(path))
    assert (2, f"{path}: the file is larger than {MAX_FILE_BYTES // 1024} KB: an experiment is a page of YAML\n") == (
        done.returncode, done.stdout)


def test_errors_are_capped_and_the_rest_counted(tmp_path: Path) -> None:
    """A file just under the size limit full of bad steps reports its first errors and how many more."""
    step = "  - {at: 0s, fault: nope, args: {target: router-99}}\n"
    path = tmp_path / "many.yaml"
    path.write_text("name: many\nmethod:\n" + step * ((MAX_FILE_BYTES - 100) // len(step)))
    done = powerpeg("validate", str(path))
    lines = done.stdout.splitlines()
    assert (2, MAX_ISSUES + 1, True) == (done.returncode, len(lines), lines[-1].startswith(f"{path}: ... and ")), done


def test_an_open_after_the_end_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """market.open_at at or after duration: valid (exit 0), with a warning on its line."""
    path = tmp_path / "late.yaml"
    path.write_text("name: late\nduration: 10s\nmarket:\n  open_at: 30s\n")
    done = powerpeg("validate", str(path))
    assert (0, f"{path}:4: market.open_at: warning: the market opens at 30s, at or after the end of the method "
               "(10s, duration): the run never sees it open") == (done.returncode, done.stdout.splitlines()[-1])


def test_an_open_before_the_end_has_no_warning(tmp_path: Path) -> None:
    """The usual file: no warning."""
    path = tmp_path / "fine.yaml"
    path.write_text("name: fine\nduration: 10s\nmarket:\n  open_at: 2s\n")
    warnings: list[Issue] = []
    load(path, toxiproxy_available=True, warnings=warnings)
    assert [] == warnings


@pytest.mark.parametrize(("text", "path", "message"), [
    ("name: t\nload:\n  users: 100000\n", "load.users", "Input should be less than or equal to 2000, got 100000"),
    ("name: t\nmethod:\n  - {at: 0s, fault: kill, args: {target: router-1}, duration: 2h}\n", "method[0].duration",
     "7200s is beyond the maximum of 1h"),
    ("name: t\nabort:\n  max_duration: 90m\n", "abort.max_duration", "5400s is beyond the maximum of 1h"),
    ("name: t\nload:\n  wait: 5m\n", "load.wait", "300s is beyond the maximum of 1m"),
    ("name: t\nseed: -1\n", "seed", "Input should be greater than or equal to 0, got -1"),
])
def test_counts_and_durations_have_maxima(tmp_path: Path, text: str, path: str, message: str) -> None:
    """Counts and durations beyond their stated maxima are errors naming the field."""
    file = tmp_path / "x.yaml"
    file.write_text(text)
    with pytest.raises(ExperimentError) as caught:
        load(file, toxiproxy_available=True)
    assert [(path, message)] == [(i.path, i.message) for i in caught.value.errors]


def test_schema_states_the_maxima() -> None:
    """`powerpeg schema` shows the maxima: `maximum` for numbers, the description for durations and lists."""
    schema = json_schema()
    props, defs = schema["properties"], schema["$defs"]
    assert (2000, 100, True, True) == (
        defs["Load"]["properties"]["users"]["maximum"], props["method"]["maxItems"],
        "at most 1h" in props["duration"]["description"], "at most 1h" in defs["Market"]["properties"]["open_at"][
            "description"])
