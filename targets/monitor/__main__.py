"""``python -m targets.monitor``: the risk monitor on the exchange drop copy."""
from __future__ import annotations

import asyncio
import os

from targets.common import log as logsetup
from targets.common.service import read_token, run, start_http, write_ready_file

from .actions import Actions
from .checks import heartbeat_loop, kill_path_loop, version_loop
from .config import build_parser, from_args
from .core import Monitor
from .dropcopy import DropCopyClient
from .http import build_app


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cfg = from_args(args)
    token = read_token()
    log = logsetup.configure(component="monitor", instance=args.instance, run_id=args.run_id)

    async def serve(stop: asyncio.Event) -> None:
        actions = Actions(token=token, source=cfg.instance, alerts=cfg.alerts,
                          exchange_admin=cfg.exchange_admin, routers=cfg.routers)
        monitor = Monitor(cfg, actions=actions, log=log)
        runner, port = await start_http(build_app(monitor, token), args.host, args.admin_port)
        loops = [version_loop(monitor, stop), heartbeat_loop(monitor, stop), kill_path_loop(monitor, stop)]
        if cfg.dropcopy is not None:
            loops.append(DropCopyClient(monitor, *cfg.dropcopy).run(stop))
        else:
            log.warning("no_dropcopy", detail="--dropcopy not given: nothing to surveil")
        tasks = [asyncio.create_task(loop) for loop in loops]
        write_ready_file(args.ready_file, {"pid": os.getpid(), "admin_port": port})
        log.info("monitor_serving", admin_port=port, limits=cfg.limits.as_dict(), auto_kill=cfg.auto_kill,
                 routers=cfg.routers)
        try:
            await stop.wait()
            await asyncio.wait(tasks, timeout=3)
        finally:
            for task in tasks:
                task.cancel()
            await monitor.drain()
            await actions.close()
            await runner.cleanup()
            log.info("monitor_stopped")

    run(serve)


if __name__ == "__main__":
    main()
