"""Outgoing HTTP notifications: alerts to the alert sink and parent
registration at the monitor.

Both are fire-and-forget: a bounded queue drained by a few workers, so a
slow or dead sink never blocks order flow; failures are counted and logged.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from .config import RouterConfig

if TYPE_CHECKING:
    from .parents import Parent

WORKERS = 4
QUEUE_SIZE = 10_000
POST_TIMEOUT_S = 2.0


class Notifier:
    def __init__(self, cfg: RouterConfig, token: str, log: Any) -> None:
        self.cfg = cfg
        self.log = log
        self.headers = {"Authorization": f"Bearer {token}"}
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self.http: aiohttp.ClientSession | None = None
        self.workers: list[asyncio.Task] = []
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        if not (self.cfg.alerts or self.cfg.monitor):
            return
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S))
        self.workers = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]

    def alert(self, severity: str, text: str) -> None:
        if not self.cfg.alerts or severity == "off":
            return
        body = {"source": self.cfg.id, "severity": severity, "text": text, "ts": time.time_ns()}
        self._put(f"{self.cfg.alerts}/alerts", body)

    def register_parent(self, parent: Parent, router_id: str) -> None:
        if not self.cfg.monitor:
            return
        body = {"parent_id": parent.parent_id, "router": router_id, "symbol": parent.symbol,
                "side": parent.side, "qty": parent.qty, "ts_ns": parent.created_ns}
        self._put(f"{self.cfg.monitor}/parents", body)

    def _put(self, url: str, body: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((url, body))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self.log.warning("notify_dropped", url=url, dropped=self.dropped)

    async def _worker(self) -> None:
        assert self.http is not None
        while True:
            url, body = await self.queue.get()
            try:
                async with self.http.post(url, json=body, headers=self.headers) as resp:
                    if resp.status >= 300:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status,
                                                          message=(await resp.text())[:200])
                self.sent += 1
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                self.failed += 1
                if self.failed == 1 or self.failed % 100 == 0:
                    self.log.warning("notify_failed", url=url, error=str(exc) or type(exc).__name__, failed=self.failed)
            finally:
                self.queue.task_done()

    async def close(self, drain_s: float = 1.0) -> None:
        """Give queued notifications a moment to go out, then stop."""
        if self.workers:
            try:
                await asyncio.wait_for(self.queue.join(), drain_s)
            except TimeoutError:
                pass
            for task in self.workers:
                task.cancel()
            await asyncio.gather(*self.workers, return_exceptions=True)
        if self.http is not None:
            await self.http.close()
