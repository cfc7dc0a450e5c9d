"""harness/run/parts.py: a part is down after failed reads (at once when its process exited), up at the
next good read; each transition an event, planned when a fault has it down."""
from __future__ import annotations

import pytest

from powerpeg.harness.events import EventLog
from powerpeg.harness.outages import PASSIVE_MONITOR
from powerpeg.harness.run.parts import DOWN_AFTER, Parts


class Probe:
    """The backend's word: ``exited`` parts are not running; ``broken`` makes asking fail."""

    def __init__(self) -> None:
        self.exited: set[str] = set()
        self.broken = False

    async def __call__(self, part: str) -> str | None:
        if self.broken:
            raise RuntimeError("engine gone")
        return "exited" if part in self.exited else None


@pytest.fixture
def log() -> EventLog:
    return EventLog(None, run_id="r", experiment="t")


def parts(log: EventLog, probe: Probe | None = None, fault: str | None = None, monitor_control: bool = True) -> Parts:
    return Parts(log, fault_on=lambda part: fault, probe=probe or Probe(), monitor_control=monitor_control)


def named(log: EventLog, event: str) -> list[dict]:
    return [e for e in log.events if e["event"] == event]


async def test_one_failed_read_of_a_running_part_is_no_outage(log: EventLog) -> None:
    """A single slow answer is a failed read written as such, not a part down."""
    p = parts(log)
    assert (False, 0, 1) == (await p.failed("alerts", TimeoutError()), len(named(log, "part_down")),
                             len(named(log, "watch_read_failed")))


async def test_failed_reads_in_a_row_make_it_down_from_the_first(log: EventLog) -> None:
    """DOWN_AFTER failures: part_down, since the first failed read, not answering, a finding."""
    p = parts(log)
    for _ in range(DOWN_AFTER):
        await p.failed("alerts", ConnectionRefusedError("refused"))
    [down] = named(log, "part_down")
    first = named(log, "watch_read_failed")[0]["ts_ns"]
    assert (True, "alerts", False, True) == (p.is_down("alerts"), down["part"], down["planned"], down["control"])
    assert (True, True) == (down["since_ns"] <= first, down["reason"].startswith("not answering (ConnectionRefused"))


async def test_a_process_that_exited_is_down_at_the_first_failed_read(log: EventLog) -> None:
    """The backend says it exited: no second read needed."""
    probe = Probe()
    probe.exited.add("monitor")
    p = parts(log, probe)
    assert (True, True, "exited", "nothing was watching") == (
        await p.failed("monitor", ConnectionRefusedError()), p.exited("monitor"),
        named(log, "part_down")[0]["reason"], named(log, "part_down")[0]["meaning"])


async def test_a_part_a_fault_has_down_is_planned(log: EventLog) -> None:
    """fault_on names the fault: the down event is planned, with the fault, and not unplanned."""
    probe = Probe()
    probe.exited.add("monitor")
    p = parts(log, probe, fault="kill monitor")
    await p.failed("monitor", ConnectionRefusedError())
    [down] = named(log, "part_down")
    assert (True, "kill monitor", False) == (down["planned"], down["fault"], p.unplanned("monitor"))


async def test_a_good_read_brings_it_back_up(log: EventLog) -> None:
    """part_up with how long it was down; the next failure starts a new streak."""
    probe = Probe()
    probe.exited.add("alerts")
    p = parts(log, probe)
    await p.failed("alerts", ConnectionRefusedError())
    await p.ok("alerts")
    assert (False, ["alerts"], 0.0) == (p.is_down("alerts"), [e["part"] for e in named(log, "part_up")],
                                        p.silent_s("alerts"))


async def test_a_good_read_of_an_up_part_writes_nothing(log: EventLog) -> None:
    """No transition, no event."""
    await parts(log).ok("exchange")
    assert [] == log.events


async def test_a_passive_monitor_down_is_no_control(log: EventLog) -> None:
    """A monitor that was passive in the experiment: not a control, and the meaning says so."""
    probe = Probe()
    probe.exited.add("monitor")
    p = parts(log, probe, monitor_control=False)
    await p.failed("monitor", ConnectionRefusedError())
    [down] = named(log, "part_down")
    assert (False, PASSIVE_MONITOR) == (down["control"], down["meaning"])


async def test_the_exchange_is_never_a_control(log: EventLog) -> None:
    """The venue going down is an outage, never "a control not running"."""
    probe = Probe()
    probe.exited.add("exchange")
    p = parts(log, probe)
    await p.failed("exchange", ConnectionRefusedError())
    assert named(log, "part_down")[0]["control"] is False


async def test_check_asks_the_backend_alone(log: EventLog) -> None:
    """check(): down when the backend says its process exited; nothing at all while it runs."""
    probe = Probe()
    p = parts(log, probe)
    running = await p.check("monitor")
    probe.exited.add("monitor")
    assert (False, True, [], ["monitor"]) == (running, await p.check("monitor"), named(log, "watch_read_failed"),
                                             [e["part"] for e in named(log, "part_down")])


async def test_a_backend_that_cannot_answer_leaves_it_to_the_reads(log: EventLog) -> None:
    """The probe raising is no answer: one failed read is still no outage."""
    probe = Probe()
    probe.broken = True
    assert await parts(log, probe).failed("alerts", TimeoutError()) is False


async def test_view_shows_each_part_for_the_chaos_page(log: EventLog) -> None:
    """Up parts say up; a down one its reason and whether it was planned."""
    probe = Probe()
    probe.exited.add("alerts")
    p = parts(log, probe)
    await p.failed("alerts", ConnectionRefusedError())
    view = p.view()
    assert ({"state": "up"}, ("down", "exited", False)) == (
        view["exchange"], (view["alerts"]["state"], view["alerts"]["reason"], view["alerts"]["planned"]))
