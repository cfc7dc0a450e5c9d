"""Toxiproxy's HTTP API: the few calls the harness makes, for both backends
(the local toxiproxy-server process, the compose backend's container) and
for the `network` fault.

The API is spoken with aiohttp rather than through toxiproxy-python: that
client keeps the API host/port in class attributes (one process-wide mutable
setting, so two fleets in one process would talk to the same server) and its
calls are blocking ``requests`` calls, which would stall the event loop while
the fleet starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp


class ToxiproxyError(Exception):
    pass


@dataclass
class ToxiproxyClient:
    """The few API calls the harness needs, over one aiohttp session."""

    api: str  # http://127.0.0.1:PORT
    session: aiohttp.ClientSession

    def _url(self, *parts: str) -> str:
        return self.api + "/" + "/".join(quote(p, safe="") for p in parts)

    async def _call(self, method: str, url: str, json: Any = None) -> Any:
        async with self.session.request(method, url, json=json, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            if resp.status >= 400:
                raise ToxiproxyError(f"toxiproxy {method} {url}: HTTP {resp.status}: {(await resp.text()).strip()}")
            if resp.status == 204:
                return None
            return await resp.json(content_type=None)

    async def version(self) -> str:
        body = await self._call("GET", self._url("version"))
        return str(body.get("version", "?")) if isinstance(body, dict) else str(body)

    async def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> str:
        """Create a proxy; the HOST:PORT it really listens on."""
        body = await self._call("POST", self._url("proxies"),
                                {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return body["listen"]

    async def proxies(self) -> dict[str, dict[str, Any]]:
        return await self._call("GET", self._url("proxies"))

    async def delete_proxy(self, name: str) -> None:
        await self._call("DELETE", self._url("proxies", name))

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._call("POST", self._url("reset"))

    async def set_enabled(self, name: str, enabled: bool) -> None:
        await self._call("POST", self._url("proxies", name), {"enabled": enabled})

    async def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", self._url("proxies", proxy, "toxics"), toxic)

    async def remove_toxic(self, proxy: str, toxic: str) -> None:
        await self._call("DELETE", self._url("proxies", proxy, "toxics", toxic))
