"""Fleet version drift and the alert-pipeline heartbeat."""
from powerpeg.targets.monitor.book import Parent
from powerpeg.targets.monitor.checks import heartbeat_once, poll_versions_once, probe_kill_path_once
from powerpeg.targets.monitor.core import describe_versions

from tests.unit.targets.monitor.fakes import FakeNeighbours, fill, make_monitor


def test_versions_are_described_odd_ones_first_with_ranges() -> None:
    """Eight routers, one on v1, read as 'v1 on router-8, v2 on router-1..7'."""
    versions = {f"router-{i}": "v2" for i in range(1, 8)} | {"router-8": "v1"}
    assert "v1 on router-8, v2 on router-1..7" == describe_versions(versions)


def test_gaps_in_router_numbers_split_ranges() -> None:
    """Non-consecutive routers are listed as separate ranges."""
    versions = {"router-1": "v2", "router-2": "v2", "router-4": "v2", "router-3": "v1"}
    assert "v1 on router-3, v2 on router-1..2, router-4" == describe_versions(versions)


async def test_mixed_fleet_versions_page() -> None:
    """A fleet with one router on v1 pages 'mixed versions' naming it."""
    async with FakeNeighbours(versions={"router-3": "v1"}) as fake:
        monitor = fake.monitor(routers=fake.router_urls(3))
        await poll_versions_once(monitor, timeout_s=1)
        await monitor.drain()
        [alert] = fake.posts("/alerts")
    assert ("page", "mixed versions: v1 on router-3, v2 on router-1..2") == (alert["severity"], alert["text"])


async def test_uniform_fleet_does_not_page() -> None:
    """A fleet all on one version raises nothing."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(3))
        await poll_versions_once(monitor, timeout_s=1)
        await monitor.drain()
        assert ([], []) == (fake.posts("/alerts"), monitor.breaches)


async def test_version_drift_never_kills() -> None:
    """Version drift is a page, not a risk breach: auto-kill stays idle."""
    async with FakeNeighbours(versions={"router-1": "v1"}) as fake:
        monitor = fake.monitor(routers=fake.router_urls(2), auto_kill=True)
        await poll_versions_once(monitor, timeout_s=1)
        await monitor.drain()
    assert (["version_drift"], None) == ([b["kind"] for b in monitor.breaches], monitor.kill)


async def test_unreachable_router_is_reported_not_counted_as_a_version() -> None:
    """A router that does not answer is listed with its error and does not cause drift."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=[*fake.router_urls(1), "http://127.0.0.1:1"])
        await poll_versions_once(monitor, timeout_s=1)
    assert ([], True) == (monitor.breaches, "error" in monitor.fleet["http://127.0.0.1:1"])


async def test_acked_heartbeat_keeps_pipeline_up() -> None:
    """Acknowledged heartbeats leave the pipeline up and raise nothing."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor()
        for seq in (1, 2, 3):
            await heartbeat_once(monitor, seq, timeout_s=1)
    assert (False, []) == (monitor.pipeline_down, monitor.breaches)


async def test_one_missed_heartbeat_is_not_yet_an_alarm() -> None:
    """A single 503 heartbeat does not raise pipeline_down."""
    async with FakeNeighbours() as fake:
        fake.heartbeat_status = 503
        monitor = fake.monitor()
        await heartbeat_once(monitor, 1, timeout_s=1)
    assert (False, 1) == (monitor.pipeline_down, monitor.heartbeat_misses)


async def test_two_missed_heartbeats_raise_pipeline_down_by_email() -> None:
    """Two 503 heartbeats in a row record pipeline_down and send an email-severity alert."""
    async with FakeNeighbours() as fake:
        fake.heartbeat_status = 503
        monitor = fake.monitor()
        await heartbeat_once(monitor, 1, timeout_s=1)
        await heartbeat_once(monitor, 2, timeout_s=1)
        await monitor.drain()
        severities = [a["severity"] for a in fake.posts("/alerts")]
    assert (["pipeline_down"], ["email"]) == ([b["kind"] for b in monitor.breaches], severities)


async def test_unreachable_sink_counts_as_missed_heartbeats() -> None:
    """Heartbeats to a sink that refuses connections count as misses."""
    monitor = make_monitor("http://127.0.0.1:1")
    await heartbeat_once(monitor, 1, timeout_s=0.5)
    await heartbeat_once(monitor, 2, timeout_s=0.5)
    await monitor.drain()
    await monitor.actions.close()
    assert True is monitor.pipeline_down


async def test_acked_heartbeat_restores_the_pipeline() -> None:
    """An acknowledged heartbeat after an outage clears pipeline_down."""
    async with FakeNeighbours() as fake:
        fake.heartbeat_status = 503
        monitor = fake.monitor()
        await heartbeat_once(monitor, 1, timeout_s=1)
        await heartbeat_once(monitor, 2, timeout_s=1)
        fake.heartbeat_status = 200
        await heartbeat_once(monitor, 3, timeout_s=1)
        await monitor.drain()
    assert (False, 0) == (monitor.pipeline_down, monitor.heartbeat_misses)


async def test_risk_breach_while_pipeline_down_still_kills_phones_and_emails() -> None:
    """With the pager down, a risk breach still triggers the kill and also goes by phone and email."""
    async with FakeNeighbours() as fake:
        fake.heartbeat_status = 503
        monitor = fake.monitor(auto_kill=True)
        await heartbeat_once(monitor, 1, timeout_s=1)
        await heartbeat_once(monitor, 2, timeout_s=1)
        monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
        monitor.on_execution(fill("router-1-000001.1", 200))
        await monitor.drain()
        risk_alerts = sorted(a["severity"] for a in fake.posts("/alerts") if "over-fill" in a["text"])
        kills = fake.posts("/kill")
    assert (["email", "page", "phone"], 1) == (risk_alerts, len(kills))


async def test_kill_path_probe_reaches_exchange_and_every_router() -> None:
    """The kill-path probe calls /health on the exchange admin and each router, and records the outcome."""
    async with FakeNeighbours() as fake:
        monitor = fake.monitor(routers=fake.router_urls(2))
        state = await probe_kill_path_once(monitor, timeout_s=1)
    assert (1, 3, {"ok"}) == (fake.exchange_probes, len(state), set(state.values()))
