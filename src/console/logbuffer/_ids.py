"""The sandbox's request and correlation ids packed in 20 bytes, searched without unpacking.

An id of the sandbox's form is a prefix (`req_`, `corr_`, implied by its column) and 26
characters of [A-Za-z0-9]. Each character gets a 6-bit code, so 26 of them fit in 156
bits: 20 bytes a row instead of 26 (12 MB less at a million entries, both columns).

Codes are chosen so that a case-insensitive comparison is a masked one: a letter's code
is its index in the alphabet (0-25) plus 32 when upper-case, so bit 5 is its case; the
ten digits take the free codes 26-31 and 58-61. A row keeps each code split in two planes:

- bytes 0-12: the low four bits of each code, two characters a byte (even character in
  the low nibble). These decide most of a comparison, case-free;
- bytes 13-19: the high two bits, four characters a byte (character j at bits
  2*(j % 4)); the last byte has room for two more: its bit 7 marks the row as holding
  an id (a zero row holds none: another form, in the side arena, or no id).

A search for a folded needle first looks for its first two characters' low nibbles (one
byte, or two adjacent nibbles across a byte) over the flat rows, then checks the
candidates' remaining nibbles and high bits with gathers: no unpacking, no Python loop
per row, and a match never spans two rows (a match must fit in its row's 26
characters).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

ID_WIDTH: Final = 26  # characters of an id after its prefix
PACKED_WIDTH: Final = 20
_LO_BYTES: Final = 13
_HI_FROM: Final = 13
_FLAG_BYTE: Final = 19
_FLAG: Final = 0x80
# Rows per chunk of a search: the temporaries (masks, candidate positions) stay ~1 MiB.
_CHUNK_ROWS: Final = 1 << 16

_LOWER: Final = b"abcdefghijklmnopqrstuvwxyz"
_UPPER: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = b"0123456789"
# ASCII byte -> code (255: not an id character); code -> ASCII byte.
CODE: Final = np.full(256, 255, np.uint8)
CODE[list(_LOWER)] = np.arange(26)
CODE[list(_UPPER)] = np.arange(26) + 32
CODE[list(_DIGITS)] = [26, 27, 28, 29, 30, 31, 58, 59, 60, 61]
ASCII: Final = np.zeros(64, np.uint8)
ASCII[CODE[list(_LOWER + _UPPER + _DIGITS)]] = list(_LOWER + _UPPER + _DIGITS)
_ASCII_TEXT: Final = ASCII.tobytes().decode("latin-1")
_LETTER_CODES: Final = frozenset(range(26))


def pack(rows: NDArray[np.uint8], valid: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """Rows of 26 ASCII alphanumerics as packed rows; rows not `valid` become zero rows."""
    count = rows.shape[0]
    codes = CODE[rows]
    codes[~valid] = 0
    packed = np.zeros((count, PACKED_WIDTH), np.uint8)
    low = codes & np.uint8(15)
    packed[:, :_LO_BYTES] = low[:, 0::2] | (low[:, 1::2] << np.uint8(4))
    high = np.zeros((count, 28), np.uint8)
    high[:, :ID_WIDTH] = codes >> np.uint8(4)
    packed[:, _HI_FROM:] = (
        high[:, 0::4]
        | (high[:, 1::4] << np.uint8(2))
        | (high[:, 2::4] << np.uint8(4))
        | (high[:, 3::4] << np.uint8(6))
    )
    packed[:, _FLAG_BYTE] |= np.where(valid, np.uint8(_FLAG), np.uint8(0))
    return packed


def held(packed: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Which packed rows hold an id."""
    return np.asarray(packed[:, _FLAG_BYTE] & np.uint8(_FLAG) != 0)


