"""tools/rename_imports.py: harness → powerpeg.harness, targets → powerpeg.targets in a working tree, idempotently.
(The whole tree was proved by hand on a copy: the lead's procedure in the issue note.)"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("rename_imports", ROOT / "tools" / "rename_imports.py")
assert spec is not None and spec.loader is not None
rename_imports = importlib.util.module_from_spec(spec)
sys.modules["rename_imports"] = rename_imports  # its dataclasses look their module up there
spec.loader.exec_module(rename_imports)

SOURCE = '''\
from harness import procs
from harness.backends.base import ContainerBackend, FleetError, FleetSpec, NoFleet, check_version, probe_topology
from harness.backends.compose.env import (LABEL_HOME, LABEL_RUN,
                                          router_image)
import harness.cli

argv = [sys.executable, "-m", f"targets.{kind}"]
active = targets.get("activeTargets", [])  # a variable named targets: not a module
see = "docs/harness.md and tests.unit.harness.test_cli"
'''

EXPECTED = '''\
from powerpeg.harness import procs
from powerpeg.harness.backends.base import (ContainerBackend, FleetError, FleetSpec, NoFleet, check_version,
                                            probe_topology)
from powerpeg.harness.backends.compose.env import (LABEL_HOME, LABEL_RUN,
                                                   router_image)
import powerpeg.harness.cli

argv = [sys.executable, "-m", f"powerpeg.targets.{kind}"]
active = targets.get("activeTargets", [])  # a variable named targets: not a module
see = "docs/harness.md and tests.unit.harness.test_cli"
'''


@pytest.fixture
def tree(tmp_path) -> Path:
    """A small powerpeg-shaped working tree under git (the script rewrites what git tracks or would)."""
    for rel in ("harness/backends/base.py", "harness/backends/compose/env.py", "harness/cli.py", "harness/procs.py",
                "targets/exchange/__main__.py", "tests/unit/harness/test_cli.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "harness/code.py").write_text(SOURCE)
    (tmp_path / "pyproject.toml").write_text('[project.scripts]\npowerpeg = "harness.cli:main"\n'
                                             '[tool.mypy]\nfiles = ["harness", "targets"]\n')
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "README.md").write_text("Run `python -m targets.exchange` or `python -m targets.<name>`.\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def test_imports_and_module_strings_move_under_powerpeg(tree) -> None:
    assert 0 == rename_imports.main([str(tree)])
    assert EXPECTED == (tree / "harness/code.py").read_text()


def test_config_and_docs_name_the_new_modules(tree) -> None:
    rename_imports.main([str(tree)])
    assert ('[project.scripts]\npowerpeg = "powerpeg.harness.cli:main"\n[tool.mypy]\nfiles = ["powerpeg"]\n',
            "Run `python -m powerpeg.targets.exchange` or `python -m powerpeg.targets.<name>`.\n") == (
        (tree / "pyproject.toml").read_text(), (tree / "README.md").read_text())


def test_the_powerpeg_package_links_the_top_level_packages(tree) -> None:
    rename_imports.main([str(tree)])
    links = {p.name: str(p.readlink()) for p in (tree / "powerpeg").iterdir() if p.is_symlink()}
    assert ({"harness": "../harness", "targets": "../targets"}, True) == (
        links, (tree / "powerpeg/__init__.py").is_file())


def test_a_second_run_changes_nothing(tree, capsys) -> None:
    rename_imports.main([str(tree)])
    once = {p: p.read_text() for p in tree.rglob("*.py") if not p.is_symlink() and ".git" not in p.parts}
    capsys.readouterr()
    assert (0, "") == (rename_imports.main([str(tree), "--check"]), capsys.readouterr().out)
    rename_imports.main([str(tree)])
    assert once == {p: p.read_text() for p in once}


def test_check_names_what_would_change_and_writes_nothing(tree, capsys) -> None:
    assert 1 == rename_imports.main([str(tree), "--check"])
    out = capsys.readouterr().out
    assert ("would rewrite harness/code.py" in out, SOURCE) == (True, (tree / "harness/code.py").read_text())


def test_the_repository_itself_needs_no_rename(capsys) -> None:
    """The guard the tool leaves behind: no file of this tree uses the old top-level names."""
    assert (0, "") == (rename_imports.main([str(ROOT), "--check"]), capsys.readouterr().out)


def test_a_directory_that_is_not_a_powerpeg_tree_is_refused(tmp_path, capsys) -> None:
    assert 2 == rename_imports.main([str(tmp_path)])
    assert "is not a powerpeg working tree" in capsys.readouterr().err
