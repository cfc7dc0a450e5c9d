"""What the monitor does to the outside world over HTTP: page the alert sink,
hit the exchange kill switch, halt routers, probe router health and the
alert pipeline. Every call has a short timeout and never raises: a sink or
router that is down must not stop surveillance.

The reactions (page, kill, halts) are *started* by plain calls — ``start_alert``,
``start_kill_all`` — that write their requests at once on warm connections
(``wire.py``) and return what to await for the answers; without a warm
connection they go through aiohttp as before. Probes and heartbeats are not in
a hurry and use aiohttp.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine
from typing import Any

import aiohttp

from .wire import Answer, WarmPool


class Actions:
    def __init__(
        self,
        *,
        token: str,
        source: str,
        alerts: str | None,
        exchange_admin: str | None,
        routers: list[str],
        timeout_s: float = 2.0,
    ) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.source = source
        self.alerts = alerts.rstrip("/") if alerts else None
        self.exchange_admin = exchange_admin.rstrip("/") if exchange_admin else None
        self.routers = [r.rstrip("/") for r in routers]
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        urls = [u for u in (self.exchange_admin, *self.routers, self.alerts) if u]
        self.warm = WarmPool(urls, self.headers, connect_timeout_s=min(timeout_s, 1.0))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Many pages, kills and probes may be in flight at once in a runaway.
            # No DNS cache: a deploy recreates router containers under new
            # addresses, and aiohttp's 10 s cache made the halts of a kill go
            # to the old ones (connect refused). Kept-alive connections stay
            # warm; only a new connection pays a lookup.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, use_dns_cache=False))
        return self._session

    async def close(self) -> None:
        self.warm.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, url: str, body: Any = None, timeout: aiohttp.ClientTimeout | None = None,
                    ) -> dict[str, Any]:
        """One request; the result records status and body, or the error."""
        result: dict[str, Any] = {"url": url}
        try:
            async with self.session.request(method, url, json=body, headers=self.headers,
                                            timeout=timeout or self.timeout) as resp:
                result["status"] = resp.status
                try:
                    result["body"] = await resp.json(content_type=None)
                except ValueError:
                    result["body"] = (await resp.text())[:500]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result["done_ns"] = time.time_ns()
        return result

    def start(self, method: str, url: str, body: Any = None, **extra: Any) -> Coroutine[Any, Any, dict[str, Any]]:
        """Send now on a warm connection if one is idle (``sent_ns`` in the result says when it
        was written), else through aiohttp once awaited; either way the same result shape."""
        fut = self.warm.fire(method, url, body)
        if fut is None:
            return self._fallback(method, url, body, extra)
        return self._answer(fut, url, time.time_ns(), extra, method, body)

    async def _fallback(self, method: str, url: str, body: Any, extra: dict[str, Any]) -> dict[str, Any]:
        return {**extra, **await self._call(method, url, body)}

    async def _answer(self, fut: Awaitable[Answer], url: str, sent_ns: int, extra: dict[str, Any],
                      method: str, body: Any) -> dict[str, Any]:
        result: dict[str, Any] = {**extra, "url": url, "sent_ns": sent_ns, "via": "warm"}
        try:
            answer = await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            result["error"] = "TimeoutError"
        except ConnectionError as exc:
            # Lost before the answer (the server closed an idle connection as we wrote, say):
            # whether it arrived is unknown, and a kill, halt or page twice is harmless; once
            # more through aiohttp.
            retry = await self._call(method, url, body)
            return {**extra, **retry, "warm_error": str(exc)}
        else:
            result["status"] = answer.status
            result["body"] = answer.json()
        result["done_ns"] = time.time_ns()
        return result

    def start_alert(self, severity: str, text: str, ts_ns: int) -> Coroutine[Any, Any, dict[str, Any]]:
        if self.alerts is None:
            return _ready({"error": "no --alerts configured"})
        body = {"source": self.source, "severity": severity, "text": text, "ts": ts_ns}
        return self.start("POST", f"{self.alerts}/alerts", body)

    async def alert(self, severity: str, text: str, ts_ns: int) -> dict[str, Any]:
        return await self.start_alert(severity, text, ts_ns)

    def start_kill_all(self, firm: str) -> Coroutine[Any, Any, list[dict[str, Any]]]:
        """Exchange kill switch and every router halt, all written now (the exchange's first);
        await the result for their answers."""
        if self.exchange_admin is None:
            first = _ready({"target": "exchange", "error": "no --exchange-admin configured"})
        else:
            first = self.start("POST", f"{self.exchange_admin}/kill", {"firm": firm, "by": "monitor"},
                               target="exchange")
        halts = [self.start("POST", f"{url}/halt", {}, target="router") for url in self.routers]
        return _gather([first, *halts])

    async def kill_firm(self, firm: str) -> dict[str, Any]:
        if self.exchange_admin is None:
            return {"target": "exchange", "error": "no --exchange-admin configured"}
        return await self.start("POST", f"{self.exchange_admin}/kill", {"firm": firm, "by": "monitor"},
                                target="exchange")

    async def halt_router(self, url: str) -> dict[str, Any]:
        return await self.start("POST", f"{url}/halt", {}, target="router")

    async def kill_all(self, firm: str) -> list[dict[str, Any]]:
        """Exchange kill switch and every router halt, all at once."""
        return await self.start_kill_all(firm)

    async def router_health(self, url: str, timeout_s: float) -> dict[str, Any]:
        return await self._call("GET", f"{url}/health", timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def heartbeat(self, seq: int, timeout_s: float) -> tuple[bool, str | None]:
        """True when the sink acknowledged this seq in time; else the reason."""
        if self.alerts is None:
            return False, "no --alerts configured"
        result = await self._call("POST", f"{self.alerts}/heartbeat", {"source": self.source, "seq": seq},
                                  timeout=aiohttp.ClientTimeout(total=timeout_s))
        body = result.get("body")
        if result.get("status") == 200 and isinstance(body, dict) and body.get("ack") == seq:
            return True, None
        if "error" in result:
            return False, result["error"]
        reason = body.get("reason") if isinstance(body, dict) else None
        return False, f"HTTP {result.get('status')}: {reason or body}"


async def _ready(value: Any) -> Any:
    return value


async def _gather(calls: list[Coroutine[Any, Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*calls))
