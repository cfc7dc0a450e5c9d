"""RFC 3339 times as Prometheus and Alertmanager write them, to the harness's one clock (ns)."""
from __future__ import annotations

import re
from datetime import datetime

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
ZERO = "0001-01-01T00:00:00Z"  # Go's zero time: "never" (a rule not evaluated yet)


def rfc3339_ns(text: object) -> int | None:
    """Nanoseconds since the epoch from ``2024-05-01T13:30:00.123456789Z`` (any fraction, any offset);
    None for Go's zero time or anything else."""
    if not isinstance(text, str) or text == ZERO:
        return None
    match = _RFC3339.match(text)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    if seconds < 0:
        return None
    return int(seconds) * 1_000_000_000 + int(((fraction or "") + "000000000")[:9])
