"""The Chaos tab on Locust's web app (`powerpeg ui` only).

Runs inside the Locust process (gevent), imported by the locustfile when
``POWERPEG_CHAOS_API`` names the harness's control API. Nothing here acts on
the fleet: every ``/chaos/*`` request is forwarded to the harness process
(asyncio), which owns the fleet, checks the token and records every action in
the run's event log.

Locust's React UI has a documented way to add tabs (``extended_tabs`` +
``extended_tables`` in the template args, rows in ``extended_stats`` of
``/stats/requests``), but its cells are text: no buttons. So the Chaos tab
shows the live status there, and the controls live on a page of their own,
``/chaos``, served by the same web app and linked from the UI's header.

With ``--web-login`` (what `powerpeg ui` starts Locust with) Locust's login
page asks for an operator name and the fleet's admin token; the right token
logs the browser in (a Flask-Login session). A ``POST /chaos/...`` of a
logged-in browser is forwarded with the token, which this process holds (it
is in the load's config file, mode 0600), and the operator's name; any other
request is forwarded with its own Authorization header (see
:mod:`powerpeg.harness.ui.websession`).
"""
from __future__ import annotations

import hmac
import json
import os
import secrets
import urllib.error
import urllib.request
from typing import Any

from locust import events

from powerpeg.harness.load.config import CONFIG_ENV, LoadConfig
from powerpeg.harness.resources import chaos_page
from powerpeg.harness.ui.tab import status_rows
from powerpeg.harness.ui.websession import (OPERATOR_HEADER, forwarded_credentials, header_value, operator_name,
                                            same_origin)

API_ENV = "POWERPEG_CHAOS_API"
PAGE = chaos_page()  # harness/resources.py: the one place that knows where bundled files are
FORWARD_TIMEOUT_S = 10.0
TAB_KEY = "chaos"
LOGIN_PATH = "/powerpeg/login"  # the login form's callback (POST); Locust's own /login shows the form
LOGOUT_PATH = "/powerpeg/logout"
# injected into Locust's index page: the link from the React UI to the controls
LINK = ('<a id="powerpeg-chaos-link" href="./chaos" style="position:fixed;right:16px;bottom:16px;z-index:9999;'
        'background:#b00020;color:#fff;padding:10px 16px;border-radius:6px;font:bold 14px sans-serif;'
        'text-decoration:none">Chaos controls &amp; KILL SWITCH</a>')


def forward(api: str, method: str, path: str, authorization: str | None,
            operator: str | None = None) -> tuple[int, bytes]:
    """One request to the harness's control API; its status and body as they are."""
    url = api.rstrip("/") + path
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)  # noqa: S310 - loopback URL from our env
    if authorization:
        req.add_header("Authorization", authorization)
    if operator:
        req.add_header(OPERATOR_HEADER, header_value(operator))
    try:
        with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as resp:  # noqa: S310 - loopback URL from our env
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 502, json.dumps({"error": f"harness control API unreachable: {exc}"}).encode()


