"""``rollback_deploy``: the wrong remedy of 2012. Knight's engineers rolled
the new code back on the servers that had it, which put the old Power Peg
path back on all eight."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.experiment.model import FleetShape, Version
from harness.faults import common
from harness.faults.base import Fault, FaultContext, Params as BaseParams
from harness.faults.partial_deploy import deploy_recording, restore_versions


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
        # "deployed" = every router; deploy_recording leaves alone those already on `version`
        await deploy_recording(self, ctx, common.chosen_routers(self.params.routers, ctx), self.params.version)

    async def revert(self, ctx: FaultContext) -> None:
        await restore_versions(self, ctx)
