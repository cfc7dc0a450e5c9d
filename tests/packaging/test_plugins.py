"""Entry-point plugins (harness/plugins.py): a firm's fault kind and probe are loaded next to powerpeg's own,
`schema` and `validate` include them, and a broken one is an error naming it. Each test installs the plugin
as pip would (package + .dist-info) into a directory of its own on sys.path, or on PYTHONPATH for the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from powerpeg.harness.controls.base import Control, Params as ControlParams
from powerpeg.harness.faults.base import Fault, Params
from powerpeg.harness.faults.registry import BUILTIN as BUILTIN_FAULTS
from powerpeg.harness.plugins import (CONTROLS_GROUP, FAULTS_GROUP, PROBES_GROUP, PluginError, check_class,
                                      check_coroutine_function, load_group)
from powerpeg.harness.probes import BUILTIN as BUILTIN_PROBES
from tests.packaging.plugin_files import EXPERIMENT, write_installed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site directory on sys.path; acme_chaos is forgotten afterwards so each test imports its own."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name in [m for m in sys.modules if m == "acme_chaos" or m.startswith("acme_chaos.")]:
        del sys.modules[name]


def faults():
    return load_group(FAULTS_GROUP, BUILTIN_FAULTS, check_class(Fault, Params))


def test_a_plugin_fault_kind_is_loaded_next_to_the_bundled_ones(site) -> None:
    write_installed(site)
    loaded = faults()
    assert ("HaltRouters", set(BUILTIN_FAULTS)) == (loaded["acme_halt"].__name__, set(loaded) - {"acme_halt"})


def test_a_plugin_probe_is_loaded_next_to_the_bundled_ones(site) -> None:
    write_installed(site)
    loaded = load_group(PROBES_GROUP, BUILTIN_PROBES, check_coroutine_function)
    assert "routers_up" == loaded["acme_routers_up"].__name__


def test_a_plugin_that_fails_to_import_is_named_with_its_distribution(site) -> None:
    write_installed(site, modules={"faults": "import acme_missing_dependency\n"})
    with pytest.raises(PluginError) as caught:
        faults()
    assert str(caught.value).startswith("powerpeg.faults plugin 'acme_halt' (acme_chaos.faults:HaltRouters) from "
                                        "acme-chaos 1.0 failed to load: ModuleNotFoundError: No module named "
                                        "'acme_missing_dependency'")


def test_a_plugin_that_is_not_a_fault_class_is_refused(site) -> None:
    write_installed(site, modules={"faults": "HaltRouters = 42\n"})
    with pytest.raises(PluginError,
                       match=r"'acme_halt' .* is 42, not a subclass of powerpeg.harness.faults.base.Fault"):
        faults()


def test_a_plugin_whose_kind_differs_from_its_entry_point_name_is_refused(site) -> None:
    write_installed(site, entry_points="[powerpeg.faults]\nacme_stop = acme_chaos.faults:HaltRouters\n")
    with pytest.raises(PluginError, match=r"HaltRouters.kind is 'acme_halt'; it must be the entry point's name, "
                                          r"'acme_stop'"):
        faults()


def test_a_plugin_cannot_replace_a_bundled_kind(site) -> None:
    write_installed(site, entry_points="[powerpeg.faults]\nkill = acme_chaos.faults:HaltRouters\n")
    with pytest.raises(PluginError, match="the name 'kill' is already taken by powerpeg itself"):
        faults()


def test_a_plugin_fault_without_inject_is_refused(site) -> None:
    module = ("from powerpeg.harness.faults.base import Fault, Params\n"
              "class HaltRouters(Fault):\n    kind = 'acme_halt'\n    Params = Params\n"
              "    async def revert(self, ctx): pass\n")
    write_installed(site, modules={"faults": module})
    with pytest.raises(PluginError, match="HaltRouters does not implement inject"):
        faults()


def test_a_plugin_probe_that_is_not_async_is_refused(site) -> None:
    write_installed(site, modules={"probes": "def routers_up(ctx, probe):\n    return True, 1, 'ok'\n"})
    with pytest.raises(PluginError, match="'acme_routers_up' .* not an async function"):
        load_group(PROBES_GROUP, BUILTIN_PROBES, check_coroutine_function)


def test_a_plugin_control_must_be_a_control_class(site) -> None:
    write_installed(site, entry_points="[powerpeg.controls]\nacme_halt = acme_chaos.faults:HaltRouters\n")
    with pytest.raises(PluginError, match="not a subclass of powerpeg.harness.controls.base.Control"):
        load_group(CONTROLS_GROUP, {}, check_class(Control, ControlParams))


def cli(*args: str, site, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), ROOT])}
    return subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_schema_and_validate_include_the_plugin(site, tmp_path) -> None:
    """`powerpeg schema` documents the plugin's typed args; `validate` checks a file against them."""
    write_installed(site)
    schema = json.loads(cli("schema", site=site, cwd=tmp_path).stdout)
    (tmp_path / "good.yaml").write_text(EXPERIMENT)
    (tmp_path / "bad.yaml").write_text(EXPERIMENT.replace("routers: [router-2]", "routers: [router-9]")
                                       .replace("probe: acme_routers_up", "probe: acme_router_up"))
    good = cli("validate", "good.yaml", site=site, cwd=tmp_path)
    bad = cli("validate", "bad.yaml", site=site, cwd=tmp_path)
    assert (["routers"], "acme_routers_up" in schema["$defs"]["Probe"]["properties"]["probe"]["enum"]) == \
        (schema["$defs"]["acme_halt.args"]["required"], True)
    assert (0, 2) == (good.returncode, bad.returncode), good.stdout + good.stderr
    assert ["bad.yaml:17: steady_state.probes[0].probe: unknown probe 'acme_router_up'; known: acme_routers_up, "
            "exposure, fills_flowing, healthy, load_failures",
            "bad.yaml:25: method[0].args.routers[0]: no router 'router-9' in a fleet of 3"] == bad.stdout.splitlines()


def test_a_broken_plugin_stops_the_command_with_its_name(site, tmp_path) -> None:
    """Exit 3 and one line naming the plugin, not a traceback and not a run without it."""
    write_installed(site, modules={"faults": "raise RuntimeError('acme config missing')\n"})
    proc = cli("validate", "knight-2012", site=site, cwd=tmp_path)
    assert (3, "") == (proc.returncode, proc.stdout)
    assert proc.stderr.startswith("powerpeg: error: powerpeg.faults plugin 'acme_halt' (acme_chaos.faults:HaltRouters) "
                                  "from acme-chaos 1.0 failed to load: RuntimeError: acme config missing"), proc.stderr
