"""The running load's live knobs: a small JSON file the locustfile polls.

A file, not a socket, because Locust lives in other processes (and, with
workers, in several): every process reads the same file, and a file written
atomically is never seen half-written. Two knobs:

- ``rlp_share``: ``0.3`` pins the share of rlp-flagged parents; ``null`` (or
  no file) follows the open schedule of the load's mix;
- ``open_at_ns``: when the market actually opened, ``null`` while it has not.
  The runner opens the market itself once the steps due before the open are
  done (a deploy must not still be restarting routers at the open), so the
  open the load config planned may come later; absent, the config's applies.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from powerpeg.harness.experiment.model import LoadMix

# how stale a Locust process's view of the file may be
POLL_INTERVAL_S = 0.1


def scheduled_rlp_share(mix: LoadMix, open_at_ns: int | None, now_ns: int) -> float:
    """The share the mix asks for at ``now_ns``: before or after the open (None: not open yet)."""
    return mix.rlp_share_before_open if open_at_ns is None or now_ns < open_at_ns else mix.rlp_share_after_open


def _check_share(share: float | None) -> float | None:
    if share is None:
        return None
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ValueError(f"rlp_share must be between 0 and 1 (or None), got {share!r}")
    return float(share)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {data!r}")
    return data


def _write(path: Path, **changes: object) -> None:
    """Change some knobs, keep the others, atomically (the harness is the only writer)."""
    data = _read(path)
    data.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def write_override(path: Path, share: float | None) -> None:
    """Pin the rlp share (None: follow the schedule)."""
    _write(path, rlp_share=_check_share(share))


def write_open(path: Path, open_at_ns: int | None) -> None:
    """Record when the market opened (None: not yet)."""
    if open_at_ns is not None and (isinstance(open_at_ns, bool) or not isinstance(open_at_ns, int)):
        raise ValueError(f"open_at_ns must be an integer (ns) or None, got {open_at_ns!r}")
    _write(path, open_at_ns=open_at_ns)


def read_override(path: Path) -> float | None:
    """The pinned share, or None (no file, or following the schedule)."""
    return _check_share(_read(path).get("rlp_share"))


def read_open(path: Path) -> tuple[bool, int | None]:
    """(whether the file says when the market opened, that time or None while not open)."""
    data = _read(path)
    if "open_at_ns" not in data:
        return False, None
    value = data["open_at_ns"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{path}: open_at_ns must be an integer or null, got {value!r}")
    return True, value


class LoadControl:
    """The harness side (satisfies ``powerpeg.harness.faults.base.LoadControl``)."""

    def __init__(self, path: Path, mix: LoadMix, open_at_ns: int | None) -> None:
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

    def set_open(self, open_at_ns: int | None) -> None:
        """The market opened at ``open_at_ns`` (None: it has not opened yet, whatever was planned)."""
        write_open(self.path, open_at_ns)
        self.open_at_ns = open_at_ns


class ControlPoller:
    """The Locust side: the pinned share, re-read when the file's mtime
    changes, looked at no more often than every :data:`POLL_INTERVAL_S`."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._checked_at: float | None = None
        self._version: tuple[int, int] | None = None
        self._share: float | None = None
        self._open: tuple[bool, int | None] = (False, None)

    def _poll(self) -> None:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < POLL_INTERVAL_S:
            return
        self._checked_at = now
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._version, self._share, self._open = None, None, (False, None)
            return
        # every write is a rename onto the path (a new inode): two writes in
        # one mtime tick still differ
        version = (stat.st_ino, stat.st_mtime_ns)
        if version != self._version:
            try:
                share, opened = read_override(self.path), read_open(self.path)
            except (ValueError, FileNotFoundError):
                # keep the last good values: the writer is the harness, and
                # one bad write must not stop the load
                return
            self._share, self._open, self._version = share, opened, version

    def override(self) -> float | None:
        self._poll()
        return self._share

    def is_open(self, open_at_ns: int | None, now_ns: int) -> bool:
        """Whether the market is open at ``now_ns``: the file's open when it says, else the planned one."""
        self._poll()
        known, actual = self._open
        at = actual if known else open_at_ns
        return at is not None and now_ns >= at

    def rlp_share(self, mix: LoadMix, open_at_ns: int | None, now_ns: int) -> float:
        """The pinned share, else the schedule around the open (the file's, when it says)."""
        pinned = self.override()
        if pinned is not None:
            return pinned
        known, actual = self._open
        return scheduled_rlp_share(mix, actual if known else open_at_ns, now_ns)
