"""The ClOrdIDs a session used today, kept in about 9 bytes each.

A NewOrderSingle or a replace reusing a ClOrdID of the session's day is
refused (issue 11: reused, a filled order's ClOrdID was filled twice), so
every one is remembered for the day, long after its order is done and
forgotten. A ``set`` of the strings cost about 110 bytes an entry (the
string, about 65, and the set's slot): at a fleet's 200 children a second,
0.8 MiB/min of growth that never stops. Here each ClOrdID is its 64-bit
``hash()`` in one of ``PARTITIONS`` partitions (chosen by the hash's low
bits), each a ``bytearray`` of sorted native int64s: 8 bytes plus the
bytearrays' spare room, about 9 bytes an entry at 500,000
(tests/unit/targets/exchange/test_clordids.py prints it).

Speed: a lookup is a binary search over a few hundred entries and an add
one memmove. Where the C speedups are built (``targets/fix/_speedups.c``:
``clordid_add``, ``clordid_contains``) one C call does it all; the Python
code below is the reference and the fallback (POWERPEG_SPEEDUPS=0, or no
compiler), about 1 µs an order slower (bench/exchange_cpu).

Why a hash is enough: ``hash(str)`` is 64-bit SipHash, keyed per process,
and the day is the process's life (the exchange's orders do not outlive it
either). Two different ClOrdIDs of one session share a hash with
probability about n / 2**64 per order (n the session's ClOrdIDs so far: at
ten million, one order in 10**12 would be refused as a duplicate it is not);
a ClOrdID that was used is always found.
"""
from __future__ import annotations

import sys
from bisect import bisect_left
from typing import Any

from powerpeg.targets.fix.codec import speedup

PARTITIONS = 4096  # a power of two: the partition is hash & (PARTITIONS - 1)
_MASK = PARTITIONS - 1

_c_add: Any = speedup("clordid_add")
_c_contains: Any = speedup("clordid_contains")
CLORDIDS = "c" if _c_add is not None and _c_contains is not None else "python"


class ClOrdIds:
    """A set of ClOrdIDs that only grows (for one session's day)."""

    __slots__ = ("_parts", "count", "_add", "_contains")

    def __init__(self, *, speedups: bool = True) -> None:
        # created on first use: a session that sends ten orders costs ten small bytearrays, not 4096
        self._parts: list[bytearray | None] = [None] * PARTITIONS
        self.count = 0  # len(), as an attribute: the engine reads it for every order (len() is a slot call)
        fast = speedups and CLORDIDS == "c"
        self._add = _c_add if fast else _py_add
        self._contains = _c_contains if fast else _py_contains

    def add(self, cl_ord_id: str) -> bool:
        """Remember ``cl_ord_id``; False (and nothing changes) when it was already used today."""
        if self._add(self._parts, cl_ord_id):
            self.count += 1
            return True
        return False

    def __contains__(self, cl_ord_id: object) -> bool:
        return bool(self._contains(self._parts, cl_ord_id))

    def __len__(self) -> int:
        return self.count

    def nbytes(self) -> int:
        """Memory the set holds: the bytearrays (spare room included) and the list of partitions."""
        return sys.getsizeof(self._parts) + sum(sys.getsizeof(part) for part in self._parts if part is not None)


def _py_find(parts: list[bytearray | None], cl_ord_id: object) -> tuple[bytearray | None, int, int, bool]:
    """(partition, hash, position, found) of ``cl_ord_id``: the reference of the C ``clordid_find``."""
    h = hash(cl_ord_id)
    part = parts[h & _MASK]
    if part is None:
        return None, h, 0, False
    items = memoryview(part).cast("q")
    i = bisect_left(items, h)
    found = i < len(items) and items[i] == h
    items.release()
    return part, h, i, found


def _py_add(parts: list[bytearray | None], cl_ord_id: str) -> bool:
    part, h, i, found = _py_find(parts, cl_ord_id)
    if found:
        return False
    if part is None:
        part = parts[h & _MASK] = bytearray()
    part[i * 8:i * 8] = h.to_bytes(8, sys.byteorder, signed=True)
    return True


def _py_contains(parts: list[bytearray | None], cl_ord_id: object) -> bool:
    return _py_find(parts, cl_ord_id)[3]
