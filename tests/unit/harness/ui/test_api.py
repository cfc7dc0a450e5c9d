"""The control API of `powerpeg ui`: token checks and routing to the controller (a fake here)."""
from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from powerpeg.harness.ui.api import make_app
from powerpeg.harness.ui.operator import ActionError
from powerpeg.harness.ui.websession import OPERATOR_HEADER, header_value

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeController:
    """Records the actions it was asked for and the operator named for each."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.operators: list[str | None] = []  # the operator name each action was given

    def status(self) -> dict[str, Any]:
        return {"experiment": "x", "phase": "open", "faults": [], "alerts": [], "metrics": {}, "killed": False}

        self.operators: list[str | None] = []

    async def inject(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        if index == 9:
            raise ActionError(404, "no fault 9")
        self.calls.append(("inject", index))
        self.operators.append(operator)
        return {"index": index, "state": "injected"}

    async def revert(self, index: int, *, operator: str | None = None) -> dict[str, Any]:
        self.calls.append(("revert", index))
        self.operators.append(operator)
        return {"index": index, "state": "reverted"}

    async def ack(self, alert_id: str, *, operator: str | None = None) -> dict[str, Any]:
        self.calls.append(("ack", alert_id))
        self.operators.append(operator)
        return {"alert": alert_id}

    async def kill(self, *, operator: str | None = None) -> dict[str, Any]:
        self.calls.append(("kill", None))
        self.operators.append(operator)
        return {"killed": True}

    async def reinstate(self, *, operator: str | None = None) -> dict[str, Any]:
        self.calls.append(("reinstate", None))
        self.operators.append(operator)
        return {"killed": False}


@pytest.fixture
async def api() -> Any:
    controller = FakeController()
    client = TestClient(TestServer(make_app(controller, TOKEN, action_error=ActionError)))
    await client.start_server()
    yield client, controller
    await client.close()


ACTIONS = [("/chaos/faults/1/inject", ("inject", 1)), ("/chaos/faults/2/revert", ("revert", 2)),
           ("/chaos/alerts/a-7/ack", ("ack", "a-7")), ("/chaos/kill", ("kill", None)),
           ("/chaos/reinstate", ("reinstate", None))]


async def test_status_needs_no_token(api: Any) -> None:
    """GET /chaos/status answers without a token (the Locust tab reads it)."""
    client, _ = api
    resp = await client.get("/chaos/status")
    assert (200, "open") == (resp.status, (await resp.json())["phase"])


@pytest.mark.parametrize("path,call", ACTIONS)
async def test_action_without_token_is_401_and_not_done(api: Any, path: str, call: tuple) -> None:
    """A POST without the bearer token is 401 and the controller is not asked."""
    client, controller = api
    resp = await client.post(path)
    assert (401, []) == (resp.status, controller.calls)


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic s3cret", TOKEN])
async def test_action_with_a_bad_authorization_is_401(api: Any, header: str) -> None:
    """Only `Bearer <the fleet's token>` is accepted."""
    client, _ = api
    assert 401 == (await client.post("/chaos/kill", headers={"Authorization": header})).status


@pytest.mark.parametrize("path,call", ACTIONS)
async def test_action_with_token_reaches_the_controller(api: Any, path: str, call: tuple) -> None:
    """With the token each POST runs its action with its argument."""
    client, controller = api
    resp = await client.post(path, headers=AUTH)
    assert (200, [call]) == (resp.status, controller.calls)


async def test_refused_action_answers_with_its_status(api: Any) -> None:
    """An action the fleet refuses answers with the ActionError's status and message."""
    client, _ = api
    resp = await client.post("/chaos/faults/9/inject", headers=AUTH)
    assert (404, {"error": "no fault 9"}) == (resp.status, await resp.json())


async def test_non_numeric_fault_index_is_404(api: Any) -> None:
    """A fault index that is not a number names no fault."""
    client, _ = api
    assert 404 == (await client.post("/chaos/faults/x/inject", headers=AUTH)).status


@pytest.mark.parametrize("path,call", ACTIONS)
async def test_the_operator_named_by_locust_reaches_the_action(api: Any, path: str, call: tuple) -> None:
    """With the token, the operator's name (percent-encoded by the Locust process) is passed to the action."""
    client, controller = api
    resp = await client.post(path, headers={**AUTH, OPERATOR_HEADER: header_value("Zoë")})
    assert (200, [call], ["Zoë"]) == (resp.status, controller.calls, controller.operators)


async def test_a_bare_token_names_no_operator(api: Any) -> None:
    """The token alone (curl, a script): the action gets no operator name."""
    client, controller = api
    await client.post("/chaos/kill", headers=AUTH)
    assert [None] == controller.operators


async def test_an_operator_name_without_the_token_is_still_401(api: Any) -> None:
    """The operator header is no credential: without the token it is 401 and nothing runs."""
    client, controller = api
    resp = await client.post("/chaos/kill", headers={OPERATOR_HEADER: "ann"})
    assert (401, []) == (resp.status, controller.calls)
