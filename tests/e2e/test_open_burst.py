"""experiments/open-burst.yaml end to end on the local backend: the verdict and the evidence, never the speed.

The speed (TTD/TTK distribution, executions per second at the open) is bench/open_burst.py's; here one run
must pass (the monitor's auto-kill contained the runaway, or prevented it), the pre-open queue must really
have been released at the open, and the run must state its own measurement floor.
"""
from __future__ import annotations

import json

from tests.e2e.runs import EXPERIMENTS, run


def test_open_burst_passes_with_a_queued_open_and_states_its_floor(tmp_path) -> None:
    r = run(EXPERIMENTS / "open-burst.yaml", tmp_path / "out", tmp_path / "home")
    journal = r.journal
    m, floor = journal["metrics"], journal["measurement"]
    records = [json.loads(line) for line in (r.out / "exchange-journal.jsonl").read_text().splitlines()]
    opened = next(i for i, rec in enumerate(records) if rec["kind"] == "open")
    queued = {rec["order_id"] for rec in records[:opened] if rec["kind"] == "accepted"}
    gone = {rec["order_id"] for rec in records[:opened] if rec["kind"] == "canceled"}  # the deploy's restarts
    released = {rec["order_id"] for rec in records[opened:] if rec["kind"] == "fill"} & (queued - gone)
    assert (0, "passed") == (r.code, journal["status"]), r.stdout
    assert m["contained_by"] == "control" or m["first_violation_at"] is None, m
    # the queue met the open: thousands of children resting pre-open, and filled after it
    waiting = queued - gone
    assert len(waiting) > 1000 and len(released) > len(waiting) // 2, (len(queued), len(gone), len(released))
    assert floor["drop_copy_lag_s"]["n"] > 0 and floor["kill_transit"]["transit_s"] is not None, floor
