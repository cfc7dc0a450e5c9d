"""Experiment files → :class:`Experiment`, with every error and where it is.

The YAML is composed into nodes first so each value keeps its line; a
pydantic error location (``('method', 0, 'args', 'miss', 0)``) is then
mapped back to the line that holds it. Nothing stops at the first error:
schema errors come first, then the semantic checks of ``validate.py`` on
whatever parts of the file did parse.

YAML 1.2 booleans: only ``true``/``false`` are booleans. PyYAML's 1.1 rules
would turn ``mode: off`` (an alert blackout) into ``False``.

Bounded: an experiment file is a page of YAML, and anything that reads far
beyond one is refused as an ordinary error (``file:line: path: message``,
exit 2) before it can cost seconds or gigabytes: the file's size, the
aliases it uses, how far they expand (an alias bomb is a few hundred bytes
that expand to billions of values), recursive aliases, nesting depth and
integer size (see the ``MAX_*`` limits below), and the errors reported per
file. The model states the maxima of durations and counts (model.py).
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

from powerpeg.harness.resources import find_experiment, unknown_name_hint

from .durations import format_duration, parse_duration
from .model import MAX_STEPS, Experiment, Market, Step, FleetShape

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 64 * 1024  # the bundled experiments are 1-2 KB; 100 steps fit in 15
MAX_ALIASES = 100  # uses of *alias in one file
MAX_VALUES = 50_000  # values in the document once every alias is expanded
MAX_DEPTH = 32  # nesting of mappings and lists (an experiment nests about 6 deep)
MAX_INT_DIGITS = 19  # integers fit 64 bits
MAX_ISSUES = 50  # errors reported per file; the rest are counted


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


class Refused(yaml.MarkedYAMLError):
    """A document the loader will not read further (a limit, a recursive alias), with where and why."""

    def __init__(self, path: Loc, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = path


_INT_TAG = "tag:yaml.org,2002:int"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (see the module docstring) and bounds.

    The bounds are checked while the document is composed into nodes, before
    any Python value is built: an alias is shared by the composer (one node,
    however often it is used), so its expanded size is counted, not built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._open_anchors: set[str] = set()  # anchors whose value is being composed: an alias to one recurses
        self._values: dict[int, int] = {}  # id(node) -> values in it once expanded (the nodes stay alive)
        self._path: list[str | int] = []
        self._depth = 0  # collections open, keys included (a mapping as a key adds no path component)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        here: Loc = (*self._path, *_component(index))
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise Refused(here, f"more than {MAX_ALIASES} aliases (*name) in one file", event.start_mark)
            if event.anchor in self._open_anchors:
                raise Refused(here, f"alias *{event.anchor} is recursive: the value &{event.anchor} contains itself",
                              event.start_mark)
            alias: yaml.Node | None = super().compose_node(parent, index)
            assert alias is not None  # an alias event always composes to its node
            return alias
        if self._depth >= MAX_DEPTH:
            raise Refused(here, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self._open_anchors.add(anchor)
        self._path = list(here)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
            assert node is not None  # a scalar, sequence or mapping event always composes to a node
        finally:
            self._depth -= 1
            self._path = self._path[:len(self._path) - len(_component(index))]
            if anchor is not None:
                self._open_anchors.discard(anchor)
        self._check(node, here)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value its tag cannot read (``!!float abc``, the date ``2001-13-45``) is an error of the file
        at its line, not a ValueError out of PyYAML's constructor."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            tag = str(node.tag).rsplit(":", 1)[-1]
            text = node.value if isinstance(node.value, str) else ""
            raise Refused((), f"cannot read {text[:40]!r} as a YAML {tag}: {exc}", node.start_mark) from None

    def _check(self, node: yaml.Node, here: Loc) -> None:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG:
                digits = node.value.replace("_", "").lstrip("+-")
                if len(digits) > MAX_INT_DIGITS:
                    raise Refused(here, f"integer {node.value[:24]}... has more than {MAX_INT_DIGITS} digits",
                                  node.start_mark)
            self._values[id(node)] = 1
            return
        values = self._values
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(values.get(id(item), 1) for item in node.value)
        else:
            total = 1 + sum(values.get(id(k), 1) + values.get(id(v), 1) for k, v in node.value)
        if total > MAX_VALUES:
            raise Refused(here, f"more than {MAX_VALUES} values once its aliases are expanded "
                                "(an alias may repeat a value, not multiply it)", node.start_mark)
        values[id(node)] = total


def _component(index: Any) -> Loc:
    """The path component of a node the composer is at: a mapping key's text, a list index."""
    if isinstance(index, yaml.ScalarNode):
        return (str(index.value)[:64],)
    if isinstance(index, int):
        return (index,)
    return ()


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
    got = f", got {_short(value)}" if isinstance(value, (str, int, float, bool)) or value is None else ""
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
        return f"{msg}, got {_short(value)}"
    return f"{msg}, got a {_yaml_type(value)}"


