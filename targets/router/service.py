"""One router as a service: symbols from the exchange, the core, its FIX
gateway and its HTTP port; ``start()`` brings them up, ``stop()`` takes them
down.

``main`` is what ``python -m powerpeg.targets.router`` runs; tests run a
:class:`RouterService` in-process.
"""
from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import structlog

from powerpeg.targets.common.service import AdminSite, serve_main

from . import config
from .config import RouterConfig
from .core import Router
from .http import build_app
from .market import Prices, parse_symbols
from .notify import Notifier

SYMBOLS_DEADLINE_S = 10.0
FIRST_LOGON_WAIT_S = 5.0


class StartupError(RuntimeError):
    """The router cannot start; the message says why."""


async def fetch_symbols(url: str, deadline_s: float = SYMBOLS_DEADLINE_S) -> dict[str, int]:
    """``GET {url}/symbols`` with brief retries; StartupError when it stays unreachable."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    delay = 0.05
    last = "no attempt"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
        while True:
            try:
                async with http.get(f"{url}/symbols") as resp:
                    if resp.status != 200:
                        raise ValueError(f"HTTP {resp.status}")
                    return parse_symbols(await resp.json())
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                last = str(exc) or type(exc).__name__
            if loop.time() + delay > end:
                raise StartupError(f"cannot fetch symbols from {url}/symbols within {deadline_s:g}s: {last}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class RouterService:
    """One router: its core (built at start, from the exchange's symbols), HTTP port and FIX task."""

    router: Router  # the core, once started
    http: AdminSite  # its HTTP port (orders and admin), once started

    def __init__(self, cfg: RouterConfig, token: str, log: Any, *, symbols_deadline_s: float = SYMBOLS_DEADLINE_S,
                 first_logon_wait_s: float = FIRST_LOGON_WAIT_S) -> None:
        self.cfg = cfg
        self.token = token
        self.log = log
        self.symbols_deadline_s = symbols_deadline_s
        self.first_logon_wait_s = first_logon_wait_s
        self.fix_task: asyncio.Task | None = None
        self.stop_event = asyncio.Event()  # the FIX gateway's: set by stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    def ready_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "admin_port": self.http.port, "orders_url": f"{self.base_url}/orders",
                "admin_url": self.base_url}

    async def start(self) -> None:
        """Fetch the symbols (StartupError when the exchange admin stays unreachable), then serve."""
        cfg, log = self.cfg, self.log
        reference = await fetch_symbols(cfg.exchange_admin, self.symbols_deadline_s)
        log.info("symbols_loaded", count=len(reference), exchange_admin=cfg.exchange_admin)
        notifier = Notifier(cfg, self.token, log)
        self.router = router = Router(cfg, Prices(reference), notifier, log)
        notifier.start()
        self.fix_task = fix_task = asyncio.create_task(router.gateway.run(self.stop_event))
        self.http = AdminSite(build_app(router, self.token), cfg.host, cfg.admin_port)
        await self.http.start()
        # Launchers send orders as soon as the ready file appears: give the first
        # logon a moment, but start anyway (reporting "fix": "down") if it is late.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_logon_wait_s
        while not router.gateway.up and loop.time() < deadline and not fix_task.done():
            await asyncio.sleep(0.02)
        log.info("router_ready", port=self.http.port, fix=router.health()["fix"],
                 child_qty=cfg.child_qty, checks=[c.name for c in router.checks])

    async def stop(self) -> None:
        """Log out from FIX, stop serving, flush notifications."""
        self.log.info("router_stopping")
        self.stop_event.set()
        if self.fix_task is not None:
            try:
                await asyncio.wait_for(self.fix_task, 3.0)
            except TimeoutError:
                self.fix_task.cancel()
        await self.http.stop()
        await self.router.notifier.close()


def main(argv: list[str] | None = None) -> int:
    cfg = config.parse(argv)
    try:
        serve_main("router", cfg, RouterService, router=cfg.id, version=cfg.version)
    except StartupError as exc:
        # the logger serve_main configured, with the same binding
        structlog.get_logger().bind(router=cfg.id, version=cfg.version).error("router_start_failed", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
