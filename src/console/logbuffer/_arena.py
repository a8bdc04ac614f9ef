"""A sparse string column: strings for some of the buffer's positions, in one byte arena.

Idempotency keys (a third of the entries) and ids of unusual forms live here rather than
as Python strings (~60 bytes of object each) or as a fixed-width column wasted on the
entries that have none. Each held string costs its UTF-8 bytes plus 16 bytes of index.

Byte offsets are uint32 (4 bytes an item, not 8: 1.3 MB at a million entries with the
demo's third of idempotency keys); a stack whose blob passes 4 GiB widens them to int64.

Positions are the buffer's logical slots: `add_older` gives ever smaller ones and
`add_newer` ever larger ones, so the arena is two stacks, an older one (pushed with
decreasing positions) and a newer one (increasing). Evicting the oldest entries pops the
older stack's top or drops the newer stack's head (compacted once half of it is dead).
Arrays are replaced, never resized in place, so a reader on another thread that took
them keeps a consistent (if stale) view.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from typing import Any, Final

import numpy as np
from numpy.typing import DTypeLike, NDArray

from console.common.heap import share_one_heap
from console.logbuffer._search import occurrences

_FIRST_ITEMS = 256
_FIRST_BYTES = 8192
# Arrays from this size up get pages of their own (an anonymous mmap), not the C heap.
_MAPPED_FROM = 1 << 16
_NARROW_ENDS_MAX: Final = (1 << 32) - 1


def zeros(shape: int | tuple[int, ...], dtype: DTypeLike) -> NDArray[Any]:
    """A zeroed array; big ones in an anonymous memory map of their own.

    The pages of a map are only resident once written, and go back to the system when
    the array is freed. From the C heap, a freed 10-30 MiB column can stay resident
    (glibc raises its mmap threshold after such a free and later reuses the heap), so
    the buffer's growth would leave the process bigger than what it holds.
    """
    kind = np.dtype(dtype)
    count = int(np.prod(shape))
    if count * kind.itemsize < _MAPPED_FROM:
        return np.zeros(shape, kind)
    pages = mmap.mmap(-1, count * kind.itemsize)
    return np.frombuffer(pages, kind, count).reshape(shape)


def release_freed_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere nothing).

    Filling a million-entry buffer frees many temporaries of a few MiB; glibc raises its
    mmap threshold after freeing big blocks and then serves such sizes from the heap,
    whose freed middle stays resident: ~27 MiB after a 1M load, measured. One
    `malloc_trim(0)` after a load returns it (a few ms).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return
    trim(0)


_M_TRIM_THRESHOLD: Final = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD: Final = -3
# Blocks from this size up come from mmap and go back to the system when freed. Not
# lower: a million-row mask (1 MB) faulted in afresh on every filter measured 25 -> 48 ms
# a filter change (the plain numpy floor 0.4 -> 3 ms) at 128 KiB; 2 MiB measured no
# smaller than 4 MiB.
_MMAP_FROM: Final = 4 * 1024 * 1024
_heap_bounded = False


def bound_heap() -> None:
    """Keep the C heap from holding on to freed big blocks (glibc only; once a process).

    Measured with the Ingest Logs tab at 1M entries: each filter, histogram and facet
    pass allocates temporaries of 1-8 MiB (masks, slot arrays), many on worker threads.
    glibc raises its mmap threshold after such a block is freed, then serves the next
    ones from the heaps, whose freed middles stay resident: +35-55 MB after the first
    load. A fixed threshold (which also turns the raising off) keeps the 8 MB arrays
    (int64 slots and float64 times at 1M) in mmap, unmapped when freed, while the 1-4 MB
    ones (masks, int32 slots) are reused from the heap; one arena keeps the worker
    threads' allocations (parsed pages) in the heap `malloc_trim` shrinks whole (see
    console.common.heap, which the app sets before its first thread starts).
    """
    global _heap_bounded
    if _heap_bounded or not sys.platform.startswith("linux"):
        return
    _heap_bounded = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
    # Fixing the threshold leaves the trim threshold at 128 KiB: every freed 1 MB mask at
    # the heap's top was handed back and faulted in again by the next filter (a feed or
    # time filter 1 -> 4 ms at 1M). Twice the mmap threshold, as glibc's own raising sets.
    mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_FROM)
    share_one_heap()


def _grown(array: NDArray[Any], needed: int) -> NDArray[Any]:
    """`array` with room for `needed` elements: growing by half, so appends are
    amortised O(1) and at most a third of the room is unused."""
    if needed <= array.shape[0]:
        return array
    bigger = zeros(max(needed, array.shape[0] * 3 // 2), array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


class _Stack:
    """Strings keyed by increasing keys, each ending at `ends[i]` in `blob`; items before
    `head` are dead (dropped from the front)."""

    def __init__(self) -> None:
        # Keys are buffer slots (int32); ends are byte offsets in the blob (uint32 until
        # the blob passes 4 GiB).
        self.keys: NDArray[np.int32] = np.zeros(_FIRST_ITEMS, np.int32)
        self.ends: NDArray[np.unsignedinteger[Any] | np.int64] = np.zeros(_FIRST_ITEMS, np.uint32)
        self.blob: NDArray[np.uint8] = np.zeros(_FIRST_BYTES, np.uint8)
        self.head = 0
        self.count = 0

    def used_bytes(self) -> int:
        """Bytes of the blob in use (dead items' included)."""
        return int(self.ends[self.count - 1]) if self.count else 0

    def start_of(self, index: int) -> int:
        """Where item `index` begins in the blob."""
        return int(self.ends[index - 1]) if index > 0 else 0

    def push(self, keys: list[int], values: list[bytes]) -> None:
        """Append items (keys increasing, above the last)."""
        if not keys:
            return
        used = self.used_bytes()
        joined = b"".join(values)
        if used + len(joined) > _NARROW_ENDS_MAX and self.ends.dtype != np.int64:
            self.ends = self.ends.astype(np.int64)
        self.keys = _grown(self.keys, self.count + len(keys))
        self.ends = _grown(self.ends, self.count + len(keys))
        self.blob = _grown(self.blob, used + len(joined))
        self.keys[self.count : self.count + len(keys)] = keys
        lengths = np.fromiter((len(v) for v in values), np.int64, len(values))
        self.ends[self.count : self.count + len(keys)] = used + np.cumsum(lengths)
        self.blob[used : used + len(joined)] = np.frombuffer(joined, np.uint8)
        self.count += len(keys)

    def pop_from(self, key: int) -> None:
        """Drop the items whose key is >= `key` (the top of the stack)."""
        cut = int(np.searchsorted(self.keys[self.head : self.count], key, "left")) + self.head
        self.count = cut
        self.head = min(self.head, cut)

    def drop_below(self, key: int) -> None:
        """Drop the items whose key is < `key` (the head), compacting when half is dead."""
        self.head = int(np.searchsorted(self.keys[self.head : self.count], key)) + self.head
        if self.head == self.count:
            self.head = self.count = 0
        elif self.head > 1024 and self.head * 2 > self.count:
            first = self.start_of(self.head)
            live = self.count - self.head
            keys = zeros(max(_FIRST_ITEMS, 2 * live), np.int32)
            ends = zeros(max(_FIRST_ITEMS, 2 * live), self.ends.dtype)
            keys[:live] = self.keys[self.head : self.count]
            ends[:live] = self.ends[self.head : self.count] - first
            blob = zeros(max(_FIRST_BYTES, 2 * int(ends[live - 1])), np.uint8)
            blob[: int(ends[live - 1])] = self.blob[first : self.used_bytes()]
            self.keys, self.ends, self.blob = keys, ends, blob
            self.head, self.count = 0, live

    def trim(self) -> None:
        """Give back the room beyond what is held (after a load: growth left up to a
        third unused)."""
        used = self.used_bytes()
        if self.keys.shape[0] > self.count + 64:
            keys = zeros(self.count + 64, np.int32)
            keys[: self.count] = self.keys[: self.count]
            ends = zeros(self.count + 64, self.ends.dtype)
            ends[: self.count] = self.ends[: self.count]
            self.keys, self.ends = keys, ends
        if self.blob.shape[0] > used + 4096:
            blob = zeros(used + 4096, np.uint8)
            blob[:used] = self.blob[:used]
            self.blob = blob

    def get(self, key: int) -> bytes | None:
        """The string of `key`, or None."""
        index = int(np.searchsorted(self.keys[self.head : self.count], key)) + self.head
        if index < self.count and int(self.keys[index]) == key:
            return self.blob[self.start_of(index) : int(self.ends[index])].tobytes()
        return None

    def search(self, needle: bytes) -> NDArray[np.int64]:
        """Keys of the live items containing `needle` (folded)."""
        if self.head == self.count:
            return np.empty(0, np.int64)
        first = self.start_of(self.head)
        flat = self.blob[first : self.used_bytes()]
        positions = occurrences(flat, needle) + first
        if positions.shape[0] == 0:
            return np.empty(0, np.int64)
        ends = self.ends[self.head : self.count].astype(np.int64)
        items = np.searchsorted(ends, positions, "right")
        # A match must end inside its item: one spanning two items is no match.
        items = items[positions + len(needle) <= ends[items]]
        return np.unique(self.keys[self.head + items])


class SparseStrings:
    """Strings for some positions: `older` holds negated positions (pushed decreasing),
    `newer` positions (pushed increasing)."""

    def __init__(self) -> None:
        self.older = _Stack()
        self.newer = _Stack()

    def add_older(self, positions: list[int], values: list[str]) -> None:
        """Store strings for positions below all held ones (given in any order)."""
        pairs = sorted(zip(positions, values, strict=True), reverse=True)
        self.older.push([-p for p, _ in pairs], [v.encode("utf-8") for _, v in pairs])

    def add_newer(self, positions: list[int], values: list[str]) -> None:
        """Store strings for positions above all held ones (given in any order)."""
        pairs = sorted(zip(positions, values, strict=True))
        self.newer.push([p for p, _ in pairs], [v.encode("utf-8") for _, v in pairs])

    def evict_below(self, position: int) -> None:
        """Forget the strings of positions below `position`."""
        self.older.pop_from(-position + 1)
        self.newer.drop_below(position)

    def trim(self) -> None:
        """Give back the room beyond what is held."""
        self.older.trim()
        self.newer.trim()

    def shift(self, delta: int) -> None:
        """Renumber every position by `delta` (the buffer's slots were rebased)."""
        self.older.keys = (self.older.keys.astype(np.int64) - delta).astype(np.int32)
        self.newer.keys = (self.newer.keys.astype(np.int64) + delta).astype(np.int32)

    def clear(self) -> None:
        """Forget everything."""
        self.older = _Stack()
        self.newer = _Stack()

    def get(self, position: int) -> str | None:
        """The string stored for `position`, or None."""
        raw = self.newer.get(position)
        if raw is None:
            raw = self.older.get(-position)
        return None if raw is None else raw.decode("utf-8", "replace")

    def search(self, needle: bytes) -> NDArray[np.int64]:
        """Positions whose string contains `needle` (folded), ascending."""
        return np.concatenate([-self.older.search(needle)[::-1], self.newer.search(needle)])

    def nbytes(self) -> int:
        """Bytes held by the arena's arrays."""
        return sum(s.keys.nbytes + s.ends.nbytes + s.blob.nbytes for s in (self.older, self.newer))
