"""The C extensions under test (targets/*/_speedups.c), or a skip that says why.

Without a C compiler `make setup` builds none and their tests skip, saying so;
with POWERPEG_REQUIRE_SPEEDUPS=1 (CI) a missing one is a failure instead.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRED = os.environ.get("POWERPEG_REQUIRE_SPEEDUPS") == "1"


def require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        reason = f"{name} is not built (no C compiler when `make setup` ran)"
        if REQUIRED:
            pytest.fail(f"{reason} (POWERPEG_REQUIRE_SPEEDUPS=1)")
        pytest.skip(reason)
