"""`powerpeg ui` end to end: a real fleet, real Locust with its web UI and its
login page, the control API through Locust's web app (with the token or a
logged-in session), a real headless Chromium logging in and pressing KILL on
the Chaos page, and a clean shutdown on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from powerpeg.harness import procs
from powerpeg.harness.load.runner import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
EXPERIMENT = """\
name: ui-gameday
description: a small fleet for the Chaos tab
hypothesis: a person detects and kills the runaway
seed: 5
duration: 60s
topology: {routers: 2, version: v1, firm: KNIGHT, symbols: 4}
market: {open_at: 1s}
load: {users: 2, spawn_rate: 2, wait: 250ms}
controls:
  monitor: {enabled: true, auto_kill: false, version_check: false}
method:
  - name: deploy v2, router-2 missed
    at: 0s
    fault: partial_deploy
    args: {version: v2, miss: [router-2]}
abort: {max_loss_usd: 50000000, max_duration: 300s}
rollback: always
"""


@dataclass
class GameDay:
    """One `powerpeg ui` process, its output and how to reach it."""

    proc: subprocess.Popen
    port: int
    home: Path
    out: Path
    lines: list[str] = field(default_factory=list)
    token: str = ""
    run_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def topology(self) -> dict[str, Any]:
        env = {**os.environ, "POWERPEG_HOME": str(self.home)}
        out = subprocess.run([sys.executable, "-m", "powerpeg.harness.cli", "status", "--json"], env=env, check=True,
                             capture_output=True, text=True, timeout=30).stdout
        return json.loads(out)

    def stop(self, timeout: float = 90.0, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def request(method: str, url: str, token: str | None = None, body: dict | None = None,
            opener: urllib.request.OpenerDirector | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data if method == "POST" else None)
    if method == "POST" and data is None:
        req.data = b""
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener.open if opener else urllib.request.urlopen)(req, timeout=20) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


http_request = request  # under another name where pytest's `request` fixture takes this one


def start_gameday(tmp: Path, *extra: str) -> GameDay:
    tmp.mkdir(parents=True, exist_ok=True)
    exp = tmp / "ui-gameday.yaml"
    exp.write_text(EXPERIMENT)
    port = free_port()
    env = {**os.environ, "POWERPEG_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "powerpeg.harness.cli", "ui", str(exp), "--port", str(port),
                             "--out", str(tmp / "out"), "--max-duration", "180", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gd = GameDay(proc, port, tmp / "home", tmp / "out")
    threading.Thread(target=lambda: gd.lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    deadline = time.monotonic() + 150
    while not any("Ctrl-C to end the game day" in line for line in gd.lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            gd.stop()
            raise AssertionError("powerpeg ui did not come up:\n" + "".join(gd.lines))
        time.sleep(0.1)
    banner = next(line for line in gd.lines if "admin token" in line)
    gd.token = banner.rsplit(" ", 1)[1].strip()
    gd.run_id = banner.split("run ", 1)[1].split(";", 1)[0]
    return gd


@pytest.fixture(scope="module")
def gameday(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GameDay]:
    gd = start_gameday(tmp_path_factory.mktemp("ui"))
    yield gd
    gd.stop()


def routers_halted(topology: dict[str, Any]) -> list[bool]:
    return [request("GET", f"{r['admin']}/health")[1]["halted"] for r in topology["routers"]]


def operator_kills(topology: dict[str, Any]) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{topology['exchange']['admin']}/journal", timeout=20) as resp:
        records = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "kill" and r.get("by") == "operator"]


def test_status_reports_the_experiment_its_faults_and_no_kill(gameday: GameDay) -> None:
    """GET /chaos/status names the experiment and lists the method's faults with their state."""
    code, status = request("GET", f"{gameday.url}/chaos/status")
    assert 200 == code
    assert {"experiment", "phase", "faults", "alerts", "metrics", "killed"} <= set(status)
    assert ("ui-gameday", "partial_deploy") == (status["experiment"], status["faults"][0]["kind"])


@pytest.mark.parametrize("path", ["faults/0/inject", "faults/0/revert", "alerts/a-000001/ack", "kill", "reinstate"])
def test_post_without_token_is_401(gameday: GameDay, path: str) -> None:
    """Every control action without the admin bearer token and without a logged-in session is refused with 401."""
    assert 401 == request("POST", f"{gameday.url}/chaos/{path}")[0]


