"""``alert_blackout``: the warnings nobody saw. Knight's system sent 97
emails before the open, and no page; here a channel of the alert sink is
switched off, downgraded (pages travel as email) or delayed."""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from powerpeg.harness.experiment.durations import Duration
from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams

# the sink's own bound on delay_ms (docs/targets.md, alerts)
MAX_DELAY_S = 3600.0
SETTINGS = ("enabled", "downgrade_to", "delay_ms")


class Params(BaseParams):
    channel: Literal["page", "phone", "email", "chat"] = "page"
    mode: Literal["off", "downgrade", "delay"]
    delay: Duration | None = Field(None, description="how long alerts wait (mode delay)")

    @model_validator(mode="after")
    def _mode_args(self) -> Params:
        if self.mode == "delay":
            if self.delay is None:
                raise ValueError("mode delay needs `delay`, e.g. delay: 30s")
            if not 0 < self.delay <= MAX_DELAY_S:
                raise ValueError(f"delay must be above 0 and at most {MAX_DELAY_S:.0f}s")
        elif self.delay is not None:
            raise ValueError(f"`delay` only goes with mode delay, not mode {self.mode}")
        if self.mode == "downgrade" and self.channel != "page":
            raise ValueError("only the page channel can be downgraded (to email)")
        return self

    def change(self) -> dict[str, Any]:
        """The PUT /channels/{channel} body this fault sends."""
        if self.mode == "off":
            return {"enabled": False}
        if self.mode == "downgrade":
            return {"downgrade_to": "email"}
        assert self.delay is not None
        return {"delay_ms": round(self.delay * 1000)}


class AlertBlackout(Fault[Params]):
    """PUT /channels/{channel}; revert PUTs back the settings it had."""

    kind: ClassVar[str] = "alert_blackout"
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        return f"{self.params.channel} {self.params.mode}"

    def _url(self, ctx: FaultContext) -> str:
        return f"{ctx.topology.alerts.admin}/channels/{self.params.channel}"

    async def inject(self, ctx: FaultContext) -> None:
        channels = await common.admin_call(ctx, "GET", f"{ctx.topology.alerts.admin}/channels")
        current = channels.get(self.params.channel) if isinstance(channels, dict) else None
        if not isinstance(current, dict):
            raise FaultError(f"alerts GET /channels has no {self.params.channel!r} channel: {channels!r}")
        self.applied = {key: current[key] for key in SETTINGS if key in current}
        await common.admin_call(ctx, "PUT", self._url(ctx), self.params.change())
        ctx.log.info("channel_changed", channel=self.params.channel, change=self.params.change())

    async def revert(self, ctx: FaultContext) -> None:
        if not self.applied:
            return
        await common.admin_call(ctx, "PUT", self._url(ctx), self.applied)
        self.applied = None
