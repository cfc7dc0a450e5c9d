"""The targets image installs compose/requirements-targets.txt, not the whole project's
dependencies: every third-party package the targets import must be listed there, or the
containers die on an ImportError that only the compose tests would show."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# import name → distribution name, where they differ
DISTRIBUTIONS = {"prometheus_client": "prometheus-client", "yaml": "PyYAML"}


def third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "targets").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "powerpeg":
                    found.add(DISTRIBUTIONS.get(top, top))
    return found


def listed() -> set[str]:
    lines = (ROOT / "compose" / "requirements-targets.txt").read_text().splitlines()
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def test_every_package_the_targets_import_is_in_the_image_requirements() -> None:
    """What targets/ imports from outside the standard library is in requirements-targets.txt."""
    assert set() == third_party_imports() - listed()
