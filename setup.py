"""Build hook for the one optional C extension (targets.fix._speedups) and for
the package list (the bundled experiments and compose files, mapped into the
harness package).

Everything else is in pyproject.toml. The extension is optional twice over:
``optional=True`` turns a failed compile (no C compiler) into a warning and
the pure-Python parser is used; POWERPEG_PURE=1 leaves it out on purpose (the
compose images' wheel, which must stay platform-independent).
"""
import os

from setuptools import Extension, find_namespace_packages, setup

# The repository's top-level data directories, installed inside the harness package so that
# an installed powerpeg carries what a run needs (harness/resources.py finds them there, or in
# a checkout). Packages, not data_files: they land next to the code, wherever pip puts it.
BUNDLED = {"harness._experiments": "experiments", "harness._compose": "compose"}
# namespace-aware: harness/faults has no __init__.py, and find_packages() silently left it (and
# with it every fault kind) out of the wheel
PACKAGES = [*find_namespace_packages(include=["harness", "harness.*", "targets", "targets.*"],
                                     exclude=["*.__pycache__"]), *BUNDLED, "harness._experiments.suites"]

speedups = Extension("targets.fix._speedups", ["targets/fix/_speedups.c"], optional=True,
                     extra_compile_args=["-O2"])
setup(packages=PACKAGES, package_dir=BUNDLED, ext_modules=[] if os.environ.get("POWERPEG_PURE") else [speedups])
