"""``partial_deploy``: new code reaches some routers and misses others — the
technician who copied the release to seven of Knight's eight servers.

Two modes. ``per-router`` (every backend): the harness deploys each router
not missed, one by one, as the technician did. ``rolling`` (an orchestrator:
``--backend swarm``): the routers are one replicated service and the deploy
is the orchestrator's rolling update (parallelism 1, a health gate,
``failure_action: pause``); the new release fails its gate on the task after
``stop_after`` (the harness crashes that one new task, as a release that does
not start on one server would), and the orchestrator pauses the update
itself, leaving the tasks it had not reached on the old image. Which routers
those are is the orchestrator's choice, not the file's: the run records it
(the fault's target in journal.json, the ``rollout`` event in events.jsonl).
"""
from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from powerpeg.harness.experiment.model import Experiment, FleetShape, Version
from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams

MODES = ("per-router", "rolling")


class Params(BaseParams):
    version: Version = Field(description="the version deployed")
    routers: Literal["all"] | list[common.RouterId] = Field("all", description="where the deploy goes")
    miss: list[common.RouterId] = Field(default_factory=list, description="routers the deploy misses")
    mode: Literal["per-router", "rolling"] = Field(
        "per-router", description="per-router: the harness deploys each router (any backend); rolling: the "
                                  "orchestrator's rolling update of the one router service (--backend swarm)")
    stop_after: int | None = Field(
        None, ge=0, le=64, description="rolling only: the update reaches this many tasks, then the next new "
                                       "task fails its health gate and the orchestrator pauses the update "
                                       "(default: every router but one, as in 2012)")

    @model_validator(mode="after")
    def _rolling_fields(self) -> Params:
        if self.mode == "rolling":
            if self.miss:
                raise ValueError("miss: a rolling update cannot skip chosen routers; the orchestrator picks the "
                                 "order (use stop_after: how many tasks it reaches)")
            if self.routers != "all":
                raise ValueError("routers: a rolling update rolls the whole router service ('all')")
        elif self.stop_after is not None:
            raise ValueError("stop_after is for mode: rolling (per-router deploys choose routers with miss)")
        return self

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        if isinstance(self.routers, list):
            errors += common.missing_routers("routers", self.routers, topology)
        errors += common.missing_routers("miss", self.miss, topology)
        if self.stop_after is not None and self.stop_after > topology.routers:
            errors.append(("stop_after", f"a fleet of {topology.routers} routers has {topology.routers} tasks "
                                         f"to update, not {self.stop_after}"))
        return errors

    def tasks_updated(self, routers: int) -> int:
        """How many tasks the rolling update reaches in a fleet of ``routers``."""
        return max(routers - 1, 0) if self.stop_after is None else min(self.stop_after, routers)


def replicated_routers(exp: Experiment) -> bool:
    """Whether the experiment deploys by rolling update: its fleet's routers are one replicated service."""
    return any(step.fault == PartialDeploy.kind and step.args.get("mode") == "rolling" for step in exp.method)


