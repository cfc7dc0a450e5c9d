"""Outgoing HTTP notifications: alerts to the alert sink and parent
registration at the monitor.

Both are fire-and-forget, so a slow or dead sink never blocks order flow;
failures are counted and logged. Alerts: a bounded queue drained by a few
workers, one POST each. Registrations: one POST /parents/batch at a time,
carrying every parent accepted while the previous one was in flight — one
request for one parent when it is quiet, one for hundreds in a burst.
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
PARENT_BATCH = 500  # parents per POST /parents/batch (the monitor takes up to 1,000)


class Notifier:
    def __init__(self, cfg: RouterConfig, token: str, log: Any) -> None:
        self.cfg = cfg
        self.log = log
        self.headers = {"Authorization": f"Bearer {token}"}
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self.http: aiohttp.ClientSession | None = None
        self.workers: list[asyncio.Task] = []
        self._parents: list[dict[str, Any]] = []  # registrations not posted yet
        self._registering: asyncio.Task | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        if not (self.cfg.alerts or self.cfg.monitor):
            return
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S))
        self.workers = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]
        self._kick()  # registrations of parents accepted before the start

    def alert(self, severity: str, text: str) -> None:
        if not self.cfg.alerts or severity == "off":
            return
        body = {"source": self.cfg.id, "severity": severity, "text": text, "ts": time.time_ns()}
        self._put(f"{self.cfg.alerts}/alerts", body)

    def register_parent(self, parent: Parent, router_id: str) -> None:
        if not self.cfg.monitor:
            return
        if len(self._parents) >= QUEUE_SIZE:
            self._dropped(f"{self.cfg.monitor}/parents/batch")
            return
        self._parents.append({"parent_id": parent.parent_id, "router": router_id, "symbol": parent.symbol,
                              "side": parent.side, "qty": parent.qty, "ts_ns": parent.created_ns})
        self._kick()

    def _kick(self) -> None:
        """Start posting the pending registrations unless a post is under way (or not started yet)."""
        if self.http is not None and self._parents and (self._registering is None or self._registering.done()):
            self._registering = asyncio.get_running_loop().create_task(self._register())

    async def _register(self) -> None:
        """Post what is pending, a batch at a time, until nothing is."""
        url = f"{self.cfg.monitor}/parents/batch"
        while self._parents:
            batch, self._parents = self._parents[:PARENT_BATCH], self._parents[PARENT_BATCH:]
            await self._post(url, {"parents": batch}, len(batch))

    def _put(self, url: str, body: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((url, body))
        except asyncio.QueueFull:
            self._dropped(url)

    def _dropped(self, url: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            self.log.warning("notify_dropped", url=url, dropped=self.dropped)

    async def _post(self, url: str, body: dict[str, Any], count: int = 1) -> None:
        """One POST; ``count`` notifications sent, or failed, by it."""
        assert self.http is not None
        try:
            async with self.http.post(url, json=body, headers=self.headers) as resp:
                if resp.status >= 300:
                    raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status,
                                                      message=(await resp.text())[:200])
            self.sent += count
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            before, self.failed = self.failed, self.failed + count
            if before == 0 or before // 100 != self.failed // 100:
                self.log.warning("notify_failed", url=url, error=str(exc) or type(exc).__name__, failed=self.failed)

    async def _worker(self) -> None:
        while True:
            url, body = await self.queue.get()
            try:
                await self._post(url, body)
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
        if self._registering is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._registering), drain_s)
            except TimeoutError:
                self._registering.cancel()
                await asyncio.gather(self._registering, return_exceptions=True)
        if self.http is not None:
            await self.http.close()