def test_post_with_a_wrong_token_is_401(gameday: GameDay) -> None:
    """A bearer token that is not the fleet's is refused with 401."""
    assert 401 == request("POST", f"{gameday.url}/chaos/kill", token="not-the-token")[0]


def test_inject_then_revert_deploys_and_restores_the_version(gameday: GameDay) -> None:
    """Inject runs the fault on the fleet (router-1 on v2); Revert puts v1 back."""
    router1 = gameday.topology()["routers"][0]["admin"]
    code, injected = request("POST", f"{gameday.url}/chaos/faults/0/inject", token=gameday.token)
    version_injected = request("GET", f"{router1}/health")[1]["version"]
    code_r, reverted = request("POST", f"{gameday.url}/chaos/faults/0/revert", token=gameday.token)
    version_reverted = request("GET", f"{gameday.topology()['routers'][0]['admin']}/health")[1]["version"]
    assert (200, "injected", "v2", 200, "reverted", "v1") == (
        code, injected["state"], version_injected, code_r, reverted["state"], version_reverted)


def test_ack_acknowledges_the_alert_at_the_sink(gameday: GameDay) -> None:
    """POST /chaos/alerts/{id}/ack marks the alert acknowledged at the alert sink."""
    alerts = gameday.topology()["alerts"]["admin"]
    _, created = request("POST", f"{alerts}/alerts", token=gameday.token,
                         body={"source": "test", "severity": "page", "text": "ack me", "ts": time.time_ns()})
    code, _ = request("POST", f"{gameday.url}/chaos/alerts/{created['id']}/ack", token=gameday.token)
    acked = next(a for a in request("GET", f"{alerts}/alerts")[1] if a["id"] == created["id"])
    assert (200, True) == (code, acked["acked_ns"] is not None)


def test_reinstate_lifts_the_kill(gameday: GameDay) -> None:
    """After a kill, POST /chaos/reinstate resumes every router and clears `killed`."""
    request("POST", f"{gameday.url}/chaos/kill", token=gameday.token)
    code, _ = request("POST", f"{gameday.url}/chaos/reinstate", token=gameday.token)
    killed = request("GET", f"{gameday.url}/chaos/status")[1]["killed"]
    assert (200, False, [False, False]) == (code, killed, routers_halted(gameday.topology()))


# -- the web login: Locust's login page, operator name + the fleet's admin token --------------
def browser() -> urllib.request.OpenerDirector:
    """An HTTP client keeping cookies, as a browser keeps its session."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def log_in(gd: GameDay, opener: urllib.request.OpenerDirector, name: str, token: str) -> str:
    """Submit Locust's login form; the URL it ends on after the redirect."""
    form = urllib.parse.urlencode({"username": name, "password": token}).encode()
    with opener.open(urllib.request.Request(f"{gd.url}/powerpeg/login", data=form, method="POST"), timeout=20) as resp:
        return resp.url


def events_of(gd: GameDay, name: str) -> list[dict[str, Any]]:
    lines = (gd.out / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, filter(None, lines)) if e.get("event") == name]


def test_locusts_ui_opens_on_its_login_page(gameday: GameDay) -> None:
    """Without a session, Locust's UI sends the browser to its login page."""
    with urllib.request.urlopen(f"{gameday.url}/", timeout=20) as resp:
        assert f"{gameday.url}/login" == resp.url.split("?", 1)[0]


def test_a_wrong_token_at_login_gives_no_session(gameday: GameDay) -> None:
    """A wrong token at login: back on the login page, no session, a POST without token is still 401."""
    opener = browser()
    landed = log_in(gameday, opener, "mallory", "not-the-token")
    code, _ = request("POST", f"{gameday.url}/chaos/reinstate", opener=opener)
    session = request("GET", f"{gameday.url}/chaos/status", opener=opener)[1]["session"]
    assert (f"{gameday.url}/login", 401, False) == (landed, code, session)


def test_a_logged_in_browser_kills_and_reinstates_without_the_token(gameday: GameDay) -> None:
    """Logged in with the right token, POST /chaos/kill without any token halts the fleet, and the
    event names the operator; POST /chaos/reinstate lifts it again."""
    opener = browser()
    landed = log_in(gameday, opener, "ann", gameday.token)
    status = request("GET", f"{gameday.url}/chaos/status", opener=opener)[1]
    before = len(operator_kills(gameday.topology()))
    code, _ = request("POST", f"{gameday.url}/chaos/kill", opener=opener)
    halted, kills = routers_halted(gameday.topology()), len(operator_kills(gameday.topology()))
    named = [e.get("operator") for e in events_of(gameday, "operator_kill")][-1:]
    code_r, _ = request("POST", f"{gameday.url}/chaos/reinstate", opener=opener)
    assert (f"{gameday.url}/", True, "ann") == (landed, status["session"], status["operator"])
    assert (200, [True, True], before + 1, ["ann"]) == (code, halted, kills, named)
    assert (200, [False, False]) == (code_r, routers_halted(gameday.topology()))


