"""Vectorised ASCII case-insensitive substring search over flat byte arrays.

The log buffer keeps request and correlation ids as fixed-width rows of bytes and other
strings in a byte arena; a text filter looks for a needle in all of them at once. Each
search anchors on the needle's first two bytes with one vectorised pass over the bytes
(compared as uint16 words), then narrows the candidate positions byte by byte: no Python
loop per row or per hit.
Bytes are processed in chunks so the temporary masks stay a few MiB, whatever the buffer.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# Bytes per chunk of a scan: temporaries of this size stay in the CPU caches and bound the
# extra memory a text filter takes at 1M entries (a whole-column mask would be 26 MiB).
CHUNK_BYTES = 1 << 20
_LETTERS = frozenset(range(ord("a"), ord("z") + 1))


def fold(text: str) -> bytes:
    """The needle as UTF-8 with ASCII letters lowered (what the byte searches compare)."""
    return text.encode("utf-8").lower()


def _equal_folded(values: NDArray[np.uint8], byte: int) -> NDArray[np.bool_]:
    """values == byte, ignoring ASCII case when byte is a lower-case letter.

    Setting bit 0x20 maps A-Z onto a-z and never maps anything else onto a letter, so one
    OR and one compare decide it.
    """
    if byte in _LETTERS:
        return np.asarray((values | np.uint8(0x20)) == byte)
    return np.asarray(values == byte)


def _pair_starts(segment: NDArray[np.uint8], pair: bytes) -> NDArray[np.int64]:
    """Positions in `segment` where the two bytes of `pair` (folded) start, ascending.

    The bytes are compared two at a time as uint16, once at even and once at odd
    offsets: as many element operations as a byte-wise pass, but a pair matches ~36
    times less often than a byte, so far fewer candidates are left to narrow.
    """
    mask = sum((0x20 << (8 * i)) for i, byte in enumerate(pair) if byte in _LETTERS)
    wanted = int.from_bytes(pair, "little")
    found = []
    for parity in (0, 1):
        words = segment[parity : parity + (segment.shape[0] - parity) // 2 * 2].view("<u2")
        if mask:
            hits = np.flatnonzero((words | np.uint16(mask)) == wanted)
        else:
            hits = np.flatnonzero(words == wanted)
        found.append(hits * 2 + parity)
    return np.sort(np.concatenate(found))


def occurrences(flat: NDArray[np.uint8], needle: bytes, *, width: int = 0) -> NDArray[np.int64]:
    """Every start position of `needle` (already folded) in `flat`, ascending.

    With `width`, `flat` is rows of that many bytes and matches that cross a row boundary
    are rejected.
    """
    size = len(needle)
    total = int(flat.shape[0])
    if size == 0 or size > total:
        return np.empty(0, np.int64)
    found: list[NDArray[np.int64]] = []
    chunk = CHUNK_BYTES if width == 0 else max(width, CHUNK_BYTES // width * width)
    last_start = total - size  # the last position a match can start at
    for begin in range(0, last_start + 1, chunk):
        end = min(begin + chunk, last_start + 1)
        if size == 1:
            positions = np.flatnonzero(_equal_folded(flat[begin:end], needle[0]))
        else:
            positions = _pair_starts(flat[begin : end + 1], needle[:2])
            positions = positions[positions < end - begin]
        positions = positions + begin
        if width:
            positions = positions[positions % width <= width - size]
        for offset in range(2, size):
            if positions.shape[0] == 0:
                break
            positions = positions[_equal_folded(flat[positions + offset], needle[offset])]
        if positions.shape[0]:
            found.append(positions.astype(np.int64, copy=False))
    if not found:
        return np.empty(0, np.int64)
    return np.concatenate(found)


def rows_containing(rows: NDArray[np.uint8], needle: bytes) -> NDArray[np.bool_]:
    """For rows of a (n, width) byte array: which contain `needle` (folded)."""
    count, width = rows.shape
    mask = np.zeros(count, np.bool_)
    if count == 0 or not needle or len(needle) > width:
        return mask
    flat = np.ascontiguousarray(rows).reshape(-1)
    mask[occurrences(flat, needle, width=width) // width] = True
    return mask


def rows_starting_with(rows: NDArray[np.uint8], needle: bytes) -> NDArray[np.bool_]:
    """For rows of a (n, width) byte array: which start with `needle` (folded)."""
    count, width = rows.shape
    if not needle:
        return np.ones(count, np.bool_)
    if len(needle) > width:
        return np.zeros(count, np.bool_)
    candidates = np.flatnonzero(_equal_folded(rows[:, 0], needle[0]))
    for offset in range(1, len(needle)):
        if candidates.shape[0] == 0:
            break
        candidates = candidates[_equal_folded(rows[candidates, offset], needle[offset])]
    mask = np.zeros(count, np.bool_)
    mask[candidates] = True
    return mask
