"""Fault behaviour that needs no fleet: the load's rlp share, reverts with
nothing applied, and the labels reports show."""
from __future__ import annotations

import time

import pytest
import structlog

from powerpeg.harness.experiment.model import LoadMix
from powerpeg.harness.load.control import LoadControl

from powerpeg.harness.faults import registry
from powerpeg.harness.faults.alert_blackout import AlertBlackout
from powerpeg.harness.faults.base import FaultContext, FaultError
from powerpeg.harness.faults.flag_flip import FlagFlip
from powerpeg.harness.faults.network import Network
from powerpeg.harness.faults.partial_deploy import PartialDeploy
from powerpeg.harness.faults.process import Kill
from powerpeg.harness.faults.rollback_deploy import RollbackDeploy

ARGS = {
    "partial_deploy": {"version": "v2"},
    "rollback_deploy": {},
    "flag_flip": {"flag": "rlp"},
    "alert_blackout": {"mode": "off"},
    "network": {"link": "->alerts", "down": True},
    "kill": {"target": "router-1"},
    "pause": {"target": "router-1"},
    "restart": {"target": "router-1"},
}


def real_load(tmp_path, share: float | None, *, opened: bool = True) -> LoadControl:
    """The load's real control file (no Locust needed): rlp share 0.4 after the open, 0 before."""
    control = LoadControl(tmp_path / "control.json", LoadMix(rlp_share_after_open=0.4),
                          open_at_ns=0 if opened else time.time_ns() + 3600 * 10**9)
    control.set_rlp_share(share)
    return control


def _ctx(load: LoadControl | None = None) -> FaultContext:
    # None everywhere: a fault touching the fleet here fails with AttributeError
    return FaultContext(backend=None, topology=None, http=None, log=structlog.get_logger(), load=load)


async def test_rlp_share_inject_sets_the_loads_share(tmp_path) -> None:
    """Inject sets the new share on the running load."""
    load = real_load(tmp_path, None)
    await FlagFlip(FlagFlip.Params(rlp_share=0.3)).inject(_ctx(load))
    assert 0.3 == load.rlp_share()


async def test_rlp_share_revert_restores_the_previous_share(tmp_path) -> None:
    """Revert puts back the share the load had pinned, even one that was not 0."""
    load = real_load(tmp_path, 0.1)
    fault = FlagFlip(FlagFlip.Params(rlp_share=0.9))
    await fault.inject(_ctx(load))
    await fault.revert(_ctx(load))
    assert 0.1 == load.rlp_share()


async def test_rlp_share_revert_gives_back_the_open_schedule(tmp_path) -> None:
    """A fault injected before the open and reverted after it leaves the after-open share in force."""
    load = real_load(tmp_path, None, opened=False)
    fault = FlagFlip(FlagFlip.Params(rlp_share=0.9))
    await fault.inject(_ctx(load))
    await fault.revert(_ctx(load))
    assert (None, 0.0) == (load.override(), load.rlp_share())


async def test_rlp_share_revert_twice_does_not_clobber_a_later_change(tmp_path) -> None:
    """A second revert leaves a share changed after the first revert alone."""
    load = real_load(tmp_path, 0.1)
    fault = FlagFlip(FlagFlip.Params(rlp_share=0.9))
    await fault.inject(_ctx(load))
    await fault.revert(_ctx(load))
    load.set_rlp_share(0.5)
    await fault.revert(_ctx(load))
    assert 0.5 == load.rlp_share()


async def test_rlp_share_without_load_is_a_fault_error() -> None:
    """No running load: FaultError with the documented message."""
    with pytest.raises(FaultError) as err:
        await FlagFlip(FlagFlip.Params(rlp_share=0.3)).inject(_ctx(None))
    assert "flag_flip rlp_share needs running load" == str(err.value)


@pytest.mark.parametrize("kind", sorted(ARGS))
async def test_revert_before_inject_does_nothing(kind) -> None:
    """Revert with nothing applied touches nothing (the context has no fleet at all)."""
    cls = registry.get(kind)
    fault = cls(cls.Params(**ARGS[kind]))
    await fault.revert(_ctx())
    assert None is fault.applied


@pytest.mark.parametrize(("fault", "label"), [
    (PartialDeploy(PartialDeploy.Params(version="v2", miss=["router-8"])), "v2 -> all miss router-8"),
    (RollbackDeploy(RollbackDeploy.Params()), "v1 -> deployed"),
    (FlagFlip(FlagFlip.Params(flag="rlp", routers=["router-1", "router-2"])), "rlp=true on router-1,router-2"),
    (FlagFlip(FlagFlip.Params(rlp_share=0.25)), "rlp_share=0.25"),
    (AlertBlackout(AlertBlackout.Params(mode="downgrade")), "page downgrade"),
    (Network(Network.Params(link="router-1->exchange", toxic="latency", attributes={"latency": 200})),
     "router-1->exchange latency latency=200"),
    (Network(Network.Params(link="->alerts", down=True)), "->alerts down"),
    (Kill(Kill.Params(target="exchange")), "exchange"),
])
def test_target_is_a_short_label(fault, label) -> None:
    """target() says what the fault acts on."""
    assert label == fault.target()
