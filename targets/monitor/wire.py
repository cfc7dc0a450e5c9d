"""Warm HTTP/1.1 connections for the monitor's reactions: the kill, the halts and the page
leave inside the very call that decides them.

Why not aiohttp for these: an aiohttp request runs in a task, so it starts only after the
callback that decided it returns — the drop copy's ``data_received``, which under a backlog
holds up to 256 KiB of reports — and each of its awaits then waits one more loop turn behind
the next read of the backlog. In the Knight open burst (issue 13) the kill reached the
exchange ~235 ms after the decision. Here the request is written synchronously on a
connection opened before it was needed and kept alive (:meth:`WarmPool.maintain`, from the
kill-path probe); only the answer is awaited. A connection that is missing, busy or broken
is not waited for: the caller falls back to aiohttp (``actions.py``), so nothing is lost,
only the head start.

Deliberately small: one request at a time per connection, ``Content-Length`` or chunked
answers, plain ``http://`` (a TLS base URL always takes the fallback).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_RESPONSE = 1 << 20  # an answer bigger than this is no answer to a kill; the connection is dropped
REFRESH_S = 10.0  # an idle connection is used (GET health) at least this often: servers close idle ones (30 s)


class WireError(ConnectionError):
    """The connection failed before a whole answer came (the request may or may not have arrived)."""


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body[:500].decode("utf-8", "replace")


class WarmConnection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection: :meth:`send` writes at once and returns the future answer."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.last_used = time.monotonic()
        self._buf = bytearray()
        self._pending: asyncio.Future[Answer] | None = None

    @property
    def idle(self) -> bool:
        return self.transport is not None and not self.closed and self._pending is None \
            and not self.transport.is_closing()

    def send(self, raw: bytes) -> asyncio.Future[Answer]:
        assert self.idle and self.transport is not None
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending = fut
        fut.add_done_callback(self._abandoned)
        self.last_used = time.monotonic()
        self.transport.write(raw)  # into the socket now when its buffer is empty (the usual case)
        return fut

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _abandoned(self, fut: asyncio.Future[Answer]) -> None:
        """The caller gave up (timeout): the answer may still come and would answer the next
        request, so the connection goes."""
        if fut.cancelled():
            self.close()

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._pending is None:
            self.close()  # nothing asked: a server that talks unasked is not one to trust a kill to
            return
        self._buf += data
        if len(self._buf) > MAX_RESPONSE:
            self._fail(WireError(f"answer from {self.origin} over {MAX_RESPONSE} bytes"))
            return
        try:
            parsed = _parse(self._buf)
        except WireError as exc:
            self._fail(exc)
            return
        if parsed is None:
            return
        answer, keep_alive = parsed
        fut, self._pending = self._pending, None
        self._buf.clear()
        if not keep_alive:
            self.close()
        if not fut.done():
            fut.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(WireError(f"connection to {self.origin} lost{f': {exc}' if exc else ''}"))

    def _fail(self, exc: Exception) -> None:
        fut, self._pending = self._pending, None
        self.close()
        if fut is not None and not fut.done():
            fut.set_exception(exc)


def _parse(buf: bytearray) -> tuple[Answer, bool] | None:
    """A whole answer in ``buf`` (and whether the connection stays open), or None: wait for more."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WireError(f"not an HTTP answer: {lines[0][:60]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] != "HTTP/1.0"
    start = head_end + 4
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(buf, start)
        return None if body is None else (Answer(status, body), keep_alive)
    length_txt = headers.get("content-length")
    if length_txt is None or not length_txt.isdigit():
        if status in (204, 304) or 100 <= status < 200:
            return Answer(status, b""), keep_alive
        raise WireError("answer without Content-Length")  # read-until-close is not worth a kill path
    end = start + int(length_txt)
    if len(buf) < end:
        return None
    return Answer(status, bytes(buf[start:end])), keep_alive