def _setup_login(web_ui: Any, token: str) -> None:
    """Locust's documented web login: a user loader, ``auth_args`` for the form, the form's callback route."""
    from flask import Blueprint, redirect, request, session, url_for  # noqa: PLC0415 - only in Locust's process
    from flask_login import UserMixin, login_user, logout_user  # noqa: PLC0415 - only in Locust's process

    class Operator(UserMixin):
        def __init__(self, name: str) -> None:
            self.name = name

        def get_id(self) -> str:
            return self.name

    app = web_ui.app
    # a new key per Locust process: a session never outlives its game day
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    # cookies do not tell ports apart: two game days on one host keep their own sessions
    app.config["SESSION_COOKIE_NAME"] = f"powerpeg-session-{web_ui.port}"
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    def load_user(user_id: str) -> Operator | None:
        name = operator_name(user_id)
        return Operator(name) if name else None

    web_ui.login_manager.user_loader(load_user)
    base = getattr(web_ui.environment.parsed_options, "web_base_path", None) or ""
    web_ui.auth_args = {
        "title": "powerpeg · Locust",
        "custom_form": {
            "inputs": [
                {"label": "Operator name", "name": "username", "is_required": True},
                {"label": "Admin token (powerpeg status --json)", "name": "password", "is_secret": True,
                 "is_required": True},
            ],
            "callback_url": base + LOGIN_PATH,
            "submit_button_text": "Log in",
        },
    }
    auth = Blueprint("powerpeg_auth", __name__, url_prefix=base or None)

    @auth.route(LOGIN_PATH, methods=["POST"])
    def login_submit() -> Any:
        name = operator_name(request.form.get("username"))
        given = (request.form.get("password") or "").strip()
        if name is None:
            error = "an operator name is needed (1 to 64 printable characters)"
        elif not hmac.compare_digest(given.encode(), token.encode()):
            error = "wrong admin token (the fleet's token: powerpeg status --json)"
        else:
            login_user(Operator(name))
            return redirect(url_for("locust.index"))
        logout_user()  # a wrong attempt leaves no session behind, not even an earlier one
        session["auth_error"] = error
        return redirect(url_for("locust.login"))

    @auth.route(LOGOUT_PATH, methods=["POST"])
    def logout() -> Any:
        logout_user()
        return redirect(url_for("locust.login"))

    app.register_blueprint(auth)


def register(web_ui: Any, api: str, token: str) -> None:
    from flask import Response, request  # noqa: PLC0415 - Flask comes with Locust, only in its process

    app = web_ui.app
    login = bool(getattr(web_ui, "web_login", False))
    web_ui.template_args["extended_tabs"] = [{"title": "Chaos", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": "item", "title": "Item"}, {"key": "value", "title": "Value"}]}]
    if login:
        _setup_login(web_ui, token)

    def logged_in() -> str | None:
        """The operator of this request's session, if it is logged in."""
        if not login:
            return None
        from flask_login import current_user  # noqa: PLC0415 - only in Locust's process

        return current_user.get_id() if current_user.is_authenticated else None

    @app.route("/chaos")
    def chaos_page() -> Response:
        # no token in the page: a logged-in browser needs none, any other asks for it
        return Response(PAGE.read_bytes(), mimetype="text/html")

    @app.route("/chaos/status")
    def chaos_status() -> Response:
        code, body = forward(api, "GET", "/chaos/status", request.headers.get("Authorization"))
        if code == 200:
            operator = logged_in()
            data = json.loads(body)
            data.update(session=operator is not None, operator=operator, web_login=login)
            body = json.dumps(data).encode()
        return Response(body, status=code, mimetype="application/json")

    @app.route("/chaos/<path:action>", methods=["POST"])
    def chaos_action(action: str) -> Response:
        # the session counts only for the web app's own pages: no other origin acts with its cookie
        operator = logged_in() if same_origin(request.headers.get("Origin"), request.host_url) else None
        authorization, operator = forwarded_credentials(operator, request.headers.get("Authorization"), token)
        code, body = forward(api, "POST", f"/chaos/{action}", authorization, operator)
        return Response(body, status=code, mimetype="application/json")

    @app.after_request
    def extend(response: Response) -> Response:
        if request.path == "/stats/requests" and response.status_code == 200:
            code, body = forward(api, "GET", "/chaos/status", None)
            if code == 200:
                data = response.get_json()
                data["extended_stats"] = [{"key": TAB_KEY, "data": status_rows(json.loads(body))}]
                response.set_data(json.dumps(data))
        elif request.path == "/" and response.mimetype == "text/html" and response.status_code == 200:
            response.direct_passthrough = False
            response.set_data(response.get_data().replace(b"</body>", LINK.encode() + b"</body>"))
        return response


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    if environment.web_ui is not None:
        # the fleet's token is in the load's config (mode 0600), never in argv, the environment or a page
        register(environment.web_ui, os.environ[API_ENV], LoadConfig.read(os.environ[CONFIG_ENV]).token)
