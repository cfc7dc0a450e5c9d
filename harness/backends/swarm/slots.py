"""The replicated router service (``routers``, one task per router slot):
which task serves which slot, the Toxiproxy proxy fronting each slot, and the
rolling update and rollback Swarm runs on it.

The parsing of Swarm's task list is pure (:func:`slot_tasks`), so what the
run records about a rollout is testable without an engine; the rest talks to
the engine (tasks, the gate failure) and to the toxiproxy service's API.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from powerpeg.harness.backends.base import FleetError
from powerpeg.harness.backends.compose import docker as dk
from powerpeg.harness.backends.compose.env import ADMIN_PORT
from powerpeg.harness.backends.swarm.stack import slot_proxy

POLL_S = 0.1  # a rollout is watched at this rate: a new task must be caught before it passes its gate
STALL_S = 60.0  # a rollout with no task changing state for this long has failed
UPSTREAM_TIMEOUT_S = 15.0  # one Toxiproxy API call (see Slots._call)


@dataclass(frozen=True)
class SlotTask:
    """One task of the routers service, as the run records it."""

    id: str
    slot: int
    image: str
    state: str  # Status.State: new ... starting, running, failed, shutdown
    desired: str
    address: str  # on the stack's network, "" before Swarm allocated it
    container: str  # "" before the node created it
    node: str
    created: str
    error: str = ""

    @property
    def router_id(self) -> str:
        return f"router-{self.slot}"

    @property
    def version(self) -> str:
        """powerpeg-router:<version>: the tag is the artifact."""
        return self.image.rsplit(":", 1)[1] if ":" in self.image else "?"

    def to_json(self) -> dict[str, Any]:
        return {"task": self.id, "image": self.image, "version": self.version, "state": self.state,
                "node": self.node, "container": self.container[:12]}


def slot_tasks(tasks: list[dict[str, Any]], network: str) -> list[SlotTask]:
    """Swarm's task list (the API's JSON) → SlotTask, oldest first; ``network`` names the stack's network."""
    out = []
    for task in tasks:
        status = task.get("Status") or {}
        address = ""
        for attachment in task.get("NetworksAttachments") or []:
            if ((attachment.get("Network") or {}).get("Spec") or {}).get("Name") == network:
                address = (attachment.get("Addresses") or [""])[0].split("/", 1)[0]
        image = (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image") or "").split("@", 1)[0]
        out.append(SlotTask(id=task["ID"], slot=int(task.get("Slot") or 0), image=image,
                            state=str(status.get("State") or ""), desired=str(task.get("DesiredState") or ""),
                            address=address, container=str((status.get("ContainerStatus") or {}).get("ContainerID")
                                                           or ""),
                            node=str(task.get("NodeID") or ""), created=str(task.get("CreatedAt") or ""),
                            error=str(status.get("Err") or "")))
    return sorted(out, key=lambda t: t.created)


def serving(tasks: list[SlotTask]) -> dict[int, SlotTask]:
    """Slot → the task serving it: running and meant to run (during a start-first update the
    newest such task, which Swarm keeps once it passed its gate)."""
    out: dict[int, SlotTask] = {}
    for task in tasks:  # oldest first: a newer running task wins
        if task.state == "running" and task.desired == "running":
            out[task.slot] = task
    return out


class Slots:
    """The routers service's tasks and the slot proxies in front of them."""

    def __init__(self, service: str, network: str, toxiproxy_api: str, routers: int) -> None:
        self.service, self.network, self.api, self.routers = service, network, toxiproxy_api, routers
        self._upstreams: dict[str, str] = {}

    def tasks(self) -> list[SlotTask]:
        import docker.errors  # noqa: PLC0415 - the local backend never needs it

        try:
            with dk.docker_client() as engine:
                return slot_tasks(engine.api.tasks(filters={"service": self.service}), self.network)
        except docker.errors.APIError as exc:
            raise FleetError(f"tasks of {self.service}: {exc}") from None

    def update_status(self) -> dict[str, Any]:
        """The service's UpdateStatus (State: updating, paused, completed, rollback_*), {} before any."""
        with dk.docker_client() as engine:
            return dict(engine.api.inspect_service(self.service).get("UpdateStatus") or {})

    def forget(self) -> None:
        """The proxies are gone (a restarted toxiproxy): point every one again."""
        self._upstreams.clear()

    async def create_proxies(self, session: aiohttp.ClientSession, proxies: list[tuple[str, str]]) -> None:
        """The slot proxies, pointing nowhere until a task serves (a closed port: connections refused)."""
        for name, listen in proxies:
            await self._call(session, "POST", "proxies", {"name": name, "listen": listen,
                                                          "upstream": "127.0.0.1:9", "enabled": True})

    async def point(self, session: aiohttp.ClientSession, tasks: list[SlotTask] | None = None) -> dict[int, SlotTask]:
        """Point each slot's proxy at the task serving it; the serving tasks by slot."""
        current = serving(tasks if tasks is not None else await asyncio.to_thread(self.tasks))
        for task in current.values():
            name = slot_proxy(task.router_id)
            upstream = f"{task.address}:{ADMIN_PORT}"
            if task.address and self._upstreams.get(name) != upstream:
                await self._call(session, "POST", f"proxies/{quote(name, safe='')}", {"upstream": upstream})
                self._upstreams[name] = upstream
        return current

    async def _call(self, session: aiohttp.ClientSession, method: str, path: str, body: dict[str, Any]) -> None:
        # Toxiproxy applies a new upstream by restarting the proxy, which waits for a dial in progress;
        # a dial to a task Swarm just removed waits for ARP to give up (about 3 s on the overlay)
        try:
            async with session.request(method, f"{self.api}/{path}", json=body,
                                       timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S)) as resp:
                if resp.status >= 400:
                    raise FleetError(f"toxiproxy {method} /{path}: HTTP {resp.status}: {(await resp.text())[:200]}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise FleetError(f"toxiproxy {method} /{path}: {type(exc).__name__}: {exc}") from None

    async def wait_serving(self, session: aiohttp.ClientSession, timeout: float) -> dict[int, SlotTask]:
        """Until every slot has a serving task (its gate passed), pointing proxies as they come."""
        deadline = time.monotonic() + timeout
        while True:
            tasks = await asyncio.to_thread(self.tasks)
            current = await self.point(session, tasks)
            if len(current) >= self.routers:
                return current
            if time.monotonic() > deadline:
                raise FleetError(f"{self.service}: {len(current)} of {self.routers} tasks passed their gate within "
                                 f"{timeout:.0f} s; tasks: {describe(tasks)}")
            await asyncio.sleep(POLL_S)

    async def roll(self, session: aiohttp.ClientSession, image: str, updated: int, log: Any) -> dict[str, Any]:
        """Swarm's rolling update of the service to ``image``, its gate failing on the task after ``updated``.

        The harness's only act is that failure: it SIGKILLs the (updated+1)-th new task's container
        before the task passes its gate, as a release that crashes on start on one server. Swarm
        counts the failure (max_failure_ratio 0), pauses the update (failure_action: pause) and,
        start-first, keeps that slot's old task: every slot it had not reached stays on the old image.
        """
        from powerpeg.harness.backends.swarm.engine import docker_cli  # noqa: PLC0415 - engine imports stack, not us

        before = {t.id for t in await asyncio.to_thread(self.tasks)}
        await docker_cli("service", "update", "--detach", "--no-resolve-image", "--image", image, self.service)
        order: list[str] = []  # new tasks in the order Swarm started them
        # the gate failure in its own loop: re-pointing a proxy (below) can wait seconds for a dial to a
        # removed task, which is just when Swarm starts the next one, and that one must not pass its gate
        # before it is killed (the update would then go on past stop_after)
        failing = asyncio.ensure_future(self._fail_gate_of(before, order, updated, log))
        try:
            last_change, seen = time.monotonic(), ""
            while True:
                # the status first: the task list read after it is at least as new (a pause's failed task in it)
                status = await asyncio.to_thread(self.update_status)
                state = status.get("State", "")
                tasks = await asyncio.to_thread(self.tasks)
                new = [t for t in tasks if t.id not in before]
                _note_order(order, new)
                await self.point(session, tasks)
                snapshot = f"{state} " + " ".join(f"{t.id}:{t.state}" for t in tasks)
                if snapshot != seen:
                    seen, last_change = snapshot, time.monotonic()
                    # a roll of eight tasks takes tens of seconds, minutes on a loaded host: say where it is
                    log.info("rollout_progress", update_state=state or "starting",
                             new_tasks_running=sum(1 for t in new if t.state == "running"), stop_after=updated,
                             of=self.routers)
                settled = all(t.state in ("running", "failed", "shutdown", "rejected", "complete") for t in new)
                if failing.done():
                    failing.result()  # the gate failure's own error (a task on another node) ends the roll
                if state in ("paused", "completed") and settled:
                    break
                if time.monotonic() - last_change > STALL_S:
                    raise FleetError(f"{self.service}: rolling update to {image} stalled without pausing "
                                     f"({state or 'no status'}); tasks: {describe(tasks)}")
                await asyncio.sleep(POLL_S)
        finally:
            if not failing.done():  # the update completed or paused before reaching stop_after
                failing.cancel()
                await asyncio.gather(failing, return_exceptions=True)
        gate: dict[str, Any] = failing.result() if not failing.cancelled() else {}
        if state == "completed" and updated < self.routers:
            # the stall is the experiment: a rollout that went through is no Knight run, say so loudly
            raise FleetError(f"{self.service}: the rolling update to {image} completed instead of pausing after "
                             f"{updated} of {self.routers} tasks (gate failure: {gate or 'none injected'}); "
                             f"tasks: {describe(tasks)}")
        current = await self.point(session, tasks)
        by_id = {t.id: t for t in tasks}
        return {"service": self.service, "image": image, "update_state": state,
                "update_message": status.get("Message", ""), "gate_failure": gate,
                "order": [by_id[i].router_id for i in order if i in by_id],
                "tasks": {t.router_id: {**t.to_json(), "updated": t.image == image}
                          for _slot, t in sorted(current.items())}}

    async def _fail_gate_of(self, before: set[str], order: list[str], updated: int, log: Any) -> dict[str, Any]:
        """Watch the new tasks every POLL_S; SIGKILL the (updated+1)-th once it has a container."""
        while True:
            new = [t for t in await asyncio.to_thread(self.tasks) if t.id not in before]
            _note_order(order, new)
            victim = next((t for t in new if len(order) > updated and t.id == order[updated]), None)
            if victim is not None and victim.container:
                gate = await asyncio.to_thread(_fail_gate, victim)
                log.info("rollout_gate_failed", **gate)
                return gate
            await asyncio.sleep(POLL_S)

    async def rollback(self, session: aiohttp.ClientSession, timeout: float) -> dict[str, Any]:
        """`docker service rollback`: the service's previous spec on every task (Swarm's own undo)."""
        from powerpeg.harness.backends.swarm.engine import docker_cli  # noqa: PLC0415 - engine imports stack, not us

        started = time.monotonic()
        await docker_cli("service", "rollback", "--detach", self.service)
        deadline = started + timeout
        while True:
            tasks = await asyncio.to_thread(self.tasks)
            await self.point(session, tasks)
            status = await asyncio.to_thread(self.update_status)
            state = status.get("State", "")
            if state in ("rollback_completed", "rollback_paused"):
                break
            if time.monotonic() > deadline:
                raise FleetError(f"{self.service}: rollback not done within {timeout:.0f} s ({state}); "
                                 f"tasks: {describe(tasks)}")
            await asyncio.sleep(POLL_S)
        current = await self.wait_serving(session, max(deadline - time.monotonic(), 1.0))
        return {"service": self.service, "update_state": state, "update_message": status.get("Message", ""),
                "seconds": round(time.monotonic() - started, 2),
                "tasks": {t.router_id: t.to_json() for _slot, t in sorted(current.items())}}


def _note_order(order: list[str], new: list[SlotTask]) -> None:
    """Append the new tasks not seen before, in the order they are listed (oldest first)."""
    for task in new:
        if task.id not in order:
            order.append(task.id)


def _fail_gate(task: SlotTask) -> dict[str, Any]:
    """SIGKILL a new task's container before it passes its health gate (the injected failure)."""
    import docker.errors  # noqa: PLC0415 - the local backend never needs it

    with dk.docker_client() as engine:
        try:
            container = engine.containers.get(task.container)
            passed = (container.attrs.get("State", {}).get("Health") or {}).get("Status") == "healthy"
            container.kill()
        except docker.errors.NotFound:
            raise FleetError(f"task {task.id} ({task.router_id}) runs on node {task.node}, not on this engine: "
                             "the gate failure acts on this node's containers only") from None
        except docker.errors.APIError as exc:
            raise FleetError(f"could not fail the gate of task {task.id} ({task.router_id}): {exc}") from None
    return {"task": task.id, "router": task.router_id, "image": task.image, "node": task.node,
            "state_when_killed": task.state, "had_passed_gate": passed}


def describe(tasks: list[SlotTask]) -> str:
    return "; ".join(f"{t.router_id} {t.version} {t.state}{' (' + t.error + ')' if t.error else ''}"
                     for t in tasks[-24:]) or "none"
