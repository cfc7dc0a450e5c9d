"""``python -m targets.exchange``: flags → config → serve until SIGTERM."""
from __future__ import annotations

import asyncio

from targets.common import log as logsetup
from targets.common.service import read_token, run, write_ready_file

from .config import Config, from_args
from .server import Exchange


async def serve(config: Config, token: str, stop: asyncio.Event) -> None:
    log = logsetup.configure(component="exchange", instance=config.instance, run_id=config.run_id)
    exchange = Exchange(config, token, log)
    await exchange.start()
    write_ready_file(config.ready_file, exchange.ready_info())
    try:
        await stop.wait()
    finally:
        await exchange.stop()


def main(argv: list[str] | None = None) -> None:
    config = from_args(argv)
    token = read_token()
    run(lambda stop: serve(config, token, stop))


if __name__ == "__main__":
    main()
