"""The load's live knobs: the control file, its writer and its poller."""
from __future__ import annotations

import json
import os

import pytest

from powerpeg.harness.experiment.model import LoadMix
from powerpeg.harness.load.control import ControlPoller, LoadControl, scheduled_rlp_share

MIX = LoadMix(rlp_share_before_open=0.1, rlp_share_after_open=0.6)
OPEN_NS = 5_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_before_the_open_the_before_share_applies():
    """Up to the open the mix's before-open share is in effect."""
    assert 0.1 == scheduled_rlp_share(MIX, OPEN_NS, OPEN_NS - 1)


def test_from_the_open_the_after_share_applies():
    """From the open instant on, the after-open share is in effect."""
    assert 0.6 == scheduled_rlp_share(MIX, OPEN_NS, OPEN_NS)


def test_control_follows_the_schedule_without_override(tmp_path):
    """With nothing pinned, rlp_share() is the scheduled share (the open is long past here)."""
    assert 0.6 == LoadControl(tmp_path / "control.json", MIX, OPEN_NS).rlp_share()


def test_pinned_share_wins_over_the_schedule(tmp_path):
    """set_rlp_share pins the share whatever the schedule says."""
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_rlp_share(0.25)
    assert 0.25 == control.rlp_share()


def test_none_goes_back_to_the_schedule(tmp_path):
    """set_rlp_share(None) unpins: the schedule applies again and override() says None."""
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_rlp_share(1.0)
    control.set_rlp_share(None)
    assert (None, 0.6) == (control.override(), control.rlp_share())


def test_control_file_is_plain_json(tmp_path):
    """The file holds {"rlp_share": x}: what any tool (or a person) can write."""
    LoadControl(tmp_path / "control.json", MIX, OPEN_NS).set_rlp_share(0.5)
    assert {"rlp_share": 0.5} == json.loads((tmp_path / "control.json").read_text())


@pytest.mark.parametrize("share", [-0.1, 1.5, True, "0.5"])
def test_share_outside_zero_one_is_refused(tmp_path, share):
    """A share that is not a number in 0..1 is a ValueError, and nothing is written."""
    with pytest.raises(ValueError, match="rlp_share"):
        LoadControl(tmp_path / "control.json", MIX, OPEN_NS).set_rlp_share(share)
    assert not (tmp_path / "control.json").exists()


def test_poller_sees_a_new_value_after_the_poll_interval(tmp_path):
    """The poller re-reads the file once its 100 ms poll interval has passed."""
    clock = Clock()
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    poller = ControlPoller(tmp_path / "control.json", clock=clock)
    assert None is poller.override()
    control.set_rlp_share(0.75)
    clock.now += 0.15
    assert 0.75 == poller.override()


def test_poller_does_not_look_within_the_poll_interval(tmp_path):
    """Within 100 ms of its last look the poller answers from memory."""
    clock = Clock()
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    poller = ControlPoller(tmp_path / "control.json", clock=clock)
    control.set_rlp_share(0.75)
    poller.override()
    control.set_rlp_share(0.2)
    clock.now += 0.05
    assert 0.75 == poller.override()


def test_poller_sees_two_writes_in_one_mtime_tick(tmp_path):
    """Two writes with the same mtime still count as a change (each write is a new file)."""
    clock = Clock()
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    poller = ControlPoller(tmp_path / "control.json", clock=clock)
    control.set_rlp_share(0.75)
    poller.override()
    mtime = (tmp_path / "control.json").stat().st_mtime_ns
    control.set_rlp_share(0.2)
    os.utime(tmp_path / "control.json", ns=(mtime, mtime))
    clock.now += 0.15
    assert 0.2 == poller.override()


def test_poller_keeps_the_last_good_value_on_a_bad_file(tmp_path):
    """A garbled control file does not stop the load: the last good share stays."""
    clock = Clock()
    path = tmp_path / "control.json"
    LoadControl(path, MIX, OPEN_NS).set_rlp_share(0.75)
    poller = ControlPoller(path, clock=clock)
    poller.override()
    path.write_text('{"rlp_share": 7}')
    clock.now += 0.15
    assert 0.75 == poller.override()


def test_poller_share_follows_the_schedule_when_nothing_is_pinned(tmp_path):
    """With no control file the poller gives the scheduled share."""
    poller = ControlPoller(tmp_path / "control.json", clock=Clock())
    assert (0.1, 0.6) == (poller.rlp_share(MIX, OPEN_NS, OPEN_NS - 1), poller.rlp_share(MIX, OPEN_NS, OPEN_NS))


def test_not_open_yet_keeps_the_before_share_past_the_planned_open(tmp_path):
    """set_open(None): the runner is holding the open, so the planned time passing changes nothing."""
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_open(None)
    poller = ControlPoller(tmp_path / "control.json", clock=Clock())
    assert (0.1, 0.1) == (control.rlp_share(), poller.rlp_share(MIX, OPEN_NS, OPEN_NS + 10**12))


def test_the_real_open_replaces_the_planned_one(tmp_path):
    """set_open(t) later than planned: before t the before share, from t the after share."""
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_open(OPEN_NS + 1_000)
    poller = ControlPoller(tmp_path / "control.json", clock=Clock())
    assert (0.1, 0.6) == (poller.rlp_share(MIX, OPEN_NS, OPEN_NS + 999),
                          poller.rlp_share(MIX, OPEN_NS, OPEN_NS + 1_000))


def test_poller_knows_whether_the_market_is_open(tmp_path):
    """Planned open without a file; the file's open (or its "not yet") once the runner wrote it."""
    poller = ControlPoller(tmp_path / "control.json", clock=Clock())
    planned = (poller.is_open(OPEN_NS, OPEN_NS - 1), poller.is_open(OPEN_NS, OPEN_NS))
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_open(None)
    held = ControlPoller(tmp_path / "control.json", clock=Clock()).is_open(OPEN_NS, OPEN_NS + 10**12)
    control.set_open(OPEN_NS + 5)
    late = ControlPoller(tmp_path / "control.json", clock=Clock())
    assert ((False, True), False, (False, True)) == (
        planned, held, (late.is_open(OPEN_NS, OPEN_NS + 4), late.is_open(OPEN_NS, OPEN_NS + 5)))


def test_pinning_the_share_keeps_the_open(tmp_path):
    """The two knobs live in one file: writing one leaves the other as it was."""
    control = LoadControl(tmp_path / "control.json", MIX, OPEN_NS)
    control.set_open(OPEN_NS + 7)
    control.set_rlp_share(0.3)
    assert {"rlp_share": 0.3, "open_at_ns": OPEN_NS + 7} == json.loads((tmp_path / "control.json").read_text())
