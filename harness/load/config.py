"""The load's one configuration file: what the harness tells Locust.

The harness builds a :class:`LoadConfig` from the experiment's ``load``
section and the fleet's topology, writes it as JSON, and hands its path to
the Locust processes in ``POWERPEG_LOAD_CONFIG``; the locustfile parses it
back into the same typed object. Imported by the Locust processes too, so it
depends on pydantic only (never on asyncio or aiohttp).
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from powerpeg.harness.experiment.model import Load, LoadMix
from powerpeg.harness.topology import Topology

CONFIG_ENV = "POWERPEG_LOAD_CONFIG"
# Locust's own stop bound: the run's duration plus this margin, so a load
# whose harness died still ends by itself.
RUN_TIME_MARGIN_S = 10.0


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouterTarget(_Frozen):
    id: str
    orders: str = Field(description="the router's POST /orders URL")


class SymbolRef(_Frozen):
    symbol: str
    ref_price: float = Field(gt=0)


def router_targets(topology: Topology) -> list[RouterTarget]:
    return [RouterTarget(id=r.id, orders=r.orders) for r in topology.routers]


class LoadConfig(_Frozen):
    run_id: str
    routers: tuple[RouterTarget, ...] = Field(min_length=1)
    token: str
    symbols: tuple[SymbolRef, ...] = Field(min_length=1)
    mix: LoadMix = Field(default_factory=LoadMix)
    users: int = Field(ge=0)
    spawn_rate: float = Field(gt=0)
    workers: int = Field(0, ge=0)
    wait: float = Field(ge=0, description="seconds between one user's parents (constant pacing)")
    wait_before_open: float | None = Field(None, ge=0, description="the same until the market opens (None: wait)")
    open_at_ns: int = Field(description="market open; rlp share switches from before to after here")
    seed: int = 1
    run_time: float = Field(gt=0, description="seconds: Locust stops by itself after this")
    max_parents_per_user: int = Field(100_000, ge=1, description="a broker stops after this many parents")
    parents_dir: str
    control_file: str
    ready_file: str = Field(description="written by the master (or only) Locust process once the test starts")
    final_stats_file: str = Field(description="written by the master (or only) Locust process as it quits")

    @classmethod
    def build(
        cls,
        load: Load,
        *,
        run_id: str,
        routers: list[RouterTarget],
        token: str,
        universe: list[SymbolRef],
        symbol_count: int,
        open_at_ns: int,
        seed: int,
        duration_s: float,
        out_dir: Path,
        run_time_margin_s: float = RUN_TIME_MARGIN_S,
    ) -> LoadConfig:
        """The config for one run.

        The load trades the first ``symbol_count`` symbols of ``universe``
        (the exchange's ``GET /symbols``, in its order). ``duration_s`` is how
        long the harness means the load to run; Locust's own bound is that
        plus :data:`RUN_TIME_MARGIN_S`.
        """
        if symbol_count > len(universe):
            raise ValueError(f"the load trades {symbol_count} symbols but the exchange lists {len(universe)}")
        return cls(
            run_id=run_id,
            routers=tuple(routers),
            token=token,
            symbols=tuple(universe[:symbol_count]),
            mix=load.mix,
            users=load.users,
            spawn_rate=load.spawn_rate,
            workers=load.workers,
            wait=float(load.wait),
            wait_before_open=None if load.wait_before_open is None else float(load.wait_before_open),
            open_at_ns=open_at_ns,
            seed=seed,
            run_time=float(duration_s) + run_time_margin_s,
            parents_dir=str(out_dir / "parents"),
            control_file=str(out_dir / "control.json"),
            ready_file=str(out_dir / "ready"),
            final_stats_file=str(out_dir / "locust_final.json"),
        )

    def write(self, path: Path) -> None:
        """Atomically, readable by the owner only: it holds the fleet's token."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.model_dump_json(indent=2))
        os.replace(tmp, path)

    def parents_log(self, host: str, pid: int) -> Path:
        """One parents log per Locust process that runs users: named by host and pid, since
        worker containers sharing the directory all run as pid 1 of their own host."""
        return Path(self.parents_dir) / f"parents-{host}-{pid}.jsonl"

    @classmethod
    def read(cls, path: str | Path) -> LoadConfig:
        return cls.model_validate_json(Path(path).read_text())
