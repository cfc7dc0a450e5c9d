"""Parent registrations go to the monitor in batches: what accumulated while the previous POST was in flight."""
from __future__ import annotations

from types import SimpleNamespace

import structlog

from powerpeg.targets.router.notify import PARENT_BATCH, Notifier
from powerpeg.targets.router.parents import Parent
from tests.unit.targets.router.fakes import wait_until, world  # noqa: F401 - fixture


def _parent(i: int) -> Parent:
    return Parent(f"router-1-{i:06d}", "AAA", "buy", 100 * i, None, False, f"c{i}", created_ns=i)


def _notifier(monitor_url: str | None) -> Notifier:
    cfg = SimpleNamespace(id="router-1", alerts=None, monitor=monitor_url)
    return Notifier(cfg, "t0ken", structlog.get_logger())  # type: ignore[arg-type]


async def test_parents_accepted_together_go_in_one_post_in_order(world) -> None:
    notifier = _notifier(world.url)
    notifier.start()
    try:
        for i in range(1, 11):  # accepted in one turn of the loop: the first POST has not started
            notifier.register_parent(_parent(i), "router-1")
        assert await wait_until(lambda: len(world.parents) == 10)
        for i in range(11, 14):
            notifier.register_parent(_parent(i), "router-1")
        assert await wait_until(lambda: len(world.parents) == 13)
    finally:
        await notifier.close()
    assert ([10, 3], [f"router-1-{i:06d}" for i in range(1, 14)], 13, ["Bearer t0ken", "Bearer t0ken"]) == (
        world.batches, [p["parent_id"] for p in world.parents], notifier.sent, world.auth_headers)
    assert {"parent_id": "router-1-000002", "router": "router-1", "symbol": "AAA", "side": "buy", "qty": 200,
            "ts_ns": 2} == world.parents[1]


async def test_a_burst_is_cut_into_batches_the_monitor_takes(world) -> None:
    notifier = _notifier(world.url)
    notifier.start()
    try:
        for i in range(1, PARENT_BATCH * 2 + 2):
            notifier.register_parent(_parent(i), "router-1")
        assert await wait_until(lambda: len(world.parents) == PARENT_BATCH * 2 + 1)
    finally:
        await notifier.close()
    assert [PARENT_BATCH, PARENT_BATCH, 1] == world.batches


async def test_parents_accepted_before_the_start_are_posted_once_started(world) -> None:
    notifier = _notifier(world.url)
    notifier.register_parent(_parent(1), "router-1")
    notifier.start()
    try:
        assert await wait_until(lambda: len(world.parents) == 1)
    finally:
        await notifier.close()
    assert [1] == world.batches


async def test_a_dead_monitor_counts_each_parent_as_failed() -> None:
    notifier = _notifier("http://127.0.0.1:9")  # discard port: nothing listens
    notifier.start()
    try:
        for i in range(1, 4):
            notifier.register_parent(_parent(i), "router-1")
        assert await wait_until(lambda: notifier.failed == 3)
    finally:
        await notifier.close()
    assert 0 == notifier.sent
