"""Put powerpeg's packages under the ``powerpeg`` name: ``harness`` → ``powerpeg.harness``, ``targets`` →
``powerpeg.targets``, in a whole working tree, idempotently.

Why: the wheel installed two generic top-level packages, ``harness`` and ``targets``, into site-packages,
and a ``harness`` distribution already exists on PyPI. The repository keeps harness/ and targets/ at the
top (the design card's layout); this script adds a real package beside them:

    powerpeg/__init__.py     __version__ (from the distribution's metadata: pyproject.toml is its one source)
    powerpeg/harness  -> ../harness    (symbolic links, tracked by git)
    powerpeg/targets  -> ../targets

Links rather than setuptools ``package-dir`` alone: with links, ``python -m powerpeg.targets.exchange``
works from a checkout, setuptools finds the packages as they are installed, and mypy names every module
``powerpeg.harness...`` (with ``package-dir`` only, mypy would not find ``powerpeg.harness`` at all and,
with ``ignore_missing_imports``, would check every import against Any). The wheel has no links: it holds
``powerpeg/harness/...`` files.

What it rewrites, in every file git tracks or would track (not .venv, build/, caches):

- Python imports: ``from harness...``, ``import harness...``, ``from targets import ...``;
- module names in strings, comments and docs: ``"harness.cli"``, ``python -m targets.exchange``,
  ``f"targets.{kind}"``, ``targets.<name>``, mock/monkeypatch targets, pytest plugin entry points,
  the Dockerfiles' ``import harness.load``, the Makefile's ``import targets.fix._speedups``;
  only where the part after the dot is one of the package's own modules (``targets.get(...)`` on a
  variable named ``targets`` is left alone);
- pyproject.toml's mypy ``files`` and the few literal checks that name the top-level package (see
  SPECIAL). setup.py (packages under powerpeg, the C extension's name) is left alone: it is
  skipped, since the rename's commit wrote it as the powerpeg/ layout needs.

Idempotent: a name already under ``powerpeg.`` is never prefixed again, and the special edits check
for their result first. ``--check`` exits 1 when something would change (nothing is written).

Usage: python tools/rename_imports.py [ROOT] [--check] [--verbose]
"""
from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

TOPS = ("harness", "targets")
# the bundled data packages setup.py maps into the harness package (not directories of harness/)
MAPPED_SUBPACKAGES = {"harness": ("_experiments", "_compose"), "targets": ()}
TEXT_SUFFIXES = {".py", ".toml", ".md", ".sh", ".yml", ".yaml", ".txt", ".cfg", ".ini", ".html"}
TEXT_NAMES = {"Makefile", "run"}  # .ci/run
# this script and its test hold the old names on purpose
SKIP = {Path("tools/rename_imports.py"), Path("tests/packaging/test_rename_imports.py")}

# A tree being renamed gets the package's __init__ only when it has none; the repository's own
# (powerpeg/__init__.py: __version__) and setup.py were written once, in the rename's commit, and are
# maintained as files, not here.
INIT = '''"""powerpeg: a chaos-engineering harness for order systems (powerpeg.harness, powerpeg.targets)."""
'''


@dataclass(frozen=True)
class Special:
    """One literal edit the general rules cannot make: ``old`` → ``new`` in ``path`` (skipped when ``new``
    is already there)."""

    path: str
    old: str
    new: str


SPECIAL = (
    # mypy names modules by directory: through powerpeg/'s links they are powerpeg.harness.*
    Special("pyproject.toml", 'files = ["harness", "targets"]', 'files = ["powerpeg"]'),
    # the images' requirements check skips the project's own imports by their top-level name
    Special("tests/unit/targets/test_image_requirements.py", 'top != "targets"', 'top != "powerpeg"'),
)


def module_names(root: Path, top: str) -> set[str]:
    """The first-level modules and packages of ``top`` (``cli``, ``faults``, ``exchange``, ...)."""
    names = set(MAPPED_SUBPACKAGES[top])
    for entry in (root / top).iterdir():
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            names.add(entry.name)
        elif entry.suffix in (".py", ".so", ".c"):
            names.add(entry.name.split(".")[0])
    return names


PREFIX = "powerpeg."
LINE_LENGTH = 120  # pyproject.toml's [tool.ruff] line-length


