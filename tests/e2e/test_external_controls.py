"""A firm's own controls, measured like powerpeg's: what is published for them (`powerpeg env`,
`status --json`), the readiness wait (and its exit 3), and a control written here with nothing of
powerpeg's — a plain FIX 4.4 drop-copy reader and the HTTP kill switch — detected and killed from
the exchange journal and the alert sink, as the bundled monitor is."""
from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.runs import Result, alive, powerpeg, run, start, wait_for_event

FIRM = "KNIGHT"
MAX_CHILDREN = 12  # no parent of this desk needs more than 10 children of 100 (parents are at most 1,000)

EXPERIMENT = """\
name: {name}
description: Knight's partial deploy against a firm's own drop-copy surveillance
seed: 2012
duration: 10s
topology: {{routers: 4, version: v1, firm: KNIGHT, symbols: 20}}
market: {{open_at: 3s}}
load: {{users: 6, spawn_rate: 6, wait: 250ms, mix: {{rlp_share_after_open: 0.3}}}}
controls:
  external:
    ready: {{dropcopy: true, timeout: {timeout}}}
method:
  - {{at: 0s, fault: partial_deploy, args: {{version: v2, miss: [router-4]}}}}
abort: {{max_loss_usd: 500000, max_excess_shares: 100000, max_duration: 40s}}
assert: {{ttd_max: 2s, ttk_max: 2s}}
"""


def env_of(home: Path) -> dict[str, str]:
    """`powerpeg env`, read back as a shell would."""
    proc = powerpeg("env", home=home, timeout=30)
    assert 0 == proc.returncode, proc.stderr
    return dict(shlex.split(line)[0].split("=", 1) for line in proc.stdout.splitlines() if not line.startswith("#"))


# -- a firm's surveillance, written here: FIX 4.4 over asyncio, and HTTP ----------------------------
class DropCopyReader:
    """Logs on to the drop copy as the firm, answers heartbeats, hands every ExecutionReport on."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.seq = 0

    def frame(self, msg_type: str, fields: list[tuple[int, str]]) -> bytes:
        self.seq += 1
        now = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
        header = [(35, msg_type), (49, self.env["POWERPEG_DROPCOPY_SENDER_COMP_ID"]),
                  (56, self.env["POWERPEG_DROPCOPY_TARGET_COMP_ID"]), (34, str(self.seq)), (52, now)]
        body = "".join(f"{tag}={value}\x01" for tag, value in header + fields)
        text = f"8=FIX.4.4\x019={len(body)}\x01{body}"
        return (text + f"10={sum(text.encode()) % 256:03d}\x01").encode()

    async def run(self, on_report, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(self.env["POWERPEG_DROPCOPY_HOST"],
                                                       int(self.env["POWERPEG_DROPCOPY_PORT"]))
        logon = [(98, "0"), (108, "2"), (141, "Y")]
        if "POWERPEG_FIX_PASSWORD" in self.env:  # a venue that checks Logon credentials
            logon += [(553, self.env["POWERPEG_DROPCOPY_SENDER_COMP_ID"]), (554, self.env["POWERPEG_FIX_PASSWORD"])]
        writer.write(self.frame("A", logon))
        buffer, last_sent = b"", time.monotonic()
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                chunk = b""
            else:
                if not chunk:
                    return  # the venue closed the session
            buffer += chunk
            while (end := buffer.find(b"\x0110=")) >= 0 and (stop_at := buffer.find(b"\x01", end + 4)) >= 0:
                raw, buffer = buffer[:stop_at + 1], buffer[stop_at + 1:]
                fields = dict(item.split("=", 1) for item in raw.decode().rstrip("\x01").split("\x01"))
                if fields["35"] == "1":  # TestRequest
                    writer.write(self.frame("0", [(112, fields["112"])]))
                elif fields["35"] == "2":  # ResendRequest: all we ever sent is admin, gap-fill it
                    writer.write(self.frame("4", [(123, "Y"), (36, str(self.seq + 1))]))
                elif fields["35"] == "8":
                    await on_report(fields)
            if time.monotonic() - last_sent > 1.0:
                writer.write(self.frame("0", []))
                last_sent = time.monotonic()
            await writer.drain()
        writer.write(self.frame("5", []))
        writer.close()


class Surveillance:
    """A parent with more children than any of the desk's needs is a runaway: page, then kill the firm."""

    def __init__(self, env: dict[str, str], http: aiohttp.ClientSession) -> None:
        self.env, self.http = env, http
        self.children: dict[str, int] = defaultdict(int)
        self.fired: list[dict] = []

    async def on_report(self, er: dict[str, str]) -> None:
        if er.get("150") != "0" or self.fired:
            return
        parent = er["11"].rsplit(".", 1)[0]
        self.children[parent] += 1
        if self.children[parent] <= MAX_CHILDREN:
            return
        auth = {"Authorization": f"Bearer {self.env['POWERPEG_TOKEN']}"}
        text = f"runaway: parent {parent} has {self.children[parent]} child orders"
        async with self.http.post(self.env["POWERPEG_WEBHOOK_URL"], headers=auth, json={
                "source": "test-surveillance", "severity": "page", "text": text, "ts": time.time_ns()}) as resp:
            self.fired.append({"page": resp.status})
        async with self.http.post(self.env["POWERPEG_KILL_URL"], headers=auth,
                                  json={"firm": self.env["POWERPEG_FIRM"], "by": "test-surveillance"}) as resp:
            self.fired.append({"kill": resp.status})


