"""Build hook for the one optional C extension (targets.fix._speedups).

Everything else is in pyproject.toml. The extension is optional twice over:
``optional=True`` turns a failed compile (no C compiler) into a warning and
the pure-Python parser is used; POWERPEG_PURE=1 leaves it out on purpose (the
compose images' wheel, which must stay platform-independent).
"""
import os

from setuptools import Extension, setup

speedups = Extension("targets.fix._speedups", ["targets/fix/_speedups.c"], optional=True,
                     extra_compile_args=["-O2"])
setup(ext_modules=[] if os.environ.get("POWERPEG_PURE") else [speedups])
