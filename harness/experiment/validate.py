"""What a well-typed experiment must still get right: fault kinds that exist,
their arguments, references to routers/links/components the topology has,
a timeline that fits in ``duration``, and capabilities this machine offers.

Also the JSON Schema of experiment files, which needs the same registry:
each fault kind's arguments are documented per kind.
"""
from __future__ import annotations

import difflib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from powerpeg.harness.controls.base import Control
from powerpeg.harness.faults.base import Fault

from .durations import format_duration
from .loader import Loc, explain, parse_loc
from .model import Controls, Experiment, Market, Step, FleetShape

Checked = list[tuple[Loc, str]]

# backends that run a bundled control as processes of this host, from its binaries; the others run
# it from an image, which their start checks (that needs an engine, and validate needs none)
HOST_BINARIES_BACKENDS = frozenset({"local"})


def registry() -> Mapping[str, type[Fault]]:
    from powerpeg.harness.faults.registry import FAULTS  # noqa: PLC0415 - fault modules import the model package

    return FAULTS


def control_registry() -> Mapping[str, type[Control]]:
    from powerpeg.harness.controls.registry import CONTROLS  # noqa: PLC0415 - control modules import the model package

    return CONTROLS


def venv_bin() -> Path:
    return Path(sys.executable).parent


def toxiproxy_found() -> bool:
    """The toxiproxy-server binary, looked up as the local backend does (venv bin first)."""
    search = os.pathsep.join([str(venv_bin()), os.environ.get("PATH", "")])
    return shutil.which("toxiproxy-server", path=search) is not None


def _missing_capabilities(toxiproxy_available: bool | None) -> dict[str, str]:
    """Capability → why it is missing (only the missing ones)."""
    available = toxiproxy_found() if toxiproxy_available is None else toxiproxy_available
    if available:
        return {}
    return {"toxiproxy": f"no toxiproxy-server binary on PATH or in {venv_bin()}"}


def check(
    topology: FleetShape | None,
    market: Market | None,
    duration: float | None,
    steps: list[tuple[int, Step]],
    *,
    toxiproxy_available: bool | None = None,
    faults: Mapping[str, type[Fault]] | None = None,
    controls: Controls | None = None,
    capabilities: Mapping[str, bool] | None = None,
    backend: str | None = None,
) -> Checked:
    """Semantic errors as ``(location, message)``; parts that failed to parse are passed as None.

    ``steps`` keeps each step's index in the file's method list; ``backend``, when known (``run
    --backend``, ``validate --backend``), the one the file will run on (:func:`check_controls`).
    """
    faults = registry() if faults is None else faults
    errors: Checked = []
    if topology is not None:
        errors += _check_versions(topology)
    missing: dict[str, str] | None = None
    for index, step in steps:
        here: Loc = ("method", index)
        fault = faults.get(step.fault)
        if fault is None:
            errors.append(((*here, "fault"), _unknown_kind(step.fault, faults)))
            continue
        errors += _check_args(fault, step, here, topology)
        if fault.requires and (backend is None or backend in HOST_BINARIES_BACKENDS):
            # the containers' backends run toxiproxy from its image (`make images`), checked at `up`
            missing = _missing_capabilities(toxiproxy_available) if missing is None else missing
            errors += [((*here, "fault"), f"fault kind {step.fault!r} needs {cap}: {missing[cap]}")
                       for cap in sorted(fault.requires) if cap in missing]
        errors += _check_time(step, here, market, duration)
    if controls is not None:
        errors += check_controls(controls, capabilities, backend=backend)
    return errors


def binary_found(binaries: tuple[str, ...]) -> bool:
    """One of these on PATH (a bundled control's binaries)."""
    return any(shutil.which(b) for b in binaries)


