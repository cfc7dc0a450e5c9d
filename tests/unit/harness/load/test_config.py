"""The load's config file and the Locust command lines built from it."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.load.config import RUN_TIME_MARGIN_S, LoadConfig, RouterTarget, SymbolRef
from powerpeg.harness.load.runner import LOCUSTFILE, LoadRunner

ROUTERS = [RouterTarget(id="router-1", orders="http://127.0.0.1:9001/orders"),
           RouterTarget(id="router-2", orders="http://127.0.0.1:9002/orders")]
UNIVERSE = [SymbolRef(symbol=s, ref_price=10.0 + i) for i, s in enumerate(["AAA", "BBB", "CCC", "DDD"])]


def build(out: Path = Path("/tmp/load"), symbols: int = 2, **load) -> LoadConfig:
    return LoadConfig.build(Load(**load), run_id="run-1", routers=ROUTERS, token="secret", universe=UNIVERSE,
                            symbol_count=symbols, open_at_ns=123, seed=7, duration_s=12.5, out_dir=out)


def runner(config: LoadConfig, out: Path = Path("/tmp/load")) -> LoadRunner:
    return LoadRunner(config, out, structlog.get_logger(), python="/py")


def test_config_takes_the_experiment_load_section():
    """Users, spawn rate, workers, wait (as seconds) and the mix come from the experiment."""
    mix = LoadMix(rlp_share_after_open=0.3)
    config = build(users=3, spawn_rate=6, wait="250ms", workers=2, mix=mix)
    assert (3, 6.0, 2, 0.25, mix) == (config.users, config.spawn_rate, config.workers, config.wait, config.mix)


def test_wait_before_open_is_carried_in_seconds_and_absent_by_default():
    """wait_before_open (a duration) reaches the Locust config as seconds; unset it stays None (wait applies)."""
    assert (0.02, None) == (build(wait_before_open="20ms").wait_before_open, build().wait_before_open)


def test_config_trades_the_first_symbols_of_the_universe():
    """symbol_count 2 keeps the exchange's first two symbols, with their reference prices."""
    assert [("AAA", 10.0), ("BBB", 11.0)] == [(s.symbol, s.ref_price) for s in build().symbols]


def test_more_symbols_than_the_exchange_lists_is_an_error():
    """Asking for more symbols than the universe holds is a ValueError."""
    with pytest.raises(ValueError, match="5 symbols but the exchange lists 4"):
        build(symbols=5)


def test_run_time_bound_is_the_duration_plus_a_margin():
    """Locust's own bound is the run's duration plus the margin."""
    assert 12.5 + RUN_TIME_MARGIN_S == build().run_time


def test_files_live_under_the_out_dir():
    """Parents logs, control file and ready file all sit under the load's out dir."""
    config = build(Path("/x/load"))
    assert ("/x/load/parents", "/x/load/control.json", "/x/load/ready") == (
        config.parents_dir, config.control_file, config.ready_file)


def test_parents_log_name_holds_the_host_and_the_pid():
    """Each Locust process writes its own parents log, named by its host and pid (containers are all pid 1)."""
    config = build(Path("/x/load"))
    assert Path("/x/load/parents/parents-c0ffee-1.jsonl") == config.parents_log("c0ffee", 1)
    assert config.parents_log("a", 1) != config.parents_log("b", 1)


def test_config_round_trips_through_its_file(tmp_path):
    """What the harness writes is what the locustfile reads."""
    config = build(tmp_path, mix=LoadMix(market_share=0.2))
    config.write(tmp_path / "load.json")
    assert config == LoadConfig.read(tmp_path / "load.json")


def test_config_file_is_private(tmp_path):
    """The file holds the fleet's token: only its owner may read it."""
    build(tmp_path).write(tmp_path / "load.json")
    assert 0o600 == stat.S_IMODE((tmp_path / "load.json").stat().st_mode)


def test_config_file_refuses_unknown_keys(tmp_path):
    """A config with a key the model does not know is refused."""
    path = tmp_path / "load.json"
    path.write_text(build(tmp_path).model_dump_json()[:-1] + ', "extra": 1}')
    with pytest.raises(ValueError, match="extra"):
        LoadConfig.read(path)


def test_single_process_command_is_headless_and_bounded():
    """Without workers: one headless Locust with users, rate, the run-time bound and CSV stats."""
    [(name, argv)] = runner(build(users=4, spawn_rate=8)).commands()
    expected = ["/py", "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING", "--headless", "-u", "4",
                "-r", "8", "--host", "http://127.0.0.1", "--csv", "/tmp/load/locust", "--only-summary",
                "--run-time", "23s", "--stop-timeout", "2"]
    assert ("locust", expected) == (name, argv)


def test_workers_get_a_master_bound_to_loopback():
    """With workers the master binds 127.0.0.1 on the given port and waits for them all."""
    commands = dict(runner(build(workers=2)).commands(master_port=5599))
    master = commands["master"]
    flags = {f: master[master.index(f) + 1] for f in ("--master-bind-host", "--master-bind-port", "--expect-workers")}
    assert {"--master-bind-host": "127.0.0.1", "--master-bind-port": "5599", "--expect-workers": "2"} == flags


def test_each_worker_dials_the_master_on_loopback():
    """Every worker connects to the master on 127.0.0.1 and the master's port."""
    commands = dict(runner(build(workers=2)).commands(master_port=5599))
    tails = [argv[argv.index("--worker"):] for name, argv in commands.items() if name.startswith("worker-")]
    assert [["--worker", "--master-host", "127.0.0.1", "--master-port", "5599"]] * 2 == tails


def test_workers_need_a_master_port():
    """Worker commands without a master port are a ValueError."""
    with pytest.raises(ValueError, match="master port"):
        runner(build(workers=1)).commands()


def test_locust_env_names_the_run_and_the_config_not_the_token(monkeypatch):
    """Locust gets the run id and config path in its env; the token stays in the private file."""
    monkeypatch.setenv("POWERPEG_TOKEN", "leak")
    env = runner(build()).env()
    assert ("run-1", "/tmp/load/load.json", None) == (
        env["POWERPEG_RUN_ID"], env["POWERPEG_LOAD_CONFIG"], env.get("POWERPEG_TOKEN"))


async def test_no_users_starts_no_process(tmp_path):
    """A load of 0 users starts nothing and stops cleanly."""
    load = runner(build(tmp_path, users=0), tmp_path)
    await load.start()
    await load.stop()
    assert ([], False) == (load.procs, load.running())


def test_the_harness_side_never_imports_locust():
    """Importing powerpeg.harness.load loads no Locust (gevent must stay out of the asyncio process)."""
    code = ("import sys, powerpeg.harness.load, powerpeg.harness.load.runner; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip()
