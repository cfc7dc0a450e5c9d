"""``partial_deploy``: new code reaches some routers and misses others — the
technician who copied the release to seven of Knight's eight servers."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.experiment.model import FleetShape, Version
from harness.faults import common
from harness.faults.base import Fault, FaultContext, Params as BaseParams


class Params(BaseParams):
    version: Version = Field(description="the version deployed")
    routers: Literal["all"] | list[common.RouterId] = Field("all", description="where the deploy goes")
    miss: list[common.RouterId] = Field(default_factory=list, description="routers the deploy misses")

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        if isinstance(self.routers, list):
            errors += common.missing_routers("routers", self.routers, topology)
        errors += common.missing_routers("miss", self.miss, topology)
        return errors


class PartialDeploy(Fault[Params]):
    """Deploy ``version`` to ``routers`` minus ``miss``; revert redeploys what each had."""

    kind: ClassVar[str] = "partial_deploy"
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        chosen = "all" if self.params.routers == "all" else ",".join(self.params.routers)
        missed = f" miss {','.join(self.params.miss)}" if self.params.miss else ""
        return f"{self.params.version} -> {chosen}{missed}"

    async def inject(self, ctx: FaultContext) -> None:
        targets = [r for r in common.chosen_routers(self.params.routers, ctx) if r not in self.params.miss]
        await deploy_recording(self, ctx, targets, self.params.version)

    async def revert(self, ctx: FaultContext) -> None:
        await restore_versions(self, ctx)


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
    now = await common.router_versions(ctx, list(fault.applied))
    await common.deploy_routers(ctx, {rid: had for rid, had in fault.applied.items() if now[rid] != had})
    fault.applied = None
