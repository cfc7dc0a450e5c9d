"""``kill``, ``pause`` and ``restart``: what happens to one process of the
fleet. They share their parameters (``target``: a component)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams
from powerpeg.harness.experiment.model import FleetShape

NOT_RUNNING = "not running"  # what backend.health() reports for a dead process


class Params(BaseParams):
    target: common.Component = Field(description="exchange, monitor, alerts or router-N")

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        return common.missing_component("target", self.target, topology)


class _ProcessFault(Fault[Params]):
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        return self.params.target

    async def _backend(self, ctx: FaultContext, action: str) -> None:
        try:
            await getattr(ctx.backend, action)(self.params.target)
        except FaultError:
            raise
        except Exception as exc:  # FleetError, StartError, a missing component (KeyError)
            raise FaultError(f"{action} {self.params.target} failed: {type(exc).__name__}: {exc}") from exc


class Kill(_ProcessFault):
    """SIGKILL; revert starts it again (when it is not running)."""

    kind: ClassVar[str] = "kill"

    async def inject(self, ctx: FaultContext) -> None:
        await self._backend(ctx, "kill")
        self.applied = self.params.target

    async def revert(self, ctx: FaultContext) -> None:
        if not self.applied:
            return
        health = await ctx.backend.health()
        if health.get(self.params.target) == NOT_RUNNING:
            await self._backend(ctx, "restart")
        self.applied = None


class Pause(_ProcessFault):
    """SIGSTOP; revert SIGCONT."""

    kind: ClassVar[str] = "pause"

    async def inject(self, ctx: FaultContext) -> None:
        await self._backend(ctx, "pause")
        self.applied = self.params.target

    async def revert(self, ctx: FaultContext) -> None:
        if not self.applied:
            return
        await self._backend(ctx, "resume")
        self.applied = None


class Restart(_ProcessFault):
    """Stop and start again on the same addresses; nothing to revert."""

    kind: ClassVar[str] = "restart"

    async def inject(self, ctx: FaultContext) -> None:
        await self._backend(ctx, "restart")
        self.applied = self.params.target

    async def revert(self, ctx: FaultContext) -> None:
        self.applied = None
