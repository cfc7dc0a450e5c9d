"""Command-line flags of the monitor (docs/targets.md, "monitor") and the typed config they become."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from powerpeg.targets.common.service import ConfigError, base_parser, parse_config
from powerpeg.targets.fix.credentials import PASSWORD_ENV, CredentialsError, read_password

from .limits import Limits


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


Number = TypeVar("Number", int, float)


def non_negative(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        value = kind(text)
        if not 0 <= value < float("inf"):  # NaN fails both: a limit of NaN or Infinity is no limit
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
        return value
    return parse


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


@dataclass
class MonitorConfig:
    firm: str = "KNIGHT"
    exchange_comp_id: str = "EXCHANGE"
    dropcopy: tuple[str, int] | None = None
    exchange_admin: str | None = None
    routers: list[str] = field(default_factory=list)
    alerts: str | None = None
    auto_kill: bool = False
    passive: bool = False
    limits: Limits = field(default_factory=Limits)
    version_check_ms: int = 500
    heartbeat_ms: int = 500
    repage_s: float = 5.0
    retain_parents_s: float = 60.0  # an idle parent with nothing working is forgotten after this
    instance: str = "monitor"
    fix_heartbeat_s: int = 2
    fix_password: str | None = field(default=None, repr=False)  # Password(554) on the drop copy's Logon
    host: str = "127.0.0.1"
    admin_port: int = 0
    run_id: str = "-"
    ready_file: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("monitor", "Risk monitor on the exchange drop copy: limits, paging, auto-kill.")
    p.add_argument("--dropcopy", type=host_port, help="exchange drop-copy FIX address HOST:PORT")
    p.add_argument("--exchange-comp-id", default="EXCHANGE")
    p.add_argument("--firm", default="KNIGHT", help="firm whose drop copy is watched (our SenderCompID)")
    p.add_argument("--exchange-admin", help="exchange admin base URL (kill switch)")
    p.add_argument("--router", action="append", default=[], help="router admin base URL (repeatable)")
    p.add_argument("--alerts", help="alert sink base URL")
    p.add_argument("--auto-kill", action="store_true", help="on a risk breach, kill the firm and halt the fleet")
    p.add_argument("--passive", action="store_true",
                   help="surveil and record breaches but never page or kill (the monitor switched off as a control)")
    p.add_argument("--max-gross-notional", type=non_negative(float), metavar="USD")
    p.add_argument("--max-net-notional", type=non_negative(float), metavar="USD")
    p.add_argument("--max-position", type=non_negative(int), metavar="SHARES")
    p.add_argument("--max-child-rate", type=non_negative(int), metavar="N", help="child orders per second")
    p.add_argument("--max-fill-rate", type=non_negative(int), metavar="N", help="fills per second")
    p.add_argument("--overfill-shares", type=non_negative(int), default=0, metavar="N",
                   help="executed shares allowed beyond a parent's quantity (default 0)")
    p.add_argument("--unregistered-grace-ms", type=non_negative(int), default=1000,
                   help="how long executions may wait for their parent's registration "
                        "(default 1000: registration is asynchronous and can lag under load)")
    p.add_argument("--version-check-ms", type=positive_int, default=500)
    p.add_argument("--heartbeat-ms", type=positive_int, default=500)
    p.add_argument("--repage-s", type=non_negative(float), default=5.0, help="minimum time between pages of one kind")
    p.add_argument("--retain-parents-s", type=non_negative(float), default=60.0, metavar="S",
                   help="forget a parent this long after its last drop-copy report once nothing of it is working "
                        "(default 60; a later child of it then pages as unregistered)")
    p.add_argument("--fix-password-file", type=Path, metavar="FILE",
                   help=f"the drop copy's Logon password (Username is the firm); default: ${PASSWORD_ENV}, else none")
    return p


def from_args(args: argparse.Namespace) -> MonitorConfig:
    try:
        password = read_password(args.fix_password_file)
    except CredentialsError as exc:
        raise ConfigError(f"--fix-password-file: {exc}") from None
    return MonitorConfig(
        fix_password=password,
        firm=args.firm,
        exchange_comp_id=args.exchange_comp_id,
        dropcopy=args.dropcopy,
        exchange_admin=args.exchange_admin,
        routers=list(args.router),
        alerts=args.alerts,
        auto_kill=args.auto_kill and not args.passive,
        passive=args.passive,
        limits=Limits(
            max_gross_notional=args.max_gross_notional,
            max_net_notional=args.max_net_notional,
            max_position=args.max_position,
            max_child_rate=args.max_child_rate,
            max_fill_rate=args.max_fill_rate,
            overfill_shares=args.overfill_shares,
            unregistered_grace_ms=args.unregistered_grace_ms,
        ),
        version_check_ms=args.version_check_ms,
        heartbeat_ms=args.heartbeat_ms,
        repage_s=args.repage_s,
        retain_parents_s=args.retain_parents_s,
        instance=args.instance,
        host=args.host,
        admin_port=args.admin_port,
        run_id=args.run_id,
        ready_file=args.ready_file,
    )


def parse(argv: list[str] | None = None) -> MonitorConfig:
    return parse_config(build_parser(), from_args, argv)
