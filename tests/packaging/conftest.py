"""Fixtures of the packaging tests: powerpeg's wheel built from this tree, and throwaway venvs.

Offline by construction: the wheel is built with the dev venv's setuptools (``--no-isolation``), and a
throwaway venv gets powerpeg and plugins with ``pip install --no-index --no-deps``; their dependencies
come from the dev venv's site-packages through a .pth line (what is installed there is what the tests
pass with), not from an index.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a build reads: the project files and the directories the wheel carries
SOURCES = ("pyproject.toml", "setup.py", "README.md", "harness", "targets", "experiments", "compose",
           # the powerpeg package of tools/rename_imports.py, when applied (its links are copied as directories)
           *(("powerpeg",) if (ROOT / "powerpeg").is_dir() else ()))


def _quiet(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def powerpeg_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, built from a copy of it (the build's own build/ and .egg-info stay out of the
    working tree other runs use)."""
    src = tmp_path_factory.mktemp("powerpeg-src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("powerpeg-dist")
    # POWERPEG_PURE: no C framer, so no compiler is needed and the build takes seconds
    _quiet(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, src,
           env={**os.environ, "POWERPEG_PURE": "1"})
    (wheel,) = out.glob("powerpeg-*.whl")
    return wheel


def build_wheel(project: Path, out: Path) -> Path:
    """A wheel of ``project`` (a plugin the test wrote), built offline with the dev venv's setuptools."""
    _quiet(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
           "--wheel-dir", out, project)
    (wheel,) = out.glob("*.whl")
    return wheel


@dataclass
class Venv:
    """A throwaway virtualenv: its own site-packages first, then the dev venv's (dependencies only)."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def install(self, *wheels: Path) -> None:
        _quiet(sys.executable, "-m", "pip", "--python", self.bin / "python", "install", "-q", "--no-compile",
               "--no-index", "--no-deps", *wheels)

    def env(self, home: Path) -> dict[str, str]:
        """No PYTHONPATH (nothing from the checkout), the venv's bin first, a POWERPEG_HOME of the test's."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        # the machine's toxiproxy-server stays reachable (network faults validate against it)
        dev_bin = str(Path(sys.executable).parent)
        return {**env, "PATH": os.pathsep.join([str(self.bin), env.get("PATH", ""), dev_bin]),
                "POWERPEG_HOME": str(home)}

    def powerpeg(self, *args: str, cwd: Path, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "powerpeg"), *args], cwd=cwd, env=self.env(home), capture_output=True,
                              text=True, timeout=timeout)


def dev_site_dirs() -> list[str]:
    """The dev venv's site directories as this interpreter sees them (with any a .pth of it added)."""
    purelib = sysconfig.get_paths()["purelib"]
    return [purelib, *(p for p in sys.path if p != purelib and Path(p).name == "site-packages" and Path(p).is_dir())]


@pytest.fixture
def throwaway_venv(tmp_path: Path) -> Iterator[Venv]:
    path = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _quiet(base, "-m", "venv", "--without-pip", path)
    site = Path(_quiet(path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                .stdout.strip())
    # the dev venv's packages after the venv's own: its editable powerpeg's finder is a .pth of that
    # directory, which a path added this way does not run, so `harness` comes from this venv only
    (site / "zz-dev-deps.pth").write_text("".join(f"{d}\n" for d in dev_site_dirs()))
    yield Venv(path)
    shutil.rmtree(path, ignore_errors=True)
