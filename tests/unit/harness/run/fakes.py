"""A fake fleet for the run's unit tests: the exchange, the alert sink and the monitor as tiny HTTP
services on loopback that can be killed (their port closed: connection refused, as a dead process
gives), and a backend that says what it is told."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web

from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.events import EventLog
from powerpeg.harness.experiment.model import Experiment
from powerpeg.harness.run.state import LiveRun, Progress, Run, schedule
from powerpeg.harness.topology import ExchangeEndpoints, ServiceEndpoints, Topology

FIRM = "KNIGHT"
MARKS = {"AAA": 10.0, "BBB": 20.0}
JOURNAL = [{"ts_ns": 1, "kind": "accepted", "firm": FIRM, "cl_ord_id": "router-1-000001.1", "session": "R1",
            "qty": 100, "symbol": "AAA", "side": "buy"}]


class Service:
    """One fake part: ``start()`` on a free port, ``kill()`` closes it."""

    def __init__(self, routes: list[web.RouteDef]) -> None:
        self.app = web.Application()
        self.app.add_routes(routes)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.port = self.runner.addresses[0][1]

    async def kill(self) -> None:
        assert self.runner is not None
        runner, self.runner = self.runner, None
        await runner.cleanup()


def exchange(journal: list[dict[str, Any]]) -> Service:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in journal)

    async def positions(_r: web.Request) -> web.Response:
        return web.json_response({"firms": {FIRM: {"gross_notional_usd": 1000.0, "pnl_usd": -5.0}}, "marks": MARKS})

    async def get_journal(request: web.Request) -> web.Response:
        return web.Response(body=body[int(request.query.get("offset", "0")):])

    async def kill(_r: web.Request) -> web.Response:
        return web.json_response({"cancelled": 0})

    return Service([web.get("/positions", positions), web.get("/journal", get_journal), web.post("/kill", kill)])


def alerts(listed: list[dict[str, Any]]) -> Service:
    async def get_alerts(_r: web.Request) -> web.Response:
        return web.json_response(listed)

    return Service([web.get("/alerts", get_alerts)])


def monitor() -> Service:
    async def health(_r: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    return Service([web.get("/health", health)])


class FakeBackend:
    """What the run asks of a backend here: whether a process runs, the journal file, logs."""

    name = "local"

    def __init__(self, journal_file: Path | None = None) -> None:
        self.exited: set[str] = set()
        self.journal_file = journal_file
        self.asked: list[str] = []

    async def process_state(self, component: str) -> str | None:
        self.asked.append(component)
        return "exited" if component in self.exited else None

    async def copy_journal(self, dest: Path) -> str:
        if self.journal_file is None:
            raise FleetError("no journal file here")
        shutil.copyfile(self.journal_file, dest)
        return f"copied from {self.journal_file}"

    def logs(self, component: str, lines: int = 50) -> str:
        return f"{component} log"


def experiment(method: list[dict[str, Any]] | None = None, *, monitor_enabled: bool = True) -> Experiment:
    return Experiment.model_validate({"name": "t", "duration": "5s", "topology": {"routers": 1},
                                      "controls": {"monitor": {"enabled": monitor_enabled}},
                                      "method": method or []})


class Fleet:
    """The three parts up, a run and its live run pointed at them."""

    def __init__(self, tmp: Path, *, method: list[dict[str, Any]] | None = None, monitor_enabled: bool = True,
                 listed_alerts: list[dict[str, Any]] | None = None) -> None:
        self.exchange = exchange(JOURNAL)
        self.alerts = alerts(listed_alerts or [])
        self.monitor = monitor()
        self.tmp = tmp
        self.backend = FakeBackend()
        self.exp = experiment(method, monitor_enabled=monitor_enabled)
        self.lines: list[str] = []

    async def up(self) -> LiveRun:
        for part in (self.exchange, self.alerts, self.monitor):
            await part.start()
        (self.tmp / "out").mkdir()
        (self.tmp / "state" / "logs").mkdir(parents=True)
        (self.tmp / "state" / "logs" / "exchange.log").write_text("exchange log\n")
        events = EventLog(self.tmp / "out" / "events.jsonl", run_id="r", experiment="t")
        run = Run(experiment=self.exp, backend=self.backend, out_dir=self.tmp / "out",  # type: ignore[arg-type]
                  events=events, progress=Progress(self.lines.append))
        run.faults = schedule(self.exp)
        run.method_start_ns = 0
        topology = Topology(backend="local", run_id="r", token="tok", firm=FIRM, state_dir=str(self.tmp / "state"),
                            journal=str(self.tmp / "state" / "journal.jsonl"),
                            exchange=ExchangeEndpoints("EXCHANGE", "127.0.0.1:1", "127.0.0.1:2", self.exchange.url),
                            routers=(), monitor=ServiceEndpoints(self.monitor.url),
                            alerts=ServiceEndpoints(self.alerts.url))
        self.live = LiveRun.open(run, topology)
        return self.live

    async def down(self) -> None:
        await self.live.http.close()
        for part in (self.exchange, self.alerts, self.monitor):
            if part.runner is not None:
                await part.runner.cleanup()
        self.live.run.events.close()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.live.run.events.events if e["event"] == name]