def _short(value: Any) -> str:
    """A value quoted in a message: its repr, cut (a 100 KB string is not quoted whole)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:72]}...{text[-4:]}"


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
    except Refused as exc:
        mark = exc.problem_mark
        issues.items.append(Issue(issues.file, mark.line + 1 if mark is not None else None, format_loc(exc.path),
                                  str(exc.problem)))
        return None, None
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


def check_data(data: dict[str, Any], issues: _Issues, toxiproxy_available: bool | None, *,
               backend: str | None = None) -> Experiment | None:
    """Schema then semantics (``backend``: the one it will run on, when known); returns the
    experiment only when there is no issue at all."""
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
    controls = experiment.controls if experiment is not None else None
    for loc, message in check(*parts, toxiproxy_available=toxiproxy_available, controls=controls, backend=backend):
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
    for i, raw in enumerate(method[:MAX_STEPS] if isinstance(method, list) else []):
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


def load(path: str | Path, *, toxiproxy_available: bool | None = None,
         warnings: list[Issue] | None = None, backend: str | None = None) -> Experiment:
    """Parse and validate one file; raises :class:`ExperimentError` with every issue.

    ``toxiproxy_available`` None looks for the binary; tests pass a bool. ``backend``, when
    known, the one it will run on: a bundled control's binaries are the local backend's need.
    ``warnings``, when given, receives what is valid but probably not meant
    (:func:`warnings_of`). ``path`` may be a bundled experiment's name
    (``knight-2012``) when no such file exists: ``powerpeg run knight-2012``
    works from an installed wheel, outside any checkout.
    """
    bundled = find_experiment(path)
    path = bundled if bundled is not None else path
    file = str(path)
    issues = _Issues(file, None)
    try:
        with Path(path).open("rb") as fh:  # read no further than the limit, whatever the file is
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ExperimentError([Issue(file, None, "", f"the file is larger than {MAX_FILE_BYTES // 1024} KB: "
                                                         "an experiment is a page of YAML")])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ExperimentError([Issue(file, None, "", f"no such file{unknown_name_hint(path)}")]) from None
    except IsADirectoryError:
        raise ExperimentError([Issue(file, None, "", "is a directory, not an experiment file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError([Issue(file, None, "", f"cannot read: {exc}")]) from None
    data, lines = _parse_yaml(text, issues)
    experiment = check_data(data, issues, toxiproxy_available, backend=backend) if data is not None else None
    if experiment is None:
        raise ExperimentError(_capped(issues.items))
    if warnings is not None:
        found = _Issues(file, lines)
        for loc, message in warnings_of(experiment):
            found.add(loc, f"warning: {message}")
        warnings.extend(found.items)
    return experiment


def warnings_of(experiment: Experiment) -> list[tuple[Loc, str]]:
    """Valid, but probably not what the writer meant: a market that opens at or after the end of the
    method (nothing after the open is ever seen; a step ``at: open`` is an error of its own)."""
    out: list[tuple[Loc, str]] = []
    open_at, duration = experiment.market.open_at, experiment.duration
    if open_at >= duration:
        out.append((("market", "open_at"), f"the market opens at {format_duration(open_at)}, at or after the end "
                                           f"of the method ({format_duration(duration)}, duration): the run "
                                           "never sees it open"))
    return out


def _capped(items: list[Issue]) -> list[Issue]:
    """The first :data:`MAX_ISSUES` errors, and a count of the rest: a file of a thousand bad steps
    needs its first errors fixed, not a thousand lines."""
    if len(items) <= MAX_ISSUES:
        return items
    first = items[:MAX_ISSUES]
    return [*first, Issue(first[0].file, None, "", f"... and {len(items) - MAX_ISSUES} more errors "
                                                    f"(the first {MAX_ISSUES} are shown)")]


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