def rules(root: Path) -> list[tuple[re.Pattern[str], int]]:
    """Patterns whose every match is a place to insert ``powerpeg.``: (pattern, offset of the insertion
    from the match's start)."""
    out: list[tuple[re.Pattern[str], int]] = []
    for top in TOPS:
        names = "|".join(sorted(map(re.escape, module_names(root, top)), key=len, reverse=True))
        # not after a word character or a dot: `powerpeg.harness.x`, `tests.unit.harness.x`, `docs/x` stay
        out.append((re.compile(rf"(?<![\w.]){top}\.(?=(?:{names})\b)"), 0))
        # `f"targets.{kind}"`, `python -m targets.<name>`: a module name made at run time or in prose
        out.append((re.compile(rf"(?<![\w.]){top}\.(?=[{{<])"), 0))
        out.append((re.compile(rf"(?<![\w.])from {top} import\b"), len("from ")))
    return out


BARE_IMPORT = re.compile(rf"^(\s*)import ({'|'.join(TOPS)})$")


def rename_line(line: str, compiled: list[tuple[re.Pattern[str], int]]) -> tuple[str, list[int]]:
    """The line with ``powerpeg.`` inserted where a rule matches; and where (columns of the original)."""
    body = line.rstrip("\r\n")
    bare = BARE_IMPORT.match(body)
    if bare:  # `import harness`: the name stays bound, now from the powerpeg package
        return f"{bare.group(1)}from powerpeg import {bare.group(2)}{line[len(body):]}", []
    points = sorted({m.start() + offset for pattern, offset in compiled for m in pattern.finditer(body)})
    out, last = [], 0
    for point in points:
        out += [line[last:point], PREFIX]
        last = point
    out.append(line[last:])
    return "".join(out), points


def _open_brackets(text: str) -> dict[int, tuple[int, int]] | None:
    """For each physical line (0-based) inside brackets: the innermost bracket open at its start (line,
    column). None when the file does not tokenize (left as the rename made it)."""
    stack: list[tuple[int, int]] = []
    inside: dict[int, tuple[int, int]] = {}
    row_seen = -1
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            row = tok.start[0] - 1
            if row != row_seen:
                for r in range(row_seen + 1, row + 1):
                    if stack:
                        inside[r] = stack[-1]
                row_seen = row
            if tok.type == tokenize.OP and tok.string in "([{":
                stack.append((row, tok.start[1]))
            elif tok.type == tokenize.OP and tok.string in ")]}" and stack:
                stack.pop()
    except (tokenize.TokenError, SyntaxError):
        return None
    return inside


def rewrite_python(text: str, compiled: list[tuple[re.Pattern[str], int]], limit: int = LINE_LENGTH) -> str:
    """:func:`rename_line` on every line, then what keeps the file as its authors formatted it: a continuation
    line aligned with an opening bracket that moved moves with it, and a line the prefix took past ``limit``
    is wrapped (at a comma inside brackets, aligned with the bracket; a bare ``from x import a, b`` gets
    parentheses first)."""
    lines = text.splitlines(keepends=True)
    inside = _open_brackets(text) or {}
    new_lines: list[str] = []
    shifts: list[tuple[list[int], int]] = []  # per line: insertion columns, indent delta
    for row, line in enumerate(lines):
        new, points = rename_line(line, compiled)
        delta = 0
        bracket = inside.get(row)
        if bracket is not None and not new.strip().startswith((")", "]", "}")):
            brow, bcol = bracket
            indent = len(new) - len(new.lstrip(" "))
            if indent == bcol + 1 and brow < row:  # visually aligned with that bracket
                bpoints, bdelta = shifts[brow]
                delta = bdelta + len(PREFIX) * sum(1 for p in bpoints if p <= bcol)
                new = " " * delta + new if delta > 0 else new
        shifts.append((points, delta))
        if (points or delta) and len(new.rstrip("\r\n")) > limit:
            new = wrap(new, limit)
        new_lines.append(new)
    return "".join(new_lines)


FROM_IMPORT = re.compile(r"^(\s*from \S+ import )([^()#\\]+?)(\s*)$")


