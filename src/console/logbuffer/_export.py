"""CSV and NDJSON export of a selection, streamed in chunks with progress and cancel.

Rows go out in the selection's order (the view's: newest first). Each chunk's fields are
gathered column by column (`LogBuffer.export_columns`), so a million rows cost no per-cell
buffer call. CSV has a header row and an ISO `time` column before the epoch `timestamp`;
text cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR)
get a leading apostrophe (OWASP's advice for CSV injection). NDJSON is strict JSON: no
NaN (a missing duration is null).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from console.logbuffer.buffer import EXPORT_FIELDS, Selection, iso_time

if TYPE_CHECKING:
    from console.logbuffer.buffer import LogBuffer

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CSV_HEADER = ("time", *EXPORT_FIELDS)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _cell(value: object) -> object:
    """A CSV cell: None empty, text defused against formula injection."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_chunk(fields: dict[str, list[object]], count: int, header: bool) -> bytes:
    """One chunk of CSV rows (with the header row first when `header`)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    if header:
        writer.writerow(_CSV_HEADER)
    columns = [fields[name] for name in EXPORT_FIELDS]
    times = [iso_time(float(t)) for t in fields["timestamp"]]  # type: ignore[arg-type]
    for row in range(count):
        writer.writerow([times[row], *(_cell(column[row]) for column in columns)])
    return text.getvalue().encode("utf-8")


def _ndjson_chunk(fields: dict[str, list[object]], count: int) -> bytes:
    """One chunk of NDJSON lines."""
    columns = [(name, fields[name]) for name in EXPORT_FIELDS]
    lines = [
        _ENCODER.encode({name: column[row] for name, column in columns}) for row in range(count)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def write_rows(
    buffer: LogBuffer,
    sel: Selection,
    out: BinaryIO,
    kind: str,
    chunk_rows: int,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> int:
    """Write `sel`'s held entries to `out` as `kind` ("csv" or "ndjson"); returns rows
    written. Slots evicted since the selection was made are left out."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    held = buffer.still_held(sel)
    total = int(held.shape[0])
    written = 0
    if kind == "csv":
        out.write(_csv_chunk({name: [] for name in EXPORT_FIELDS}, 0, True))
    for begin in range(0, total, chunk_rows):
        if cancelled is not None and cancelled():
            break
        # Checked again per chunk: a live tail may evict entries while this runs.
        chunk = buffer.still_held(Selection(held[begin : begin + chunk_rows], -1))
        fields = buffer.export_columns(chunk)
        count = int(chunk.shape[0])
        if kind == "csv":
            out.write(_csv_chunk(fields, count, False))
        else:
            out.write(_ndjson_chunk(fields, count))
        written += count
        if progress is not None:
            progress(written, total)
    if progress is not None and total == 0:
        progress(0, 0)
    return written
