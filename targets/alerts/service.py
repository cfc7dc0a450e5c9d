"""The alert sink as a service: the core (``core.AlertSink``) behind its HTTP
API; ``start()`` binds the port, ``stop()`` releases it.

``main`` is what ``python -m powerpeg.targets.alerts`` runs.
"""
from __future__ import annotations

import os
from typing import Any

from powerpeg.targets.common.service import AdminSite, serve_main

from .config import AlertsConfig, parse
from .core import AlertSink
from .http import build_app


class AlertsService:
    def __init__(self, cfg: AlertsConfig, token: str, log: Any) -> None:
        self.log = log
        self.sink = AlertSink(log=log, max_alerts=cfg.max_alerts)
        self.http = AdminSite(build_app(self.sink, token, cfg.routes), cfg.host, cfg.admin_port)

    def ready_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "admin_port": self.http.port}

    async def start(self) -> None:
        await self.http.start()
        self.log.info("alerts_serving", admin_port=self.http.port)

    async def stop(self) -> None:
        """Delayed deliveries are dropped with the process: cancel their timers, then stop serving."""
        self.sink.cancel_timers()
        await self.http.stop()
        self.log.info("alerts_stopped")


def main(argv: list[str] | None = None) -> None:
    serve_main("alerts", parse(argv), AlertsService)
