"""Flags of ``python -m powerpeg.targets.exchange`` and the typed config they become."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from powerpeg.targets.common.service import ConfigError, base_parser, parse_config
from powerpeg.targets.fix.credentials import CREDENTIALS_ENV, Credentials, CredentialsError

from .journal import SEGMENT_BYTES
from .symbols import MIN_SYMBOLS


# FIX messages a session handles per turn of the event loop (--intake-budget). Without a bound, one read
# of a pipelining client (256 KiB, some 1,500 orders) ran 30 ms or more before anything else on the loop,
# and an admin POST /kill during a burst waited hundreds of milliseconds behind the order flow
# (bench/exchange_throughput, kill-during-burst). A slice this size is about a millisecond of work.
INTAKE_BUDGET = 64
# ... and at most this long (--intake-slice-ms), whichever ends first. The count alone made a slice of
# crossing orders (~60 us each with the market makers' requotes) 4 ms long, and every execution's drop
# copy waited for the end of its slice: at 15,000 executions/s the drop copy's p99 was 11-46 ms with
# slices of 64, 5-7 ms with 16, 3.5-4 ms with 8, and the time bound gives 8-ish to crossing orders
# while resting ones (~12 us) still go some 40 at a time (bench/dropcopy_lag).
INTAKE_SLICE_MS = 0.5


@dataclass(frozen=True)
class ExchangeConfig:
    host: str = "127.0.0.1"
    admin_port: int = 0
    fix_port: int = 0
    dropcopy_port: int = 0
    comp_id: str = "EXCHANGE"
    allow: frozenset[str] = frozenset()
    credentials: Credentials | None = None  # None: any CompID logs on without a password (--allow aside)
    seed: int = 1
    symbols: int = MIN_SYMBOLS
    open_at_ns: int = 0
    preopen: str = "queue"
    journal: Path | None = None
    journal_segment_bytes: int = SEGMENT_BYTES  # --journal-segment-mb: a new journal segment past this size
    store: Path | None = None  # --store DIR; None: a fixstore directory next to the journal
    store_in_memory: bool = False  # --store memory: sequence numbers last as long as the process
    cod_default: bool = True
    intake_budget: int = INTAKE_BUDGET
    intake_slice_s: float = INTAKE_SLICE_MS / 1000
    liquidity: bool = True
    instance: str = "exchange"
    run_id: str = "-"
    ready_file: Path | None = None

    def journal_path(self) -> Path:
        if self.journal is not None:
            return self.journal
        return Path(tempfile.gettempdir()) / f"powerpeg-exchange-{os.getpid()}.ndjson"

    def store_path(self) -> Path:
        """Where the FIX message stores live: ``--store``, else ``fixstore`` next to ``--journal``
        (so a restart with the same flags finds them), else a directory of this process's own."""
        if self.store is not None:
            return self.store
        if self.journal is not None:
            return self.journal.parent / "fixstore"
        return Path(tempfile.gettempdir()) / f"powerpeg-exchange-{os.getpid()}-fixstore"


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("exchange", "Mock exchange: FIX 4.4 order entry and drop copy, order books, market makers.")
    p.add_argument("--fix-port", type=int, default=0)
    p.add_argument("--dropcopy-port", type=int, default=0)
    p.add_argument("--comp-id", default="EXCHANGE")
    p.add_argument("--allow", action="append", default=[], metavar="COMP_ID",
                   help="SenderCompID allowed to log on for order entry (repeatable; absent = anyone)")
    p.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                   help="Logon passwords per CompID and drop-copy subscribers per firm (JSON; targets/fix/"
                        f"credentials.py); default: ${CREDENTIALS_ENV} if set, else no passwords asked")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--symbols", type=int, default=MIN_SYMBOLS)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--open-in", type=float, default=0.0, metavar="SECONDS")
    when.add_argument("--open-at", type=int, default=None, metavar="NS")
    p.add_argument("--preopen", choices=("queue", "reject"), default="queue")
    p.add_argument("--journal", type=Path, default=None)
    p.add_argument("--journal-segment-mb", type=float, default=SEGMENT_BYTES / (1 << 20), metavar="MIB",
                   help="the journal goes on in a new segment file (journal.1.jsonl, ...) once one reaches "
                        "this size (default %(default)s)")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="FIX message stores (sequence numbers and sent messages, kept across restarts); "
                        "default: fixstore next to --journal; 'memory' keeps them in memory only")
    p.add_argument("--cod-default", choices=("on", "off"), default="on")
    p.add_argument("--no-liquidity", action="store_true", help="no market makers")
    p.add_argument("--intake-budget", type=int, default=INTAKE_BUDGET, metavar="N",
                   help="FIX messages one session handles per turn of the event loop, so that the admin API "
                        "(a kill) is never behind more than that of a burst (default %(default)s)")
    p.add_argument("--intake-slice-ms", type=float, default=INTAKE_SLICE_MS, metavar="MS",
                   help="... and for at most this long: the drop copies of a slice's executions go out when "
                        "it ends (default %(default)s)")
    return p


def from_args(args: argparse.Namespace) -> ExchangeConfig:
    """Validate parsed arguments; :class:`ConfigError` names the bad flag."""
    if args.symbols < MIN_SYMBOLS:
        raise ConfigError(f"--symbols must be >= {MIN_SYMBOLS}")
    if args.open_in < 0:
        raise ConfigError("--open-in must be >= 0")
    if args.store == "":
        raise ConfigError("--store must be a directory or 'memory'")
    if not 1 <= args.intake_budget <= 1_000_000:
        raise ConfigError(f"--intake-budget must be 1..1000000, got {args.intake_budget}")
    if not 0.01 <= args.intake_slice_ms <= 1000:  # NaN fails this too
        raise ConfigError(f"--intake-slice-ms must be 0.01..1000, got {args.intake_slice_ms}")
    if not 0 < args.journal_segment_mb <= 1 << 20:  # NaN fails this too
        raise ConfigError(f"--journal-segment-mb must be > 0 and at most {1 << 20} (a TiB), "
                          f"got {args.journal_segment_mb}")
    open_at = args.open_at if args.open_at is not None else time.time_ns() + int(args.open_in * 1e9)
    try:
        credentials = Credentials.load(args.credentials)
    except CredentialsError as exc:
        raise ConfigError(f"--credentials: {exc}") from None
    return ExchangeConfig(
        host=args.host, admin_port=args.admin_port, fix_port=args.fix_port, dropcopy_port=args.dropcopy_port,
        comp_id=args.comp_id, allow=frozenset(args.allow), credentials=credentials, seed=args.seed,
        symbols=args.symbols,
        open_at_ns=open_at, preopen=args.preopen, journal=args.journal,
        journal_segment_bytes=max(1, int(args.journal_segment_mb * (1 << 20))),
        store=None if args.store in (None, "memory") else Path(args.store), store_in_memory=args.store == "memory",
        cod_default=args.cod_default == "on", intake_budget=args.intake_budget,
        intake_slice_s=args.intake_slice_ms / 1000,
        liquidity=not args.no_liquidity, instance=args.instance, run_id=args.run_id, ready_file=args.ready_file,
    )


def parse(argv: list[str] | None = None) -> ExchangeConfig:
    return parse_config(build_parser(), from_args, argv)