class PartialDeploy(Fault[Params]):
    """Deploy ``version`` to ``routers`` minus ``miss`` (or roll it, ``mode: rolling``); revert
    redeploys what each had."""

    kind: ClassVar[str] = "partial_deploy"
    Params: ClassVar[type[BaseParams]] = Params
    # the rolling update's record, kept past the revert: the run's journal.json is written after the
    # rollback and names who was left on the old version from here (revert clears ``applied``)
    rollout: dict[str, Any] | None = None

    def target(self) -> str:
        if self.params.mode == "rolling":
            rollout = self.rollout
            if rollout is None:
                left = "stops after " + ("N-1" if self.params.stop_after is None else str(self.params.stop_after))
                return f"{self.params.version} -> routers rolling, {left}"
            return f"{self.params.version} -> routers rolling, {rollout_summary(rollout)}"
        chosen = "all" if self.params.routers == "all" else ",".join(self.params.routers)
        missed = f" miss {','.join(self.params.miss)}" if self.params.miss else ""
        return f"{self.params.version} -> {chosen}{missed}"

    async def inject(self, ctx: FaultContext) -> None:
        if self.params.mode == "rolling":
            await self._roll(ctx)
            return
        targets = [r for r in common.chosen_routers(self.params.routers, ctx) if r not in self.params.miss]
        await deploy_recording(self, ctx, targets, self.params.version)

    async def _roll(self, ctx: FaultContext) -> None:
        roll = getattr(ctx.backend, "rolling_deploy", None)
        if roll is None:
            raise FaultError(f"partial_deploy mode: rolling needs an orchestrator (--backend swarm); the "
                             f"{getattr(ctx.backend, 'name', '?')} backend deploys per router")
        before = await common.router_versions(ctx, [r.id for r in ctx.topology.routers])
        # recorded before the update starts: a revert after a failure half-way still rolls back
        self.applied, self.rollout = {"before": before, "rollout": None}, None  # a game day may inject it again
        updated = self.params.tasks_updated(len(before))
        try:
            rollout = await roll(self.params.version, updated)
        except FaultError:
            raise
        except Exception as exc:  # the backend's own errors (FleetError, timeouts)
            raise FaultError(f"rolling deploy of {self.params.version}: {type(exc).__name__}: {exc}") from exc
        self.applied["rollout"] = self.rollout = rollout
        ctx.log.info("rollout", version=self.params.version, **rollout)

    async def revert(self, ctx: FaultContext) -> None:
        if self.params.mode == "rolling":
            if not self.applied:
                return
            now = await common.router_versions(ctx, list(self.applied["before"]))
            if now != self.applied["before"]:
                # the orchestrator's own way back: the service's previous spec (`docker service rollback`)
                await ctx.backend.rollback_routers()
            self.applied = None
            return
        await restore_versions(self, ctx)


def rollout_summary(rollout: dict[str, Any]) -> str:
    """"7/8 updated, paused; v1 left on router-3" from a backend's rollout record."""
    tasks = rollout.get("tasks", {})
    left = sorted((rid for rid, t in tasks.items() if not t.get("updated")), key=lambda r: int(r.rsplit("-", 1)[1]))
    head = f"{len(tasks) - len(left)}/{len(tasks)} updated, {rollout.get('update_state', '?')}"
    if not left:
        return head
    old = sorted({tasks[rid].get("version", "?") for rid in left})
    return f"{head}; {','.join(old)} left on {','.join(left)}"


async def deploy_recording(fault: Fault, ctx: FaultContext, targets: list[str], version: str) -> None:
    """Deploy ``version`` where a router runs another; ``fault.applied`` = {router: version it had}.

    Recorded before deploying, so a deploy failing half-way can still be reverted.
    A router already on ``version`` is left alone (restarting it would change nothing).
    """
    before = await common.router_versions(ctx, targets)
    fault.applied = {rid: had for rid, had in before.items() if had != version}
    await common.deploy_routers(ctx, {rid: version for rid in fault.applied})


async def restore_versions(fault: Fault, ctx: FaultContext) -> None:
    """Put back the version each router had; only those that differ are redeployed."""
    if not fault.applied:
        return
    now = await settled_versions(ctx, list(fault.applied))
    await common.deploy_routers(ctx, {rid: had for rid, had in fault.applied.items() if now[rid] != had})
    fault.applied = None


async def settled_versions(ctx: FaultContext, router_ids: list[str],
                           timeout_s: float = common.DEPLOY_TIMEOUT_S) -> dict[str, str]:
    """The routers' versions once each answers: a revert can come while another step's deploy still
    restarts a router (knight-2012-rollback's rollback outlasting the run on containers), and reading
    it mid-restart must wait for the deploy, bounded as a deploy is, not fail the revert."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await common.router_versions(ctx, router_ids)
        except FaultError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.25)
