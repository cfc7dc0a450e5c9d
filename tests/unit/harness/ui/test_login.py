"""The web login of `powerpeg ui`: Locust's login page (operator name + the fleet's admin token) and
how a logged-in session stands in for the token on the Chaos tab's POSTs.

The first tests are the pure rules (`powerpeg.harness.ui.websession`); the others drive Locust's real
web app (Flask's test client, `--web-login` and without) in a subprocess, because importing
Locust monkey-patches the whole process for gevent. The control API there is a fake answering
as the real one does (200 with the token, else 401) and recording what it was sent.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from powerpeg.harness.experiment.model import Load
from powerpeg.harness.load.config import LoadConfig, RouterTarget, SymbolRef
from powerpeg.harness.load.runner import LoadRunner
from powerpeg.harness.ui.websession import (forwarded_credentials, header_value, name_from_header, operator_name,
                                            same_origin)
from tests.unit.harness.ui.login_app import TOKEN  # the module imports Locust only when run

ROOT = Path(__file__).parents[4]
BEARER = f"Bearer {TOKEN}"


# -- the rules ----------------------------------------------------------------------------
def test_a_logged_in_operator_is_forwarded_with_the_token_and_their_name() -> None:
    """A session's POST carries the fleet's token, added by the Locust process, and the operator's name."""
    assert (BEARER, "ann") == forwarded_credentials("ann", None, TOKEN)


def test_without_a_session_the_request_keeps_its_own_authorization() -> None:
    """No session: the request's own Authorization header (or none) goes on, with no operator name."""
    assert [("Bearer mine", None), (None, None)] == [forwarded_credentials(None, "Bearer mine", TOKEN),
                                                     forwarded_credentials(None, None, TOKEN)]


@pytest.mark.parametrize("raw,name", [("  ann ", "ann"), ("", None), ("   ", None), (None, None),
                                      ("a" * 65, None), ("line\nbreak", None), ("Zoë Ødegård", "Zoë Ødegård")])
def test_operator_names_are_trimmed_printable_and_at_most_64_characters(raw: str | None, name: str | None) -> None:
    """The name typed at login: trimmed; empty, too long or with control characters is no name."""
    assert name == operator_name(raw)


def test_a_name_survives_the_header_round_trip() -> None:
    """Any name, non-ASCII included, is one ASCII header line and comes back as it was."""
    value = header_value("Zoë / ops")
    assert (True, "Zoë / ops") == (value.isascii() and "\n" not in value, name_from_header(value))


@pytest.mark.parametrize("origin,same", [(None, True), ("http://127.0.0.1:8089", True),
                                         ("http://127.0.0.1:9999", False), ("http://evil.example", False),
                                         ("https://127.0.0.1:8089", False), ("null", False)])
def test_only_the_web_apps_own_origin_counts(origin: str | None, same: bool) -> None:
    """A page of another origin (another port of 127.0.0.1 too) cannot act with the session's cookie."""
    assert same == same_origin(origin, "http://127.0.0.1:8089/")


def _runner(tmp_path: Path, web_port: int | None, workers: int = 0) -> LoadRunner:
    router = RouterTarget(id="router-1", orders="http://127.0.0.1:1/orders")
    config = LoadConfig.build(Load(users=2, spawn_rate=1, wait="1s", workers=workers), run_id="r", routers=[router],
                              token=TOKEN, universe=[SymbolRef(symbol="A", ref_price=1.0)], symbol_count=1,
                              open_at_ns=0, seed=1, duration_s=5, out_dir=tmp_path)
    return LoadRunner(config, tmp_path, log=structlog.get_logger(), web_port=web_port)


def test_web_mode_starts_locust_with_its_login_page_on_the_master_only(tmp_path: Path) -> None:
    """`powerpeg ui` runs Locust with --web-login (its master, with workers); headless runs and workers have none."""
    single = _runner(tmp_path, 8089).commands()[0][1]
    master, worker = [argv for _name, argv in _runner(tmp_path, 8089, workers=1).commands(master_port=5557)]
    headless = _runner(tmp_path, None).commands()[0][1]
    assert [True, True, False, False] == ["--web-login" in argv for argv in (single, master, worker, headless)]


def test_the_token_is_not_in_locusts_argv_or_environment(tmp_path: Path) -> None:
    """Locust gets the fleet's token from its config file (mode 0600) only."""
    runner = _runner(tmp_path, 8089)
    argv = runner.commands()[0][1]
    assert (False, False) == (any(TOKEN in arg for arg in argv), any(TOKEN in v for v in runner.env().values()))


# -- Locust's web app --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "tests.unit.harness.ui.login_app"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert 0 == proc.returncode, proc.stderr
    return json.loads(proc.stdout)


def test_the_login_page_asks_for_an_operator_name_and_the_admin_token(web: dict[str, Any]) -> None:
    """Locust's login page shows our form: operator name, the admin token as a secret, posted to our callback."""
    text = web["login_page"]["text"]
    form = json.loads(text.split("window.authArgs = ", 1)[1].split("\n", 1)[0])["custom_form"]
    assert (200, "/powerpeg/login", [("username", "Operator name", False),
                                     ("password", "Admin token (powerpeg status --json)", True)]) == (
        web["login_page"]["status"], form["callback_url"],
        [(i["name"], i["label"], bool(i.get("is_secret"))) for i in form["inputs"]])


