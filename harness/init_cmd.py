"""`powerpeg init [DIR]`: a starter suite a firm edits, in its own repository.

Writes, under DIR (default: here):

    README.md                          five lines: what is here and the commands
    experiments/knight-2012.yaml       the Knight pair, copied from the bundled
    experiments/knight-2012-controls.yaml  experiments (so they stay what
    experiments/exchange-latency.yaml  `powerpeg list` shows), and one network fault
    experiments/suites/nightly.yaml    the nightly game day over them
    .github/workflows/powerpeg.yml     a CI resilience job (every push) and a scheduled game day

Every file validates and runs as written (tests/packaging/test_init.py). An
existing file is never overwritten unless ``--force``: ``init`` in a
repository that already has a suite must not eat a firm's edits.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from powerpeg.harness.resources import PACKAGE_DIR, experiments_dir, version

TEMPLATES = PACKAGE_DIR / "init_templates"
# the bundled experiments copied as they are: the Knight pair and one network fault
COPIED = ("knight-2012.yaml", "knight-2012-controls.yaml", "exchange-latency.yaml")
EXIT_OK = 0
EXIT_USAGE = 2


@dataclass(frozen=True)
class Planned:
    """One file ``init`` writes: where (relative to DIR) and what."""

    relative: Path
    text: str


def plan() -> list[Planned]:
    """Every file of a starter suite, rendered (the templates get this powerpeg's version)."""
    values = {"version": version().split()[0]}

    def template(name: str) -> str:
        return Template((TEMPLATES / name).read_text(encoding="utf-8")).substitute(values)

    source = experiments_dir()
    files = [Planned(Path("README.md"), template("README.md"))]
    files += [Planned(Path("experiments") / name, (source / name).read_text(encoding="utf-8")) for name in COPIED]
    files.append(Planned(Path("experiments/suites/nightly.yaml"), template("nightly.yaml")))
    files.append(Planned(Path(".github/workflows/powerpeg.yml"), template("workflow.yml")))
    return files


def write(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the starter suite under ``directory``; the paths written.

    Raises FileExistsError naming every file that is already there (nothing is
    written then), unless ``force``."""
    files = plan()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    existing = [directory / f.relative for f in files if (directory / f.relative).exists()]
    if existing and not force:
        raise FileExistsError("already there (nothing was written; --force overwrites): "
                              + ", ".join(str(p) for p in existing))
    written = []
    for f in files:
        target = directory / f.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.text, encoding="utf-8")
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, nargs="?", default=Path("."), metavar="DIR",
                        help="where to write the starter suite (default: here); created when missing")
    parser.add_argument("--force", action="store_true", help="overwrite files that are already there")


def cmd_init(args: argparse.Namespace) -> int:
    try:
        written = write(args.directory, force=args.force)
    except (FileExistsError, NotADirectoryError) as exc:
        print(f"powerpeg init: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"powerpeg init: error: cannot write into {args.directory}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}")
    where = args.directory
    print(f"\nnext:\n  cd {where}\n  powerpeg validate experiments/*.yaml\n"
          "  powerpeg run experiments/knight-2012-controls.yaml")
    return EXIT_OK
