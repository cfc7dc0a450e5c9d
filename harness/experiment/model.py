"""The experiment file, as typed objects. Parsed once at the edge (loader.py);
nothing past the loader sees a loose dict.

Every section maps onto one part of a run:
topology → what the backend stands up; market → the exchange clock;
load → Locust; controls → the safety nets under test (monitor, auto-kill,
router pre-trade checks, where router warnings go, or a firm's own controls
under ``controls.external``); steady_state → probes
checked before, during and after the method; method → the fault timeline;
abort → the harness's own stop conditions; assert → the verdict;
rollback → when faults are reverted.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema,
                      field_validator, model_validator)

from powerpeg.harness.topology import proxy_names

from .durations import (PATTERN as DURATION_PATTERN, Duration, at_most, format_duration, human, parse_duration,
                        within)

VERSIONS = ("v1", "v2")
Version = Literal["v1", "v2"]

# Maxima: what a run, a game day or a CI job can mean. A duration of years or a
# million users is a typo, and it must be refused at load, not discovered by a
# run that never ends (each field's description says its maximum: `powerpeg schema`).
MAX_RUN_S = 3600.0  # the method phase, its steps, the open, the abort cap, the assertions' thresholds
MAX_PAUSE_S = 60.0  # a broker's wait between parents, the monitor's heartbeat
MAX_STEPS = 100
MAX_PROBES = 50
MAX_TEXT = 10_000  # description, hypothesis
MAX_QTY = 1_000_000_000  # the router's own bound on a parent's qty
MAX_USD = 1e15
MAX_SHARES = 10**12

RunDuration = Annotated[Duration, at_most(MAX_RUN_S)]
PauseDuration = Annotated[Duration, at_most(MAX_PAUSE_S)]
RUN_MAX = f"at most {human(MAX_RUN_S)}"
PAUSE_MAX = f"at most {human(MAX_PAUSE_S)}"


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently change an experiment. Infinity and NaN
    are no numbers (YAML's .inf and .nan, or 1e999) and are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# what `topology.placement` may pin, and Docker Swarm's constraint syntax (node.id, node.hostname,
# node.role, node.platform.os/arch, node.labels.<key>, engine.labels.<key>; == or !=)
PlacedKind = Literal["routers", "exchange", "monitor", "alerts", "toxiproxy"]
PLACEMENT_PATTERN = (r"^(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+)"
                     r"|engine\.labels\.[A-Za-z0-9_.-]+)\s*(==|!=)\s*[A-Za-z0-9_.:/-]+$")


class FleetShape(Strict):
    """The experiment file's `topology:` section: the fleet it asks for (the running
    fleet's endpoints are :class:`powerpeg.harness.topology.Topology`)."""

    routers: int = Field(8, ge=1, le=64, description="routers router-1..router-N")
    version: Version = Field("v2", description="starting version of every router")
    versions: dict[str, Version] = Field(default_factory=dict,
                                         description="per-router starting version, overrides `version`")
    firm: str = Field("KNIGHT", pattern=r"^[A-Z][A-Z0-9_]{0,15}$")
    symbols: int = Field(20, ge=1, le=500, description="how many symbols of the universe the load trades")
    working_children: int = Field(
        1, ge=1, le=100,
        description="child orders each router's slicer keeps working per parent at once (1: one after another); "
                    "more make a parent's children reach the exchange together, e.g. a pre-open queue")
    # Swarm placement constraints per component kind (`--backend swarm` only; docs/swarm.md)
    placement: dict[PlacedKind, Annotated[str, Field(pattern=PLACEMENT_PATTERN, max_length=200)]] = Field(
        default_factory=dict,
        description="swarm backend only: a placement constraint per component kind, e.g. "
                    "{routers: 'node.labels.zone==a'} (Docker's `node.<attribute> ==|!= value` syntax)")

    def router_ids(self) -> list[str]:
        return [f"router-{i}" for i in range(1, self.routers + 1)]

    def version_of(self, router_id: str) -> str:
        return self.versions.get(router_id, self.version)

    def components(self) -> list[str]:
        return ["exchange", "monitor", "alerts", *self.router_ids()]

    def links(self) -> list[str]:
        """Toxiproxy links, named as in `powerpeg status --json`."""
        return proxy_names(self.router_ids())


class Market(Strict):
    open_at: RunDuration = Field(2.0, description="when the market opens, after the method starts ('0s' = open at "
                                                  f"once); {RUN_MAX}")
    preopen: Literal["queue", "reject"] = "queue"


class LoadMix(Strict):
    rlp_share_after_open: float = Field(0.0, ge=0, le=1,
                                        description="share of rlp-flagged parents once the market is open")
    rlp_share_before_open: float = Field(0.0, ge=0, le=1)
    market_share: float = Field(0.5, ge=0, le=1, description="share of market (vs limit) parents")
    buy_share: float = Field(0.5, ge=0, le=1)
    qty_min: int = Field(100, ge=1, le=MAX_QTY)
    qty_max: int = Field(1000, ge=1, le=MAX_QTY)
    limit_offset_bps: float = Field(20.0, ge=0, le=10_000,
                                    description="limit prices within this distance of the reference price")

    @model_validator(mode="after")
    def _qty_range(self) -> LoadMix:
        if self.qty_max < self.qty_min:
            raise ValueError(f"qty_max ({self.qty_max}) is below qty_min ({self.qty_min})")
        return self


