"""The CI resilience suite: experiment files as pytest items, and a fleet fixture.

``pytest --powerpeg experiments/`` collects every experiment YAML file as one
test item, runs it on ``--powerpeg-backend`` (default local) into
``--powerpeg-out`` (default a pytest tmp dir), fails it with its failed
assertions (one line each), and records ``ttd_s``, ``ttk_s``, ``ttc_s``,
``excess_shares`` and ``loss_usd`` as JUnit properties. Without
``--powerpeg`` no YAML file is collected: a normal run is unchanged.

``powerpeg_fleet`` (async factory) gives hand-written tests a real local fleet,
torn down after the test.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yaml

from powerpeg.harness.backends import BACKENDS
from powerpeg.harness.experiment.loader import ExperimentError, load
from powerpeg.harness.experiment.model import Experiment

if TYPE_CHECKING:
    # pytest's own types of repr_failure's signature, not re-exported by `pytest`
    from _pytest._code.code import TerminalRepr, TracebackStyle

PROPERTIES = ("ttd_s", "ttk_s", "ttc_s", "excess_shares", "loss_usd")
SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("powerpeg", "powerpeg chaos experiments")
    group.addoption("--powerpeg", action="store_true", default=False,
                    help="collect experiment YAML files as test items and run them")
    group.addoption("--powerpeg-backend", choices=BACKENDS, default="local",
                    help="where each experiment's fleet runs (default local)")
    group.addoption("--powerpeg-out", type=Path, default=None,
                    help="report directory, one subdirectory per experiment (default a tmp dir)")


def _is_suite(path: Path) -> bool:
    """A game-day suite (top-level ``experiments:`` list) sits next to experiments but is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and isinstance(data.get("experiments"), list) and "name" not in data


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("powerpeg") or file_path.suffix not in SUFFIXES or _is_suite(file_path):
        return None
    return ExperimentFile.from_parent(parent, path=file_path)


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[ExperimentItem]:
        try:
            experiment: Experiment | None = load(self.path)
            issues: list[str] = []
        except ExperimentError as exc:
            experiment, issues = None, [str(issue) for issue in exc.errors]
        name = experiment.name if experiment is not None else self.path.stem
        item = ExperimentItem.from_parent(self, name=name, experiment=experiment, issues=issues)
        if experiment is not None and experiment.expect == "refuted":
            # a known weakness kept as a regression guard: refuted is the expected outcome, and strict
            # makes an unexpected pass fail the job; an infrastructure error is not a refutation
            item.add_marker(pytest.mark.xfail(raises=ExperimentRefuted, strict=True,
                                              reason=f"{name} expects its hypothesis refuted (a known weakness)"))
        yield item


