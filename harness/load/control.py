"""The running load's live knobs: a small JSON file the locustfile polls.

A file, not a socket, because Locust lives in other processes (and, with
workers, in several): every process reads the same file, and a file written
atomically is never seen half-written. Today the one knob is the share of
rlp-flagged parents: ``{"rlp_share": 0.3}`` pins it, ``{"rlp_share": null}``
(or no file) follows the open schedule of the load's mix.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness.experiment.model import LoadMix

# how stale a Locust process's view of the file may be
POLL_INTERVAL_S = 0.1


def scheduled_rlp_share(mix: LoadMix, open_at_ns: int, now_ns: int) -> float:
    """The share the mix asks for at ``now_ns``: before or after the open."""
    return mix.rlp_share_before_open if now_ns < open_at_ns else mix.rlp_share_after_open


def _check_share(share: float | None) -> float | None:
    if share is None:
        return None
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ValueError(f"rlp_share must be between 0 and 1 (or None), got {share!r}")
    return float(share)


def write_override(path: Path, share: float | None) -> None:
    """Atomically replace the control file."""
    share = _check_share(share)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"rlp_share": share}))
    os.replace(tmp, path)


def read_override(path: Path) -> float | None:
    """The pinned share, or None (no file, or following the schedule)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {data!r}")
    return _check_share(data.get("rlp_share"))


class LoadControl:
    """The harness side (satisfies ``harness.faults.base.LoadControl``)."""

    def __init__(self, path: Path, mix: LoadMix, open_at_ns: int) -> None:
        self.path = Path(path)
        self.mix = mix
        self.open_at_ns = open_at_ns

    def override(self) -> float | None:
        """What is pinned now (None = following the schedule); what a revert should restore."""
        return read_override(self.path)

    def rlp_share(self) -> float:
        """The share in effect now: the pinned one, else the scheduled one."""
        pinned = self.override()
        return scheduled_rlp_share(self.mix, self.open_at_ns, time.time_ns()) if pinned is None else pinned

    def set_rlp_share(self, share: float | None) -> None:
        """Pin the share (0..1); None goes back to the open schedule."""
        write_override(self.path, share)


class ControlPoller:
    """The Locust side: the pinned share, re-read when the file's mtime
    changes, looked at no more often than every :data:`POLL_INTERVAL_S`."""

    def __init__(self, path: Path, *, clock=time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._checked_at: float | None = None
        self._version: tuple[int, int] | None = None
        self._share: float | None = None

    def override(self) -> float | None:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < POLL_INTERVAL_S:
            return self._share
        self._checked_at = now
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._version, self._share = None, None
            return None
        # every write is a rename onto the path (a new inode): two writes in
        # one mtime tick still differ
        version = (stat.st_ino, stat.st_mtime_ns)
        if version != self._version:
            try:
                self._share = read_override(self.path)
            except (ValueError, FileNotFoundError):
                # keep the last good value: the writer is the harness, and
                # one bad write must not stop the load
                return self._share
            self._version = version
        return self._share

    def rlp_share(self, mix: LoadMix, open_at_ns: int, now_ns: int) -> float:
        pinned = self.override()
        return scheduled_rlp_share(mix, open_at_ns, now_ns) if pinned is None else pinned
