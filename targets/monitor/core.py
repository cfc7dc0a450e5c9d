"""The monitor's context object: the book, the limits, the breaches and the
reaction to them (page, and with auto-kill: kill switch plus fleet halt).

Detection happens synchronously inside :meth:`Monitor.on_execution`, on the
message that breaks a limit. The page, the kill and the halts it triggers are
written there and then on warm connections (``actions.start_*``, ``wire.py``):
not behind the rest of a drop-copy backlog. Only their answers are awaited, in
tasks, so the drop-copy reader never waits on the network. Every kill decision
is kept with its time (``kill_decisions``), and every report's drop-copy lag in
a fixed-size histogram (``lag.py``): what a run needs to state its own floor.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from .actions import Actions
from .book import Book, Execution, Parent
from .config import MonitorConfig
from .lag import LagHistogram, TransactClock
from .limits import RISK_KINDS, Violation, check_unregistered, evaluate

MAX_BREACHES = 10_000
MAX_KILL_DECISIONS = 1_000


class Monitor:
    def __init__(self, cfg: MonitorConfig, *, actions: Actions, log: Any,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.cfg = cfg
        self.actions = actions
        self.log = log
        self.clock = clock
        self.book = Book(retain_ns=int(cfg.retain_parents_s * 1e9))
        self.limits = cfg.limits
        self.auto_kill = cfg.auto_kill
        self.breaches: list[dict[str, Any]] = []
        self.breach_counts: dict[str, int] = {}
        self._last_record: dict[str, dict[str, Any]] = {}
        self.kill: dict[str, Any] | None = None
        self.pipeline_down = False
        self.kill_path: dict[str, str] = {}  # url -> "ok" or what is wrong (checks.probe_kill_path_once)
        self.heartbeat_misses = 0
        self.fleet: dict[str, dict[str, Any]] = {}
        self.dropcopy = "down"
        self.ignored = {"malformed": 0, "foreign": 0}
        self.tasks: set[asyncio.Task] = set()
        self.breaches_dropped = 0  # records beyond MAX_BREACHES, oldest first
        self.kill_decisions: deque[dict[str, Any]] = deque(maxlen=MAX_KILL_DECISIONS)
        self.dropcopy_lag = LagHistogram()
        self.transact_clock = TransactClock()
        self.lag_unreadable = 0  # reports whose TransactTime(60) could not be read
        # while a drop-copy report is evaluated: its lag (exchange TransactTime → receipt), else None
        self.report_lag_ns: int | None = None
        self.first_risk_breach: dict[str, Any] | None = None  # GET /measurement/dropcopy

    # -- drop copy ------------------------------------------------------------
    def on_execution(self, ex: Execution, now_ns: int | None = None) -> list[Violation]:
        """Apply one drop-copy ExecutionReport and react to every limit it breaks."""
        now_ns = self.clock() if now_ns is None else now_ns
        pending_before = len(self.book.unregistered)
        self.book.apply(ex, now_ns)
        violations = evaluate(self.limits, self.book, ex, now_ns)
        for violation in violations:
            self.raise_breach(violation, now_ns)
        if len(self.book.unregistered) > pending_before and self.limits.unregistered_grace_ms is not None:
            # No later message may come to notice the grace expiring: set a timer.
            loop = asyncio.get_running_loop()
            loop.call_later(self.limits.unregistered_grace_ms / 1000 + 0.005, self.recheck_unregistered)
        return violations

    def recheck_unregistered(self) -> None:
        violation = check_unregistered(self.limits, self.book, None, self.clock())
        if violation is not None:
            self.raise_breach(violation, self.clock())

    def register_parent(self, parent: Parent) -> Parent:
        registered = self.book.register(parent)
        if registered.executed - registered.qty > self.limits.overfill_shares:
            excess = registered.executed - registered.qty
            self.raise_breach(Violation(
                "overfill", excess, self.limits.overfill_shares,
                f"over-fill: parent {parent.parent_id} ({parent.router}) executed {registered.executed} shares "
                f"before registration, {excess} beyond its quantity {parent.qty}",
                router=parent.router, parent_id=parent.parent_id, symbol=parent.symbol,
            ), self.clock())
        return registered

    # -- breaches ---------------------------------------------------------------
    def raise_breach(self, violation: Violation, now_ns: int, *, severity: str = "page") -> None:
        """Record and page once per kind per re-page interval; kill on risk kinds with auto-kill."""
        kind = violation.kind
        self.breach_counts[kind] = self.breach_counts.get(kind, 0) + 1
        last = self._last_record.get(kind)
        if last is not None and now_ns - last["ts_ns"] < self.cfg.repage_s * 1e9:
            last["repeats"] += 1
        else:
            self._record(violation, now_ns, severity)
        if kind in RISK_KINDS and self.auto_kill and not self.cfg.passive and self.kill is None:
            self._issue_kill(violation, now_ns)

    def _record(self, violation: Violation, now_ns: int, severity: str) -> None:
        record = {**violation.as_dict(), "ts_ns": now_ns, "severity": severity, "repeats": 0, "alert": None,
                  "report_lag_s": self._report_lag_s()}
        if self.first_risk_breach is None and violation.kind in RISK_KINDS:
            self.first_risk_breach = {"ts_ns": now_ns, "kind": violation.kind, "report_lag_s": record["report_lag_s"]}
        self.breaches.append(record)
        if len(self.breaches) > MAX_BREACHES:
            self.breaches_dropped += len(self.breaches) - MAX_BREACHES
            del self.breaches[:-MAX_BREACHES]
        self._last_record[violation.kind] = record
        if violation.kind == "pipeline_down":
            self.log.error("breach", kind=violation.kind, text=violation.text, ts_ns=now_ns)
        else:
            self.log.warning("breach", kind=violation.kind, value=violation.value, limit=violation.limit,
                             text=violation.text, router=violation.router, parent_id=violation.parent_id,
                             ts_ns=now_ns)
        if self.cfg.passive:
            return  # switched off as a control: it sees, it does not tell
        self._send_alert(record, severity, violation.text, now_ns)
        if self.pipeline_down and severity == "page" and violation.kind in RISK_KINDS:
            # The pager is believed dead: escalate by phone (another provider),
            # and the mailbox may still reach someone.
            self._send_alert(record, "phone", f"[pager down] {violation.text}", now_ns, key="phone_alert")
            self._send_alert(record, "email", f"[pager down] {violation.text}", now_ns, key="email_alert")

    def _report_lag_s(self) -> float | None:
        """The drop-copy lag of the report being evaluated (None: the breach came from elsewhere)."""
        return None if self.report_lag_ns is None else max(0, self.report_lag_ns) / 1e9

    def clear(self, kind: str) -> None:
        """The condition ended: the next occurrence pages at once."""
        self._last_record.pop(kind, None)

    def _send_alert(self, record: dict, severity: str, text: str, ts_ns: int, key: str = "alert") -> None:
        """The page is written now (warm connection); its answer is recorded when it comes."""
        self.spawn(self._alert_answered(record, self.actions.start_alert(severity, text, ts_ns), severity, key))

    async def _alert_answered(self, record: dict, pending: Coroutine[Any, Any, dict[str, Any]], severity: str,
                              key: str) -> None:
        result = await pending
        record[key] = result
        if result.get("status") != 201:
            self.log.error("alert_failed", kind=record["kind"], severity=severity, result=result)

    def _issue_kill(self, violation: Violation, now_ns: int) -> None:
        decided_ns = self.clock()
        # written before anything else is done: the log line and the bookkeeping can wait
        pending = self.actions.start_kill_all(self.cfg.firm)
        self.kill_decisions.append({"at_ns": decided_ns, "firm": self.cfg.firm, "reason": violation.kind,
                                    "report_lag_s": self._report_lag_s()})
        self.kill = {"kill_issued_ns": decided_ns, "reason": violation.kind, "breach_ts_ns": now_ns,
                     "text": violation.text, "results": None}
        self.log.warning("kill_issued", firm=self.cfg.firm, reason=violation.kind, routers=self.actions.routers,
                         ts_ns=decided_ns, breach_ts_ns=now_ns)
        self.spawn(self._kill(pending))

    async def _kill(self, pending: Coroutine[Any, Any, list[dict[str, Any]]]) -> None:
        results = await pending
        assert self.kill is not None
        self.kill["results"] = results
        self.kill["done_ns"] = self.clock()
        failed = [r for r in results if r.get("status") != 200]
        self.log.warning("kill_done", firm=self.cfg.firm, failed=len(failed), results=results,
                         ts_ns=self.kill["done_ns"])

    # -- fleet and pipeline -------------------------------------------------------
    def on_versions(self, fleet: dict[str, dict[str, Any]]) -> Violation | None:
        """Router health results keyed by URL: page when reachable routers disagree on version."""
        self.fleet = fleet
        versions = {info["id"]: info["version"] for info in fleet.values() if info.get("version")}
        if len(set(versions.values())) <= 1:
            if "version_drift" in self._last_record:
                self.log.info("version_drift_cleared", versions=versions)
                self.clear("version_drift")
            return None
        text = f"mixed versions: {describe_versions(versions)}"
        violation = Violation("version_drift", len(set(versions.values())), 1, text)
        self.raise_breach(violation, self.clock())
        return violation

    def on_heartbeat(self, acked: bool, reason: str | None = None) -> None:
        if acked:
            self.heartbeat_misses = 0
            if self.pipeline_down:
                self.pipeline_down = False
                self.clear("pipeline_down")
                self.log.warning("pipeline_restored", ts_ns=self.clock())
            return
        self.heartbeat_misses += 1
        self.log.info("heartbeat_missed", misses=self.heartbeat_misses, reason=reason)
        if self.heartbeat_misses >= 2 and not self.pipeline_down:
            self.pipeline_down = True
            text = (f"alert pipeline down: {self.heartbeat_misses} heartbeats in a row not acknowledged "
                    f"({reason}); pages may not reach the pager")
            self.raise_breach(Violation("pipeline_down", self.heartbeat_misses, 2, text), self.clock(),
                              severity="email")

    # -- housekeeping -------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait for in-flight pages and kills (used at shutdown and in tests)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout_s)

    def state(self) -> dict[str, Any]:
        now_ns = self.clock()
        return {
            **self.book.snapshot(now_ns),
            "limits": self.limits.as_dict(),
            "breaches": self.breaches[-100:],
            "breach_counts": dict(self.breach_counts),
            "auto_kill": self.auto_kill,
            "killed": self.kill is not None,
            "kill": self.kill,
            "pipeline": "down" if self.pipeline_down else "up",
            "kill_path": dict(self.kill_path),
            "dropcopy": self.dropcopy,
            "fleet": self.fleet,
            "ignored": dict(self.ignored),
            "drop_copy_lag_s": self.dropcopy_lag.summary(),
            "kill_wire": self.actions.warm.state(),
            "now_ns": now_ns,
        }

    def measurement(self) -> dict[str, Any]:
        """The run's measurement floor as the harness reads it (GET /measurement/dropcopy)."""
        return {"drop_copy_lag_s": self.dropcopy_lag.summary(), "kill_decisions": list(self.kill_decisions),
                "first_risk_breach": self.first_risk_breach}


def _compress(ids: list[str]) -> str:
    """router-1, router-2, router-3, router-7 -> router-1..3, router-7."""
    numbered: dict[str, list[int]] = {}
    plain: list[str] = []
    for rid in ids:
        prefix, sep, num = rid.rpartition("-")
        if sep and num.isdigit():
            numbered.setdefault(prefix, []).append(int(num))
        else:
            plain.append(rid)
    parts: list[str] = []
    for prefix, nums in sorted(numbered.items()):
        nums.sort()
        start = prev = nums[0]
        for n in [*nums[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            parts.append(f"{prefix}-{start}" if start == prev else f"{prefix}-{start}..{prev}")
            if n is not None:
                start = prev = n
    return ", ".join(parts + sorted(plain))


def describe_versions(versions: dict[str, str]) -> str:
    """'v1 on router-8, v2 on router-1..7': the odd ones out first."""
    by_version: dict[str, list[str]] = {}
    for rid, version in versions.items():
        by_version.setdefault(version, []).append(rid)
    ordered = sorted(by_version.items(), key=lambda item: (len(item[1]), item[0]))
    return ", ".join(f"{version} on {_compress(ids)}" for version, ids in ordered)
