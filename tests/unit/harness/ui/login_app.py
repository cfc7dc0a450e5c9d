"""Locust's real web app with the Chaos tab registered, driven by Flask's test client.

Run as ``python -m tests.unit.harness.ui.login_app`` by ``test_ui_login.py``: importing
Locust monkey-patches the whole process for gevent, which must not happen in
pytest's own. Nothing listens on a port and no control API runs: the
forwarding to it is replaced by a fake that answers as the control API does
(200 with ``Bearer <TOKEN>``, else 401) and records what it was sent. Prints
one JSON object: what each scenario saw.
"""
from __future__ import annotations

import json
from typing import Any

TOKEN = "fleet-token-123"
PORT = 18089
STATUS = {"experiment": "x", "phase": "open", "killed": False, "faults": [], "alerts": [], "metrics": {}}


class FakeApi:
    """Stands in for :func:`chaos_web.forward`: the control API's answers, and what reached it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def __call__(self, api: str, method: str, path: str, authorization: str | None,
                 operator: str | None = None) -> tuple[int, bytes]:
        if method == "GET":
            return 200, json.dumps(STATUS).encode()
        self.posts.append({"path": path, "authorization": authorization, "operator": operator})
        if authorization == f"Bearer {TOKEN}":
            return 200, json.dumps({"done": path}).encode()
        return 401, json.dumps({"error": "admin bearer token required"}).encode()

    def last(self) -> dict[str, Any]:
        return self.posts[-1]


def app(web_login: bool) -> tuple[Any, FakeApi]:
    # Locust only here, never at import: test_ui_login imports TOKEN from this module
    from locust import User, constant, task
    from locust.env import Environment

    from powerpeg.harness.load import chaos_web

    class Idle(User):
        wait_time = constant(1)

        @task
        def idle(self) -> None:
            pass

    env = Environment(user_classes=[Idle])
    env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", PORT, web_login=web_login, delayed_start=True)
    fake = FakeApi()
    chaos_web.forward = fake  # the routes look it up in the module at each request
    chaos_web.register(web_ui, "http://127.0.0.1:1", TOKEN)
    web_ui.app.testing = True
    return web_ui.app, fake


def login(client: Any, name: str, token: str) -> Any:
    return client.post("/powerpeg/login", data={"username": name, "password": token})


def post(client: Any, fake: FakeApi, path: str = "/chaos/kill", **headers: str) -> dict[str, Any]:
    before = len(fake.posts)
    resp = client.post(path, headers=headers)
    reached = fake.last() if len(fake.posts) > before else None
    return {"status": resp.status_code, "reached": reached}


def scenarios() -> dict[str, Any]:
    out: dict[str, Any] = {}
    flask_app, fake = app(web_login=True)

    with flask_app.test_client() as c:
        page = c.get("/login")
        out["login_page"] = {"status": page.status_code, "text": page.get_data(as_text=True)}
        out["index_without_session"] = {"status": c.get("/").status_code, "location": c.get("/").location}
        out["stats_without_session"] = c.get("/stats/requests").status_code
        out["post_without_anything"] = post(c, fake)
        out["post_with_token_only"] = post(c, fake, Authorization=f"Bearer {TOKEN}")
        out["status_without_session"] = c.get("/chaos/status").get_json()

    with flask_app.test_client() as c:
        resp = login(c, "ann", "not-the-token")
        out["wrong_token_login"] = {"status": resp.status_code, "location": resp.location,
                                    "page": c.get("/login").get_data(as_text=True),
                                    "index": c.get("/").status_code, "post": post(c, fake)}

    with flask_app.test_client() as c:
        resp = login(c, "   ", TOKEN)
        out["nameless_login"] = {"location": resp.location, "post": post(c, fake)}

    with flask_app.test_client() as c:
        resp = login(c, "ann", TOKEN)
        cookie = resp.headers.get("Set-Cookie", "")
        index = c.get("/")
        stats = c.get("/stats/requests")
        out["login"] = {
            "answer": resp.status_code, "location": resp.location, "cookie": cookie,
            "index": index.status_code, "link": "powerpeg-chaos-link" in index.get_data(as_text=True),
            "stats": stats.status_code, "extended": (stats.get_json() or {}).get("extended_stats", [{}])[0].get("key"),
            "status": c.get("/chaos/status").get_json(),
            "kill": post(c, fake),
            "ack": post(c, fake, "/chaos/alerts/a-1/ack"),
            "kill_with_a_wrong_bearer": post(c, fake, Authorization="Bearer wrong"),
            "kill_from_another_origin": post(c, fake, Origin="http://127.0.0.1:9999"),
            "kill_from_its_own_origin": post(c, fake, Origin="http://localhost"),
        }
        c.post("/powerpeg/logout")
        out["after_logout"] = {"post": post(c, fake), "status": c.get("/chaos/status").get_json()["session"]}

    with flask_app.test_client() as c:
        login(c, "ann", TOKEN)
        login(c, "ann", "wrong")
        out["wrong_token_after_a_login"] = post(c, fake)

    plain_app, plain_fake = app(web_login=False)
    with plain_app.test_client() as c:
        index = c.get("/")
        out["no_web_login"] = {"index": index.status_code,
                               "link": "powerpeg-chaos-link" in index.get_data(as_text=True),
                               "post": post(c, plain_fake),
                               "token": post(c, plain_fake, Authorization=f"Bearer {TOKEN}"),
                               "status": c.get("/chaos/status").get_json()}
    return out


if __name__ == "__main__":
    print(json.dumps(scenarios()))
