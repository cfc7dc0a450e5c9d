"""powerpeg: a chaos-engineering harness for order systems.

Installed, its packages are ``powerpeg.harness`` (the harness: CLI, experiment files, faults,
runner, reports) and ``powerpeg.targets`` (the order system under test). In the repository they
are harness/ and targets/ at the top, linked here (tools/rename_imports.py says why).
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("powerpeg")  # pyproject.toml's version: the one place it is written
except PackageNotFoundError:  # a checkout on PYTHONPATH, never installed
    __version__ = "0+unknown"
