"""Router command line: the deploy artifact (version) and every knob.

Parsed once at start into a frozen :class:`RouterConfig`; the only thing
that changes at run time are the flags (``PUT /flags``), which live in the
router itself.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powerpeg.targets.common.service import ConfigError, base_parser, parse_config
from powerpeg.targets.fix.credentials import PASSWORD_ENV, CredentialsError, read_password

VERSIONS = ("v1", "v2")
SEVERITIES = ("email", "page", "off")

# Run-time flags the router knows, with their type and default. ``rlp`` marks
# every new parent as RLP-flagged (the flag Knight repurposed in 2012).
FLAG_TYPES: dict[str, type] = {"rlp": bool}
FLAG_DEFAULTS: dict[str, Any] = {"rlp": False}

# A router id ends up in every parent id and ClOrdID, whose parent is found by
# splitting on the last ".", so the id itself must not contain one.
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class RouterConfig:
    id: str
    version: str
    exchange_host: str
    exchange_port: int
    exchange_comp_id: str
    exchange_admin: str
    firm: str = "KNIGHT"
    alerts: str | None = None
    monitor: str | None = None
    warning_severity: str = "email"
    child_qty: int = 100
    max_working_children: int = 1
    powerpeg_working: int = 1
    powerpeg_interval_ms: float = 20.0
    flags: tuple[tuple[str, Any], ...] = ()
    max_child_qty: int | None = None
    price_collar_pct: float | None = None
    max_parent_notional: float | None = None
    reject_duplicates: bool = False
    max_child_rate: int | None = None
    fix_heartbeat_s: int = 10
    fix_password: str | None = field(default=None, repr=False)  # Password(554) on the Logon; None: none sent
    host: str = "127.0.0.1"
    admin_port: int = 0
    instance: str = "router"
    run_id: str = "-"
    ready_file: Path | None = None

    @property
    def comp_id(self) -> str:
        """SenderCompID: the router id in upper case (router-3 → ROUTER-3)."""
        return self.id.upper()


def parse_flag_value(name: str, raw: Any) -> Any:
    """Check one flag against :data:`FLAG_TYPES`; strings from argv are converted."""
    if name not in FLAG_TYPES:
        raise ConfigError(f"unknown flag {name!r} (known: {', '.join(sorted(FLAG_TYPES))})")
    kind = FLAG_TYPES[name]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"flag {name!r} must be a boolean, got {raw!r}")
    raise ConfigError(f"flag {name!r} has unsupported type")  # pragma: no cover - only bool flags so far


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("router", "Order router: parent orders over HTTP, child orders over FIX.")
    p.add_argument("--id", default="router-1", help="router id; SenderCompID is its upper case")
    p.add_argument("--version", choices=VERSIONS, default="v2", help="the deployed build")
    p.add_argument("--exchange", required=True, help="exchange FIX address HOST:PORT")
    p.add_argument("--exchange-comp-id", default="EXCHANGE")
    p.add_argument("--exchange-admin", required=True, help="exchange admin base URL (symbols at start)")
    p.add_argument("--firm", default="KNIGHT", help="Account (1) on every order")
    p.add_argument("--alerts", help="alert sink base URL")
    p.add_argument("--monitor", help="monitor base URL where parents are registered")
    p.add_argument("--warning-severity", choices=SEVERITIES, default="email")
    p.add_argument("--child-qty", type=int, default=100)
    p.add_argument("--max-working-children", type=int, default=1)
    p.add_argument("--powerpeg-working", type=int, default=1, help="v1 Power Peg children in flight per parent")
    p.add_argument("--powerpeg-interval-ms", type=float, default=20.0,
                   help="v1 Power Peg: least time between two children of one parent (0 = FIX round-trip speed)")
    p.add_argument("--flag", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--max-child-qty", type=int)
    p.add_argument("--price-collar-pct", type=float)
    p.add_argument("--max-parent-notional", type=float)
    p.add_argument("--reject-duplicates", action="store_true")
    p.add_argument("--max-child-rate", type=int)
    p.add_argument("--fix-heartbeat-s", type=int, default=10)
    p.add_argument("--fix-password-file", type=Path, metavar="FILE",
                   help=f"the Logon password (Username is the SenderCompID); default: ${PASSWORD_ENV}, else none")
    return p


def _positive(name: str, value: float | None) -> None:
    if value is not None and not 0 < value < float("inf"):  # NaN fails both
        raise ConfigError(f"--{name} must be a finite number > 0, got {value}")


def from_args(args: argparse.Namespace) -> RouterConfig:
    """Validate parsed arguments; :class:`ConfigError` names the bad flag."""
    if not _ID_RE.match(args.id):
        raise ConfigError(f"--id {args.id!r} must be letters, digits, '-' or '_' (no '.')")
    host, sep, port = args.exchange.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--exchange {args.exchange!r} must be HOST:PORT")
    for name in ("child-qty", "max-working-children", "powerpeg-working", "fix-heartbeat-s",
                 "max-child-qty", "price-collar-pct", "max-parent-notional", "max-child-rate"):
        _positive(name, getattr(args, name.replace("-", "_")))
    if not 0 <= args.powerpeg_interval_ms < float("inf"):
        raise ConfigError(f"--powerpeg-interval-ms must be >= 0, got {args.powerpeg_interval_ms}")
    flags = dict(FLAG_DEFAULTS)
    for item in args.flag:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--flag {item!r} must be NAME=VALUE")
        flags[name] = parse_flag_value(name, raw)
    instance = args.id if args.instance == "router" else args.instance
    try:
        password = read_password(args.fix_password_file)
    except CredentialsError as exc:
        raise ConfigError(f"--fix-password-file: {exc}") from None
    return RouterConfig(
        id=args.id, version=args.version, exchange_host=host, exchange_port=int(port),
        exchange_comp_id=args.exchange_comp_id, exchange_admin=args.exchange_admin.rstrip("/"),
        firm=args.firm, alerts=args.alerts.rstrip("/") if args.alerts else None,
        monitor=args.monitor.rstrip("/") if args.monitor else None,
        warning_severity=args.warning_severity, child_qty=args.child_qty,
        max_working_children=args.max_working_children, powerpeg_working=args.powerpeg_working,
        powerpeg_interval_ms=args.powerpeg_interval_ms,
        flags=tuple(flags.items()), max_child_qty=args.max_child_qty,
        price_collar_pct=args.price_collar_pct, max_parent_notional=args.max_parent_notional,
        reject_duplicates=args.reject_duplicates, max_child_rate=args.max_child_rate,
        fix_heartbeat_s=args.fix_heartbeat_s, fix_password=password, host=args.host, admin_port=args.admin_port,
        instance=instance, run_id=args.run_id, ready_file=args.ready_file,
    )


def parse(argv: list[str] | None = None) -> RouterConfig:
    return parse_config(build_parser(), from_args, argv)
