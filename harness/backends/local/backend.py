"""The local backend: every component is a detached process on 127.0.0.1.

Start order (stop is the reverse): alerts, exchange and toxiproxy together;
then the proxies; then the monitor and the routers together. Routers and the
monitor name each other (parent registration, halt, version checks), so
their admin ports are reserved before either starts.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from powerpeg.harness import procs, toxi
from powerpeg.harness.backends.base import Backend, FleetError, FleetSpec, NoFleet, active_context, probe_topology
from powerpeg.harness.backends.local import processes, toxiproxy
from powerpeg.harness.backends.local.processes import HOST
from powerpeg.harness.backends.local.teardown import STOP_GRACE_S, stop_processes
from powerpeg.harness.context import RunContext
from powerpeg.harness.state import FleetState, ProcessRecord
from powerpeg.harness.topology import (
    ALERTS_PROXY,
    DROPCOPY_PROXY,
    ExchangeEndpoints,
    ProxyInfo,
    RouterEndpoints,
    ServiceEndpoints,
    Topology,
    ToxiproxyEndpoints,
    fix_credentials,
    fix_password,
    fleet_comp_ids,
    pagerduty_routing_key,
    proxy_upstreams,
    router_proxy,
)
from powerpeg.targets.exchange.journal import copy_journal

KILL_WAIT_S = 5.0  # how long a SIGKILLed process may take to be gone


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with ``flag value`` set (replaced when present, appended otherwise)."""
    out = list(argv)
    if flag in out:
        i = out.index(flag)
        out[i + 1] = value
    else:
        out += [flag, value]
    return out


def pinned_argv(record: ProcessRecord) -> list[str]:
    """Launch argv with every port it bound made explicit, so a restart comes
    back on the same addresses and nobody has to be told of a new one."""
    argv = record.argv
    if record.component == "toxiproxy":
        return with_flag(argv, "-port", str(record.ready["api_port"]))
    for key, value in record.ready.items():
        if key.endswith("_port") and isinstance(value, int):
            argv = with_flag(argv, "--" + key.replace("_", "-"), str(value))
    return argv


