"""The Chaos tab on Locust's web app (`powerpeg ui` only).

Runs inside the Locust process (gevent), imported by the locustfile when
``POWERPEG_CHAOS_API`` names the harness's control API. Nothing here acts on
the fleet: every ``/chaos/*`` request is forwarded, with its Authorization
header, to the harness process (asyncio), which owns the fleet, checks the
token and records every action in the run's event log.

Locust's React UI has a documented way to add tabs (``extended_tabs`` +
``extended_tables`` in the template args, rows in ``extended_stats`` of
``/stats/requests``), but its cells are text: no buttons. So the Chaos tab
shows the live status there, and the controls live on a page of their own,
``/chaos``, served by the same web app and linked from the UI's header.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from locust import events

from harness.ui.tab import status_rows

API_ENV = "POWERPEG_CHAOS_API"
PAGE = Path(__file__).resolve().parent.parent / "ui" / "chaos.html"
FORWARD_TIMEOUT_S = 10.0
TAB_KEY = "chaos"
# injected into Locust's index page: the link from the React UI to the controls
LINK = ('<a id="powerpeg-chaos-link" href="./chaos" style="position:fixed;right:16px;bottom:16px;z-index:9999;'
        'background:#b00020;color:#fff;padding:10px 16px;border-radius:6px;font:bold 14px sans-serif;'
        'text-decoration:none">Chaos controls &amp; KILL SWITCH</a>')


def forward(api: str, method: str, path: str, authorization: str | None) -> tuple[int, bytes]:
    """One request to the harness's control API; its status and body as they are."""
    req = urllib.request.Request(api.rstrip("/") + path, method=method, data=b"" if method == "POST" else None)
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as resp:  # noqa: S310 - loopback URL from our env
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 502, json.dumps({"error": f"harness control API unreachable: {exc}"}).encode()


def register(web_ui: Any, api: str) -> None:
    from flask import Response, request  # noqa: PLC0415 - Flask comes with Locust, only in its process

    app = web_ui.app
    web_ui.template_args["extended_tabs"] = [{"title": "Chaos", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": "item", "title": "Item"}, {"key": "value", "title": "Value"}]}]

    @app.route("/chaos")
    def chaos_page() -> Response:
        # no token in the page: it asks for it once and keeps it in sessionStorage
        return Response(PAGE.read_bytes(), mimetype="text/html")

    @app.route("/chaos/status")
    def chaos_status() -> Response:
        code, body = forward(api, "GET", "/chaos/status", request.headers.get("Authorization"))
        return Response(body, status=code, mimetype="application/json")

    @app.route("/chaos/<path:action>", methods=["POST"])
    def chaos_action(action: str) -> Response:
        code, body = forward(api, "POST", f"/chaos/{action}", request.headers.get("Authorization"))
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
        register(environment.web_ui, os.environ[API_ENV])
