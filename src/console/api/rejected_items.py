"""A finished upload's rejected items themselves, cut from the source file by byte range,
so the user can fix them and upload them again (the Records import's "Save rejected rows"
does the same for imports).

`save_rejected` writes two private (0600) files, each whole or not at all:
- TARGET: the rejected items as the source holds them, by index: NDJSON, the exact lines;
  CSV, the header record then the exact records; JSON, an array of the exact elements.
- TARGET's sibling `<stem>.reasons.ndjson`: one `{"item": INDEX, "reason": TEXT}` line per
  rejected item, in the same order (INDEX counts the source's items from 0).

Nothing is held whole: the reasons stream from the upload's sidecar by index, the source is
read once as it goes, and each item is read by its byte range when the walk reaches it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from console.api.ingest_sources import SourceFormat, csv_header_end, item_spans, item_text
from console.api.upload_rejects import RejectedItems

REASONS_SUFFIX = ".reasons.ndjson"


def reasons_path_for(target: Path) -> Path:
    """Where the reasons go next to the items saved at `target`."""
    return target.with_name(target.stem + REASONS_SUFFIX)


def rejected_sources(
    source: Path, format: SourceFormat, indexes: Iterable[int]
) -> Iterator[tuple[int, bytes]]:
    """(index, the item's own text) of each of `indexes` (ascending) in `source`. Blocking."""
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
                reader.seek(start)
                yield number, item_text(reader.read(end - start), format)
                target = next(wanted, None)


@dataclass(frozen=True)
class SavedRejects:
    """What `save_rejected` wrote: the items' file, the reasons' file, how many items."""

    items: Path
    reasons: Path
    count: int


def save_rejected(
    rejects: RejectedItems, source: Path, format: SourceFormat, target: Path
) -> SavedRejects:
    """Write the rejected items to `target` in the source's format and their reasons next
    to it (see the module's docstring). Blocking."""
    target = Path(target)
    reasons = reasons_path_for(target)
    indexes = (index for index, _reason in rejects)
    written = 0

    def chunks() -> Iterator[bytes]:
        nonlocal written
        if format == "csv":
            with source.open("rb") as file:
                header_end = csv_header_end(file)
                file.seek(0)
                header = file.read(header_end)
            yield header if header.endswith(b"\n") else header + b"\n"
        elif format == "json":
            yield b"["
        for _index, text in rejected_sources(source, format, indexes):
            if format == "json":
                yield (b"\n" if not written else b",\n") + text
            else:
                yield text
            written += 1
        if format == "json":
            yield b"\n]\n"

    _write_whole(target, chunks())
    rejects.copy_to(reasons)
    return SavedRejects(target, reasons, written)


def _write_whole(target: Path, chunks: Iterable[bytes]) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
