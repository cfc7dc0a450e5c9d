"""Start and stop one router: symbols from the exchange, FIX gateway, HTTP.

Used by ``__main__`` and by tests that run a router in-process.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
from aiohttp import web

from targets.common.service import start_http

from .config import RouterConfig
from .engine import Router
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
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                last = str(exc) or type(exc).__name__
            if loop.time() + delay > end:
                raise StartupError(f"cannot fetch symbols from {url}/symbols within {deadline_s:g}s: {last}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class RunningRouter:
    """One started router: its context, HTTP runner and FIX task."""

    def __init__(self, router: Router, runner: web.AppRunner, port: int, fix_task: asyncio.Task,
                 stop: asyncio.Event) -> None:
        self.router = router
        self.runner = runner
        self.port = port
        self.fix_task = fix_task
        self.stop_event = stop

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "admin_port": self.port, "orders_url": f"{self.base_url}/orders",
                "admin_url": self.base_url}

    async def stop(self) -> None:
        """Log out from FIX, stop serving, flush notifications."""
        self.stop_event.set()
        try:
            await asyncio.wait_for(self.fix_task, 3.0)
        except asyncio.TimeoutError:
            self.fix_task.cancel()
        await self.runner.cleanup()
        await self.router.notifier.close()


async def start(cfg: RouterConfig, token: str, log: Any, *, symbols_deadline_s: float = SYMBOLS_DEADLINE_S,
                first_logon_wait_s: float = FIRST_LOGON_WAIT_S) -> RunningRouter:
    reference = await fetch_symbols(cfg.exchange_admin, symbols_deadline_s)
    log.info("symbols_loaded", count=len(reference), exchange_admin=cfg.exchange_admin)
    notifier = Notifier(cfg, token, log)
    router = Router(cfg, Prices(reference), notifier, log)
    notifier.start()
    stop = asyncio.Event()
    fix_task = asyncio.create_task(router.gateway.run(stop))
    runner, port = await start_http(build_app(router, token), cfg.host, cfg.admin_port)
    # Launchers send orders as soon as the ready file appears: give the first
    # logon a moment, but start anyway (reporting "fix": "down") if it is late.
    deadline = asyncio.get_running_loop().time() + first_logon_wait_s
    while not router.gateway.up and asyncio.get_running_loop().time() < deadline and not fix_task.done():
        await asyncio.sleep(0.02)
    return RunningRouter(router, runner, port, fix_task, stop)
