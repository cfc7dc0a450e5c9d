"""Build hook for the one optional C extension (powerpeg.targets.fix._speedups) and for
the package list: everything under powerpeg/ (whose harness and targets are links to
the repository's top-level harness/ and targets/), and the bundled experiments and
compose files, mapped into the harness package.

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
BUNDLED = {"powerpeg.harness._experiments": "experiments", "powerpeg.harness._compose": "compose"}
# namespace-aware (harness/faults has no __init__.py); found through powerpeg/'s links
PACKAGES = [*find_namespace_packages(include=["powerpeg", "powerpeg.*"], exclude=["*.__pycache__"]), *BUNDLED,
            "powerpeg.harness._experiments.suites"]

speedups = Extension("powerpeg.targets.fix._speedups", ["targets/fix/_speedups.c"], optional=True,
                     extra_compile_args=["-O2"])
setup(packages=PACKAGES, package_dir=BUNDLED, ext_modules=[] if os.environ.get("POWERPEG_PURE") else [speedups])
