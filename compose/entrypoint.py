"""Entry point of the powerpeg targets images: start one service.

argv: the component kind (exchange, router, monitor, alerts), then the
fixed flags the compose file gives it. POWERPEG_ARGS (JSON list of strings,
set by the compose backend per run): the run's flags, i.e. the wiring and the
experiment's controls. A JSON list, not a shell string, so that no flag value
is ever word-split or interpreted. POWERPEG_ROUTER_VERSION (baked into
powerpeg-router:vN at build time) becomes the router's --version, last so it
wins: the image tag is the deploy artifact.
"""
import json
import os
import sys

KINDS = ("exchange", "router", "monitor", "alerts")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: entrypoint KIND [FLAGS...] with KIND one of {', '.join(KINDS)}")
    kind, fixed = sys.argv[1], sys.argv[2:]
    extra = json.loads(os.environ.get("POWERPEG_ARGS") or "[]")
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        sys.exit("POWERPEG_ARGS must be a JSON list of strings")
    argv = [sys.executable, "-m", f"powerpeg.targets.{kind}", *fixed, *extra]
    version = os.environ.get("POWERPEG_ROUTER_VERSION")
    if kind == "router":
        if not version:
            sys.exit("router needs POWERPEG_ROUTER_VERSION: run it from a powerpeg-router:vN image")
        argv += ["--version", version]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
