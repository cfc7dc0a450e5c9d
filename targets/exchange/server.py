"""The exchange as a service object: ``start()`` binds everything, ``stop()`` undoes it.

Used by ``__main__`` and directly by in-process tests (port 0 everywhere).
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from targets.common.service import start_http
from targets.fix.codec import FRAMER
from targets.fix.session import FixSession

from .admin import build_app
from .clock import MarketClock
from .config import Config
from .engine import Engine
from .fixgate import DROPCOPY_TYPES, ORDER_ENTRY_TYPES, DropCopy, ExchangeSession, OrderEntry
from .journal import Journal
from .liquidity import Liquidity
from .symbols import universe


class Exchange:
    def __init__(self, config: Config, token: str, log: Any) -> None:
        self.config = config
        self.token = token
        self.log = log
        self.journal = Journal(config.journal_path())
        self.engine = Engine(universe(config.symbols, config.seed), self.journal)
        self.liquidity = Liquidity(self.engine, seed=config.seed) if config.liquidity else None
        self.engine.liquidity = self.liquidity
        self.engine.preopen_reject = config.preopen == "reject"
        self.engine.is_open = False
        self.clock = MarketClock(config.open_at_ns, config.preopen, self._on_open)
        self.order_entry = OrderEntry(self.engine, allow=config.allow, cod_default=config.cod_default, log=log)
        self.dropcopy = DropCopy(self.engine, log=log)
        self.sessions: set[FixSession] = set()
        self.stopping = False
        self.fix_port = 0
        self.dropcopy_port = 0
        self.admin_port = 0
        self._fix_server: asyncio.AbstractServer | None = None
        self._dc_server: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None

    def ready_info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(), "admin_port": self.admin_port, "fix_port": self.fix_port,
            "dropcopy_port": self.dropcopy_port, "journal": str(self.journal.path),
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
        self._runner, self.admin_port = await start_http(build_app(self, self.token), cfg.host, cfg.admin_port)
        self.clock.start()
        self.log.info("exchange_started", fix_port=self.fix_port, dropcopy_port=self.dropcopy_port,
                      admin_port=self.admin_port, journal=str(self.journal.path), phase=self.clock.phase,
                      symbols=len(self.engine.books), liquidity=self.liquidity is not None, framer=FRAMER)

    async def stop(self) -> None:
        """Stop in reverse order: no new connections, no quotes, sessions out, journal flushed."""
        self.stopping = True
        self.clock.stop()
        for server in (self._fix_server, self._dc_server):
            if server is not None:
                server.close()
        if self.liquidity is not None:
            await self.liquidity.stop()
        for session in list(self.sessions):
            session.logout("exchange shutting down")
        self.journal.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.log.info("exchange_stopped", journal_records=self.journal.records_written)

    def _session(self, app: Any, known: frozenset[str]) -> FixSession:
        session = ExchangeSession(self.sessions, app, comp_id=self.config.comp_id, role="acceptor", known_types=known, log=self.log)
        return session

    def _on_open(self) -> None:
        self.engine.open_market(self.liquidity.start if self.liquidity is not None else None)
        self.log.info("market_open", queued_processed=True)

