"""``network``: a toxic on one link of the fleet, or the link cut.

Links are toxiproxy proxies named as in ``powerpeg status --json``
(``router-N->exchange``, ``exchange->monitor``, ``->alerts``). The API is
spoken through :mod:`powerpeg.harness.toxi` over the context's aiohttp session:
toxiproxy-python keeps its server address in class attributes and blocks
the event loop.
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StrictInt, ValidationInfo, field_validator, model_validator

from powerpeg.harness import toxi
from powerpeg.harness.faults.base import Fault, FaultContext, FaultError, Params as BaseParams
from powerpeg.harness.experiment.model import FleetShape

ToxicKind = Literal["latency", "jitter", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"]

# toxic kind → (toxiproxy type, attributes it takes, attributes it needs). A
# needed attribute is one without which the toxic would do nothing.
TOXICS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "latency": ("latency", frozenset({"latency", "jitter"}), frozenset({"latency"})),
    "jitter": ("latency", frozenset({"jitter", "latency"}), frozenset({"jitter"})),
    "bandwidth": ("bandwidth", frozenset({"rate"}), frozenset({"rate"})),
    "slow_close": ("slow_close", frozenset({"delay"}), frozenset({"delay"})),
    "timeout": ("timeout", frozenset({"timeout"}), frozenset()),
    "reset_peer": ("reset_peer", frozenset({"timeout"}), frozenset()),
    "slicer": ("slicer", frozenset({"average_size", "size_variation", "delay"}), frozenset({"average_size"})),
    "limit_data": ("limit_data", frozenset({"bytes"}), frozenset({"bytes"})),
}
TOXIC_PREFIX = "powerpeg-"
Attribute = Annotated[StrictInt, Field(ge=0)]


class Params(BaseParams):
    link: str = Field(description="router-N->exchange, exchange->monitor or ->alerts")
    toxic: ToxicKind | None = None
    # validate_default: a toxic whose needed attribute is left out must fail too
    attributes: dict[str, Attribute] = Field(
        default_factory=dict, validate_default=True, description="toxiproxy's, e.g. latency: 200"
    )
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0, le=1)
    down: StrictBool = Field(False, description="true: the link is cut (proxy disabled)")

    @field_validator("attributes")
    @classmethod
    def _attributes_of_toxic(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        kind = info.data.get("toxic")
        if kind is None:
            return value
        _, takes, needs = TOXICS[kind]
        unknown = sorted(set(value) - takes)
        if unknown:
            raise ValueError(
                f"{kind} toxic has no attribute {', '.join(repr(u) for u in unknown)} "
                f"(it takes: {', '.join(sorted(takes))})"
            )
        missing = sorted(needs - set(value))
        if missing:
            raise ValueError(f"{kind} toxic needs attribute {', '.join(repr(m) for m in missing)}")
        return value

    @model_validator(mode="after")
    def _toxic_or_down(self) -> Params:
        if self.down:
            extra = sorted({"toxic", "attributes", "stream", "toxicity"} & self.model_fields_set)
            if extra:
                raise ValueError(f"down: true cuts the link; {', '.join(extra)} cannot go with it")
        elif self.toxic is None:
            raise ValueError("give a `toxic` (latency, jitter, bandwidth, ...) or `down: true`")
        return self

    def check(self, topology: FleetShape) -> list[tuple[str, str]]:
        known = topology.links()
        if self.link in known:
            return []
        shown = known if len(known) <= 6 else [*known[:3], "...", *known[-3:]]
        return [("link", f"no link {self.link!r}; known: {', '.join(shown)}")]

    def toxic_body(self, name: str) -> dict[str, Any]:
        """The toxic as toxiproxy's API takes it (jitter is a latency toxic)."""
        assert self.toxic is not None
        kind, _, _ = TOXICS[self.toxic]
        attributes = dict(self.attributes)
        if self.toxic == "jitter":
            attributes.setdefault("latency", 0)
        return {"name": name, "type": kind, "stream": self.stream, "toxicity": self.toxicity, "attributes": attributes}


class Network(Fault[Params]):
    """A toxic on the link's proxy, or the proxy disabled; revert removes / re-enables."""

    kind: ClassVar[str] = "network"
    Params: ClassVar[type[BaseParams]] = Params
    requires: ClassVar[frozenset[str]] = frozenset({"toxiproxy"})

    def target(self) -> str:
        if self.params.down:
            return f"{self.params.link} down"
        shown = ",".join(f"{k}={v}" for k, v in sorted(self.params.attributes.items()))
        return f"{self.params.link} {self.params.toxic}{' ' + shown if shown else ''}"

    async def inject(self, ctx: FaultContext) -> None:
        client, proxy = _proxy(ctx, self.params.link)
        try:
            proxies = await client.proxies()
            current = proxies.get(proxy)
            if current is None:
                raise FaultError(f"toxiproxy has no proxy {proxy!r} (known: {', '.join(sorted(proxies))})")
            if self.params.down:
                self.applied = {"proxy": proxy, "enabled": bool(current.get("enabled", True))}
                await client.set_enabled(proxy, False)
            else:
                name = _free_name(self.params.toxic, current.get("toxics") or [])
                self.applied = {"proxy": proxy, "toxic": name}
                await client.add_toxic(proxy, self.params.toxic_body(name))
        except toxi.ToxiproxyError as exc:
            raise FaultError(f"network {self.target()}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise FaultError(f"network {self.target()}: toxiproxy unreachable: {type(exc).__name__}: {exc}") from None
        ctx.log.info("network_fault", link=self.params.link, applied=self.applied)

    async def revert(self, ctx: FaultContext) -> None:
        if not self.applied:
            return
        client, proxy = _proxy(ctx, self.params.link)
        try:
            if "enabled" in self.applied:
                await client.set_enabled(proxy, self.applied["enabled"])
            else:
                await _remove_toxic(client, proxy, self.applied["toxic"])
        except toxi.ToxiproxyError as exc:
            raise FaultError(f"revert network {self.target()}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise FaultError(f"revert network {self.target()}: toxiproxy unreachable: {exc}") from None
        self.applied = None


def _proxy(ctx: FaultContext, link: str) -> tuple[toxi.ToxiproxyClient, str]:
    endpoints = ctx.topology.toxiproxy
    if endpoints is None:
        raise FaultError(f"network fault on {link!r} needs toxiproxy, but this fleet runs without it "
                         "(is toxiproxy-server installed in the venv?)")
    try:
        name = endpoints.proxy(link).name
    except KeyError as exc:
        raise FaultError(str(exc.args[0])) from None
    return toxi.ToxiproxyClient(endpoints.api, ctx.http), name


def _free_name(kind: str | None, toxics: list[dict[str, Any]]) -> str:
    """``powerpeg-<kind>-<n>``, n the lowest not on the proxy: two faults may share a link."""
    taken = {t.get("name") for t in toxics}
    n = 1
    while f"{TOXIC_PREFIX}{kind}-{n}" in taken:
        n += 1
    return f"{TOXIC_PREFIX}{kind}-{n}"


async def _remove_toxic(client: toxi.ToxiproxyClient, proxy: str, name: str) -> None:
    """Delete the toxic; one already gone (a toxiproxy restart, a reset) is fine."""
    try:
        await client.remove_toxic(proxy, name)
    except toxi.ToxiproxyError:
        proxies = await client.proxies()
        toxics = (proxies.get(proxy) or {}).get("toxics") or []
        if any(t.get("name") == name for t in toxics):
            raise
