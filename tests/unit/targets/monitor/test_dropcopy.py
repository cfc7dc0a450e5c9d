"""The monitor on a drop-copy FIX session over real loopback TCP."""
import asyncio

from powerpeg.targets.fix.codec import MsgType, Tag
from powerpeg.targets.fix.session import FixSession
from powerpeg.targets.fix.store import MemoryStores
from powerpeg.targets.monitor.book import Parent
from powerpeg.targets.monitor.dropcopy import DropCopyClient

from tests.unit.targets.monitor.fakes import FakeNeighbours, er_fields, make_monitor


class FakeDropCopy:
    """An exchange drop-copy acceptor: records logons, pushes ExecutionReports; its message store
    outlives the connections, as the exchange's does."""

    def __init__(self) -> None:
        self.logons: list[dict[int, str]] = []
        self.sessions: list[FixSession] = []
        self.logged_on = asyncio.Event()
        self.stores = MemoryStores()

    def on_logon(self, session, msg):
        self.logons.append(dict(msg.fields))
        self.sessions.append(session)
        self.logged_on.set()
        return None

    def on_message(self, session, msg):
        pass

    def on_close(self, session, graceful):
        pass

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: FixSession(self, comp_id="EXCHANGE", role="acceptor", stores=self.stores), "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def wait_logon(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.logons) < count:
                self.logged_on.clear()
                await self.logged_on.wait()

    def push(self, fields) -> None:
        self.sessions[-1].send(MsgType.ExecutionReport, fields)


async def _until(predicate, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def _running(fake_dc: FakeDropCopy, monitor):
    port = await fake_dc.start()
    stop = asyncio.Event()
    client = DropCopyClient(monitor, "127.0.0.1", port)
    task = asyncio.create_task(client.run(stop))
    await fake_dc.wait_logon(1)
    return stop, task, client


async def _stop(stop, task, fake_dc, monitor) -> None:
    stop.set()
    await asyncio.wait_for(task, 3)
    fake_dc.server.close()
    await monitor.drain()
    await monitor.actions.close()


async def test_logs_on_as_the_firm_with_sequence_reset() -> None:
    """The monitor logs on with SenderCompID = firm, TargetCompID = exchange and 141=Y."""
    fake_dc = FakeDropCopy()
    monitor = make_monitor(None, firm="KNIGHT", exchange_comp_id="EXCHANGE")
    stop, task, _ = await _running(fake_dc, monitor)
    logon = fake_dc.logons[0]
    await _until(lambda: monitor.dropcopy == "logged_on")
    await _stop(stop, task, fake_dc, monitor)
    assert ("KNIGHT", "EXCHANGE", "Y") == (logon[Tag.SenderCompID], logon[Tag.TargetCompID], logon[Tag.ResetSeqNumFlag])


async def test_pages_on_the_very_message_that_over_fills() -> None:
    """Over real TCP, no page follows the fills within the parent and one follows the first fill beyond it."""
    async with FakeNeighbours() as fake:
        fake_dc = FakeDropCopy()
        monitor = fake.monitor()
        stop, task, _ = await _running(fake_dc, monitor)
        monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 200, 0))
        pages_after = []
        for k in range(1, 4):
            fake_dc.push(er_fields("F", f"router-1-000001.{k}", qty=100, last_qty=100, last_px="10.00"))
            await _until(lambda k=k: monitor.book.messages == k)
            await monitor.drain()
            pages_after.append(len(fake.posts("/alerts")))
        breach = monitor.breaches[0]
        await _stop(stop, task, fake_dc, monitor)
    assert ([0, 0, 1], "router-1-000001.3") == (pages_after, breach["cl_ord_id"])


async def test_auto_kill_over_tcp_in_one_burst() -> None:
    """A burst of over-filling fills over TCP ends in exactly one kill and one halt."""
    async with FakeNeighbours() as fake:
        fake_dc = FakeDropCopy()
        monitor = fake.monitor(routers=fake.router_urls(1), auto_kill=True)
        stop, task, _ = await _running(fake_dc, monitor)
        monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
        for k in range(50):
            fake_dc.push(er_fields("F", f"router-1-000001.{k}", qty=100, last_qty=100, last_px="10.00"))
        await _until(lambda: monitor.book.messages == 50)
        await monitor.drain()
        calls = sorted(p for p, _, _ in fake.requests if p != "/alerts")
        await _stop(stop, task, fake_dc, monitor)
    assert (["/kill", "/router-1/halt"], "overfill") == (calls, monitor.kill["reason"])


