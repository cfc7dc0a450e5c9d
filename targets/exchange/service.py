"""The exchange as a service: ``start()`` binds everything, ``stop()`` undoes it.

Wiring only: the engine (``core``) with its journal, market makers and
clock, the two FIX doors (``fixgate``) on their listeners, and the admin
API (``http``). ``main`` is what ``python -m powerpeg.targets.exchange`` runs; tests
and benchmarks build an :class:`ExchangeService` in-process (port 0
everywhere).
"""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from powerpeg.targets.common.service import AdminSite, serve_main
from powerpeg.targets.fix.codec import FRAMER
from powerpeg.targets.fix.session import FixSession
from powerpeg.targets.fix.store import FileStores, MemoryStores, SessionStores

from .clock import MarketClock
from .config import ExchangeConfig, parse
from .core import Engine
from .fixgate import DROPCOPY_TYPES, ORDER_ENTRY_TYPES, DropCopy, ExchangeSession, OrderEntry
from .http import build_app
from .journal import Journal
from .liquidity import Liquidity
from .symbols import universe


class ExchangeService:
    def __init__(self, config: ExchangeConfig, token: str, log: Any) -> None:
        self.config = config
        self.log = log
        self.journal = Journal(config.journal_path(), segment_bytes=config.journal_segment_bytes)
        self.engine = Engine(universe(config.symbols, config.seed), self.journal)
        self.liquidity = Liquidity(self.engine, seed=config.seed) if config.liquidity else None
        self.engine.liquidity = self.liquidity
        self.engine.preopen_reject = config.preopen == "reject"
        self.engine.is_open = False
        self.clock = MarketClock(config.open_at_ns, config.preopen, self._on_open)
        self.order_entry = OrderEntry(self.engine, allow=config.allow, cod_default=config.cod_default, log=log,
                                      credentials=config.credentials)
        self.dropcopy = DropCopy(self.engine, credentials=config.credentials, log=log)
        # One message store per CompID pair and door (order entry and drop copy are separate sessions
        # even for the same CompIDs), kept across restarts of this process.
        self.store_dir = None if config.store_in_memory else config.store_path()
        self.stores: dict[str, SessionStores] = (
            {"order-entry": MemoryStores(), "drop-copy": MemoryStores()} if self.store_dir is None else
            {door: FileStores(self.store_dir / door) for door in ("order-entry", "drop-copy")})
        self.sessions: set[FixSession] = set()
        self.stopping = False
        self._release: asyncio.Task[None] | None = None
        self.fix_port = 0
        self.dropcopy_port = 0
        self._fix_server: asyncio.AbstractServer | None = None
        self._dc_server: asyncio.AbstractServer | None = None
        self.http = AdminSite(build_app(self, token), config.host, config.admin_port)

    def ready_info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(), "admin_port": self.http.port, "fix_port": self.fix_port,
            "dropcopy_port": self.dropcopy_port, "journal": str(self.journal.path),
            "fix_store": str(self.store_dir) if self.store_dir is not None else "memory",
        }

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        self._fix_server = await loop.create_server(
            lambda: self._session(self.order_entry, ORDER_ENTRY_TYPES), cfg.host, cfg.fix_port, reuse_address=True)
        self._dc_server = await loop.create_server(
            lambda: self._session(self.dropcopy, DROPCOPY_TYPES), cfg.host, cfg.dropcopy_port, reuse_address=True)
        self.fix_port = self._fix_server.sockets[0].getsockname()[1]
        self.dropcopy_port = self._dc_server.sockets[0].getsockname()[1]
        await self.http.start()
        self.clock.start()
        for stores in self.stores.values():
            for name, cut in getattr(stores, "torn", []):
                self.log.warning("fix_store_torn_tail", file=name, bytes_cut=cut)
        self.log.info("exchange_started", fix_port=self.fix_port, dropcopy_port=self.dropcopy_port,
                      admin_port=self.http.port, journal=str(self.journal.path), phase=self.clock.phase,
                      symbols=len(self.engine.books), liquidity=self.liquidity is not None, framer=FRAMER,
                      fix_store=str(self.store_dir) if self.store_dir is not None else "memory",
                      fix_credentials="off" if cfg.credentials is None else len(cfg.credentials.passwords))

    async def stop(self) -> None:
        """Stop in reverse order: no new connections, no quotes, sessions out, journal flushed, stores closed."""
        self.stopping = True
        self.order_entry.stopping = True  # the venue closing is not the clients' disconnect: no COD
        self.clock.stop()
        if self._release is not None:
            self._release.cancel()
        for server in (self._fix_server, self._dc_server):
            if server is not None:
                server.close()
        if self.liquidity is not None:
            await self.liquidity.stop()
        for session in list(self.sessions):
            session.logout("exchange shutting down")
        self.journal.close()
        for stores in self.stores.values():
            stores.close()
        await self.http.stop()
        self.log.info("exchange_stopped", journal_records=self.journal.records_written)

    def _session(self, app: Any, known: frozenset[str]) -> FixSession:
        order_entry = app is self.order_entry
        # A firm may have several drop-copy listeners at once (the first owns the store); an
        # order-entry CompID one session at a time.
        return ExchangeSession(self.sessions, app, comp_id=self.config.comp_id, role="acceptor", known_types=known,
                               log=self.log, stores=self.stores["order-entry" if order_entry else "drop-copy"],
                               exclusive=order_entry, credentials=self.config.credentials,
                               intake_budget=self.config.intake_budget, intake_slice_s=self.config.intake_slice_s)

    def _on_open(self) -> None:
        queued = len(self.engine.queue)
        self.engine.open_market(self.liquidity.start if self.liquidity is not None else None, release=False)
        self.log.info("market_open", queued=queued)
        if self.engine.releasing:
            self._release = asyncio.get_running_loop().create_task(self._release_queue(queued))

    async def _release_queue(self, queued: int) -> None:
        """The pre-open queue, a slice per turn of the loop (as a session's intake: ``intake_budget`` orders,
        at most ``intake_slice_s``): a kill, a drop copy or a heartbeat waits one slice, not the whole open
        (bench/open_burst)."""
        budget, slice_s = self.config.intake_budget, self.config.intake_slice_s
        started = asyncio.get_running_loop().time()
        while self.engine.release(budget, until=time.perf_counter() + slice_s):
            await asyncio.sleep(0)
        self.log.info("open_queue_released", orders=queued,
                      seconds=round(asyncio.get_running_loop().time() - started, 4))


def main(argv: list[str] | None = None) -> None:
    """Flags → config → serve until SIGTERM."""
    serve_main("exchange", parse(argv), ExchangeService)
