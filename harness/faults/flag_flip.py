"""``flag_flip``: the repurposed flag. Either a router flag is set over the
admin API (``flag: rlp``), or flagged parent orders start arriving in the
load (``rlp_share``) — Knight's RLP orders reaching the server that still
had Power Peg."""
from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, StrictBool, model_validator

from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams
from powerpeg.harness.experiment.model import FleetShape


class Params(BaseParams):
    flag: Literal["rlp"] | None = Field(None, description="the router flag to set")
    value: StrictBool = Field(True, description="the flag's new value")
    routers: Literal["all"] | list[common.RouterId] = Field("all", description="routers whose flag is set")
    rlp_share: float | None = Field(None, ge=0, le=1, description="share of rlp-flagged parents in the load")

    @model_validator(mode="after")
    def _one_way(self) -> Params:
        if (self.flag is None) == (self.rlp_share is None):
            raise ValueError("give either `flag` (with `value`, `routers`) or `rlp_share`, not both or neither")
        if self.rlp_share is not None:
            extra = sorted({"value", "routers"} & self.model_fields_set)
            if extra:
                raise ValueError(f"{', '.join(extra)} only go with `flag`, not with `rlp_share`")
        return self

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        if isinstance(self.routers, list):
            return common.missing_routers("routers", self.routers, topology)
        return []


class FlagFlip(Fault[Params]):
    """PUT /flags on routers, or change the load's rlp share; revert puts back what was there."""

    kind: ClassVar[str] = "flag_flip"
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        if self.params.rlp_share is not None:
            return f"rlp_share={self.params.rlp_share:g}"
        chosen = "all" if self.params.routers == "all" else ",".join(self.params.routers)
        return f"{self.params.flag}={str(self.params.value).lower()} on {chosen}"

    async def inject(self, ctx: FaultContext) -> None:
        if self.params.rlp_share is not None:
            if ctx.load is None:
                raise FaultError("flag_flip rlp_share needs running load")
            # the override, not the current share: None means "follow the open
            # schedule", which a fault spanning the open must give back
            self.applied = {"rlp_share": ctx.load.override()}
            ctx.load.set_rlp_share(self.params.rlp_share)
            return
        routers = common.chosen_routers(self.params.routers, ctx)
        flag = self.params.flag
        assert flag is not None  # Params._one_way: no rlp_share means a flag
        before = await asyncio.gather(*(_get_flags(ctx, rid) for rid in routers))
        missing = [rid for rid, flags in zip(routers, before, strict=True) if flag not in flags]
        if missing:
            raise FaultError(f"flag {flag!r} unknown to {', '.join(missing)}")
        self.applied = {"flags": {rid: flags[flag] for rid, flags in zip(routers, before, strict=True)}}
        await _put_all(ctx, {rid: {flag: self.params.value} for rid in routers})

    async def revert(self, ctx: FaultContext) -> None:
        if not self.applied:
            return
        if "rlp_share" in self.applied:
            if ctx.load is None:
                raise FaultError("flag_flip rlp_share needs running load")
            ctx.load.set_rlp_share(self.applied["rlp_share"])
        else:
            flag = self.params.flag
            assert flag is not None  # inject recorded "flags" only for a flag
            await _put_all(ctx, {rid: {flag: had} for rid, had in self.applied["flags"].items()})
        self.applied = None


async def _get_flags(ctx: FaultContext, router_id: str) -> dict[str, Any]:
    body = await common.admin_call(ctx, "GET", common.router_admin(ctx, router_id) + "/flags")
    if not isinstance(body, dict):
        raise FaultError(f"{router_id} GET /flags is not an object: {body!r}")
    return body


async def _put_all(ctx: FaultContext, changes: dict[str, dict[str, Any]]) -> None:
    await asyncio.gather(*(
        common.admin_call(ctx, "PUT", common.router_admin(ctx, rid) + "/flags", body)
        for rid, body in changes.items()
    ))
    ctx.log.info("flags_set", changes=changes)
