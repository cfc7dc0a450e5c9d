"""A firm's plugin distribution, built here from the files this test writes, installed with powerpeg's wheel
into a throwaway venv (no index), registers a fault kind with typed parameters and a probe: `schema` and
`validate` include them, and an experiment that uses them runs on the local backend."""
from __future__ import annotations

import json

import pytest

from tests.packaging.plugin_files import EXPERIMENT, write_project
from tests.packaging.conftest import build_wheel

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_a_plugin_fault_runs_from_an_installed_powerpeg(powerpeg_wheel, throwaway_venv, tmp_path) -> None:
    plugin = build_wheel(write_project(tmp_path / "acme-chaos"), tmp_path / "dist")
    throwaway_venv.install(powerpeg_wheel, plugin)
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (work / "acme-halt.yaml").write_text(EXPERIMENT)
    (work / "typo.yaml").write_text(EXPERIMENT.replace("routers: [router-2]", "routers: router-2"))

    where = throwaway_venv.powerpeg("where", "experiments", cwd=work, home=home)
    schema = json.loads(throwaway_venv.powerpeg("schema", cwd=work, home=home).stdout)
    typo = throwaway_venv.powerpeg("validate", "typo.yaml", cwd=work, home=home)
    run = throwaway_venv.powerpeg("run", "acme-halt.yaml", "--out", str(tmp_path / "out"), "--quiet",
                                  cwd=work, home=home)

    # the installed package's files, not the checkout's
    assert where.stdout.startswith(str(throwaway_venv.path)), where.stdout
    assert {"type": "array", "minItems": 1} == {k: v for k, v in
                                               schema["$defs"]["acme_halt.args"]["properties"]["routers"].items()
                                               if k in ("type", "minItems")}
    assert (2, "typo.yaml:25: method[0].args.routers: Input should be a valid list, got 'router-2'") == \
        (typo.returncode, typo.stdout.strip())
    assert 0 == run.returncode, run.stdout + run.stderr
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    events = [json.loads(line)["event"] for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()
              if "acme_halt" in line]
    assert (["acme_halt"], "router-2") == ([f["kind"] for f in journal["faults"]], journal["faults"][0]["target"])
    assert ["fault_injected", "fault_reverted"] == [e for e in events if e.startswith("fault_")]
