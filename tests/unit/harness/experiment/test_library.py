"""The bundled experiment library: every file validates and says what it shows."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.harness.experiment import validate
from powerpeg.harness.experiment.loader import ExperimentError, load

EXPERIMENTS = Path(__file__).parents[4] / "experiments"
BUNDLED = sorted(EXPERIMENTS.glob("*.yaml"))
EXPECTED = {
    "alert-blackout", "dropcopy-lag", "exchange-disconnect", "exchange-latency", "fleet-version-drift",
    "knight-2012", "knight-2012-controls", "knight-2012-rollback", "router-crash", "router-freeze",
    "knight-2012-prometheus", "knight-2012-prometheus-defaults", "knight-2012-rolling", "open-burst",
}
# the bundled Prometheus control's experiments: refused, saying why, where its binaries are missing
NEEDS_PROMETHEUS = {"knight-2012-prometheus", "knight-2012-prometheus-defaults"}
PROMETHEUS_HERE = validate.binary_found(("prometheus",)) and validate.binary_found(
    ("prometheus-alertmanager", "alertmanager"))
# the few whose finding needs longer than 12 s, and why
LONG = {"knight-2012-prometheus-defaults": (90.0, "Alertmanager's group_wait alone is 30 s"),
        "open-burst": (16.0, "the open waits 8 s for the deploy's restarts and the queue; 8 s of open after it")}


def test_library_holds_the_expected_experiments() -> None:
    """Every experiment the project promises is bundled."""
    assert set() == EXPECTED - {p.stem for p in BUNDLED}


@pytest.fixture(autouse=True)
def binaries_here(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the files, not this machine: the bundled controls' binaries count as present
    (test_bundled_experiment_validates checks the refusal where they are not)."""
    if request.node.originalname != "test_bundled_experiment_validates":
        monkeypatch.setattr(validate, "binary_found", lambda _binaries: True)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_experiment_validates(path: Path) -> None:
    """A bundled file loads without error and is named after its file (one bundling Prometheus is refused,
    saying what to install, where it is missing)."""
    if path.stem in NEEDS_PROMETHEUS and not PROMETHEUS_HERE:
        with pytest.raises(ExperimentError, match="apt-get install prometheus"):
            load(path)
        return
    assert path.stem == load(path).name


@pytest.mark.parametrize("name", sorted(NEEDS_PROMETHEUS))
def test_without_the_binaries_the_refusal_depends_on_the_backend(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No binaries on this host: local (and an unsaid backend) refuse, saying what to install and that compose
    runs the image; compose accepts the file (its start checks the image)."""
    monkeypatch.setattr(validate, "binary_found", lambda _binaries: False)
    path = EXPERIMENTS / f"{name}.yaml"
    with pytest.raises(ExperimentError, match="apt-get install prometheus.*--backend compose runs it from its image"):
        load(path)
    with pytest.raises(ExperimentError, match="apt-get install prometheus") as local:
        load(path, backend="local")
    assert (False, name) == ("--backend compose" in str(local.value), load(path, backend="compose").name)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_experiment_opens_with_a_comment_block(path: Path) -> None:
    """Each file opens with comments saying what it shows and what to expect."""
    head = path.read_text().splitlines()[:3]
    assert (True, True) == (all(line.startswith("#") for line in head), "to expect" in path.read_text())


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_experiment_is_short(path: Path) -> None:
    """Runs stay short: the method lasts at most 12 s (the files in LONG: what their finding needs)."""
    assert load(path).duration <= LONG.get(path.stem, (12.0, ""))[0]


def test_knight_2012_misses_router_8_on_an_all_v1_fleet() -> None:
    """The Knight file: 8 routers on v1, v2 deployed at 0s missing router-8, no monitor, TTD/TTK 1s."""
    exp = load(EXPERIMENTS / "knight-2012.yaml")
    [deploy] = exp.method
    assert (8, "v1", 0.0, "partial_deploy", {"version": "v2", "miss": ["router-8"]}, False, False, 1.0, 1.0) == (
        exp.topology.routers, exp.topology.version, deploy.at, deploy.fault, deploy.args,
        exp.controls.monitor.enabled, exp.controls.monitor.auto_kill, exp.assertions.ttd_max, exp.assertions.ttk_max)


def test_knight_2012_sends_flagged_parents_from_the_open() -> None:
    """rlp-flagged parents arrive after the open only."""
    mix = load(EXPERIMENTS / "knight-2012.yaml").load.mix
    assert (0.0, True) == (mix.rlp_share_before_open, mix.rlp_share_after_open > 0)


def test_knight_controls_kill_on_the_first_overfilled_share() -> None:
    """The controls variant: monitor on, auto-kill, overfill 0, a gross limit, 250 ms bounds."""
    exp = load(EXPERIMENTS / "knight-2012-controls.yaml")
    mon = exp.controls.monitor
    assert (True, True, 0, True, 0.25, 0.25) == (
        mon.enabled, mon.auto_kill, mon.limits.overfill_shares, mon.limits.max_gross_notional is not None,
        exp.assertions.ttd_max, exp.assertions.ttk_max)


def test_knight_rollback_rolls_back_two_seconds_after_the_open() -> None:
    """The wrong remedy: rollback_deploy to v1, 2 s after the open."""
    exp = load(EXPERIMENTS / "knight-2012-rollback.yaml")
    rollback = exp.method[-1]
    assert ("rollback_deploy", "v1", exp.market.open_at + 2) == (rollback.fault, rollback.args["version"], rollback.at)
