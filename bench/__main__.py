"""`python -m bench [NAME ...]`: run every benchmark module in bench/ (each
``bench/<name>.py`` with a ``main()``) or the named ones, printing results."""
from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    names = []
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        if "def main(" in path.read_text():
            names.append(path.stem)
    return names


def run(names: list[str]) -> int:
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            # each module parses its own flags from sys.argv: give it none of ours (the names)
            saved, sys.argv = sys.argv, [f"python -m bench.{name}"]
            try:
                result = module.main()
            finally:
                sys.argv = saved
        except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others' numbers
            failed += 1
            print(f"   FAILED: {type(exc).__name__}: {exc}", flush=True)
            continue
        if result is not None:
            print(json.dumps(result, indent=2, default=str))
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    known = discover()
    unknown = [n for n in argv if n not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    return run(argv or known)


if __name__ == "__main__":
    sys.exit(main())
