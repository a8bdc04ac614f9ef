"""Property tests of the packed id rows (`console.logbuffer._ids`): they read back what was
packed, and searching them finds exactly what a plain case-insensitive substring search
of the unpacked ids finds, never a match running from one row into the next."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from console.logbuffer import _ids
from console.logbuffer._search import fold
from tests.logbuffer.entries import ALPHANUMERIC

body = st.text(alphabet=ALPHANUMERIC, min_size=26, max_size=26)
# A row of None holds no id (another form, kept elsewhere, or none).
bodies = st.lists(st.one_of(body, st.none()), min_size=0, max_size=40)
# Needles: short runs of id characters in either case, other characters, and pieces of
# the ids themselves (below).
needles = st.text(alphabet=ALPHANUMERIC + "_-é ", min_size=1, max_size=8)


def packed_rows(values: list[str | None]) -> np.ndarray:
    text = b"".join(b"\0" * 26 if v is None else v.encode() for v in values)
    rows = np.frombuffer(text, np.uint8).reshape(len(values), 26)
    return _ids.pack(rows, np.array([v is not None for v in values], np.bool_))


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_packed_rows_read_back_as_packed(values: list[str | None]) -> None:
    packed = packed_rows(values)
    assert packed.shape == (len(values), _ids.PACKED_WIDTH)
    assert [_ids.text_of(row) for row in packed] == values
    assert _ids.held(packed).tolist() == [v is not None for v in values]
    unpacked = _ids.unpack(packed)
    for value, row in zip(values, unpacked, strict=True):
        if value is not None:
            assert row.tobytes().decode() == value


@st.composite
def rows_and_needle(draw: st.DrawFn) -> tuple[list[str | None], str]:
    """Rows and a needle: often a piece of one row (possibly case-swapped), or one that
    ends one row and starts the next (which must not match)."""
    values = draw(bodies)
    ids = [v for v in values if v is not None]
    kind = draw(st.sampled_from(["free", "piece", "across"]))
    if kind == "piece" and ids:
        chosen = draw(st.sampled_from(ids))
        start = draw(st.integers(0, 25))
        end = draw(st.integers(start + 1, 26))
        needle = chosen[start:end]
        if draw(st.booleans()):
            needle = needle.swapcase()
        return values, needle
    if kind == "across" and len(ids) >= 2:
        at = draw(st.integers(0, len(ids) - 2))
        head = draw(st.integers(1, 8))
        tail = draw(st.integers(1, 8))
        return values, ids[at][-head:] + ids[at + 1][:tail]
    return values, draw(needles)


@settings(max_examples=400, deadline=None)
@given(rows_and_needle())
def test_searching_packed_rows_equals_a_plain_substring_search(
    case: tuple[list[str | None], str],
) -> None:
    values, needle = case
    packed = packed_rows(values)
    folded = fold(needle)
    lowered = needle.lower()
    contains = [v is not None and lowered in v.lower() for v in values]
    starts = [v is not None and v.lower().startswith(lowered) for v in values]
    assert _ids.rows_containing(packed, folded).tolist() == contains
    assert _ids.rows_starting_with(packed, folded).tolist() == starts


def test_a_search_never_runs_from_one_row_into_the_next() -> None:
    # Many rows, searched in chunks: a needle made of one row's end and the next one's
    # start is in neither, whatever the chunk boundaries.
    rng = np.random.default_rng(5)
    alphabet = np.frombuffer(ALPHANUMERIC.encode(), np.uint8)
    count = 3 * (1 << 16) + 7
    text = alphabet[rng.integers(0, len(alphabet), (count, 26))]
    packed = _ids.pack(text, np.ones(count, np.bool_))
    values = [row.tobytes().decode() for row in text]
    for at in (0, (1 << 16) - 1, 1 << 16, count - 2):
        for head, tail in ((1, 1), (2, 3), (4, 4)):
            needle = values[at][-head:] + values[at + 1][:tail]
            expected = [needle.lower() in v.lower() for v in values]
            assert _ids.rows_containing(packed, fold(needle)).tolist() == expected
        piece = values[at][10:16]
        found = _ids.rows_containing(packed, fold(piece.upper()))
        assert found[at]
        assert found.tolist() == [piece.lower() in v.lower() for v in values]