class ExperimentFailed(Exception):
    """The run's verdict was not ``passed``; ``lines`` say why, one per failed assertion."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class ExperimentRefuted(ExperimentFailed):
    """The hypothesis was refuted (failed or aborted): what ``expect: refuted`` experiments expect."""


class ExperimentItem(pytest.Item):
    def __init__(self, *, experiment: Experiment | None, issues: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.experiment = experiment
        self.issues = issues

    def _out_dir(self) -> Path:
        configured = self.config.getoption("powerpeg_out")
        if configured is not None:
            return Path(configured) / self.name
        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]  # noqa: SLF001 - pytest gives an Item no public way to the session's tmp_path_factory
        return factory.mktemp(f"powerpeg-{self.name}"[:40], numbered=True)

    def runtest(self) -> None:
        from powerpeg.harness.run_cmd import run_experiment  # noqa: PLC0415 - the run machinery only when items run

        if self.experiment is None:
            raise ExperimentFailed(["invalid experiment file:", *self.issues])
        backend_name = self.config.getoption("powerpeg_backend")
        from powerpeg.harness.faults.partial_deploy import replicated_routers  # noqa: PLC0415 - only when items run

        if backend_name != "swarm" and (replicated_routers(self.experiment) or self.experiment.topology.placement):
            # an orchestrator's experiment (a rolling update, placement): it has nothing to test elsewhere
            pytest.skip(f"{self.name} needs an orchestrator: --powerpeg-backend swarm")
        out = self._out_dir()
        record = asyncio.run(run_experiment(self.experiment, out=out, quiet=True, backend_name=backend_name))
        metrics = record.metrics.to_dict()
        for key in PROPERTIES:
            self.user_properties.append((key, "" if metrics[key] is None else metrics[key]))  # null: not measured
        self.user_properties.append(("status", record.status))
        self.user_properties.append(("report", str(out / "report.html")))
        if record.status == "passed":
            return
        lines = [f"{record.experiment}: {record.status.upper()} (report: {out / 'report.html'})"]
        lines += [f"{a.name}: {a.message}" for a in record.failed_assertions()]
        lines += [f"{a.name} (not tested): {a.message}" for a in record.untested_assertions()]
        if record.verdict:
            lines.append(f"verdict: {record.verdict}")
        lines += [f"finding: {o.text(record.t0_ns)}" for o in record.findings()]
        if record.status == "aborted":
            lines.append(f"aborted by the harness: {record.abort.reason}")
        if record.error:
            lines.append(f"error: {record.error}")
        raise (ExperimentRefuted if record.status in ("failed", "aborted") else ExperimentFailed)(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: TracebackStyle | None = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ExperimentFailed):
            return "\n".join(excinfo.value.lines)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"experiment {self.name}"


# --- the fleet fixture ----------------------------------------------------------------------------


@dataclass
class Fleet:
    """A running local fleet for a hand-written test: topology, token and helpers."""

    topology: Any
    backend: Any
    sent: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.topology.token

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"},
                                     timeout=aiohttp.ClientTimeout(total=10))

    async def send_parent(self, router: str = "router-1", *, symbol: str, side: str = "buy", qty: int = 100,
                          **extra: Any) -> str:
        """POST one parent order to ``router``; returns its parent_id (AssertionError unless 202)."""
        order = {"symbol": symbol, "side": side, "qty": qty,
                 "client_order_id": f"pp-{time.time_ns()}", **extra}
        async with self._session() as session:
            async with session.post(self.topology.router(router).orders, json=order) as resp:
                body = await resp.json(content_type=None)
                assert 202 == resp.status, f"POST /orders on {router} -> {resp.status} {body}"
        self.sent.append(body["parent_id"])
        return body["parent_id"]

    async def symbols(self) -> list[str]:
        """The symbols the exchange lists (parents for any other symbol get 422)."""
        async with self._session() as session:
            async with session.get(f"{self.topology.exchange.admin}/symbols") as resp:
                assert 200 == resp.status, f"GET /symbols -> {resp.status}"
                return [row["symbol"] for row in await resp.json()]

    async def journal(self) -> list[dict[str, Any]]:
        """The exchange journal, as the exchange serves it."""
        async with self._session() as session:
            async with session.get(f"{self.topology.exchange.admin}/journal") as resp:
                assert 200 == resp.status, f"GET /journal -> {resp.status}"
                text = await resp.text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def powerpeg_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Awaitable[Fleet]]]:
    """``fleet = await powerpeg_fleet(routers=2, version="v2", ...)``: a local fleet (FleetSpec arguments),
    torn down after the test."""
    # pytest loads this plugin in every run: the fleet machinery only for a test that asks for a fleet
    from powerpeg.harness.backends.base import FleetSpec  # noqa: PLC0415 - only when a test asks for a fleet
    from powerpeg.harness.backends.local import LocalBackend  # noqa: PLC0415 - only when a test asks for a fleet
    from powerpeg.harness.context import RunContext  # noqa: PLC0415 - only when a test asks for a fleet

    home = tmp_path_factory.mktemp("powerpeg-home")
    backends: list[LocalBackend] = []

    async def start(**spec: Any) -> Fleet:
        spec.setdefault("routers", 2)
        spec.setdefault("toxiproxy", False)
        backend = LocalBackend(RunContext.create(home=home))
        backends.append(backend)
        return Fleet(topology=await backend.up(FleetSpec(**spec)), backend=backend)

    yield start
    for backend in backends:
        asyncio.run(backend.down())
