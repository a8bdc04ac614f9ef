"""Code points (what the validator's marks count) versus UTF-16 units (what Qt counts)."""

from __future__ import annotations

import re

# Only characters outside the Basic Multilingual Plane take two UTF-16 units.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 offset of code point `index` of `text` (clamped to the text)."""
    index = max(0, min(index, len(text)))
    prefix = text[:index]
    return index + len(_ASTRAL.findall(prefix))


def code_point_index(text: str, offset: int) -> int:
    """The code point index of UTF-16 `offset` in `text` (the inverse of utf16_offset)."""
    if not _ASTRAL.search(text):
        return max(0, min(offset, len(text)))
    units = 0
    for index, char in enumerate(text):
        if units >= offset:
            return index
        units += 2 if char > "\uffff" else 1
    return len(text)


def utf16_map(text: str) -> list[int] | None:
    """UTF-16 offsets of every code point (and the end), or None when they are equal."""
    if not _ASTRAL.search(text):
        return None
    offsets = [0] * (len(text) + 1)
    units = 0
    for index, char in enumerate(text):
        offsets[index] = units
        units += 2 if char > "\uffff" else 1
    offsets[len(text)] = units
    return offsets