class Load(Strict):
    users: int = Field(8, ge=0, le=2000, description="Locust users (brokers); 0 = no load")
    spawn_rate: float = Field(8.0, gt=0, le=10_000, description="users started per second")
    wait: PauseDuration = Field(0.5, description=f"each user's pause between parents; {PAUSE_MAX}")
    wait_before_open: PauseDuration | None = Field(
        None, description="the pause while the market is not open yet (default: wait): a shorter one builds the "
                          "pre-open queue that the open releases at once, an opening burst")
    workers: int = Field(0, ge=0, le=32, description="Locust worker processes (0 = one local process)")
    mix: LoadMix = Field(default_factory=LoadMix)


class MonitorLimits(Strict):
    max_gross_notional: float | None = Field(None, gt=0, le=MAX_USD)
    max_net_notional: float | None = Field(None, gt=0, le=MAX_USD)
    max_position: int | None = Field(None, gt=0, le=MAX_SHARES)
    max_child_rate: float | None = Field(None, gt=0, le=1e9)
    max_fill_rate: float | None = Field(None, gt=0, le=1e9)
    overfill_shares: int = Field(0, ge=0, le=MAX_SHARES)


class MonitorControl(Strict):
    enabled: bool = False
    auto_kill: bool = False
    limits: MonitorLimits = Field(default_factory=MonitorLimits)
    version_check: bool = True
    heartbeat: PauseDuration = Field(0.5, description=f"the alert-pipeline heartbeat's period; {PAUSE_MAX}")


class RouterChecks(Strict):
    max_child_qty: int | None = Field(None, gt=0, le=MAX_QTY)
    price_collar_pct: float | None = Field(None, gt=0, le=1_000)
    max_parent_notional: float | None = Field(None, gt=0, le=MAX_USD)
    reject_duplicates: bool = False
    max_child_rate: float | None = Field(None, gt=0, le=1e9)


class ExternalReady(Strict):
    """How the run knows a firm's own control is ready: checked before the load starts and the
    market opens, until ``timeout`` (then the run is an infrastructure error, exit 3)."""

    dropcopy: bool = Field(False, description="wait until the firm has a drop-copy session of its own logged on "
                                              "(SenderCompID = the firm), beyond powerpeg's own monitor")
    http: list[Annotated[str, Field(pattern=r"^https?://[^\s/]+", max_length=2000)]] = Field(
        default_factory=list, max_length=20,
        description="and until each of these URLs (the control's health) answers 2xx")
    timeout: RunDuration = Field(60.0, description="how long the run waits for readiness before it gives up "
                                                   f"(exit 3); {RUN_MAX}")


class BundledControl(Strict):
    """A real control powerpeg starts for the run (``harness/controls``): its kind and typed args."""

    kind: str = Field(max_length=64,
                      description="a registered control kind (harness/controls/registry.py), e.g. prometheus")
    args: dict[str, Any] = Field(default_factory=dict)


class ExternalControls(Strict):
    """A firm's own controls, measured in place of powerpeg's: the harness stands up the exchange,
    the routers and the alert sink, publishes what a control needs (`powerpeg env`, `status --json`),
    starts the ``bundled`` ones, and waits until every control is ready. powerpeg's monitor then runs
    detached (passive, no drop copy, no pager, no kill switch) unless ``controls.monitor.enabled``
    names it; the routers' pre-trade checks and warnings stay as ``controls`` sets them."""

    ready: ExternalReady = Field(default_factory=ExternalReady)
    bundled: list[BundledControl] = Field(default_factory=list, max_length=8)


class Controls(Strict):
    monitor: MonitorControl = Field(default_factory=MonitorControl)
    router_checks: RouterChecks = Field(default_factory=RouterChecks)
    warnings: Literal["email", "page", "off"] = Field("email", description="severity of the routers' legacy warnings")
    external: ExternalControls | None = Field(
        None, description="measure the firm's own controls (or bundled real ones) instead of powerpeg's")


ProbePhase = Literal["before", "during", "after"]
PROBE_PHASES: tuple[ProbePhase, ...] = ("before", "during", "after")


