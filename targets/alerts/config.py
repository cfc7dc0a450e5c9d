"""Command-line flags of the alert sink (docs/targets.md, "alerts") and the typed config they become.

The receivers' routes say which channel each outside sender's alerts go to:
an Alertmanager receiver name, or a PagerDuty routing key, → ``page``,
``phone``, ``email`` or ``chat``. They come from ``--routes-file`` (YAML),
then ``--route`` flags on top. PagerDuty routing keys are credentials: keep
them in the file, not on the command line, where ``ps`` shows them.
"""
from __future__ import annotations

import argparse
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from powerpeg.targets.common.service import ConfigError, base_parser, parse_config

from .core import CHANNELS

KINDS = ("alertmanager", "pagerduty")
ANY = "*"  # an Alertmanager receiver not listed
NONE = "none"  # ... is refused (400) instead of routed


def key_hint(routing_key: str) -> str:
    """How a routing key shows where anyone may read (GET /routes, GET /alerts): its last 4 characters."""
    return f"…{routing_key[-4:]}" if len(routing_key) >= 12 else "…"


@dataclass(frozen=True, slots=True)
class Routes:
    """Receiver → channel. Alertmanager: by receiver name, with a default for the names not listed
    (``page`` unless configured; None refuses them). PagerDuty: by routing key, no default: an
    unknown key is refused, since the key is the only credential a PagerDuty sender has."""

    alertmanager: Mapping[str, str] = field(default_factory=dict)
    alertmanager_default: str | None = "page"
    pagerduty: Mapping[str, str] = field(default_factory=dict)

    def for_receiver(self, receiver: str) -> str | None:
        return self.alertmanager.get(receiver, self.alertmanager_default)

    def for_routing_key(self, routing_key: str) -> str | None:
        given = routing_key.encode()
        found = None
        for key, channel in self.pagerduty.items():
            # every key compared, in constant time each: the answer's timing says nothing of the keys
            if hmac.compare_digest(key.encode(), given):
                found = channel
        return found

    def view(self) -> dict[str, Any]:
        """What GET /routes shows: routing keys by their hint only."""
        return {
            "alertmanager": {"path": "/alertmanager", "auth": "bearer token",
                             "receivers": dict(self.alertmanager), "default": self.alertmanager_default},
            "pagerduty": {"path": "/v2/enqueue", "auth": "routing key",
                          "routing_keys": [{"key": key_hint(k), "channel": c} for k, c in self.pagerduty.items()]},
            "webhook": {"path": "/alerts", "auth": "bearer token", "channel": "the alert's severity"},
        }


class _RoutesBuilder:
    """Collects routes from the file and the flags, checking each as it comes."""

    def __init__(self) -> None:
        self.alertmanager: dict[str, str] = {}
        self.alertmanager_default: str | None = "page"
        self.pagerduty: dict[str, str] = {}

    def add(self, kind: str, key: str, channel: str, where: str) -> None:
        if kind not in KINDS:
            raise ConfigError(f"{where}: unknown receiver kind {kind!r} (one of {', '.join(KINDS)})")
        if not key:
            raise ConfigError(f"{where}: empty {'receiver name' if kind == 'alertmanager' else 'routing key'}")
        if channel == NONE and kind == "alertmanager" and key == ANY:
            self.alertmanager_default = None
            return
        if channel not in CHANNELS:
            raise ConfigError(f"{where}: unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
        if kind == "alertmanager":
            if key == ANY:
                self.alertmanager_default = channel
            else:
                self.alertmanager[key] = channel
        elif key == ANY:
            raise ConfigError(f"{where}: PagerDuty routes name each routing key (it is the sender's credential)")
        else:
            self.pagerduty[key] = channel

    def add_flag(self, text: str) -> None:
        where = f"--route {text}"
        kind, sep, rest = text.partition(":")
        key, eq, channel = rest.rpartition("=")
        if not sep or not eq:
            raise ConfigError(f"{where}: expected KIND:KEY=CHANNEL, e.g. alertmanager:trading-pager=page")
        self.add(kind, key, channel, where)

    def add_file(self, path: Path) -> None:
        where = f"--routes-file {path}"
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if data is None:
            return
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of receiver kind → {{key: channel}}")
        for kind, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: {kind}: expected a mapping of key → channel")
            for key, channel in table.items():
                self.add(str(kind), str(key), str(channel), f"{where}: {kind}: {key}")

    def build(self) -> Routes:
        return Routes(self.alertmanager, self.alertmanager_default, self.pagerduty)


def build_routes(*, routes_file: Path | None = None, flags: list[str] | None = None) -> Routes:
    """Routes from a YAML file (``{alertmanager: {NAME: CHANNEL, "*": CHANNEL}, pagerduty: {KEY: CHANNEL}}``)
    and ``--route`` flags after it; a bad entry is a :class:`ConfigError` naming it."""
    builder = _RoutesBuilder()
    if routes_file is not None:
        builder.add_file(routes_file)
    for text in flags or []:
        builder.add_flag(text)
    return builder.build()


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    max_alerts: int = 100_000  # alerts kept in memory (oldest dropped)
    routes: Routes = field(default_factory=Routes)
    host: str = "127.0.0.1"
    admin_port: int = 0
    instance: str = "alerts"
    run_id: str = "-"
    ready_file: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("alerts", "Alert sink: routes page/phone/email/chat alerts, records delivery and acks.")
    parser.add_argument("--max-alerts", type=int, default=100_000, help="alerts kept in memory (oldest dropped)")
    parser.add_argument("--route", action="append", default=[], metavar="KIND:KEY=CHANNEL",
                        help="alertmanager:RECEIVER=CHANNEL (RECEIVER '*': the default, page unless set; "
                             "'*=none' refuses receivers not listed) or pagerduty:ROUTING_KEY=CHANNEL; repeatable")
    parser.add_argument("--routes-file", type=Path, metavar="PATH",
                        help="YAML {alertmanager: {RECEIVER: CHANNEL}, pagerduty: {ROUTING_KEY: CHANNEL}}; "
                             "--route flags apply on top")
    return parser


def from_args(args: argparse.Namespace) -> AlertsConfig:
    routes = build_routes(routes_file=args.routes_file, flags=args.route)
    return AlertsConfig(max_alerts=args.max_alerts, routes=routes, host=args.host, admin_port=args.admin_port,
                        instance=args.instance, run_id=args.run_id, ready_file=args.ready_file)


def parse(argv: list[str] | None = None) -> AlertsConfig:
    return parse_config(build_parser(), from_args, argv)
