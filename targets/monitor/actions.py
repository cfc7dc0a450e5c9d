"""What the monitor does to the outside world over HTTP: page the alert sink,
hit the exchange kill switch, halt routers, probe router health and the
alert pipeline. Every call has a short timeout and never raises: a sink or
router that is down must not stop surveillance.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp


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
        self._session: aiohttp.ClientSession | None = None

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

    async def alert(self, severity: str, text: str, ts_ns: int) -> dict[str, Any]:
        if self.alerts is None:
            return {"error": "no --alerts configured"}
        body = {"source": self.source, "severity": severity, "text": text, "ts": ts_ns}
        return await self._call("POST", f"{self.alerts}/alerts", body)

    async def kill_firm(self, firm: str) -> dict[str, Any]:
        if self.exchange_admin is None:
            return {"target": "exchange", "error": "no --exchange-admin configured"}
        answer = await self._call("POST", f"{self.exchange_admin}/kill", {"firm": firm, "by": "monitor"})
        return {"target": "exchange", **answer}

    async def halt_router(self, url: str) -> dict[str, Any]:
        return {"target": "router", **await self._call("POST", f"{url}/halt", {})}

    async def kill_all(self, firm: str) -> list[dict[str, Any]]:
        """Exchange kill switch and every router halt, all at once."""
        return list(await asyncio.gather(self.kill_firm(firm), *(self.halt_router(u) for u in self.routers)))

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
