"""``rollback_deploy``: the wrong remedy of 2012. Knight's engineers rolled
the new code back on the servers that had it, which put the old Power Peg
path back on all eight.

On swarm a router that got its version from a deploy goes back through
`docker service rollback` (Swarm's own undo: the service's previous spec;
SwarmBackend._redeploy picks it when that spec has the version asked for).
With the routers as one replicated service (a rolling partial deploy before
it) the rollback is the service's: every task on the previous spec at once.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from powerpeg.harness.experiment.model import FleetShape, Version
from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams
from powerpeg.harness.faults.partial_deploy import deploy_recording, restore_versions


class Params(BaseParams):
    version: Version = Field("v1", description="the old version rolled back to")
    routers: Literal["deployed"] | list[common.RouterId] = Field(
        "deployed", description="'deployed': every router not running `version`"
    )

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        if isinstance(self.routers, list):
            return common.missing_routers("routers", self.routers, topology)
        return []


class RollbackDeploy(Fault[Params]):
    """Deploy the old ``version`` back; revert restores what each router had."""

    kind: ClassVar[str] = "rollback_deploy"
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        chosen = self.params.routers if isinstance(self.params.routers, str) else ",".join(self.params.routers)
        return f"{self.params.version} -> {chosen}"

    async def inject(self, ctx: FaultContext) -> None:
        if getattr(ctx.backend, "replicated", False):
            await self._service_rollback(ctx)
            return
        # "deployed" = every router; deploy_recording leaves alone those already on `version`
        await deploy_recording(self, ctx, common.chosen_routers(self.params.routers, ctx), self.params.version)

    async def _service_rollback(self, ctx: FaultContext) -> None:
        """The replicated routers service back to its previous spec (`docker service rollback`)."""
        if self.params.routers != "deployed":
            raise FaultError("routers: a replicated router service rolls back as a whole ('deployed')")
        before = await common.router_versions(ctx, [r.id for r in ctx.topology.routers])
        self.applied = {"before": before, "replicated": True}
        try:
            rollback = await ctx.backend.rollback_routers()
        except Exception as exc:  # the backend's own errors (FleetError, timeouts)
            raise FaultError(f"docker service rollback of the routers: {type(exc).__name__}: {exc}") from exc
        wrong = {rid: t["version"] for rid, t in rollback["tasks"].items() if t["version"] != self.params.version}
        ctx.log.info("service_rollback", **rollback)
        if wrong:
            raise FaultError(f"the routers service's previous spec is not {self.params.version}: {wrong}")

    async def revert(self, ctx: FaultContext) -> None:
        if isinstance(self.applied, dict) and self.applied.get("replicated"):
            now = await common.router_versions(ctx, list(self.applied["before"]))
            if now != self.applied["before"]:
                # a second rollback returns the service to the spec the first one left: Swarm keeps one
                # previous spec, not the mixed fleet a paused update had (docs/swarm.md)
                await ctx.backend.rollback_routers()
            self.applied = None
            return
        await restore_versions(self, ctx)
