"""The brokers: Locust users sending parent orders to the router fleet.

Runs only inside Locust processes (``python -m locust -f <this file>``),
started by :mod:`powerpeg.harness.load.runner`; the harness process never imports it
(gevent and asyncio do not share a process). Everything comes from the JSON
file named by ``POWERPEG_LOAD_CONFIG``. Every 202 is appended to this
process's parents log; any other answer is a Locust failure carrying the
status and body.
"""
from __future__ import annotations

import itertools
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any, Protocol

from locust import FastHttpUser, events, task
from locust.event import Events
from locust.exception import StopUser
from locust.runners import Runner, WorkerRunner
from locust.user.wait_time import constant_pacing

from powerpeg.harness.load.config import CONFIG_ENV, LoadConfig
from powerpeg.harness.load.control import ControlPoller
from powerpeg.harness.load.orders import Broker, user_number

if os.environ.get("POWERPEG_CHAOS_API"):
    # `powerpeg ui`: the Chaos tab and the /chaos/* control API on Locust's web app
    import powerpeg.harness.load.chaos_web  # noqa: F401 - imported for its Locust init listener (the Chaos tab)


class LoadSession:
    """This process's part of the load: config, live knobs, parents log."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.control = ControlPoller(Path(config.control_file))
        self._local_users = itertools.count()
        self._log: IO[str] | None = None

    def new_user_number(self, runner: Any) -> int:
        # a worker learns its index from the master before it spawns users
        worker_index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        return user_number(next(self._local_users), worker_index, self.config.workers)

    def is_open(self, now_ns: int) -> bool:
        return self.control.is_open(self.config.open_at_ns, now_ns)

    def rlp_share(self, now_ns: int) -> float:
        return self.control.rlp_share(self.config.mix, self.config.open_at_ns, now_ns)

    def record(self, line: dict[str, Any]) -> None:
        """Append and flush at once: the log must survive a SIGKILL of this process."""
        if self._log is None:
            path = self.config.parents_log(socket.gethostname(), os.getpid())
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = path.open("a")
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def write_final_stats(environment: Any, path: Path) -> None:
    """The whole run's Aggregated numbers, once every user has stopped.

    Locust's own CSV is rewritten only once a second and not on SIGTERM, so
    after a stop it can miss the last second; this file does not.
    """
    total = environment.runner.stats.total
    final = {"requests": total.num_requests, "failures": total.num_failures, "rps": total.total_rps,
             "p50_ms": total.get_response_time_percentile(0.5) or 0.0,
             "p95_ms": total.get_response_time_percentile(0.95) or 0.0,
             "p99_ms": total.get_response_time_percentile(0.99) or 0.0}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(final))
    os.replace(tmp, path)


class _Environment(Protocol):
    """Locust's Environment as this file uses it: ``_on_init`` hangs the process's LoadSession on it."""

    runner: Runner | None
    events: Events
    powerpeg: LoadSession


@events.init.add_listener
def _on_init(environment: _Environment, **_kwargs: Any) -> None:
    session = LoadSession(LoadConfig.read(os.environ[CONFIG_ENV]))
    environment.powerpeg = session
    if not isinstance(environment.runner, WorkerRunner):
        # `quit` fires after the runner quit (a master has its workers' last
        # reports by then) but carries no environment: close over it
        final = Path(session.config.final_stats_file)
        environment.events.quit.add_listener(lambda **_: write_final_stats(environment, final))


@events.test_start.add_listener
def _on_test_start(environment: _Environment, **_kwargs: Any) -> None:
    # the master (or the only process) tells the harness the load is running
    if not isinstance(environment.runner, WorkerRunner):
        ready = Path(environment.powerpeg.config.ready_file)
        tmp = ready.with_name(ready.name + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "ts_ns": time.time_ns()}))
        os.replace(tmp, ready)


@events.quitting.add_listener
def _on_quitting(environment: _Environment, **_kwargs: Any) -> None:
    environment.powerpeg.close()


class OrderBroker(FastHttpUser):
    """One broker: a parent order every ``wait`` seconds, round robin over the routers."""

    def on_start(self) -> None:
        self.session: LoadSession = self.environment.powerpeg
        config = self.session.config
        self.broker = Broker(config, self.session.new_user_number(self.environment.runner))
        self.pacing = constant_pacing(config.wait)
        # both pacings keep their state on the user (the last run's start), so switching at the open
        # keeps the rhythm; the preopen one only until the market opens
        self.preopen_pacing = None if config.wait_before_open is None else constant_pacing(config.wait_before_open)
        self.headers = {"Authorization": f"Bearer {config.token}"}

    def wait_time(self) -> float:
        if self.preopen_pacing is not None and not self.session.is_open(time.time_ns()):
            return self.preopen_pacing(self)
        return self.pacing(self)

    @task
    def send_parent(self) -> None:
        if self.broker.exhausted:
            raise StopUser()
        sent_ns = time.time_ns()
        order = self.broker.next_order(self.session.rlp_share(sent_ns))
        with self.client.post(order.router.orders, json=order.body(), headers=self.headers,
                              name=f"POST /orders {order.router.id}", catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"{resp.status_code} {(resp.text or resp.error or '')!s:.300}")
                return
            try:
                parent_id = resp.json()["parent_id"]
            except (ValueError, KeyError, TypeError):
                resp.failure(f"202 without a parent_id: {resp.text!s:.300}")
                return
            self.session.record(order.record(parent_id, sent_ns))
            resp.success()
