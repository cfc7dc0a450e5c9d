"""`powerpeg run FILE --load-workers 2`: Locust as a master and two worker processes, end to end."""
from __future__ import annotations

import pytest

from tests.e2e.runs import Result, powerpeg, run
from tests.e2e.test_gameday import STEADY


@pytest.fixture(scope="module")
def workers_run(tmp_path_factory) -> Result:
    root = tmp_path_factory.mktemp("workers")
    (root / "steady.yaml").write_text(STEADY.replace("users: 2", "users: 4"))
    return run(root / "steady.yaml", root / "out", root / "home", "--load-workers", "2")


def test_run_with_two_workers_passes(workers_run) -> None:
    """Exit 0 with the load spread over workers; the event log says 2 workers (the file says 0), as processes."""
    starts = [(e["workers"], e["where"]) for e in workers_run.events() if e.get("event") == "load_start"]
    assert (0, [(2, "processes")]) == (workers_run.code, starts), workers_run.stdout


def test_a_master_and_two_workers_ran(workers_run) -> None:
    """One Locust log per process: master, worker-1, worker-2."""
    logs = sorted(p.name for p in (workers_run.out / "load").glob("*.log"))
    assert ["master.log", "worker-1.log", "worker-2.log"] == logs


def test_each_worker_got_parents_accepted_and_all_are_measured(workers_run) -> None:
    """Two parents files (one per worker process), each non-empty, summing to the measured parents."""
    files = sorted((workers_run.out / "load" / "parents").glob("parents-*.jsonl"))
    per_worker = [sum(1 for line in f.read_text().splitlines() if line.strip()) for f in files]
    assert (2, True, workers_run.metrics["parents"]) == (len(per_worker), all(n > 0 for n in per_worker),
                                                         sum(per_worker))


@pytest.mark.parametrize("workers", ["-1", "33"])
def test_load_workers_out_of_range_is_a_usage_error(tmp_path, workers: str) -> None:
    """--load-workers outside 0..32: exit 2 saying so, and no report directory (nothing was started)."""
    (tmp_path / "steady.yaml").write_text(STEADY)
    proc = powerpeg("run", str(tmp_path / "steady.yaml"), "--out", str(tmp_path / "out"), "--load-workers", workers,
                    home=tmp_path / "home")
    assert (2, f"--load-workers must be between 0 and 32, got {workers}", False) == \
        (proc.returncode, proc.stderr.strip().split("error: ", 1)[-1], (tmp_path / "out").exists())
