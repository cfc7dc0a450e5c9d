"""harness/run/method.py: how long the scheduled method asks the load to run."""
from __future__ import annotations

from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.run.method import LOAD_GRACE_S, ScheduledMethod


def _exp(at: str) -> Experiment:
    return Experiment.model_validate({
        "name": "x", "duration": "12s", "market": {"open_at": "4s"}, "abort": {"max_duration": "120s"},
        "method": [{"at": at, "fault": "partial_deploy", "args": {"version": "v2", "miss": ["router-2"]}}],
        "topology": {"routers": 2}})


def test_a_step_before_the_open_lets_the_load_last_to_the_cap() -> None:
    """A deploy due before the open can hold the open, and the method's end with it, up to max_duration."""
    assert 120 + LOAD_GRACE_S == ScheduledMethod().load_plan(_exp("0s")).duration_s


def test_steps_at_or_after_the_open_keep_the_load_to_the_duration() -> None:
    """Nothing holds the open: the method ends at its duration, and so may the load."""
    assert (12 + LOAD_GRACE_S, 12 + LOAD_GRACE_S) == (ScheduledMethod().load_plan(_exp("open")).duration_s,
                                                      ScheduledMethod().load_plan(_exp("5s")).duration_s)