async def test_reconnect_continues_the_sequence_and_gets_what_the_drop_lost_once() -> None:
    """After a drop the monitor logs on again without 141=Y, its MsgSeqNum continuing; the reports
    sent while the connection was cut come by resend, each applied exactly once."""
    fake_dc = FakeDropCopy()
    monitor = make_monitor(None)
    stop, task, client = await _running(fake_dc, monitor)
    fake_dc.push(er_fields("0", "router-1-000001.1"))
    await _until(lambda: monitor.book.messages == 1)
    fake_dc.sessions[-1].abort()  # cut: what follows goes into the store only
    for k in (2, 3):
        fake_dc.push(er_fields("0", f"router-1-000001.{k}"))
    fake_dc.sessions[-1].connection_lost(None)
    await fake_dc.wait_logon(2)
    await _until(lambda: monitor.book.messages == 3)
    fake_dc.push(er_fields("0", "router-1-000001.4"))
    await _until(lambda: monitor.book.messages == 4)
    second = fake_dc.logons[1]
    await _stop(stop, task, fake_dc, monitor)
    assert (2, "2", None, 4) == (client.logons, second[Tag.MsgSeqNum], second.get(Tag.ResetSeqNumFlag),
                                 monitor.book.messages)


async def test_malformed_execution_report_is_counted_not_fatal() -> None:
    """A trade ER without LastPx is counted as malformed and the session carries on."""
    fake_dc = FakeDropCopy()
    monitor = make_monitor(None)
    stop, task, client = await _running(fake_dc, monitor)
    bad = [f for f in er_fields("F", "router-1-000001.1", last_qty=100) if f[0] != Tag.LastPx]
    fake_dc.push(bad)
    fake_dc.push(er_fields("0", "router-1-000001.2"))
    await _until(lambda: monitor.book.messages == 1)
    await _stop(stop, task, fake_dc, monitor)
    assert (1, 1) == (monitor.ignored["malformed"], client.logons)


async def test_other_firms_reports_are_ignored() -> None:
    """An ER whose Account is another firm does not touch the book."""
    fake_dc = FakeDropCopy()
    monitor = make_monitor(None, firm="KNIGHT")
    stop, task, _ = await _running(fake_dc, monitor)
    fake_dc.push(er_fields("F", "mm.1", last_qty=100, firm="MM"))
    fake_dc.push(er_fields("0", "router-1-000001.1"))
    await _until(lambda: monitor.book.messages == 1)
    await _stop(stop, task, fake_dc, monitor)
    assert (1, {}) == (monitor.ignored["foreign"], monitor.book.positions)


async def test_every_report_s_drop_copy_lag_is_measured() -> None:
    """Each ER with a TransactTime(60) adds one lag sample (receipt minus TransactTime, >= 0 on one
    host); one without adds none; an unreadable one is counted and still applied."""
    from powerpeg.targets.fix.codec import utc_timestamp

    fake_dc = FakeDropCopy()
    monitor = make_monitor(None)
    stop, task, _ = await _running(fake_dc, monitor)
    for k in range(3):
        fake_dc.push(er_fields("0", f"router-1-000001.{k}") + [(Tag.TransactTime, utc_timestamp())])
    fake_dc.push(er_fields("0", "router-1-000001.3"))
    fake_dc.push(er_fields("0", "router-1-000001.4") + [(Tag.TransactTime, "yesterday")])
    await _until(lambda: monitor.book.messages == 5)
    lag = monitor.measurement()["drop_copy_lag_s"]
    await _stop(stop, task, fake_dc, monitor)
    assert (3, 1, True, 0) == (lag["n"], monitor.lag_unreadable, 0 <= lag["p50"] <= lag["max"],
                               monitor.dropcopy_lag.negative)


async def test_a_breach_carries_the_drop_copy_lag_of_the_report_that_raised_it() -> None:
    """The over-filling report was stamped 250 ms before it arrived: the first risk breach and the kill
    decision say so (the TTD floor of that very detection); a breach raised off the drop copy carries none."""
    import time

    async with FakeNeighbours() as fake:
        fake_dc = FakeDropCopy()
        monitor = fake.monitor(routers=fake.router_urls(1), auto_kill=True)
        stop, task, _ = await _running(fake_dc, monitor)
        monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
        for k in range(1, 3):
            stamped = time.time() - 0.25
            stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(stamped)) + f".{int(stamped % 1 * 1000):03d}"
            fake_dc.push(er_fields("F", f"router-1-000001.{k}", qty=100, last_qty=100, last_px="10.00")
                         + [(Tag.TransactTime, stamp)])
        await _until(lambda: monitor.book.messages == 2)
        await monitor.drain()
        measured = monitor.measurement()
        await _stop(stop, task, fake_dc, monitor)
    breach, [decision] = measured["first_risk_breach"], measured["kill_decisions"]
    assert ("overfill", True, True, None) == (
        breach["kind"], 0.25 <= breach["report_lag_s"] < 5, 0.25 <= decision["report_lag_s"] < 5,
        monitor.report_lag_ns)
