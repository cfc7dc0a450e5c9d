"""The runner holds the open until the steps due before it are done (the 2012 deploy
was finished before the open), and moves the rest of the timeline with the hold."""
from __future__ import annotations

import json

from tests.e2e.runs import run

# The deploy at 0s restarts both routers (about a second on this machine); the open
# is planned 50 ms later, so it must wait. rlp parents are 100% after the open only.
HELD = """\
name: open-hold
description: a deploy slower than the time to the open
hypothesis: the market opens only after the deploy, and no rlp parent goes out before it
seed: 9
duration: 3s
topology: {routers: 2, version: v1, symbols: 5}
market: {open_at: 50ms}
load: {users: 2, spawn_rate: 4, wait: 100ms, mix: {rlp_share_before_open: 0.0, rlp_share_after_open: 1.0}}
method:
  - name: deploy v2 everywhere
    at: 0s
    fault: partial_deploy
    args: {version: v2, miss: []}
  - name: a flag flip after the open
    at: 1s
    fault: flag_flip
    args: {flag: rlp, value: false}
abort: {max_duration: 30s}
rollback: always
"""


def test_open_waits_for_the_deploy_and_later_steps_move_with_it(tmp_path) -> None:
    """market_open comes after the deploy was injected, held_s says by how much, the exchange opened
    then (its journal), the step at +1s came 1 s after the real open, and no rlp parent went out before it."""
    (tmp_path / "held.yaml").write_text(HELD)
    r = run(tmp_path / "held.yaml", tmp_path / "out", tmp_path / "home")
    events = {e["event"]: e for e in r.events()
              if e["event"] in ("market_open", "fault_injected") and e.get("step", 0) == 0}
    flip = next(e for e in r.events() if e["event"] == "fault_injected" and e.get("step") == 1)
    opened = events["market_open"]
    journal = (r.out / "exchange-journal.jsonl").read_text().splitlines()
    exchange_open = next(json.loads(line)["ts_ns"] for line in journal if '"kind":"open"' in line)
    parents = [json.loads(line) for f in (r.out / "load" / "parents").iterdir() for line in f.read_text().splitlines()]
    early_rlp = [p for p in parents if p["rlp"] and p["ts_ns"] < exchange_open]
    assert r.code in (0, 1), r.stdout
    assert exchange_open >= events["fault_injected"]["ts_ns"] and opened["held_s"] > 0, (opened, events)
    assert (flip["ts_ns"] - exchange_open) / 1e9 >= 0.95, (flip, exchange_open)
    assert ([], True) == (early_rlp, any(p["rlp"] for p in parents))
