"""``python -m targets.router``: one router fleet member."""
from __future__ import annotations

import asyncio
import sys

from targets.common.log import configure
from targets.common.service import read_token, run, write_ready_file

from . import config
from .runtime import StartupError, start


def main(argv: list[str] | None = None) -> int:
    cfg = config.parse(argv)
    token = read_token()
    log = configure(component="router", instance=cfg.instance, run_id=cfg.run_id).bind(
        router=cfg.id, version=cfg.version)

    async def serve(stop: asyncio.Event) -> None:
        running = await start(cfg, token, log)
        write_ready_file(cfg.ready_file, running.ready_info())
        log.info("router_ready", port=running.port, fix=running.router.health()["fix"],
                 child_qty=cfg.child_qty, checks=[c.name for c in running.router.checks])
        await stop.wait()
        log.info("router_stopping")
        await running.stop()

    try:
        run(serve)
    except StartupError as exc:
        log.error("router_start_failed", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
