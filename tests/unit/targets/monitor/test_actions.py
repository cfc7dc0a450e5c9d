"""The monitor's reaction to breaches: paging, re-page throttling, auto-kill."""
import asyncio

from powerpeg.targets.monitor.book import Parent
from powerpeg.targets.monitor.limits import Limits

from tests.unit.targets.monitor.fakes import FakeNeighbours, fill


def _overfill(monitor, parent: str = "router-1-000001", fills: int = 3) -> None:
    monitor.register_parent(Parent(parent, "router-1", "AAA", "buy", 100, 0))
    for k in range(fills):
        monitor.on_execution(fill(f"{parent}.{k}", 100))


async def test_breach_pages_the_alert_sink() -> None:
    """An over-fill sends one page-severity alert naming the parent and the limit."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor()
        _overfill(monitor, fills=2)
        await monitor.drain()
        [alert] = fake.posts("/alerts")
    assert ("page", "monitor", True) == (alert["severity"], alert["source"], "router-1-000001" in alert["text"])


async def test_breach_is_recorded_with_its_time() -> None:
    """The breach appears in the record with the breaching child's ClOrdID and ts_ns."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor()
        _overfill(monitor, fills=2)
        await monitor.drain()
    [breach] = monitor.breaches
    assert ("overfill", "router-1-000001.1", True) == (breach["kind"], breach["cl_ord_id"], breach["ts_ns"] > 0)


async def test_repeated_breach_of_one_kind_pages_once_per_interval() -> None:
    """Five over-filling fills within the re-page interval page once and count the repeats."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor()
        _overfill(monitor, fills=6)
        await monitor.drain()
        pages = fake.posts("/alerts")
    assert (1, 4) == (len(pages), monitor.breaches[0]["repeats"])


async def test_different_kinds_page_separately() -> None:
    """An over-fill and a position breach on the same fill page twice."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(limits=Limits(max_position=150))
        _overfill(monitor, fills=2)
        await monitor.drain()
    assert {"overfill", "position"} == {b["kind"] for b in monitor.breaches}


async def test_repage_after_the_interval() -> None:
    """With a zero re-page interval every breaching message pages."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(repage_s=0)
        _overfill(monitor, fills=4)
        await monitor.drain()
        pages = fake.posts("/alerts")
    assert 3 == len(pages)


async def test_auto_kill_calls_kill_switch_and_halts_every_router_once() -> None:
    """With auto-kill, repeated breaches cause one exchange kill and one halt per router."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(3), auto_kill=True, repage_s=0)
        _overfill(monitor, fills=5)
        await monitor.drain()
        calls = sorted(path for path, _, _ in fake.requests if path != "/alerts")
    assert ["/kill", "/router-1/halt", "/router-2/halt", "/router-3/halt"] == calls


async def test_auto_kill_names_the_firm() -> None:
    """The kill-switch call carries the monitored firm and says the monitor pulled it."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(auto_kill=True, firm="KNIGHT")
        _overfill(monitor, fills=2)
        await monitor.drain()
        assert [{"firm": "KNIGHT", "by": "monitor"}] == fake.posts("/kill")


async def test_kill_record_has_issue_time_and_results() -> None:
    """The kill is recorded with kill_issued_ns and one 200 result per target."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(2), auto_kill=True)
        _overfill(monitor, fills=2)
        await monitor.drain()
    statuses = [r["status"] for r in monitor.kill["results"]]
    assert (True, [200, 200, 200]) == (monitor.kill["kill_issued_ns"] > 0, statuses)


async def test_no_kill_without_auto_kill() -> None:
    """Without auto-kill a breach pages but neither kills nor halts."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(2))
        _overfill(monitor, fills=3)
        await monitor.drain()
        paths = {path for path, _, _ in fake.requests}
    assert ({"/alerts"}, None) == (paths, monitor.kill)


async def test_kill_goes_out_when_the_alert_sink_is_unreachable() -> None:
    """A dead alert sink does not stop the auto-kill nor the surveillance."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(1), auto_kill=True)
        monitor.actions.alerts = "http://127.0.0.1:1"
        _overfill(monitor, fills=3)
        await monitor.drain()
        kills = fake.posts("/kill")
    assert (1, 300, True) == (len(kills), monitor.book.positions["AAA"].shares, "error" in monitor.breaches[0]["alert"])


async def test_unregistered_parent_pages_after_grace_without_another_message() -> None:
    """An execution whose parent is never registered pages once the grace passes, by timer."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(limits=Limits(unregistered_grace_ms=50))
        monitor.on_execution(fill("router-7-000001.1", 100))
        await asyncio.wait_for(fake.arrived.wait(), 2)
        await monitor.drain()
        [alert] = fake.posts("/alerts")
    assert True is ("router-7-000001" in alert["text"])


async def test_parent_registered_after_over_execution_breaches() -> None:
    """Registering a parent whose children already over-executed raises an over-fill."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor()
        monitor.on_execution(fill("router-1-000005.1", 300))
        monitor.register_parent(Parent("router-1-000005", "router-1", "AAA", "buy", 100, 0))
        await monitor.drain()
    assert ["overfill"] == [b["kind"] for b in monitor.breaches]


async def test_passive_monitor_records_but_neither_pages_nor_kills() -> None:
    """A monitor switched off as a control (--passive) sees the breach and tells no one."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(2), auto_kill=True, passive=True)
        _overfill(monitor, fills=3)
        await monitor.drain()
        paths = {path for path, _, _ in fake.requests}
    assert (set(), None, ["overfill"]) == (paths, monitor.kill, [b["kind"] for b in monitor.breaches])
