"""One experiment run, split by concern.

- :mod:`.lifecycle` — :class:`Runner`: stand-up to verdict, the guaranteed-exit path, the load;
- :mod:`.method` — the middle of the run as a strategy (:class:`ScheduledMethod`; the
  Chaos tab's operator method lives in :mod:`powerpeg.harness.ui.operator`);
- :mod:`.timeline` — the method's clock and the market open that may hold it;
- :mod:`.safety` — the stop conditions, the blind limit and the abort's kill;
- :mod:`.parts` — the exchange, the monitor and the alert sink, up or down (a dead part is a finding);
- :mod:`.evidence` — what is collected while the fleet is up, and the record;
- :mod:`.state` — the run, its scheduled faults, and the live run once the fleet is up.
"""
from powerpeg.harness.run.lifecycle import WARMUP_S, Runner, exit_code
from powerpeg.harness.run.method import LoadPlan, Method, ScheduledMethod
from powerpeg.harness.run.state import LiveRun, Progress, Run, ScheduledFault

__all__ = ["WARMUP_S", "LiveRun", "LoadPlan", "Method", "Progress", "Run", "Runner", "ScheduledFault",
           "ScheduledMethod", "exit_code"]
