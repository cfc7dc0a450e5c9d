"""The day's ClOrdIDs of a session, kept as hashes: exact membership, a few bytes each."""
from __future__ import annotations

import pytest

from powerpeg.targets.exchange.clordids import CLORDIDS, PARTITIONS, ClOrdIds, _py_add, _py_contains
from tests.unit.targets.fix.speedups import require


@pytest.mark.parametrize("speedups", [True, False], ids=["c", "python"])
def test_a_new_clordid_is_added_and_a_used_one_refused(speedups: bool) -> None:
    """add() is True the first time, False for the same ClOrdID again, and the count says how many."""
    ids = ClOrdIds(speedups=speedups)
    assert [True, True, False, False] == [ids.add("c1"), ids.add("c2"), ids.add("c1"), ids.add("c2")]
    assert 2 == len(ids)


@pytest.mark.parametrize("speedups", [True, False], ids=["c", "python"])
def test_membership_of_every_added_clordid_and_none_other(speedups: bool) -> None:
    """Every ClOrdID added is found, and other strings of the same shape are not."""
    ids = ClOrdIds(speedups=speedups)
    for n in range(20_000):
        ids.add(f"KNIGHT-u7-{n}.1")
    assert (20_000, True, False) == (
        len(ids), all(f"KNIGHT-u7-{n}.1" in ids for n in range(20_000)),
        any(f"KNIGHT-u7-{n}.2" in ids for n in range(20_000)))


@pytest.mark.parametrize("speedups", [True, False], ids=["c", "python"])
def test_an_entry_costs_about_nine_bytes(speedups: bool) -> None:
    """At a busy session's day (500,000 ClOrdIDs) the set holds under 12 bytes an entry (a set of the
    strings held about 110)."""
    ids = ClOrdIds(speedups=speedups)
    n = 500_000
    for i in range(n):
        ids.add(f"KNIGHT-u{i % 64}-{i}.{i % 7}")
    per_entry = ids.nbytes() / n
    print(f"ClOrdIds: {per_entry:.1f} bytes per entry at {n:,}")
    assert per_entry < 12, per_entry


def test_the_c_speedups_and_the_python_code_keep_the_same_set() -> None:
    """Where the C speedups are built, they keep byte for byte what the Python reference keeps."""
    c = require("powerpeg.targets.fix._speedups")  # a skip saying why where there is no compiler (a failure in CI)
    assert hasattr(c, "clordid_add"), "powerpeg.targets.fix._speedups predates clordid_add: rebuild it (make setup)"
    fast: list[bytearray | None] = [None] * PARTITIONS
    slow: list[bytearray | None] = [None] * PARTITIONS
    keys = [f"c{n % 3000}" for n in range(5000)]
    assert [c.clordid_add(fast, k) for k in keys] == [_py_add(slow, k) for k in keys]
    assert fast == slow
    probes = ("c1", "c2999", "c3000", "x")
    assert [c.clordid_contains(fast, k) for k in probes] == [_py_contains(slow, k) for k in probes]


def test_the_set_uses_the_c_speedups_where_they_are_on() -> None:
    """ClOrdIds() takes the C path unless POWERPEG_SPEEDUPS=0 or no extension was built."""
    from powerpeg.targets.fix.codec import SPEEDUPS
    c = require("powerpeg.targets.fix._speedups")
    expected = "c" if SPEEDUPS and hasattr(c, "clordid_add") else "python"
    assert expected == CLORDIDS
