"""A finished upload's rejected items themselves, cut from the source file by byte range,
so the user can fix them and upload them again (the Records import's "Save rejected rows"
does the same for imports).

`save_rejected` writes two private (0600) files, both whole or neither:
- TARGET: the rejected items as the source holds them, by index: NDJSON, the exact lines;
  CSV, the header record then the exact records; JSON, an array of the exact elements.
- TARGET's sibling `<stem>.reasons.ndjson`: one `{"item": INDEX, "reason": TEXT}` line per
  rejected item, in the same order (INDEX counts the source's items from 0).

Nothing is held whole: the reasons stream from the upload's sidecar by index, the source is
read once as it goes, and each item is read by its byte range when the walk reaches it.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from console.api.ingest_sources import SourceError, SourceFormat, csv_header_end, item_spans
from console.api.upload_rejects import RejectedItems

REASONS_SUFFIX = ".reasons.ndjson"


def reasons_path_for(target: Path) -> Path:
    """Where the reasons go next to the items saved at `target`."""
    return target.with_name(target.stem + REASONS_SUFFIX)


_COPY_CHUNK = 1 << 16  # bytes of an item read at a time (an NDJSON line may be many MiB)
_SPACE = b" \t\r\n"
# What is trimmed before an item's own text, in order: (bytes skipped any number of times, or
# one of a few prefixes skipped once).
_LEADING: dict[SourceFormat, tuple[bytes | tuple[bytes, ...], ...]] = {
    "ndjson": (_SPACE, (codecs.BOM_UTF8,), _SPACE),
    "json": ((codecs.BOM_UTF8,), _SPACE, (b",", b"["), _SPACE),
    "csv": (b"\r\n",),
}


def rejected_sources(
    source: Path, format: SourceFormat, indexes: Iterable[int], *, limit: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """(index, the item's own text) of each of `indexes` (ascending) in `source`, at most
    its first `limit` bytes when given (for display: a long item is never read whole).
    Blocking."""
    for number, chunks in _rejected_items(source, format, indexes, limit):
        yield number, b"".join(chunks)


def _rejected_items(
    source: Path, format: SourceFormat, indexes: Iterable[int], limit: int | None = None
) -> Iterator[tuple[int, Iterator[bytes]]]:
    """(index, the item's own text a bounded chunk at a time) of each of `indexes`; each
    item's chunks are read before the next item is."""
    wanted = iter(indexes)
    target = next(wanted, None)
    if target is None:
        return
    with source.open("rb") as reader, contextlib.closing(item_spans(source, format)) as spans:
        for number, start, end in spans:
            while target is not None and target < number:
                target = next(wanted, None)  # not in the file (changed since): skipped
            if target is None:
                return
            if number == target:
                yield number, _item_chunks(reader, start, end, format, limit)
                target = next(wanted, None)


def _item_chunks(
    reader: BinaryIO, start: int, end: int, format: SourceFormat, limit: int | None
) -> Iterator[bytes]:
    """The item's own text in the span [start, end), read a chunk at a time: NDJSON and CSV,
    its line(s) ending with one newline; JSON, the element without the comma or bracket
    before it (at most `limit` bytes, without the added newline, when given)."""
    for step in _LEADING[format]:
        start = _skip(reader, start, end, step)
    if format != "csv":
        end = _rstrip(reader, start, end)
    whole = limit is None or end - start <= limit
    stop = end if limit is None else min(end, start + limit)
    last = b""
    while start < stop:
        reader.seek(start)
        chunk = reader.read(min(_COPY_CHUNK, stop - start))
        if not chunk:
            break
        start += len(chunk)
        last = chunk
        yield chunk
    if whole and (format == "ndjson" or not last.endswith(b"\n")) and format != "json":
        yield b"\n"


def _skip(reader: BinaryIO, start: int, end: int, step: bytes | tuple[bytes, ...]) -> int:
    """Where the span goes on after `step` at `start` (see _LEADING)."""
    if isinstance(step, tuple):
        reader.seek(start)
        head = reader.read(min(end - start, max(len(p) for p in step)))
        return start + next((len(p) for p in step if head.startswith(p)), 0)
    while start < end:
        reader.seek(start)
        chunk = reader.read(min(_COPY_CHUNK, end - start))
        if not chunk:
            return end
        kept = chunk.lstrip(step)
        start += len(chunk) - len(kept)
        if kept:
            return start
    return start


def _rstrip(reader: BinaryIO, start: int, end: int) -> int:
    """Where the span [start, end) ends without its trailing white space."""
    while end > start:
        size = min(_COPY_CHUNK, end - start)
        reader.seek(end - size)
        kept = reader.read(size).rstrip(_SPACE)
        if kept:
            return end - size + len(kept)
        end -= size
    return end


class SourceChanged(SourceError):
    """The source is no longer the uploaded version: its rejected items cannot be cut from
    it (their indexes and byte ranges name other bytes now)."""


def check_unchanged(source: Path, size: int | None, mtime_ns: int | None) -> None:
    """SourceChanged unless `source` still has the uploaded `size` and `mtime_ns` (None:
    not known, not checked). Blocking."""
    if size is None or mtime_ns is None:
        return
    stat = source.stat()
    if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
        raise SourceChanged(
            f"{source.name} changed since the upload: its rejected items can no longer be cut "
            "from it"
        )


@dataclass(frozen=True)
class SavedRejects:
    """What `save_rejected` wrote: the items' file, the reasons' file, how many items."""

    items: Path
    reasons: Path
    count: int


def save_rejected(
    rejects: RejectedItems,
    source: Path,
    format: SourceFormat,
    target: Path,
    *,
    size: int | None = None,
    mtime_ns: int | None = None,
) -> SavedRejects:
    """Write the rejected items to `target` in the source's format and their reasons next
    to it (see the module's docstring); SourceChanged, with nothing written, when `source`
    no longer has the uploaded `size` and `mtime_ns` (checked before and after the items are
    read). Blocking."""
    target = Path(target)
    reasons = reasons_path_for(target)
    check_unchanged(source, size, mtime_ns)
    written = 0

    def chunks(items: RejectedItems) -> Iterator[bytes]:
        nonlocal written
        if format == "csv":
            with source.open("rb") as file:
                header_end = csv_header_end(file)
                file.seek(0)
                header = file.read(header_end)
            yield header if header.endswith(b"\n") else header + b"\n"
        elif format == "json":
            yield b"["
        indexes = (index for index, _reason in items)
        for _index, pieces in _rejected_items(source, format, indexes):
            if format == "json":
                yield b"\n" if not written else b",\n"
            yield from pieces
            written += 1
        if format == "json":
            yield b"\n]\n"

    # Both files are written under temporary names and renamed at the end: never one
    # without the other. The upload's file is held open throughout (`pinned`), so a
    # `discard` meanwhile (the dialog closed) cannot break the save half way.
    temporaries: list[str] = []
    try:
        with rejects.pinned() as items:
            temporaries.append(_write_temporary(target, chunks(items)))
            temporaries.append(_write_temporary(reasons, items.lines()))
        check_unchanged(source, size, mtime_ns)
        os.replace(temporaries[0], target)
        try:
            os.replace(temporaries[1], reasons)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise
    except BaseException:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise
    return SavedRejects(target, reasons, written)


def _write_temporary(target: Path, chunks: Iterable[bytes]) -> str:
    """Write `chunks` to a private temporary file next to `target` (synced); its path."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary
