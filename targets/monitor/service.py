"""The monitor as a service: the core (``core.Monitor``) with its HTTP API,
the drop-copy session and the periodic checks; ``start()`` brings them up,
``stop()`` takes them down.

``main`` is what ``python -m powerpeg.targets.monitor`` runs.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from powerpeg.targets.common.service import AdminSite, serve_main

from .actions import Actions
from .checks import heartbeat_loop, kill_path_loop, version_loop
from .config import MonitorConfig, parse
from .core import Monitor
from .dropcopy import DropCopyClient
from .http import build_app


class MonitorService:
    def __init__(self, cfg: MonitorConfig, token: str, log: Any) -> None:
        self.cfg = cfg
        self.log = log
        self.actions = Actions(token=token, source=cfg.instance, alerts=cfg.alerts,
                               exchange_admin=cfg.exchange_admin, routers=cfg.routers)
        self.monitor = Monitor(cfg, actions=self.actions, log=log)
        self.http = AdminSite(build_app(self.monitor, token), cfg.host, cfg.admin_port)
        self.tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()  # the loops': set by stop()

    def ready_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "admin_port": self.http.port}

    async def start(self) -> None:
        cfg, monitor, stop = self.cfg, self.monitor, self._stop
        await self.http.start()
        loops = [version_loop(monitor, stop), heartbeat_loop(monitor, stop), kill_path_loop(monitor, stop)]
        if cfg.dropcopy is not None:
            loops.append(DropCopyClient(monitor, *cfg.dropcopy).run(stop))
        else:
            self.log.warning("no_dropcopy", detail="--dropcopy not given: nothing to surveil")
        self.tasks = [asyncio.create_task(loop) for loop in loops]
        self.log.info("monitor_serving", admin_port=self.http.port, limits=cfg.limits.as_dict(),
                      auto_kill=cfg.auto_kill, routers=cfg.routers)

    async def stop(self) -> None:
        """Let the loops end (the drop copy logs out), then the pages and kills in flight, then HTTP."""
        self._stop.set()
        try:
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=3)
        finally:
            for task in self.tasks:
                task.cancel()
            await self.monitor.drain()
            await self.actions.close()
            await self.http.stop()
            self.log.info("monitor_stopped")


def main(argv: list[str] | None = None) -> None:
    serve_main("monitor", parse(argv), MonitorService)