def wrap(line: str, limit: int) -> str:
    """One long physical line split at commas inside brackets, each piece within ``limit`` where it can be,
    continuations aligned with the bracket they are in. Unchanged when no comma allows it."""
    end = line[len(line.rstrip("\r\n")):]
    body = line.rstrip("\r\n")
    bare = FROM_IMPORT.match(body)
    if bare:
        body = f"{bare.group(1)}({bare.group(2)})"
    commas: list[tuple[int, int]] = []  # (column after the comma, column of the innermost open bracket)
    stack: list[int] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(body + "\n").readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                stack.append(tok.start[1])
            elif tok.string in ")]}" and stack:
                stack.pop()
            elif tok.string == "," and stack:
                commas.append((tok.end[1], stack[-1]))
    except (tokenize.TokenError, SyntaxError):
        pass  # a line inside a longer statement: its commas so far are enough
    pieces: list[str] = []
    starts: list[tuple[int, int]] = [(0, 0)]  # (start in body, where that piece's text begins in the output)
    start, prefix = 0, ""
    while len(prefix) + len(body) - start > limit:
        fitting = [(c, b) for c, b in commas if c > start and len(prefix) + c - start <= limit]
        if not fitting:
            break
        cut, bracket = fitting[-1]
        pieces.append(prefix + body[start:cut].rstrip())
        piece_start, piece_col = next((s, p) for s, p in reversed(starts) if s <= bracket)
        start = cut + (len(body[cut:]) - len(body[cut:].lstrip(" ")))
        prefix = " " * (piece_col + bracket - piece_start + 1)
        starts.append((start, len(prefix)))
    if not pieces:
        return line
    pieces.append(prefix + body[start:])
    return "\n".join(pieces) + end


def files(root: Path) -> list[Path]:
    """What git tracks or would track (untracked, not ignored): never .venv, build/ or caches."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                            capture_output=True).stdout.decode().split("\0")
    out = []
    for rel in filter(None, listed):
        path = Path(rel)
        if path in SKIP or path.parts[0] == "powerpeg":
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES or path.name.startswith("Dockerfile"):
            full = root / path
            if full.is_file() and not full.is_symlink():
                out.append(path)
    return out


def rewrite(text: str, compiled: list[tuple[re.Pattern[str], int]], *, python: bool) -> str:
    if python:
        return rewrite_python(text, compiled)
    return "".join(rename_line(line, compiled)[0] for line in text.splitlines(keepends=True))


def plan(root: Path) -> dict[Path, str]:
    """Every file whose text changes → its new text (nothing written)."""
    compiled = rules(root)
    changed: dict[Path, str] = {}
    for rel in files(root):
        if rel == Path("setup.py"):
            continue
        full = root / rel
        try:
            text = full.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite(text, compiled, python=rel.suffix == ".py")
        for special in SPECIAL:
            if Path(special.path) == rel and special.new not in new:
                if special.old not in new:
                    raise SystemExit(f"rename_imports: {rel}: expected {special.old!r}; the file changed, "
                                     "update SPECIAL")
                new = new.replace(special.old, special.new)
        if new != text:
            changed[rel] = new
    if not (root / "powerpeg" / "__init__.py").is_file():
        changed[Path("powerpeg/__init__.py")] = INIT
    return changed


def links_missing(root: Path) -> list[str]:
    return [top for top in TOPS if os.readlink(root / "powerpeg" / top) != f"../{top}"] \
        if all((root / "powerpeg" / top).is_symlink() for top in TOPS) else list(TOPS)


def apply(root: Path, changed: dict[Path, str]) -> None:
    (root / "powerpeg").mkdir(exist_ok=True)
    for rel, text in changed.items():
        (root / rel).write_text(text, encoding="utf-8")
    for top in TOPS:
        link = root / "powerpeg" / top
        if link.is_symlink() and os.readlink(link) == f"../{top}":
            continue
        if link.exists() or link.is_symlink():
            raise SystemExit(f"rename_imports: {link} exists and is not the link ../{top}; move it away first")
        link.symlink_to(f"../{top}", target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path("."), help="the working tree (default: here)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when something would change")
    parser.add_argument("--verbose", action="store_true", help="name every file changed")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not all((root / top).is_dir() for top in TOPS) or not (root / "pyproject.toml").is_file():
        print(f"rename_imports: {root} is not a powerpeg working tree (harness/, targets/, pyproject.toml)",
              file=sys.stderr)
        return 2
    changed = plan(root)
    missing = links_missing(root)
    if args.verbose or args.check:
        for rel in sorted(changed):
            print(f"{'would rewrite' if args.check else 'rewrite'} {rel}")
        for top in missing:
            print(f"{'would link' if args.check else 'link'} powerpeg/{top} -> ../{top}")
    if args.check:
        return 1 if changed or missing else 0
    apply(root, changed)
    print(f"rename_imports: {len(changed)} files rewritten, {len(missing)} links made")
    return 0


if __name__ == "__main__":
    sys.exit(main())