def _dechunk(buf: bytearray, pos: int) -> bytes | None:
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_txt = bytes(buf[pos:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise WireError(f"bad chunk size {size_txt[:20]!r}") from None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            if trailer_end < 0 and buf[line_end:line_end + 4] != b"\r\n\r\n":
                return None
            return bytes(body)
        start = line_end + 2
        if len(buf) < start + size + 2:
            return None
        body += buf[start:start + size]
        pos = start + size + 2


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    host_header: str


def origin_of(url: str) -> Origin | None:
    """The ``http://host:port`` of a base URL; None for what this module does not speak (https)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    port = parts.port or 80
    return Origin(parts.hostname, port, parts.netloc)


class WarmPool:
    """Warm connections to the origins of ``urls``: as many per origin as base URLs share it,
    plus one (a kill to the exchange and a page to the sink must not wait for each other)."""

    def __init__(self, urls: Iterable[str], headers: dict[str, str], *, connect_timeout_s: float = 1.0) -> None:
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.connect_timeout_s = connect_timeout_s
        self.size: dict[Origin, int] = {}
        self.health_path: dict[Origin, str] = {}
        for url in urls:
            origin = origin_of(url)
            if origin is None:
                continue
            self.size[origin] = self.size.get(origin, 1) + 1
            self.health_path.setdefault(origin, (urlsplit(url).path.rstrip("/") or "") + "/health")
        self.conns: dict[Origin, list[WarmConnection]] = {origin: [] for origin in self.size}
        self.errors: dict[str, str] = {}  # origin -> why the last connect failed
        self.fired = 0
        self.fallbacks = 0

    def fire(self, method: str, url: str, body: Any = None) -> asyncio.Future[Answer] | None:
        """Write the request now on an idle warm connection; None when there is none (the caller
        falls back). Must be called from the event loop's thread."""
        origin = origin_of(url)
        conns = self.conns.get(origin) if origin is not None else None
        if origin is None or not conns:
            self.fallbacks += 1
            return None
        for conn in conns:
            if conn.idle:
                break
        else:
            self.fallbacks += 1
            return None
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {origin.host_header}\r\n{self.headers}"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.fired += 1
        return conn.send(head.encode("latin-1") + payload)

    async def maintain(self) -> None:
        """Open what is missing, drop what closed, and use each idle connection at least every
        REFRESH_S (a GET of the origin's health) so no server times it out."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        opening = []
        for origin, conns in self.conns.items():
            conns[:] = [c for c in conns if not c.closed]
            for conn in conns:
                if conn.idle and now - conn.last_used > REFRESH_S:
                    opening.append(self._refresh(conn, origin))
            for _ in range(self.size[origin] - len(conns)):
                opening.append(self._open(loop, origin))
        if opening:
            await asyncio.gather(*opening)

    async def _open(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        key = f"{origin.host}:{origin.port}"
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: WarmConnection(key), origin.host, origin.port),
                self.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            self.errors[key] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return
        self.errors.pop(key, None)
        self.conns[origin].append(conn)

    async def _refresh(self, conn: WarmConnection, origin: Origin) -> None:
        head = (f"GET {self.health_path[origin]} HTTP/1.1\r\nHost: {origin.host_header}\r\n{self.headers}"
                f"Content-Length: 0\r\n\r\n")
        try:
            await asyncio.wait_for(conn.send(head.encode("latin-1")), self.connect_timeout_s)
        except (OSError, TimeoutError):
            conn.close()  # the next maintain() opens another

    def state(self) -> dict[str, Any]:
        open_now = {f"{o.host}:{o.port}": sum(1 for c in cs if not c.closed) for o, cs in self.conns.items()}
        return {"connections": open_now, "fired": self.fired, "fallbacks": self.fallbacks, "errors": dict(self.errors)}

    def close(self) -> None:
        for conns in self.conns.values():
            for conn in conns:
                conn.close()
            conns.clear()
