"""The files of a small plugin distribution, written by the tests that need one: a firm's fault kind
(`acme_chaos.faults:HaltRouters`), and its probe (`acme_chaos.probes:routers_up`)."""
from __future__ import annotations

from pathlib import Path

FAULT_MODULE = '''\
"""acme's own fault kind: halt chosen routers over their admin API; revert resumes them."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from powerpeg.harness.faults import common
from powerpeg.harness.faults.base import Fault, FaultContext, Params as BaseParams


class Params(BaseParams):
    routers: list[common.RouterId] = Field(min_length=1, description="routers to halt")
    reason: str = Field("acme drill", max_length=100, description="why, in the router's log")

    def check(self, topology):
        return common.missing_routers("routers", self.routers, topology)


class HaltRouters(Fault[Params]):
    kind: ClassVar[str] = "acme_halt"
    Params: ClassVar[type[BaseParams]] = Params

    def target(self) -> str:
        return ",".join(self.params.routers)

    async def inject(self, ctx: FaultContext) -> None:
        self.applied = []
        for rid in self.params.routers:
            await common.admin_call(ctx, "POST", common.router_admin(ctx, rid) + "/halt")
            self.applied.append(rid)

    async def revert(self, ctx: FaultContext) -> None:
        for rid in self.applied or []:
            await common.admin_call(ctx, "POST", common.router_admin(ctx, rid) + "/resume")
        self.applied = None
'''

PROBE_MODULE = '''\
"""acme's own probe: every router answers /health."""
from __future__ import annotations


async def routers_up(ctx, probe):
    health = await ctx.backend.health()
    routers = {c: s for c, s in health.items() if c.startswith("router-")}
    down = sorted(c for c, s in routers.items() if s != "ok")
    return not down, len(routers) - len(down), "every router up" if not down else f"down: {down}"
'''

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-chaos"
version = "1.0"
dependencies = ["powerpeg"]

[project.entry-points."powerpeg.faults"]
acme_halt = "acme_chaos.faults:HaltRouters"

[project.entry-points."powerpeg.probes"]
acme_routers_up = "acme_chaos.probes:routers_up"

[tool.setuptools]
packages = ["acme_chaos"]
'''

ENTRY_POINTS = '''\
[powerpeg.faults]
acme_halt = acme_chaos.faults:HaltRouters

[powerpeg.probes]
acme_routers_up = acme_chaos.probes:routers_up
'''

# an experiment that uses both: 3 routers, router-2 halted for 2 s
EXPERIMENT = '''\
name: acme-halt
description: acme's own fault kind halts router-2 for 2 s; nothing is overfilled
seed: 5
duration: 6s
topology:
  routers: 3
  version: v2
market:
  open_at: 0s
load:
  users: 4
  spawn_rate: 4
  wait: 250ms
steady_state:
  probes:
    - name: routers up
      probe: acme_routers_up
      when: [before, after]
method:
  - name: halt router-2
    at: 1s
    duration: 2s
    fault: acme_halt
    args:
      routers: [router-2]
      reason: drill
abort:
  max_duration: 20s
assert:
  excess_shares_max: 0
rollback: always
'''


def write_project(root: Path) -> Path:
    """A buildable source tree of the plugin distribution (pyproject.toml + package)."""
    package = root / "acme_chaos"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text('"""acme-chaos: a firm\'s own powerpeg plugins."""\n')
    (package / "faults.py").write_text(FAULT_MODULE)
    (package / "probes.py").write_text(PROBE_MODULE)
    return root


def write_installed(site: Path, *, entry_points: str = ENTRY_POINTS, modules: dict[str, str] | None = None) -> Path:
    """The plugin as pip leaves it in a site directory: its package and its .dist-info (no build needed)."""
    package = site / "acme_chaos"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    files = {"faults": FAULT_MODULE, "probes": PROBE_MODULE, **(modules or {})}
    for name, text in files.items():
        (package / f"{name}.py").write_text(text)
    info = site / "acme_chaos-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-chaos\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    return site
