"""The kill, the halts and the pages written at once on warm connections (targets/monitor/wire.py)."""
import asyncio
import socket
import threading
import time

import pytest

import structlog

from powerpeg.targets.monitor.actions import Actions
from powerpeg.targets.monitor.book import Parent
from powerpeg.targets.monitor.config import MonitorConfig
from powerpeg.targets.monitor.core import Monitor
from powerpeg.targets.monitor.wire import Answer, WireError, _parse

from tests.unit.targets.monitor.fakes import TOKEN, fill


def make_monitor(*, alerts: str | None = None, exchange_admin: str | None = None, routers: list[str] | None = None,
                 auto_kill: bool = False) -> Monitor:
    """A monitor wired to exactly the neighbours given (the shared fake wires all three to one URL)."""
    cfg = MonitorConfig(alerts=alerts, exchange_admin=exchange_admin, routers=routers or [], auto_kill=auto_kill)
    actions = Actions(token=TOKEN, source="monitor", alerts=alerts, exchange_admin=exchange_admin,
                      routers=cfg.routers, timeout_s=1.0)
    return Monitor(cfg, actions=actions, log=structlog.get_logger())


class ThreadedHttp:
    """An HTTP/1.1 keep-alive server on its own thread: it records (path, receipt ns) while the
    test's event loop is busy, which a server on that loop could not. ``hang_up_next`` closes
    the next request's connection without an answer (a server timing out an idle connection)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[tuple[str, int]] = []
        self.hang_up_next = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.05)
            self._conns.append(conn)
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(rest) < length:
                    break
                buf = rest[length:]
                path = head.split(b" ")[1].decode()
                self.received.append((path, time.time_ns()))
                if self.hang_up_next:
                    self.hang_up_next = False
                    conn.close()
                    return
                body = b'{"ok":true}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                             % (len(body), body))

    def paths(self) -> list[str]:
        return [path for path, _ in self.received]

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._conns:
            conn.close()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def server():
    srv = ThreadedHttp()
    yield srv
    srv.close()


async def test_the_kill_reaches_the_exchange_while_the_backlog_is_still_being_evaluated(server) -> None:
    """With warm connections the kill and the halt arrive before the monitor's loop has yielded
    once after the decision: the backlog behind the breaching fill does not delay them."""
    monitor = make_monitor(exchange_admin=server.url, routers=[f"{server.url}/router-1"], auto_kill=True)
    await monitor.actions.warm.maintain()
    monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
    monitor.register_parent(Parent("router-2-000001", "router-2", "BBB", "buy", 10**12, 0))
    monitor.on_execution(fill("router-1-000001.1", 200))  # the breach: kill decided here
    decided = monitor.kill_decisions[0]["at_ns"]
    backlog = 0
    deadline = time.monotonic() + 10
    # the backlog, evaluated without ever yielding to the loop (as one big data_received would)
    while len(server.received) < 2 and time.monotonic() < deadline:
        for _ in range(1000):
            backlog += 1
            monitor.on_execution(fill(f"router-2-000001.{backlog}", 100, symbol="BBB"))
    arrived_before_yield = sorted(server.paths())
    await monitor.drain()
    results = monitor.kill["results"]
    await monitor.actions.close()
    assert (["/kill", "/router-1/halt"], True, [200, 200], ["warm", "warm"]) == (
        arrived_before_yield, all(ns >= decided for _, ns in server.received),
        [r["status"] for r in results], [r["via"] for r in results])


async def test_the_page_is_written_on_the_breaching_message(server) -> None:
    """The over-fill page reaches the sink before the loop yields."""
    monitor = make_monitor(alerts=server.url)
    await monitor.actions.warm.maintain()
    monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
    monitor.on_execution(fill("router-1-000001.1", 200))
    deadline = time.monotonic() + 10
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.001)  # the loop is held: only a request already written can arrive
    paths = server.paths()
    await monitor.drain()
    alert = monitor.breaches[0]["alert"]
    await monitor.actions.close()
    assert (["/alerts"], 200) == (paths, alert["status"])


async def test_without_a_warm_connection_the_kill_goes_through_aiohttp(server) -> None:
    """Before the first maintain() nothing is warm: the kill still arrives, by the fallback."""
    monitor = make_monitor(exchange_admin=server.url, auto_kill=True)
    monitor.register_parent(Parent("router-1-000001", "router-1", "AAA", "buy", 100, 0))
    monitor.on_execution(fill("router-1-000001.1", 200))
    await monitor.drain()
    [result] = monitor.kill["results"]
    await monitor.actions.close()
    assert ("/kill", 200, None) == (server.paths()[-1], result["status"], result.get("via"))


async def test_a_warm_connection_lost_under_the_request_is_retried(server) -> None:
    """The server hangs up instead of answering (an idle connection it was closing): the request
    is sent once more through aiohttp and answered."""
    monitor = make_monitor(exchange_admin=server.url, auto_kill=True)
    await monitor.actions.warm.maintain()
    server.hang_up_next = True
    result = await monitor.actions.kill_firm("KNIGHT")
    await monitor.actions.close()
    assert (["/kill", "/kill"], 200, True) == (server.paths(), result["status"], "warm_error" in result)


async def test_maintain_replaces_closed_connections(server) -> None:
    """A warm connection the server closed is dropped and a new one opened by the next maintain()."""
    monitor = make_monitor(exchange_admin=server.url)
    pool = monitor.actions.warm
    await pool.maintain()
    for conns in pool.conns.values():
        conns[0].close()
    await asyncio.sleep(0.01)
    await pool.maintain()
    open_now = pool.state()["connections"]
    await monitor.actions.close()
    assert {f"127.0.0.1:{server.port}": 2} == open_now


def test_an_answer_with_content_length_is_complete_only_when_all_there() -> None:
    """Head and half a body: wait; the whole body: the answer, kept alive."""
    head = b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n"
    assert (None, (Answer(201, b'{"id":"a1"}'), True)) == (_parse(bytearray(head + b'{"id"')),
                                                          _parse(bytearray(head + b'{"id":"a1"}')))


def test_a_chunked_answer_is_joined() -> None:
    """Transfer-Encoding: chunked answers are read chunk by chunk; Connection: close is honoured."""
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
    assert (Answer(200, b'{"a":1}'), False) == _parse(bytearray(raw))


def test_what_is_not_http_is_an_error() -> None:
    """A status line that is not HTTP/1.x fails the request instead of guessing."""
    with pytest.raises(WireError, match="not an HTTP answer"):
        _parse(bytearray(b"SSH-2.0-OpenSSH\r\n\r\n"))