def check_controls(controls: Controls, capabilities: Mapping[str, bool] | None = None, *,
                   backend: str | None = None) -> Checked:
    """``controls.external``: something says when the control is ready; bundled kinds that exist,
    their args, one of each kind, a ``backend`` that can run them, and the binaries they run there
    (``capabilities``: tests say which are present; None looks on PATH). The binaries are the local
    backend's need only; ``backend`` None (not said) checks them, the message naming the other way."""
    external = controls.external
    if external is None:
        return []
    here: Loc = ("controls", "external")
    errors: Checked = []
    if not (external.ready.dropcopy or external.ready.http or external.bundled):
        errors.append(((*here, "ready"), "say how the run knows your control is ready: ready.dropcopy (its drop-copy "
                                         "session logged on) and/or ready.http (its health URLs), or bundle one "
                                         "(bundled)"))
    known = control_registry()
    seen: set[str] = set()
    for index, entry in enumerate(external.bundled):
        at: Loc = (*here, "bundled", index)
        cls = known.get(entry.kind)
        if cls is None:
            close = difflib.get_close_matches(entry.kind, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(((*at, "kind"), f"unknown control kind {entry.kind!r}{hint}; known kinds: "
                                          f"{', '.join(sorted(known))}"))
            continue
        if entry.kind in seen:
            errors.append(((*at, "kind"), f"control {entry.kind!r} is bundled twice; one of each kind"))
        seen.add(entry.kind)
        try:
            cls.Params.model_validate(entry.args)
        except ValidationError as exc:
            errors += [((*at, "args", *loc), message) for loc, message in explain(exc, cls.Params, entry.args)]
        if backend is not None and backend not in cls.backends:
            errors.append(((*at, "kind"), f"the {backend} backend cannot run the bundled control {entry.kind!r}: it "
                                          f"runs on {', '.join(sorted(cls.backends))} only; run your own "
                                          f"{entry.kind} against the fleet instead (docs/external-controls.md)"))
            continue
        if backend is not None and backend not in HOST_BINARIES_BACKENDS:
            continue  # its image, not this host's binaries: the backend's start checks it
        elsewhere = _without_binaries(cls.backends) if backend is None else ""
        for capability, binaries in sorted(cls.requires.items()):
            present = capabilities.get(capability) if capabilities is not None else None
            if present is None:
                present = binary_found(binaries)
            if not present:
                package = capability if capability == "prometheus" else f"prometheus-{capability}"
                errors.append(((*at, "kind"), f"control kind {entry.kind!r} needs {capability}: no "
                                              f"{' or '.join(binaries)} binary on PATH (Debian: apt-get install "
                                              f"{package}){elsewhere}"))
    return errors


def _without_binaries(backends: frozenset[str]) -> str:
    """What to say when the backend is not known: the binaries are the local backend's (run's
    default) need; a container backend runs the control from its image instead."""
    images = sorted(backends - HOST_BINARIES_BACKENDS)
    if not images:
        return ""
    flags = " or ".join(f"--backend {b}" for b in images)
    return (f"; that is the local backend's need (the default): {flags} runs it from its image instead "
            "(`make images`), checked when the run starts")


def _check_versions(topology: FleetShape) -> Checked:
    known = set(topology.router_ids())
    return [(("topology", "versions", rid), f"no router {rid!r} in a fleet of {topology.routers}")
            for rid in topology.versions if rid not in known]


def _unknown_kind(kind: str, faults: Mapping[str, type[Fault]]) -> str:
    close = difflib.get_close_matches(kind, list(faults), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown fault kind {kind!r}{hint}; known kinds: {', '.join(sorted(faults))}"


def _check_args(fault: type[Fault], step: Step, here: Loc, topology: FleetShape | None) -> Checked:
    prefix: Loc = (*here, "args")
    try:
        params = fault.Params.model_validate(step.args)
    except ValidationError as exc:
        return [((*prefix, *loc), message) for loc, message in explain(exc, fault.Params, step.args)]
    if topology is None:
        return []
    return [((*prefix, *parse_loc(path)), message) for path, message in params.check(topology)]


def _check_time(step: Step, here: Loc, market: Market | None, duration: float | None) -> Checked:
    if duration is None:
        return []
    if step.at == "open":
        if market is None or market.open_at < duration:
            return []
        at = f"'open' (market.open_at {format_duration(market.open_at)})"
    elif step.at < duration:
        return []
    else:
        at = format_duration(step.at)
    return [((*here, "at"), f"step at {at} never runs: the method lasts {format_duration(duration)} (duration)")]


def json_schema(faults: Mapping[str, type[Fault]] | None = None) -> dict[str, Any]:
    """The JSON Schema of experiment files, with each fault kind's ``args`` under ``$defs``.

    ``method[].args`` depends on ``fault``: one if/then per kind lets editors
    complete and check the arguments of the kind written.
    """
    faults = registry() if faults is None else faults
    schema = Experiment.model_json_schema(by_alias=True)
    defs = schema.setdefault("$defs", {})
    for kind in sorted(faults):
        params = faults[kind].Params
        # every kind's Params class may be called "Params": prefix its definitions with the kind
        sub = params.model_json_schema(by_alias=True, ref_template=f"#/$defs/{kind}.{{model}}")
        for name, definition in sub.pop("$defs", {}).items():
            defs[f"{kind}.{name}"] = definition
        sub["title"] = f"{kind} args"
        defs[f"{kind}.args"] = sub
    step = defs["Step"]
    step["properties"]["fault"]["enum"] = sorted(faults)
    step["properties"]["args"]["description"] = (
        "the fault kind's parameters; which keys depend on `fault` (see $defs '<kind>.args')")
    step["allOf"] = [
        {"if": {"properties": {"fault": {"const": kind}}, "required": ["fault"]},
         "then": {"properties": {"args": {"$ref": f"#/$defs/{kind}.args"}}}}
        for kind in sorted(faults)
    ]
    _control_kinds(defs)
    _probe_kinds(defs)
    return schema


def _probe_kinds(defs: dict[str, Any]) -> None:
    """``steady_state.probes[].probe``: the registered probe kinds, plugins' included."""
    from powerpeg.harness.probes import PROBES  # noqa: PLC0415 - probes import the model package

    probe = defs.get("Probe")
    if probe is not None:
        probe["properties"]["probe"]["enum"] = sorted(PROBES)


def _control_kinds(defs: dict[str, Any]) -> None:
    """``controls.external.bundled[].args`` by ``kind``, as for faults (``$defs`` 'control.<kind>.args')."""
    controls = control_registry()
    for kind in sorted(controls):
        sub = controls[kind].Params.model_json_schema(by_alias=True, ref_template=f"#/$defs/control.{kind}.{{model}}")
        for name, definition in sub.pop("$defs", {}).items():
            defs[f"control.{kind}.{name}"] = definition
        sub["title"] = f"{kind} control args"
        defs[f"control.{kind}.args"] = sub
    bundled = defs.get("BundledControl")
    if bundled is None:
        return
    bundled["properties"]["kind"]["enum"] = sorted(controls)
    bundled["allOf"] = [
        {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
         "then": {"properties": {"args": {"$ref": f"#/$defs/control.{kind}.args"}}}}
        for kind in sorted(controls)
    ]
