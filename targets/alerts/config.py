"""Command-line flags of the alert sink (docs/targets.md, "alerts") and the typed config they become."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from targets.common.service import base_parser, parse_config


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    max_alerts: int = 100_000  # alerts kept in memory (oldest dropped)
    host: str = "127.0.0.1"
    admin_port: int = 0
    instance: str = "alerts"
    run_id: str = "-"
    ready_file: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("alerts", "Alert sink: routes page/email alerts, records delivery and acks.")
    parser.add_argument("--max-alerts", type=int, default=100_000, help="alerts kept in memory (oldest dropped)")
    return parser


def from_args(args: argparse.Namespace) -> AlertsConfig:
    return AlertsConfig(max_alerts=args.max_alerts, host=args.host, admin_port=args.admin_port,
                        instance=args.instance, run_id=args.run_id, ready_file=args.ready_file)


def parse(argv: list[str] | None = None) -> AlertsConfig:
    return parse_config(build_parser(), from_args, argv)
