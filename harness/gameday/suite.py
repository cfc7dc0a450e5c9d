"""The game-day suite file, as typed objects, and its loader.

A suite names experiment files (relative to the suite file) and per-experiment
``overrides`` deep-merged into the experiment's own YAML before validation, so
the merged experiment is checked exactly like ``powerpeg validate`` checks a
file. An error inside an override is reported at the override's line in the
suite (``nightly.yaml:9: experiments[0].overrides.duration: ...``); any other
error at its line in the experiment file.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from powerpeg.harness.experiment.loader import ExperimentError, Issue, Loc, _Issues, _parse_yaml, check_data, parse_loc
from powerpeg.harness.experiment.model import Experiment


class SuiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="experiment file, relative to the suite file")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="merged into the experiment before validation, e.g. {duration: 5s}")


class Suite(BaseModel):
    """Unknown keys are errors, as in experiment files."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    participants: list[str] = Field(default_factory=list)
    notes: str = ""
    experiments: list[SuiteEntry] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedSuite:
    """A suite whose every experiment (overrides merged) is valid."""

    path: Path
    suite: Suite
    experiments: list[Experiment]


def merge(base: Any, overrides: Any) -> Any:
    """``overrides`` deep-merged into ``base``: mappings merge key by key, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(overrides, dict):
        return copy.deepcopy(overrides)
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
    return merged


def _in_overrides(loc: Loc, overrides: dict[str, Any]) -> bool:
    """True when the error is about a value the override set (its path starts in the overrides)."""
    current: Any = overrides
    for part in loc:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return bool(loc)


def _load_entry(suite_file: Path, suite_issues: _Issues, index: int, entry: SuiteEntry,
                toxiproxy_available: bool | None) -> Experiment | None:
    file = suite_file.parent / entry.path
    at = ("experiments", index, "path")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        suite_issues.add(at, f"no such experiment file: {file}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        suite_issues.add(at, f"cannot read {file}: {exc}")
        return None
    exp_issues = _Issues(str(file), None)
    data, _ = _parse_yaml(text, exp_issues)
    if data is None:
        suite_issues.items.extend(exp_issues.items)
        return None
    merged_issues = _Issues(str(file), exp_issues.lines)
    experiment = check_data(merge(data, entry.overrides), merged_issues, toxiproxy_available)
    for issue in merged_issues.items:
        loc = parse_loc(issue.path)
        if _in_overrides(loc, entry.overrides):
            suite_issues.add(("experiments", index, "overrides", *loc), issue.message)
        else:
            suite_issues.items.append(issue)
    return experiment


def load_suite(path: str | Path, *, toxiproxy_available: bool | None = None) -> LoadedSuite:
    """Parse the suite and every experiment it names; raises :class:`ExperimentError` with every issue."""
    suite_file = Path(path)
    issues = _Issues(str(suite_file), None)
    try:
        text = suite_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError([Issue(str(suite_file), None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError([Issue(str(suite_file), None, "", f"cannot read: {exc}")]) from None
    data, _ = _parse_yaml(text, issues)
    if data is None:
        raise ExperimentError(issues.items)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        issues.add_validation(exc, Suite, data)
        raise ExperimentError(issues.items) from None
    experiments = [_load_entry(suite_file, issues, i, entry, toxiproxy_available)
                   for i, entry in enumerate(suite.experiments)]
    if issues.items:
        raise ExperimentError(issues.items)
    return LoadedSuite(suite_file, suite, [e for e in experiments if e is not None])