class FixCredentialFiles:
    """One run's FIX Logon credentials on disk, and the flags pointing each service at its own: the
    exchange's table (``--credentials``), a password file per client CompID (``--fix-password-file``).
    A kind started from a fake command (``FleetSpec.commands``, tests) gets no flag."""

    def __init__(self, directory: Path, fakes: frozenset[str]) -> None:
        self.directory = directory
        self.fakes = fakes

    def write(self, table: dict[str, Any], passwords: dict[str, str]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_secret(self.directory / "exchange.json", json.dumps(table, indent=1))
        for comp_id, password in passwords.items():
            _write_secret(self.directory / f"{comp_id}.password", password + "\n")

    def exchange_args(self) -> list[str]:
        return [] if "exchange" in self.fakes else ["--credentials", str(self.directory / "exchange.json")]

    def client_args(self, kind: str, comp_id: str) -> list[str]:
        return [] if kind in self.fakes else ["--fix-password-file", str(self.directory / f"{comp_id}.password")]


def _write_secret(path: Path, text: str) -> None:
    """``text`` into ``path``, readable by this user only (also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


class _Starter:
    """One `up`: spawns, waits, and remembers what it started so a failure
    or Ctrl-C can stop exactly that."""

    def __init__(self, ctx: RunContext, spec: FleetSpec, state: FleetState, session: aiohttp.ClientSession):
        self.ctx = ctx
        self.spec = spec
        self.state = state
        self.session = session
        self.popens: dict[str, procs.Started] = {}
        self.forks: processes.ForkServer | None = None

    def command(self, kind: str) -> list[str]:
        return list(self.spec.commands.get(kind) or [sys.executable, "-m", f"powerpeg.targets.{kind}"])

    def spawn(self, component: str, argv: list[str]) -> subprocess.Popen:
        proc = procs.spawn(argv, env=self.ctx.child_env(), log_path=self.ctx.log_path(component))
        self._record(component, proc, argv)
        return proc

    def _record(self, component: str, proc: procs.Started, argv: list[str]) -> None:
        ident = procs.ProcIdentity.of(proc.pid)
        if ident is None:  # exited already; wait_* will report it with its log
            ident = procs.ProcIdentity(proc.pid, 0)
        self.popens[component] = proc
        self.state.processes.append(ProcessRecord(component, ident, argv, str(self.ctx.log_path(component))))
        # saved at once: a crash right now must still be found by `cleanup`
        self.state.save(self.ctx.state_file)
        self.ctx.log.info("spawned", target=component, pid=proc.pid)

    async def spawn_service(self, component: str, kind: str, args: list[str]) -> None:
        ready = self.ctx.ready_dir / f"{component}.json"
        ready.unlink(missing_ok=True)
        args = ["--ready-file", str(ready), "--instance", component, "--run-id", self.ctx.run_id] + args
        if kind in self.spec.commands or self.forks is None:
            self.spawn(component, self.command(kind) + args)
            return
        module = f"powerpeg.targets.{kind}"
        proc = await self.forks.spawn(module, args, log_path=self.ctx.log_path(component),
                                      exit_file=self.ctx.ready_dir / f"{component}.exit")
        # recorded as the equivalent command line, which is what a restart runs
        self._record(component, proc, [sys.executable, "-m", module] + args)

    async def wait_service(self, component: str) -> dict[str, Any]:
        proc = self.popens[component]
        log_path = self.ctx.log_path(component)
        ready = await processes.wait_ready_file(component, proc, self.ctx.ready_dir / f"{component}.json", log_path,
                                                timeout=self.spec.start_timeout)
        admin = f"http://{HOST}:{ready['admin_port']}"
        await processes.wait_health(component, admin + "/health", self.session, timeout=self.spec.start_timeout,
                                    proc=proc, log_path=log_path)
        self.state.process(component).ready = ready
        self.ctx.log.info("ready", target=component, admin=admin)
        return ready

    async def start_toxiproxy(self, binary: str) -> tuple[str, toxi.ToxiproxyClient]:
        proc = self.spawn("toxiproxy", toxiproxy.server_argv(binary))
        log_path = self.ctx.log_path("toxiproxy")
        port = await toxiproxy.discover_api_port(proc, log_path, timeout=self.spec.start_timeout)
        client = toxi.ToxiproxyClient(f"http://{HOST}:{port}", self.session)
        await toxiproxy.wait_api(client, proc, log_path, timeout=self.spec.start_timeout)
        self.state.process("toxiproxy").ready = {"pid": proc.pid, "api_port": port}
        return client.api, client


class LocalBackend(Backend):
    name = "local"

    def __init__(self, ctx: RunContext, *, keep_launcher: bool = False) -> None:
        """``keep_launcher``: keep the fork server for the life of this object, so
        restarts (deploys, kill reverts) fork in tens of milliseconds instead of
        paying a Python start-up each. Only for a backend used from one event
        loop throughout (the runner); the CLI and test fixtures run each call in
        its own loop and restart by plain spawn."""
        self.ctx = ctx
        self.keep_launcher = keep_launcher
        self._forks: processes.ForkServer | None = None

    # -- state ------------------------------------------------------------
    @classmethod
    def attach(cls, home: Path, run_id: str | None = None, log: Any = None) -> LocalBackend:
        """The backend of the active run (or of ``run_id``); NoFleet if none."""
        ctx = active_context(home, run_id, log)
        if not ctx.state_file.exists():
            raise NoFleet(f"no fleet is up: run {ctx.run_id} has no state file ({ctx.state_file})")
        state = FleetState.load(ctx.state_file)
        if state.topology is None:
            raise NoFleet(f"run {ctx.run_id} never finished starting; run `powerpeg cleanup`")
        ctx.token = state.topology.token
        return cls(ctx)

    # -- up / down --------------------------------------------------------
    async def _prepare(self, spec: FleetSpec) -> str | None:
        """The toxiproxy-server binary to run (None: none, or not wanted)."""
        binary = toxiproxy.find_binary() if spec.toxiproxy else None
        if spec.require_toxiproxy and binary is None:
            raise FleetError("toxiproxy-server not found (venv bin dir or PATH); see `make setup`")
        self.ctx.ready_dir.mkdir(parents=True, exist_ok=True)
        return binary

    async def _start(self, spec: FleetSpec, plan: str | None, state: FleetState) -> Topology:
        reserved: list = []
        try:
            async with aiohttp.ClientSession() as session:
                starter = _Starter(self.ctx, spec, state, session)
                try:
                    return await self._start_all(starter, spec, plan, reserved)
                finally:
                    if starter.forks is not None:
                        if self.keep_launcher:
                            self._forks = starter.forks
                        else:
                            await starter.forks.close()
        except BaseException:
            self._forks = None  # the teardown that follows stops the launcher with the rest
            raise
        finally:
            for sock in reserved:
                sock.close()

    async def _start_all(self, st: _Starter, spec: FleetSpec, binary: str | None, reserved: list) -> Topology:
        ctx = self.ctx
        toxi_task = asyncio.ensure_future(st.start_toxiproxy(binary)) if binary is not None else None
        try:
            if spec.fork and not {"alerts", "exchange", "monitor", "router"} <= set(spec.commands):
                st.forks = await processes.ForkServer.start(python=sys.executable, env=ctx.child_env(),
                                                            log_path=ctx.log_path("launcher"),
                                                            timeout=spec.start_timeout)
            await st.spawn_service("alerts", "alerts", self._alerts_routes(spec) + list(spec.alerts_args))
            passwords = self._fix_credentials(spec)
            exchange_argv = ["--comp-id", spec.exchange_comp_id, "--journal", str(ctx.journal_path),
                             "--open-in", str(spec.open_in), *passwords.exchange_args()] + list(spec.exchange_args)
            await st.spawn_service("exchange", "exchange", exchange_argv)
            waits: list = [st.wait_service("alerts"), st.wait_service("exchange")]
            if toxi_task is not None:
                waits.append(toxi_task)
            results = await _gather_or_fail(waits)
        except BaseException:
            if toxi_task is not None and not toxi_task.done():
                toxi_task.cancel()
                await asyncio.gather(toxi_task, return_exceptions=True)
            raise
        alerts_ready, exchange_ready = results[0], results[1]
        alerts_hostport = f"{HOST}:{alerts_ready['admin_port']}"
        exchange = ExchangeEndpoints(
            comp_id=spec.exchange_comp_id,
            fix=f"{HOST}:{exchange_ready['fix_port']}",
            dropcopy=f"{HOST}:{exchange_ready['dropcopy_port']}",
            admin=f"http://{HOST}:{exchange_ready['admin_port']}",
        )

        router_ids = spec.router_ids()
        toxiproxy: ToxiproxyEndpoints | None = None
        via = {rid: exchange.fix for rid in router_ids}
        dropcopy_via, alerts_via = exchange.dropcopy, alerts_hostport
        if binary is not None:
            api, client = results[2]
            wanted = proxy_upstreams(router_ids, exchange_fix=exchange.fix, dropcopy=exchange.dropcopy,
                                     alerts=alerts_hostport)
            listens = await _gather_or_fail([client.create_proxy(name, up) for name, up in wanted])
            proxies = tuple(ProxyInfo(name, listen, up) for (name, up), listen in zip(wanted, listens, strict=True))
            toxiproxy = ToxiproxyEndpoints(api=api, proxies=proxies)
            via = {rid: toxiproxy.proxy(router_proxy(rid)).listen for rid in router_ids}
            dropcopy_via = toxiproxy.proxy(DROPCOPY_PROXY).listen
            alerts_via = toxiproxy.proxy(ALERTS_PROXY).listen

        monitor_sock = processes.reserve_port()
        reserved.append(monitor_sock)
        router_socks = {rid: processes.reserve_port() for rid in router_ids}
        reserved.extend(router_socks.values())
        monitor_admin = f"http://{HOST}:{monitor_sock.getsockname()[1]}"
        router_admin = {rid: f"http://{HOST}:{s.getsockname()[1]}" for rid, s in router_socks.items()}

        monitor_argv = ["--admin-port", str(monitor_sock.getsockname()[1]), "--firm", spec.firm,
                        *passwords.client_args("monitor", spec.firm)]
        if not spec.monitor_detached:
            monitor_argv += ["--dropcopy", dropcopy_via, "--exchange-comp-id", spec.exchange_comp_id,
                             "--exchange-admin", exchange.admin, "--alerts", f"http://{alerts_via}"]
            for rid in router_ids:
                monitor_argv += ["--router", router_admin[rid]]
        await st.spawn_service("monitor", "monitor", monitor_argv + list(spec.monitor_args))
        for rid in router_ids:
            await st.spawn_service(rid, "router", [
                "--admin-port", str(router_socks[rid].getsockname()[1]), "--id", rid,
                "--version", spec.version_of(rid), "--exchange", via[rid],
                "--exchange-comp-id", spec.exchange_comp_id, "--exchange-admin", exchange.admin,
                "--firm", spec.firm, "--alerts", f"http://{alerts_via}", "--monitor", monitor_admin,
                *passwords.client_args("router", rid.upper()),
            ] + list(spec.router_args))
        readies = await _gather_or_fail([st.wait_service(c) for c in ["monitor", *router_ids]])
        for component, ready, sock in zip(["monitor", *router_ids], readies,
                                          [monitor_sock, *router_socks.values()], strict=True):
            # the others were told the reserved address: a service elsewhere would be unreachable
            if ready.get("admin_port") != sock.getsockname()[1]:
                raise procs.StartError(component, f"bound admin port {ready.get('admin_port')}, "
                                       f"not the reserved {sock.getsockname()[1]} given in --admin-port")
        routers = tuple(
            RouterEndpoints(
                id=rid, version=spec.version_of(rid),
                orders=ready.get("orders_url") or f"{router_admin[rid]}/orders",
                admin=ready.get("admin_url") or router_admin[rid],
                exchange_via=via[rid],
            )
            for rid, ready in zip(router_ids, readies[1:], strict=True)
        )
        return Topology(
            backend=self.name, run_id=ctx.run_id, token=ctx.token, firm=spec.firm,
            state_dir=str(ctx.state_dir), journal=str(ctx.journal_path), exchange=exchange, routers=routers,
            monitor=ServiceEndpoints(f"http://{HOST}:{readies[0]['admin_port']}"),
            alerts=ServiceEndpoints(f"http://{alerts_hostport}"), toxiproxy=toxiproxy,
            logs={p.component: p.log for p in st.state.processes}, fix_clients=tuple(spec.fix_clients),
        )

    def _fix_credentials(self, spec: FleetSpec) -> FixCredentialFiles:
        """The FIX Logon credentials of this run (targets/fix/credentials.py), each password derived
        from the run's token: the exchange's table and one password file per client, in the state
        directory (0600), given by path: a password is a credential and ``ps`` shows argv."""
        comp_ids = fleet_comp_ids(spec.router_ids(), spec.firm, spec.fix_clients)
        files = FixCredentialFiles(self.ctx.state_dir / "fix-credentials", frozenset(spec.commands))
        files.write(fix_credentials(self.ctx.token, comp_ids, spec.firm),
                    {c: fix_password(self.ctx.token, c) for c in (*(r.upper() for r in spec.router_ids()), spec.firm)})
        return files

    def _alerts_routes(self, spec: FleetSpec) -> list[str]:
        """The sink's routes file: the fleet's PagerDuty routing key on page. A file in the state
        directory (mode 0600), not a flag: a routing key is a credential and ``ps`` shows argv."""
        if not spec.pagerduty_route or "alerts" in spec.commands:
            return []
        path = self.ctx.state_dir / "alerts-routes.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"pagerduty:\n  {pagerduty_routing_key(self.ctx.token)}: page\n")
        return ["--routes-file", str(path)]

    async def start_process(self, component: str, argv: list[str]) -> procs.Started:
        """Spawn and record at once (a crash right after must still be found by `cleanup`); its log
        goes with the fleet's (logs/<component>.log) and its environment carries the run id."""
        state = self._state()
        log_path = self.ctx.log_path(component)
        proc = procs.spawn(argv, env=self.ctx.child_env(), log_path=log_path)
        ident = procs.ProcIdentity.of(proc.pid) or procs.ProcIdentity(proc.pid, 0)
        state.processes.append(ProcessRecord(component, ident, list(argv), str(log_path)))
        state.save(self.ctx.state_file)
        self.ctx.log.info("spawned", target=component, pid=proc.pid)
        return proc

    async def _stop(self, state: FleetState | None, *, keep_logs: bool) -> list[tuple[str, str]]:
        """Every recorded process in reverse start order, then whatever else carries the run id."""
        stopped = await stop_processes(state if state is not None else self._state(), self.ctx.run_id, log=self.ctx.log)
        # a fork in flight when `up` was interrupted, or the launcher itself, is not in the state
        for ident in procs.run_processes(self.ctx.run_id):
            stopped.append((f"pid {ident.pid}", await procs.stop(ident, grace=STOP_GRACE_S)))
        return stopped

    def _records(self) -> list[Path]:
        # the routes file holds a credential; controls/ the bundled controls' configs and data
        return [self.ctx.ready_dir, self.ctx.state_dir / "alerts-routes.yaml", self.ctx.state_dir / "controls",
                self.ctx.state_dir / "fix-credentials"]

    async def down(self) -> list[tuple[str, str]]:
        if self._forks is not None:
            forks, self._forks = self._forks, None
            await forks.close()
        return await self._teardown(self._state())

    # -- observing --------------------------------------------------------
    async def health(self) -> dict[str, str]:
        topology = self.topology()
        state = self._state()
        result = await probe_topology(topology)
        for record in state.processes:
            if not record.ident.alive():
                result[record.component] = "not running"
            else:
                result.setdefault(record.component, "ok")  # a bundled control: running
        return result

    def logs(self, component: str, lines: int = 50) -> str:
        return procs.tail(Path(self._state().process(component).log), lines)

    async def process_state(self, component: str) -> str | None:
        """"exited" when the recorded process is gone (or a zombie), else None."""
        try:
            record = self._state().process(component)
        except (NoFleet, KeyError):
            return None
        return None if record.ident.alive() else "exited"

    async def copy_journal(self, dest: Path) -> str:
        """The exchange writes its journal under the run's state directory: copy the file."""
        src = self.ctx.journal_path
        if not src.is_file():
            raise FleetError(f"no exchange journal at {src}")
        await asyncio.to_thread(copy_journal, src, dest)  # its segments, concatenated
        return f"copied from {src}"

    # -- faults -----------------------------------------------------------
    async def _signal(self, component: str, sig: int) -> None:
        record = self._state().process(component)
        if not procs.send_signal(record.ident, sig):
            raise FleetError(f"{component} (pid {record.ident.pid}) is not running")
        self.ctx.log.info("signalled", target=component, signal=signal.Signals(sig).name)

    async def kill(self, component: str) -> None:
        """SIGKILL, then wait (bounded) until it is gone: delivery and teardown are
        asynchronous, and a kill that returned while the process still ran would
        let the next step (or a second kill) see it alive."""
        await self._signal(component, signal.SIGKILL)
        ident = self._state().process(component).ident
        deadline = time.monotonic() + KILL_WAIT_S
        while ident.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if ident.alive():
            raise FleetError(f"{component} (pid {ident.pid}) still runs {KILL_WAIT_S:g} s after SIGKILL")

    async def pause(self, component: str) -> None:
        await self._signal(component, signal.SIGSTOP)

    async def resume(self, component: str) -> None:
        await self._signal(component, signal.SIGCONT)

    async def restart(self, component: str, *, argv: list[str] | None = None) -> None:
        state = self._state()
        record = state.process(component)
        await procs.stop(record.ident, grace=STOP_GRACE_S)
        argv = argv or pinned_argv(record)
        log_path = Path(record.log)
        ready_file = self.ctx.ready_dir / f"{component}.json"
        ready_file.unlink(missing_ok=True)  # else the old process's file would pass for the new one's
        proc: procs.Started
        if self._forks is not None and argv[1:2] == ["-m"] and argv[2].startswith("targets."):
            proc = await self._forks.spawn(argv[2], argv[3:], log_path=log_path,
                                           exit_file=self.ctx.ready_dir / f"{component}.exit")
        else:
            proc = procs.spawn(argv, env=self.ctx.child_env(), log_path=log_path)
        # re-read: a concurrent restart (a deploy to several routers) may have saved meanwhile
        state = self._state()
        record = state.process(component)
        record.ident = procs.ProcIdentity.of(proc.pid) or procs.ProcIdentity(proc.pid, 0)
        record.argv = argv
        state.save(self.ctx.state_file)
        async with aiohttp.ClientSession() as session:
            if component == "toxiproxy":
                await self._restore_proxies(state, proc, session)
            else:
                ready = await processes.wait_ready_file(component, proc, ready_file, log_path, timeout=20)
                await processes.wait_health(component, f"http://{HOST}:{ready['admin_port']}/health", session,
                                            timeout=20, proc=proc, log_path=log_path)
        self.ctx.log.info("restarted", target=component, pid=proc.pid)

    async def _restore_proxies(self, state: FleetState, proc: procs.Started,
                               session: aiohttp.ClientSession) -> None:
        topology = state.topology
        assert topology is not None and topology.toxiproxy is not None
        client = toxi.ToxiproxyClient(topology.toxiproxy.api, session)
        await toxiproxy.wait_api(client, proc, Path(state.process("toxiproxy").log), timeout=20)
        for proxy in topology.toxiproxy.proxies:
            await client.create_proxy(proxy.name, proxy.upstream, listen=proxy.listen)

    async def _redeploy(self, router_id: str, version: str) -> None:
        record = self._state().process(router_id)
        await self.restart(router_id, argv=with_flag(pinned_argv(record), "--version", version))


async def _gather_or_fail(aws: list) -> list:
    """All results, or the first failure with the rest cancelled."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