def unpack(packed: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Packed rows as rows of 26 ASCII bytes (a zero row reads as 26 "a")."""
    count = packed.shape[0]
    codes = np.empty((count, ID_WIDTH), np.uint8)
    low = packed[:, :_LO_BYTES]
    codes[:, 0::2] = low & np.uint8(15)
    codes[:, 1::2] = low >> np.uint8(4)
    high = np.empty((count, 28), np.uint8)
    bits = packed[:, _HI_FROM:]
    for part in range(4):
        high[:, part::4] = (bits >> np.uint8(2 * part)) & np.uint8(3)
    codes |= high[:, :ID_WIDTH] << np.uint8(4)
    return np.asarray(ASCII[codes])


def text_of(row: NDArray[np.uint8]) -> str | None:
    """One packed row's 26 characters, None when it holds no id."""
    raw = row.tobytes()
    if not raw[_FLAG_BYTE] & _FLAG:
        return None
    high = int.from_bytes(raw[_HI_FROM:], "little")
    return "".join(
        _ASCII_TEXT[(((high >> (2 * j)) & 3) << 4) | ((raw[j >> 1] >> (4 * (j & 1))) & 15)]
        for j in range(ID_WIDTH)
    )


def _needle_codes(needle: bytes) -> tuple[list[int], list[int], list[int]] | None:
    """A folded needle's low nibbles, high bits and the high bits that count (a letter's
    case bit does not); None when it has a character no id has."""
    codes = CODE[np.frombuffer(needle, np.uint8)].tolist()
    if 255 in codes:
        return None
    low = [c & 15 for c in codes]
    masks = [1 if c in _LETTER_CODES else 3 for c in codes]
    return low, [c >> 4 for c in codes], masks


def _narrow(
    flat: NDArray[np.uint8],
    starts: NDArray[np.int64],
    known: tuple[int, ...],
    low: list[int],
    high: list[int],
    masks: list[int],
) -> NDArray[np.int64]:
    """The candidate starts (row * ID_WIDTH + character index) whose characters match
    the needle's: the low nibbles of all but the `known` characters (matched already),
    the high bits of all."""
    rows, chars = np.divmod(starts, ID_WIDTH)
    base = rows * PACKED_WIDTH
    for offset in range(len(low)):
        if rows.shape[0] == 0:
            break
        at = chars + offset
        if offset not in known:
            nibble = (flat[base + (at >> 1)] >> ((at & 1) * 4).astype(np.uint8)) & 15
            keep = nibble == low[offset]
            rows, chars, base, at = rows[keep], chars[keep], base[keep], at[keep]
        bits = (flat[base + _HI_FROM + (at >> 2)] >> ((at & 3) * 2).astype(np.uint8)) & masks[
            offset
        ]
        keep = bits == (high[offset] & masks[offset])
        rows, chars, base = rows[keep], chars[keep], base[keep]
    return np.asarray(rows * ID_WIDTH + chars)


def rows_containing(packed: NDArray[np.uint8], needle: bytes) -> NDArray[np.bool_]:
    """Which packed rows hold an id containing `needle` (folded: ASCII lower-case)."""
    count = packed.shape[0]
    mask = np.zeros(count, np.bool_)
    size = len(needle)
    coded = _needle_codes(needle) if 0 < size <= ID_WIDTH else None
    if count == 0 or coded is None:
        return mask
    low, high, masks = coded
    for begin in range(0, count, _CHUNK_ROWS):
        block = np.ascontiguousarray(packed[begin : begin + _CHUNK_ROWS])
        if size == 1:
            rows = np.flatnonzero(_any_character(block, low[0], high[0], masks[0]))
        else:
            flat = block.reshape(-1)
            found = []
            for known, starts in _anchors(flat, low):
                starts = starts[starts % ID_WIDTH <= ID_WIDTH - size]
                found.append(_narrow(flat, starts, known, low, high, masks))
            rows = np.concatenate(found) // ID_WIDTH
        rows = rows[held(block)[rows]]
        mask[begin + rows] = True
    return mask


def _any_character(block: NDArray[np.uint8], low: int, high: int, mask: int) -> NDArray[np.bool_]:
    """Which rows have the one character (a needle of one matches most rows: each
    character position is tested over all rows, no candidate lists)."""
    hits = np.zeros(block.shape[0], np.bool_)
    for j in range(ID_WIDTH):
        nibble = (block[:, j >> 1] >> np.uint8(4 * (j & 1))) & np.uint8(15)
        bits = (block[:, _HI_FROM + (j >> 2)] >> np.uint8(2 * (j & 3))) & np.uint8(mask)
        hits |= (nibble == low) & (bits == (high & mask))
    return hits


def _anchors(
    flat: NDArray[np.uint8], low: list[int]
) -> list[tuple[tuple[int, ...], NDArray[np.int64]]]:
    """Where in the flat rows the needle may start, from its first low nibbles, as
    row * ID_WIDTH + character index, each with the needle characters whose low nibbles
    matched.

    Byte k of the low plane holds characters 2k and 2k+1: a start at 2k is where the
    byte equals the needle's first two nibbles, a start at 2k+1 (with three or more
    characters) where byte k+1 equals its second and third. A needle of two starting
    at 2k+1 spans bytes k and k+1: a masked comparison of the little-endian uint16 at
    k (from even and from odd k). Byte comparisons are one contiguous pass each.
    """
    found: dict[int, list[NDArray[np.int64]]] = {0: [], 1: []}

    def note(shift: int, hits: NDArray[np.int64]) -> None:
        row, byte = np.divmod(hits, PACKED_WIDTH)
        inside = byte < _LO_BYTES
        found[shift].append(row[inside] * ID_WIDTH + byte[inside] * 2 + shift)

    note(0, np.flatnonzero(flat == np.uint8(low[0] | (low[1] << 4))))
    if len(low) >= 3:
        hits = np.flatnonzero(flat == np.uint8(low[1] | (low[2] << 4))) - 1
        # The pair in byte k+1 of a row: k = -1 (the pair starts the row) is no start.
        note(1, hits[hits % PACKED_WIDTH < _LO_BYTES - 1])
    else:
        wanted = (low[0] << 4) | (low[1] << 8)
        for parity in (0, 1):
            words = flat[parity : parity + (flat.shape[0] - parity) // 2 * 2].view("<u2")
            note(1, np.flatnonzero((words & np.uint16(0x0FF0)) == wanted) * 2 + parity)
    odd_known = (1, 2) if len(low) >= 3 else (0, 1)
    return [((0, 1), np.concatenate(found[0])), (odd_known, np.concatenate(found[1]))]


def rows_starting_with(packed: NDArray[np.uint8], needle: bytes) -> NDArray[np.bool_]:
    """Which packed rows hold an id starting with `needle` (folded)."""
    count = packed.shape[0]
    size = len(needle)
    if size == 0:
        return held(packed)
    mask = np.zeros(count, np.bool_)
    coded = _needle_codes(needle) if size <= ID_WIDTH else None
    if count == 0 or coded is None:
        return mask
    low, high, masks = coded
    for begin in range(0, count, _CHUNK_ROWS):
        block = np.ascontiguousarray(packed[begin : begin + _CHUNK_ROWS])
        flat = block.reshape(-1)
        first = np.flatnonzero((block[:, 0] & np.uint8(15)) == low[0]) * ID_WIDTH
        rows = _narrow(flat, first, (0,), low, high, masks) // ID_WIDTH
        rows = rows[held(block)[rows]]
        mask[begin + rows] = True
    return mask