def test_a_logged_in_browser_gets_the_chaos_tab_rows(gameday: GameDay) -> None:
    """Locust's UI polling works behind the login: /stats/requests carries the Chaos tab's rows."""
    opener = browser()
    log_in(gameday, opener, "ann", gameday.token)
    code, stats = request("GET", f"{gameday.url}/stats/requests", opener=opener)
    rows = {r["item"]: r["value"] for r in stats["extended_stats"][0]["data"]}
    assert (200, "chaos", "ui-gameday") == (code, stats["extended_stats"][0]["key"], rows["experiment"])


# -- the real browser ---------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed if missing (apt, as root on this machine)."""
    if not CHROMIUM.exists():
        # a new machine's package lists may be empty or stale: update first
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900,
                       env=env)
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_sync() -> Any:
    """The playwright package (driving the system chromium; no `playwright install`)."""
    try:
        from playwright import sync_api
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "playwright"], check=True, capture_output=True,
                       timeout=600)
        from playwright import sync_api
    return sync_api


def test_kill_switch_pressed_in_the_browser_halts_the_fleet(gameday: GameDay, chromium: Path, playwright_sync: Any,
                                                            tmp_path: Path) -> None:
    """In headless Chromium: log in on Locust's login page (name + token), follow the link to the Chaos
    page, which asks for no token, press KILL SWITCH; the fleet is halted and the kill is the operator's."""
    request("POST", f"{gameday.url}/chaos/reinstate", token=gameday.token)
    before = len(operator_kills(gameday.topology()))
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with playwright_sync.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(chromium),
                                                        headless=True, args=args)
        try:
            page = context.new_page()
            page.goto(gameday.url + "/")  # Locust's UI: its login page first
            page.fill("input[name=username]", "browser-ann")
            page.fill("input[name=password]", gameday.token)
            page.click("button[type=submit]")
            page.click("#powerpeg-chaos-link")  # from Locust's UI to the Chaos page
            page.wait_for_selector("#faults tr")
            asked_for_token = page.is_visible("#token")
            who = page.text_content("#who")
            page.click("#kill")
            page.wait_for_function("document.getElementById('killed').textContent.startsWith('yes')",
                                   timeout=15_000)
        finally:
            context.close()
    topology = gameday.topology()
    named = [e.get("operator") for e in events_of(gameday, "operator_kill")][-1:]
    assert (False, "operator browser-ann (logged in)") == (asked_for_token, who)
    assert ([True, True], before + 1, ["browser-ann"]) == (routers_halted(topology), len(operator_kills(topology)),
                                                          named)


# -- shutdown -----------------------------------------------------------------------------
@dataclass
class Ended:
    code: int
    run_id: str
    out: Path
    left: list[int]


@pytest.fixture(scope="module", params=[signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def ended(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ended:
    """A game day where the operator pressed KILL, then SIGTERM or Ctrl-C (SIGINT)."""
    gd = start_gameday(tmp_path_factory.mktemp("ui-end"))
    try:
        time.sleep(1.0)  # past the open: the runaway is on
        http_request("POST", f"{gd.url}/chaos/kill", token=gd.token)
    finally:
        code = gd.stop(sig=request.param)
    return Ended(code, gd.run_id, gd.out, [p.pid for p in procs.run_processes(gd.run_id)])


def test_signal_leaves_no_process_of_the_run(ended: Ended) -> None:
    """SIGTERM or Ctrl-C ends the game day with nothing of its run left: fleet, Locust, web UI."""
    assert [] == ended.left


def test_signal_writes_the_report(ended: Ended) -> None:
    """The game day ended by SIGTERM or Ctrl-C still writes its report files."""
    assert {"report.html", "journal.json", "ui.json"} <= {p.name for p in ended.out.iterdir()}


def test_report_says_the_kill_was_human(ended: Ended) -> None:
    """The operator's KILL press is the kill that counts, and the report says it was human."""
    assert "human" == json.loads((ended.out / "ui.json").read_text())["ttk"]
