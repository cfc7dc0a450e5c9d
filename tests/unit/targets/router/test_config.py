"""Router command line parsing."""
from __future__ import annotations

import pytest

from powerpeg.targets.router.config import build_parser, from_args, ConfigError

BASE = ["--exchange", "127.0.0.1:9000", "--exchange-admin", "http://127.0.0.1:9001/"]


def parse(*extra: str):
    return from_args(build_parser().parse_args([*BASE, *extra]))


def test_defaults_follow_the_contract() -> None:
    """Defaults: firm KNIGHT, child qty 100, one working child, email warnings, rlp off, no checks."""
    cfg = parse()
    assert ("KNIGHT", 100, 1, "email", (("rlp", False),), None, None, None, False, None) == (
        cfg.firm, cfg.child_qty, cfg.max_working_children, cfg.warning_severity, cfg.flags,
        cfg.max_child_qty, cfg.price_collar_pct, cfg.max_parent_notional, cfg.reject_duplicates, cfg.max_child_rate)


def test_comp_id_is_upper_case_router_id() -> None:
    """--id router-3 logs on as ROUTER-3."""
    assert "ROUTER-3" == parse("--id", "router-3").comp_id


def test_exchange_address_is_split() -> None:
    """--exchange HOST:PORT gives host and port; trailing slash of admin URL dropped."""
    cfg = parse()
    assert ("127.0.0.1", 9000, "http://127.0.0.1:9001") == (cfg.exchange_host, cfg.exchange_port, cfg.exchange_admin)


def test_flag_sets_initial_value() -> None:
    """--flag rlp=true starts with the rlp flag on."""
    assert (("rlp", True),) == parse("--flag", "rlp=true").flags


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--flag", "nope=1"], "nope"),
        (["--flag", "rlp=maybe"], "rlp"),
        (["--flag", "rlp"], "--flag"),
        (["--id", "router.1"], "--id"),
        (["--child-qty", "0"], "--child-qty"),
        (["--max-child-rate", "-5"], "--max-child-rate"),
    ],
)
def test_bad_values_name_the_flag(extra, named) -> None:
    """An unusable value is refused with the flag named."""
    with pytest.raises(ConfigError, match=named):
        parse(*extra)


def test_bad_exchange_address_is_refused() -> None:
    """--exchange without a port is refused."""
    with pytest.raises(ConfigError, match="--exchange"):
        from_args(build_parser().parse_args(["--exchange", "localhost", "--exchange-admin", "http://x"]))


def test_the_fix_password_comes_from_its_file_and_stays_out_of_repr(tmp_path, monkeypatch) -> None:
    """--fix-password-file gives the Logon password (never argv); the config's repr does not show it."""
    monkeypatch.delenv("POWERPEG_FIX_PASSWORD", raising=False)
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    cfg = parse("--fix-password-file", str(path))
    assert ("s3cret", None, False) == (cfg.fix_password, parse().fix_password, "s3cret" in repr(cfg))


def test_an_unreadable_fix_password_file_is_a_usage_error_naming_the_flag(tmp_path) -> None:
    with pytest.raises(ConfigError, match="--fix-password-file"):
        parse("--fix-password-file", str(tmp_path / "missing"))
