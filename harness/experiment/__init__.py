"""Experiment files: the typed model, loading with every error located, semantic checks."""
from __future__ import annotations

from .loader import ExperimentError, Issue, load, load_many
from .model import Experiment, Step

__all__ = ["Experiment", "ExperimentError", "Issue", "Step", "load", "load_many"]
