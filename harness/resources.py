"""Where powerpeg's own files are: the bundled experiments and suites, the compose
files and Dockerfiles, the Chaos page; and powerpeg's version.

The one place that knows. Every other module (the CLI, the compose and swarm
backends, `powerpeg images`, `powerpeg init`) asks here, so they work the same from
a checkout and from an installed wheel:

- installed: the wheel carries ``experiments/`` and ``compose/`` inside this
  package, as ``_experiments/`` and ``_compose/`` next to this module
  (pyproject.toml/setup.py map the repository's top-level directories there);
- a checkout (editable install, or ``python -m`` from the tree): they are the
  repository's own ``experiments/`` and ``compose/``, beside this package.

Located relative to this module, never by a package name, so the same code
serves ``harness`` and, after tools/rename_imports.py, ``powerpeg.harness``.
The version comes from the distribution's metadata, whose one source is
``version`` in pyproject.toml.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version as dist_version
from pathlib import Path

import yaml

DISTRIBUTION = "powerpeg"
PACKAGE_DIR = Path(__file__).resolve().parent
# the name of each bundled directory in the repository → its name inside the installed package
BUNDLED = {"experiments": "_experiments", "compose": "_compose"}
KINDS = ("experiments", "suites", "compose", "chaos-page")


class ResourceMissing(FileNotFoundError):
    """A bundled directory that is neither in the installed package nor in a checkout."""


def version() -> str:
    """powerpeg's version, as installed (pyproject.toml's ``version``, the one place it is written)."""
    try:
        return dist_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown (not installed: pip install .)"


def checkout() -> Path | None:
    """The repository this package sits in, when it does (it holds the pyproject.toml); None when installed.
    `powerpeg images` builds the project wheel from its sources there, else from the installed files."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def bundled_dir(name: str) -> Path:
    """``experiments`` or ``compose``: the installed package's copy first, else the checkout's."""
    inside = BUNDLED.get(name)
    if inside is None:
        raise ValueError(f"no bundled directory {name!r}; known: {', '.join(sorted(BUNDLED))}")
    installed = PACKAGE_DIR / inside
    if installed.is_dir():
        return installed
    root = checkout()
    if root is not None and (root / name).is_dir():
        return root / name
    raise ResourceMissing(f"powerpeg's bundled {name}/ is missing: neither {installed} (an installed wheel) nor "
                          f"a checkout beside {PACKAGE_DIR}; reinstall powerpeg")


def experiments_dir() -> Path:
    return bundled_dir("experiments")


def suites_dir() -> Path:
    return experiments_dir() / "suites"


def compose_dir() -> Path:
    """The compose files, Dockerfiles and build-images.sh: the images' build context starts here."""
    return bundled_dir("compose")


def compose_file(name: str = "docker-compose.yml") -> Path:
    return compose_dir() / name


def chaos_page() -> Path:
    """The Chaos page of the game-day web UI (package data of the ui package)."""
    return PACKAGE_DIR / "ui" / "chaos.html"


def where(kind: str) -> Path:
    """The path of one of :data:`KINDS`, for ``powerpeg where`` and `make images`."""
    paths = {"experiments": experiments_dir, "suites": suites_dir, "compose": compose_dir, "chaos-page": chaos_page}
    if kind not in paths:
        raise ValueError(f"unknown resource {kind!r}; known: {', '.join(KINDS)}")
    return paths[kind]()


@dataclass(frozen=True)
class Bundled:
    """One bundled experiment or suite: the name it is addressed by, its file and its one-line summary."""

    name: str
    path: Path
    description: str


def _summary(path: Path, key: str) -> str:
    """The file's one-line ``key`` (an experiment's description, a suite's title); '' when unreadable:
    listing must not fail on one bad file (``validate`` reports it)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    text = data.get(key) if isinstance(data, dict) else None
    return " ".join(str(text).split()) if text else ""


def bundled_experiments() -> list[Bundled]:
    return [Bundled(p.stem, p, _summary(p, "description")) for p in sorted(experiments_dir().glob("*.yaml"))]


def bundled_suites() -> list[Bundled]:
    directory = suites_dir()
    found = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    return [Bundled(p.stem, p, _summary(p, "title")) for p in found]


def _is_name(ref: str) -> bool:
    """A bare name (``knight-2012``, ``knight-2012.yaml``), not a path: no directory part."""
    return bool(ref) and "/" not in ref and "\\" not in ref and ref not in (".", "..")


def _find(ref: str | Path, directory: Path) -> Path | None:
    text = str(ref)
    if Path(text).exists() or not _is_name(text):
        return None
    stem = text.removesuffix(".yaml").removesuffix(".yml")
    candidate = directory / f"{stem}.yaml"
    return candidate if candidate.is_file() else None


def find_experiment(ref: str | Path) -> Path | None:
    """The bundled experiment ``ref`` names, when ``ref`` is a bare name and no such file exists here
    (a path that exists always wins: a firm's own ``knight-2012.yaml`` in the working directory)."""
    return _find(ref, experiments_dir())


def find_suite(ref: str | Path) -> Path | None:
    """The bundled suite ``ref`` names (``nightly``), as :func:`find_experiment` does for experiments."""
    return _find(ref, suites_dir())


def unknown_name_hint(ref: str | Path) -> str:
    """What to say about a bare name that is neither a file nor a bundled experiment."""
    text = str(ref)
    if not _is_name(text):
        return ""
    stem = text.removesuffix(".yaml").removesuffix(".yml")
    close = difflib.get_close_matches(stem, [b.name for b in bundled_experiments()], n=1)
    if close:
        return f", nor a bundled experiment (`powerpeg list`); did you mean {close[0]!r}?"
    # a file name (`nowhere.yaml`) far from every bundled one was meant as a file: no hint
    return ", nor a bundled experiment (`powerpeg list`)" if stem == text else ""
