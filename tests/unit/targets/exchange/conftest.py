"""Fixtures of the exchange's unit tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from .venue import Venue


@pytest.fixture
def venue(tmp_path: Path) -> Venue:
    """An engine with symbols AAA (10.00) and BBB (50.00), a journal and recorded sessions."""
    return Venue(tmp_path)