class Probe(Strict):
    name: str = Field(max_length=200)
    probe: str = Field(max_length=200, description="a probe kind: healthy, fills_flowing, exposure, load_failures, "
                                                   "or one a plugin registers (powerpeg.probes, docs/plugins.md)")
    tolerance: float | None = Field(
        None, ge=0, le=MAX_USD,
        description="fills_flowing: min fills/s; exposure: max gross USD; load_failures: max failure ratio")
    when: list[ProbePhase] = Field(default_factory=lambda: list(PROBE_PHASES), max_length=len(PROBE_PHASES))

    @field_validator("probe")
    @classmethod
    def _known_probe(cls, value: str) -> str:
        # the registry holds the plugins' probes too, so a Literal cannot list them
        from powerpeg.harness.probes import PROBES  # noqa: PLC0415 - probes import this module

        if value not in PROBES:
            raise ValueError(f"unknown probe {value!r}; known: {', '.join(sorted(PROBES))}")
        return value


class SteadyState(Strict):
    probes: list[Probe] = Field(default_factory=list, max_length=MAX_PROBES, description=f"at most {MAX_PROBES}")


def _parse_at(value: Any) -> Any:
    if value == "open":
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{exc} (or 'open')") from None


def _at_most_run(value: Any) -> Any:
    return value if value == "open" else within(value, MAX_RUN_S)


# One validator instead of a Union so a bad value gives one error, not one per branch.
At = Annotated[
    Literal["open"] | float,
    BeforeValidator(_parse_at),
    AfterValidator(_at_most_run),
    PlainSerializer(lambda v: v if v == "open" else format_duration(v), return_type=str),
    WithJsonSchema({"anyOf": [{"const": "open"}, {"type": "string", "pattern": DURATION_PATTERN}],
                    "examples": ["0s", "1500ms", "open"]}),
]


class Step(Strict):
    """One fault on the timeline. ``args`` are checked against the fault kind's typed parameters."""

    at: At = Field(description=f"'2s' after the method starts, or 'open'; {RUN_MAX}")
    fault: str = Field(description="a registered fault kind", max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    duration: RunDuration | None = Field(None, description=f"revert after this long; none = until rollback; {RUN_MAX}")
    name: str | None = Field(None, max_length=200)


class Abort(Strict):
    """The harness's own safety net: breaching one halts everything through the kill switch."""

    max_loss_usd: float | None = Field(None, gt=0, le=MAX_USD)
    max_excess_shares: int | None = Field(None, gt=0, le=MAX_SHARES)
    max_exposure_usd: float | None = Field(None, gt=0, le=MAX_USD)
    max_duration: RunDuration = Field(60.0, description=f"hard cap on the method phase; {RUN_MAX}")


class Assertions(Strict):
    ttd_max: RunDuration | None = Field(None, description=RUN_MAX)
    ttk_max: RunDuration | None = Field(None, description=RUN_MAX)
    ttc_max: RunDuration | None = Field(None, description=RUN_MAX)
    excess_shares_max: int | None = Field(None, ge=0, le=MAX_SHARES)
    loss_usd_max: float | None = Field(None, ge=0, le=MAX_USD)
    no_lost_orders: bool = False
    # presets from the rules firms are held to (docs/harness.md "Assertion presets" cites each)
    kill_blocks_within: RunDuration | None = Field(
        None, description="after the kill, the venue accepts no new order of the firm later than this "
                          "(CME Globex's kill switch blocks new orders at once: 1s is a generous bound)")
    cancel_all_within: RunDuration | None = Field(
        None, description="every order the firm had working at the kill is cancelled within this "
                          "(RTS 6 art. 12: the kill function cancels all unexecuted orders immediately)")
    alert_within: RunDuration | None = Field(
        None, description="an alert is delivered on some channel within this after the first violation "
                          "(RTS 6 art. 16(5): real-time alerts within five seconds)")
    kill_latched: bool = Field(
        False, description="the kill holds: no order of the firm is accepted after it until an explicit reinstate")
    max_child_per_parent: int | None = Field(
        None, ge=1, le=10**9, description="no parent order has more child orders than this at the venue "
                                "(the order-to-parent check Knight lacked; SEC 15c3-5 erroneous-order controls)")


class Experiment(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    description: str = Field("", max_length=MAX_TEXT)
    hypothesis: str = Field("", max_length=MAX_TEXT)
    seed: int = Field(1, ge=0, le=2**63 - 1)
    duration: RunDuration = Field(10.0, description="how long the method phase runs before rollback and teardown; "
                                                    f"{RUN_MAX}")
    topology: FleetShape = Field(default_factory=FleetShape)
    market: Market = Field(default_factory=Market)
    load: Load = Field(default_factory=Load)
    controls: Controls = Field(default_factory=Controls)
    steady_state: SteadyState = Field(default_factory=SteadyState)
    method: list[Step] = Field(default_factory=list, max_length=MAX_STEPS, description=f"at most {MAX_STEPS} steps")
    abort: Abort = Field(default_factory=Abort)
    assertions: Assertions = Field(default_factory=Assertions, alias="assert")
    rollback: Literal["always", "on_failure", "never"] = "always"
    expect: Literal["confirmed", "refuted"] = Field(
        "confirmed", description="the verdict this experiment is kept for: `refuted` marks a known weakness "
                                 "(a regression guard: the pytest plugin reports it as xfail, strict)")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("duration must be above 0")
        return value