async def watch_until_done(env: dict[str, str], proc) -> Surveillance:
    stop = asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        surveillance = Surveillance(env, http)
        task = asyncio.ensure_future(DropCopyReader(env).run(surveillance.on_report, stop))
        while proc.poll() is None and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
    return surveillance


# -- the tests ---------------------------------------------------------------------------------
def test_a_control_written_here_is_measured_like_the_monitor(tmp_path: Path) -> None:
    """Its page is the detection, its kill the exchange's kill record: contained by a control, and the run
    waited for its drop-copy logon before the open."""
    home, out = tmp_path / "home", tmp_path / "out"
    (path := tmp_path / "ext.yaml").write_text(EXPERIMENT.format(name="own-dropcopy-control", timeout="60s"))
    proc = start(path, out, home)
    try:
        wait_for_event(out, "controls_wait", timeout=90)
        env = env_of(home)
        surveillance = asyncio.run(watch_until_done(env, proc))
        stdout = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    r = Result(proc.returncode, out, stdout)
    m = r.metrics
    assert [{"page": 201}, {"kill": 200}] == surveillance.fired, r.stdout
    assert ("page", "test-surveillance", "control") == (m["detected_by"], m["kill_issued_by"], m["contained_by"]), m
    assert m["ttd_s"] >= 0 and m["ttk_s"] is not None, m
    ready = [e for e in r.events() if e["event"] == "controls_ready"]
    opened = [e for e in r.events() if e["event"] == "market_open"]
    assert ready and opened and ready[0]["ts_ns"] < opened[0]["ts_ns"]
    assert [] == alive(r.run_id())


def test_readiness_that_never_comes_is_exit_3_saying_what_was_missing(tmp_path: Path) -> None:
    """Nobody logs on to the drop copy: after ready.timeout the run ends, exit 3, naming the address to dial."""
    (path := tmp_path / "ext.yaml").write_text(EXPERIMENT.format(name="nobody-comes", timeout="2s"))
    r = run(path, tmp_path / "out", tmp_path / "home")
    assert 3 == r.code, r.stdout
    assert "the external control was not ready within 2s" in r.stdout
    assert f"no drop-copy session of firm {FIRM} logged on (dial 127.0.0.1:" in r.stdout
    assert "market_open" not in {e["event"] for e in r.events()}
    assert [] == alive(r.run_id())


@pytest.fixture
def fleet(tmp_path: Path):
    home = tmp_path / "home"
    proc = powerpeg("up", "--routers", "2", "--no-toxiproxy", home=home, timeout=120)
    assert 0 == proc.returncode, proc.stderr
    yield home
    assert 0 == powerpeg("down", home=home).returncode


def test_env_and_status_json_publish_what_works(fleet: Path) -> None:
    """Every address `powerpeg env` prints answers as documented: the PagerDuty key pages, the Alertmanager
    door takes a notification, the venue lists sessions; `status --json` says the same."""
    env = env_of(fleet)
    status = json.loads(powerpeg("status", "--json", home=fleet).stdout)["controls"]
    assert (env["POWERPEG_DROPCOPY"], env["POWERPEG_KILL_URL"], env["POWERPEG_PAGERDUTY_ROUTING_KEY"]) == (
        status["dropcopy"]["address"], status["kill"]["http"], status["pagerduty_routing_key"])
    assert 2 == len(env["POWERPEG_ROUTER_HALT_URLS"].split()) == len(env["POWERPEG_ROUTER_METRICS_TARGETS"].split(","))

    async def probe() -> tuple[int, int, int, int]:
        auth = {"Authorization": f"Bearer {env['POWERPEG_TOKEN']}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(env["POWERPEG_PAGERDUTY_URL"], json={
                    "routing_key": env["POWERPEG_PAGERDUTY_ROUTING_KEY"], "event_action": "trigger",
                    "payload": {"summary": "test", "source": "me", "severity": "critical"}}) as pd:
                pd_status = pd.status
            notification = {"version": "4", "groupKey": "g", "status": "firing", "receiver": "trading-pager",
                            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
                            "alerts": [{"status": "firing", "labels": {"alertname": "T"}, "annotations": {},
                                        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                                        "generatorURL": ""}]}
            async with http.post(env["POWERPEG_ALERTMANAGER_WEBHOOK_URL"], json=notification, headers=auth) as am:
                am_status = am.status
            async with http.get(env["POWERPEG_SESSIONS_URL"]) as sessions:
                sessions_status = sessions.status
            async with http.get(env["POWERPEG_EXCHANGE_METRICS_URL"]) as metrics:
                metrics_status = metrics.status  # no token: Prometheus scrapes without one
        return pd_status, am_status, sessions_status, metrics_status

    assert (202, 200, 200, 200) == asyncio.run(probe())
