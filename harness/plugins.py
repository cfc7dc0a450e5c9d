"""A firm's own fault kinds, probes and controls, found by Python entry point.

The way pytest finds its plugins (``pytest11``) and Chaos Toolkit its
extensions: an installed distribution declares, in its ``pyproject.toml``,

    [project.entry-points."powerpeg.faults"]
    order_storm = "acme_chaos.storm:OrderStorm"

and powerpeg loads it next to its own kinds (docs/plugins.md). The three
groups and what an entry point must name:

- ``powerpeg.faults``: a :class:`powerpeg.harness.faults.base.Fault` subclass whose
  ``kind`` is the entry point's name and whose ``Params`` is a
  :class:`powerpeg.harness.faults.base.Params` subclass (typed, checked by ``validate``
  and published by ``schema``);
- ``powerpeg.probes``: an ``async def probe(ctx, probe) -> (ok, value, message)``
  (:mod:`powerpeg.harness.probes`);
- ``powerpeg.controls``: a :class:`powerpeg.harness.controls.base.Control` subclass.

A plugin that cannot be imported, names the wrong kind of object, or takes a
name a bundled kind (or another plugin) already has is a :class:`PluginError`
naming the entry point and its distribution: as pytest does with a broken
plugin, the command stops instead of running without it. A chaos harness that
silently drops a firm's fault would report a pass for an experiment it never
ran.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

FAULTS_GROUP = "powerpeg.faults"
PROBES_GROUP = "powerpeg.probes"
CONTROLS_GROUP = "powerpeg.controls"

T = TypeVar("T")


class PluginError(Exception):
    """An installed plugin that cannot be used; the message names it, its distribution and why."""


def describe(ep: EntryPoint) -> str:
    """``'order_storm' (acme_chaos.storm:OrderStorm) from acme-chaos 1.0``: enough to find and fix it."""
    dist = ep.dist
    source = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{ep.group} plugin {ep.name!r} ({ep.value}) from {source}"


def load_group(group: str, builtin: Mapping[str, T], check: Callable[[EntryPoint, Any], T]) -> dict[str, T]:
    """``builtin`` plus every entry point of ``group``, each checked by ``check`` (which raises
    :class:`PluginError` for an object of the wrong shape and returns the typed value).

    Not logged: the registries load at import, before the CLI has configured structlog (whose
    default would print to stdout, into `powerpeg schema`'s JSON); `schema` and `validate`'s
    "known kinds" say what was loaded."""
    found: dict[str, T] = dict(builtin)
    origin: dict[str, str] = dict.fromkeys(builtin, "powerpeg itself")
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        where = describe(ep)
        if ep.name in origin:
            raise PluginError(f"{where}: the name {ep.name!r} is already taken by {origin[ep.name]}; "
                              "rename the entry point (a plugin cannot replace a kind)")
        try:
            obj = ep.load()
        # a plugin module can raise anything while it imports; whatever it is, the message must
        # name the plugin, not end in a traceback through importlib
        except Exception as exc:
            raise PluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        found[ep.name] = check(ep, obj)
        origin[ep.name] = where
    return found


class Registry(Mapping[str, T], Generic[T]):
    """Every kind of one group by name: the bundled ones and the plugins', loaded on first use.

    Lazily, so that a broken plugin stops the commands that use the kinds (validate, schema, run,
    ...) with its name, and not ``powerpeg --version``, ``up`` or ``cleanup``, nor every pytest run
    of a venv that has powerpeg's pytest plugin installed."""

    def __init__(self, group: str, builtin: Mapping[str, T], check: Callable[[EntryPoint, Any], T]) -> None:
        self.group = group
        self.builtin = dict(builtin)
        self._check = check
        self._loaded: dict[str, T] | None = None

    def _kinds(self) -> dict[str, T]:
        if self._loaded is None:
            self._loaded = load_group(self.group, self.builtin, self._check)
        return self._loaded

    def __getitem__(self, name: str) -> T:
        return self._kinds()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds())

    def __len__(self) -> int:
        return len(self._kinds())


def check_class(base: type, params_base: type | None, kind_attr: str = "kind") -> Callable[[EntryPoint, Any], Any]:
    """A checker for class plugins (faults, controls): a concrete subclass of ``base`` whose ``kind``
    is the entry point's name and whose ``Params`` subclasses ``params_base``."""

    def check(ep: EntryPoint, obj: Any) -> Any:
        where = describe(ep)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginError(f"{where} is {obj!r}, not a subclass of {base.__module__}.{base.__qualname__}")
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            raise PluginError(f"{where}: {obj.__qualname__} does not implement {missing}")
        kind = getattr(obj, kind_attr, None)
        if kind != ep.name:
            raise PluginError(f"{where}: {obj.__qualname__}.{kind_attr} is {kind!r}; it must be the entry point's "
                              f"name, {ep.name!r} (experiment files name it by that)")
        params = getattr(obj, "Params", None)
        if params_base is not None and not (isinstance(params, type) and issubclass(params, params_base)):
            raise PluginError(f"{where}: {obj.__qualname__}.Params is {params!r}, not a subclass of "
                              f"{params_base.__module__}.{params_base.__qualname__}")
        return obj

    return check


def check_coroutine_function(ep: EntryPoint, obj: Any) -> Any:
    """A checker for function plugins (probes): an ``async def`` taking ``(ctx, probe)``."""
    where = describe(ep)
    if not inspect.iscoroutinefunction(obj):
        raise PluginError(f"{where} is {obj!r}, not an async function `async def {ep.name}(ctx, probe)`")
    try:
        inspect.signature(obj).bind(None, None)
    except TypeError:
        raise PluginError(f"{where}: {obj.__qualname__} must take two arguments (ctx, probe), "
                          f"it takes {inspect.signature(obj)}") from None
    return obj
