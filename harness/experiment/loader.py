"""Experiment files → :class:`Experiment`, with every error and where it is.

The YAML is composed into nodes first so each value keeps its line; a
pydantic error location (``('method', 0, 'args', 'miss', 0)``) is then
mapped back to the line that holds it. Nothing stops at the first error:
schema errors come first, then the semantic checks of ``validate.py`` on
whatever parts of the file did parse.

YAML 1.2 booleans: only ``true``/``false`` are booleans. PyYAML's 1.1 rules
would turn ``mode: off`` (an alert blackout) into ``False``.
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .durations import parse_duration
from .model import Experiment, Market, Step, FleetShape

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One error in one file: ``file:line: path: message``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ExperimentError(Exception):
    """A file (or several) that is not a valid experiment; ``errors`` holds every issue."""

    def __init__(self, errors: list[Issue]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (see the module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def format_loc(loc: Iterable[str | int]) -> str:
    """``('method', 2, 'args', 'miss', 0)`` → ``method[2].args.miss[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_loc(path: str) -> Loc:
    """The inverse of :func:`format_loc`, for paths faults report as strings."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


class Lines:
    """Where each path of a YAML document is (1-based lines), plus duplicate keys found."""

    def __init__(self, root: yaml.Node) -> None:
        self._lines: dict[Loc, int] = {(): root.start_mark.line + 1}
        self.duplicates: list[tuple[Loc, int]] = []
        self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                if key == "<<":  # merge keys: the merged values keep their own lines
                    self._walk(value_node, loc)
                    continue
                here = (*loc, key)
                if key in seen:
                    self.duplicates.append((here, key_node.start_mark.line + 1))
                seen.add(key)
                self._lines[here] = key_node.start_mark.line + 1
                self._walk(value_node, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._lines[(*loc, i)] = item.start_mark.line + 1
                self._walk(item, (*loc, i))

    def of(self, loc: Loc) -> int:
        """The line of ``loc``, or of its nearest ancestor present in the file."""
        while loc not in self._lines:
            loc = loc[:-1]
        return self._lines[loc]


class _Issues:
    """Issues of one file, each placed on its line."""

    def __init__(self, file: str, lines: Lines | None) -> None:
        self.file = file
        self.lines = lines
        self.items: list[Issue] = []

    def add(self, loc: Loc, message: str) -> None:
        line = self.lines.of(loc) if self.lines is not None else None
        self.items.append(Issue(self.file, line, format_loc(loc), message))

    def add_validation(self, exc: ValidationError, model: type[BaseModel], data: Any) -> None:
        for loc, message in explain(exc, model, data):
            self.add(loc, message)


def explain(exc: ValidationError, model: type[BaseModel], data: Any) -> list[tuple[Loc, str]]:
    """Pydantic's errors as ``(location in the file, message)``.

    A union reports one error per alternative, under locations holding the
    alternative's tag (``routers.literal['all']``). Tags are dropped; of the
    alternatives, those that got deepest into the value are kept (the list
    whose second item is wrong, not "should be 'all'"), and alternatives that
    all failed at the top merge into one "should be A or B" message.
    """
    # each entry: the alternatives of one union (depth after the tag, loc, error), or a lone error at depth 0
    entries: dict[Loc | int, list[tuple[int, Loc, Any]]] = {}
    for n, err in enumerate(exc.errors()):
        loc, tag_at = _untag(tuple(err["loc"]), data)
        if tag_at is None:
            entries[n] = [(0, loc, err)]
        else:
            entries.setdefault(loc[:tag_at], []).append((len(err["loc"]) - tag_at, loc, err))
    out: list[tuple[Loc, str]] = []
    for members in entries.values():
        deepest = max(depth for depth, _, _ in members)
        kept = [(loc, err) for depth, loc, err in members if depth == deepest]
        if deepest == 1 and len(kept) > 1:
            out.append((kept[0][0], _either(kept)))
        else:
            out += [(loc, describe(err, model, loc)) for loc, err in kept]
    return out


def _untag(loc: Loc, data: Any) -> tuple[Loc, int | None]:
    """``loc`` without union tags, following the data; and where the first tag was."""
    out: list[str | int] = []
    first: int | None = None
    current = data
    for n, part in enumerate(loc):
        if isinstance(part, int):
            out.append(part)
            current = current[part] if isinstance(current, list) and 0 <= part < len(current) else None
        elif isinstance(current, dict) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, dict) and n == len(loc) - 1:
            out.append(part)  # a key the file lacks: missing, or a default that failed a check
        else:
            first = len(out) if first is None else first
    return tuple(out), first


def _either(kept: list[tuple[Loc, Any]]) -> str:
    wants = [err["msg"].removeprefix("Input should be ") for _, err in kept]
    value = kept[0][1].get("input")
    got = f", got {value!r}" if isinstance(value, (str, int, float, bool)) or value is None else ""
    return f"Input should be {' or '.join(wants)}{got}"


def describe(err: Any, model: type[BaseModel], loc: Loc) -> str:
    """A pydantic error as a person reads it: unknown keys name the allowed ones."""
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        key = str(loc[-1]) if loc else "?"
        close = suggest(key, allowed)
        hint = f" (did you mean {close!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}" if allowed else f"unknown key {key!r}"
    if kind == "missing":
        return "required"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return f"{msg}, got {value!r}"
    return f"{msg}, got a {_yaml_type(value)}"


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The choice the writer most likely meant: a truncation first, else the closest spelling."""
    starts = [c for c in choices if c.startswith(word) or word.startswith(c)]
    if starts:
        return starts[0] if len(starts) == 1 else None
    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


_YAML_TYPES: dict[type, str] = {dict: "mapping", list: "list"}


def _yaml_type(value: Any) -> str:
    return _YAML_TYPES.get(type(value), type(value).__name__)


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model at ``loc`` (inside ``model``) accepts; [] when that is no model."""
    current: Any = model
    for part in loc:
        current = _step_into(current, part)
        if current is None:
            return []
    models = [o for o in _options(current) if _is_model(o)]
    return [f.alias or name for name, f in models[0].model_fields.items()] if models else []


def _step_into(annotation: Any, part: str | int) -> Any:
    for option in _options(annotation):
        origin = typing.get_origin(option)
        if _is_model(option) and isinstance(part, str):
            fields = {(f.alias or name): f for name, f in option.model_fields.items()}
            if part in fields:
                return fields[part].annotation
        elif origin is list and isinstance(part, int):
            return typing.get_args(option)[0]
        elif origin is dict and isinstance(part, str):
            return typing.get_args(option)[1]
    return None


def _options(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, through Optional / Union / Annotated."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [o for arg in typing.get_args(annotation) for o in _options(arg)]
    if origin is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _parse_yaml(text: str, issues: _Issues) -> tuple[Any, Lines | None]:
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                issues.add((), "the file is empty: an experiment is a mapping of sections "
                               "(name, topology, method, ...)")
                return None, None
            data = loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = ": ".join(p for p in (exc.context, exc.problem) if p)
        issues.items.append(Issue(issues.file, line, "", f"YAML syntax error: {problem}"))
        return None, None
    except yaml.YAMLError as exc:
        issues.items.append(Issue(issues.file, None, "", f"YAML error: {exc}"))
        return None, None
    lines = Lines(root)
    issues.lines = lines
    for loc, _ in lines.duplicates:
        issues.add(loc, f"duplicate key {loc[-1]!r}: the later value would silently win")
    if not isinstance(data, dict):
        issues.add((), "the top level must be a mapping of sections (name, topology, method, ...), "
                       f"got a {_yaml_type(data)}")
        return None, lines
    return data, lines


def check_data(data: dict[str, Any], issues: _Issues, toxiproxy_available: bool | None) -> Experiment | None:
    """Schema then semantics; returns the experiment only when there is no issue at all."""
    from .validate import check  # noqa: PLC0415 - validate imports the fault registry, loader must not need it

    experiment: Experiment | None = None
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        issues.add_validation(exc, Experiment, data)
    parts: tuple[FleetShape | None, Market | None, float | None, list[tuple[int, Step]]]
    if experiment is not None:
        parts = experiment.topology, experiment.market, experiment.duration, list(enumerate(experiment.method))
    else:
        parts = _salvage(data)
    for loc, message in check(*parts, toxiproxy_available=toxiproxy_available):
        issues.add(loc, message)
    return experiment if not issues.items else None


def _salvage(data: dict[str, Any]) -> tuple[FleetShape | None, Market | None, float | None, list[tuple[int, Step]]]:
    """The parts that parse on their own, so semantic checks still run on them."""
    def part(model: type[BaseModel], key: str) -> Any:
        try:
            return model.model_validate(data.get(key) or {})
        except ValidationError:
            return None

    try:
        duration: float | None = parse_duration(data["duration"]) if "duration" in data else 10.0
    except ValueError:
        duration = None
    steps: list[tuple[int, Step]] = []
    method = data.get("method")
    for i, raw in enumerate(method if isinstance(method, list) else []):
        step = _salvage_step(raw)
        if step is not None:
            steps.append((i, step))
    return part(FleetShape, "topology"), part(Market, "market"), duration, steps


def _salvage_step(raw: Any) -> Step | None:
    """A step whose ``fault`` and ``args`` parse is still checked (kind, args, references).

    A bad ``at`` becomes 0s, which no timing check can object to; other bad
    keys fall back to their defaults. Their own errors are already reported.
    """
    try:
        return Step.model_validate(raw)
    except ValidationError as exc:
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
    if not isinstance(raw, dict) or bad & {"fault", "args"} or not bad:
        return None
    fixed = {key: value for key, value in raw.items() if key not in bad}
    if "at" in bad:
        fixed["at"] = "0s"
    try:
        return Step.model_validate(fixed)
    except ValidationError:
        return None


def load(path: str | Path, *, toxiproxy_available: bool | None = None) -> Experiment:
    """Parse and validate one file; raises :class:`ExperimentError` with every issue.

    ``toxiproxy_available`` None looks for the binary; tests pass a bool.
    """
    file = str(path)
    issues = _Issues(file, None)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError([Issue(file, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ExperimentError([Issue(file, None, "", "is a directory, not an experiment file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError([Issue(file, None, "", f"cannot read: {exc}")]) from None
    data, _ = _parse_yaml(text, issues)
    experiment = check_data(data, issues, toxiproxy_available) if data is not None else None
    if experiment is None:
        raise ExperimentError(issues.items)
    return experiment


def load_many(paths: Sequence[str | Path], *, toxiproxy_available: bool | None = None) -> list[Experiment]:
    """Every file, or one :class:`ExperimentError` with the issues of all invalid files."""
    experiments: list[Experiment] = []
    errors: list[Issue] = []
    for path in paths:
        try:
            experiments.append(load(path, toxiproxy_available=toxiproxy_available))
        except ExperimentError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ExperimentError(errors)
    return experiments
