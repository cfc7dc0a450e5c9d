"""``python -m targets.alerts``: the alert sink (pager + mailbox)."""
from __future__ import annotations

import asyncio
import os

from targets.common import log as logsetup
from targets.common.service import base_parser, read_token, run, start_http, write_ready_file

from .http import build_app
from .sink import AlertSink


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("alerts", "Alert sink: routes page/email alerts, records delivery and acks.")
    parser.add_argument("--max-alerts", type=int, default=100_000, help="alerts kept in memory (oldest dropped)")
    args = parser.parse_args(argv)
    token = read_token()
    log = logsetup.configure(component="alerts", instance=args.instance, run_id=args.run_id)

    async def serve(stop: asyncio.Event) -> None:
        sink = AlertSink(log=log, max_alerts=args.max_alerts)
        runner, port = await start_http(build_app(sink, token), args.host, args.admin_port)
        write_ready_file(args.ready_file, {"pid": os.getpid(), "admin_port": port})
        log.info("alerts_serving", admin_port=port)
        try:
            await stop.wait()
        finally:
            sink.cancel_timers()
            await runner.cleanup()
            log.info("alerts_stopped")

    run(serve)


if __name__ == "__main__":
    main()