def test_the_page_has_no_token_in_it(web: dict[str, Any]) -> None:
    """The login page never carries the fleet's token."""
    assert TOKEN not in web["login_page"]["text"]


def test_locusts_ui_needs_the_login(web: dict[str, Any]) -> None:
    """Without a session Locust's index and its stats polling go to the login page."""
    assert (302, "/login?next=%2F", 302) == (web["index_without_session"]["status"],
                                            web["index_without_session"]["location"], web["stats_without_session"])


def test_a_post_without_token_or_session_reaches_the_api_bare_and_is_401(web: dict[str, Any]) -> None:
    """Neither token nor session: forwarded without credentials, and the control API's 401 comes back."""
    assert {"status": 401, "reached": {"path": "/chaos/kill", "authorization": None, "operator": None}} == (
        web["post_without_anything"])


def test_the_token_alone_still_works(web: dict[str, Any]) -> None:
    """No session, `Authorization: Bearer <token>`: forwarded as it is (no operator name), 200."""
    assert {"status": 200, "reached": {"path": "/chaos/kill", "authorization": BEARER, "operator": None}} == (
        web["post_with_token_only"])


def test_a_wrong_token_at_login_gives_no_session_and_an_error(web: dict[str, Any]) -> None:
    """Wrong token: back to the login page with the error shown, Locust's UI still closed, POSTs still 401."""
    wrong = web["wrong_token_login"]
    assert (302, "/login", True, 302, 401, None) == (
        wrong["status"], wrong["location"], "wrong admin token" in wrong["page"], wrong["index"],
        wrong["post"]["status"], wrong["post"]["reached"]["authorization"])


def test_a_login_without_a_name_gives_no_session(web: dict[str, Any]) -> None:
    """The right token with a blank operator name logs nobody in."""
    assert ("/login", 401) == (web["nameless_login"]["location"], web["nameless_login"]["post"]["status"])


def test_a_wrong_token_ends_an_earlier_session(web: dict[str, Any]) -> None:
    """A failed login in a logged-in browser leaves no session behind."""
    assert 401 == web["wrong_token_after_a_login"]["status"]


def test_the_right_token_logs_the_browser_in(web: dict[str, Any]) -> None:
    """The right token: to Locust's UI (with the Chaos link and tab rows) and a session cookie of this port."""
    login = web["login"]
    assert (302, "/", 200, True, 200, "chaos") == (login["answer"], login["location"], login["index"], login["link"],
                                                   login["stats"], login["extended"])
    cookie = login["cookie"]
    assert (True, True, True) == (cookie.startswith("powerpeg-session-18089="), "HttpOnly" in cookie,
                                  "SameSite=Lax" in cookie)


def test_the_status_tells_the_page_who_is_logged_in(web: dict[str, Any]) -> None:
    """GET /chaos/status says whether this browser has a session, and whose (so the page asks for no token)."""
    status = web["login"]["status"]
    assert (True, "ann", True, False) == (status["session"], status["operator"], status["web_login"],
                                          web["status_without_session"]["session"])


@pytest.mark.parametrize("case,path", [("kill", "/chaos/kill"), ("ack", "/chaos/alerts/a-1/ack"),
                                       ("kill_with_a_wrong_bearer", "/chaos/kill"),
                                       ("kill_from_its_own_origin", "/chaos/kill")])
def test_a_logged_in_post_is_forwarded_with_the_token_and_the_operator(web: dict[str, Any], case: str,
                                                                       path: str) -> None:
    """A logged-in POST (no token, a wrong one, or from the app's own origin) goes on with the token and `ann`."""
    assert {"status": 200, "reached": {"path": path, "authorization": BEARER, "operator": "ann"}} == web["login"][case]


def test_another_origin_cannot_use_the_session(web: dict[str, Any]) -> None:
    """A logged-in browser's POST from another origin counts as no session: 401."""
    assert {"status": 401, "reached": {"path": "/chaos/kill", "authorization": None, "operator": None}} == (
        web["login"]["kill_from_another_origin"])


def test_logout_ends_the_session(web: dict[str, Any]) -> None:
    """After POST /powerpeg/logout the session no longer stands in for the token."""
    assert (401, False) == (web["after_logout"]["post"]["status"], web["after_logout"]["status"])


def test_without_web_login_the_ui_is_open_and_the_token_is_the_credential(web: dict[str, Any]) -> None:
    """The Chaos tab without --web-login: Locust's UI open, no session, POSTs 401 without the token, 200 with it."""
    plain = web["no_web_login"]
    assert (200, True, 401, 200, False, False) == (plain["index"], plain["link"], plain["post"]["status"],
                                                   plain["token"]["status"], plain["status"]["session"],
                                                   plain["status"]["web_login"])
