"""Import and export files of the Records tab, read and written streaming (no Qt here).

Everything here touches the disk and can take a while on a big file: the dialogs call it
through `in_file_thread`, so the UI loop stays responsive. Nothing reads a whole file
into memory, and nothing holds a whole export: rows go to disk as they arrive.

Row numbers are the server's: data row 1 is the first row after a CSV's header, or the
first non-blank line of an NDJSON file; blank lines are not rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import json
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

T = TypeVar("T")
FileFormat = Literal["csv", "ndjson"]
FORMATS: tuple[FileFormat, ...] = ("csv", "ndjson")
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json", ".ldjson")
# The columns an export writes before the data keys; a data key with one of these names
# is written as `data.<key>` so it can never be mistaken for the record's own field.
META_COLUMNS = ("guid", "system_id", "version", "updated_at", "deleted")
MAX_LINE_BYTES = 1024 * 1024  # the server reads no longer line (a longer one is rejected)
PREVIEW_CELL_CHARS = 200  # a preview cell longer than this is cut (the file is untouched)


# File work runs on these plain threads: asyncio.to_thread would use qasync's default
# executor, whose QThreads are still running at exit and abort the process.
_FILE_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="records-files")


async def in_file_thread(function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` on a file thread, off the UI loop."""
    return await asyncio.get_running_loop().run_in_executor(
        _FILE_THREADS, functools.partial(function, *args)
    )


def detect_format(path: str | Path) -> FileFormat:
    """The format a file name suggests: NDJSON for .ndjson/.jsonl/.json, else CSV."""
    return "ndjson" if Path(path).suffix.lower() in NDJSON_SUFFIXES else "csv"


# -- reading an import file --------------------------------------------------------


@dataclass(frozen=True)
class FilePreview:
    """The first data rows of a file as text cells, with their row numbers."""

    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    problem: str | None = None  # why the file could not be read further, if it could not


def _cut(text: str) -> str:
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"


class _RawLines:
    """A binary file's lines decoded as UTF-8, keeping the raw bytes they came from.

    Mirrors how the server reads an import (so row numbers agree): a line longer than
    MAX_LINE_BYTES or not UTF-8 reads as an empty line and marks `problem`; the row that
    consumed it is then a row (the server rejects it), never skipped as blank.
    `take()` hands over the raw bytes consumed since the last call: csv.reader pulls a
    line only when it needs one, so after each record they are exactly that record's.
    """

    def __init__(self, binary: BinaryIO) -> None:
        self._binary = binary
        self._raw: list[bytes] = []
        self.problem = False
        self._first = True

    def take(self) -> bytes:
        raw = b"".join(self._raw)
        self._raw.clear()
        return raw

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        limit = MAX_LINE_BYTES + 1
        line = self._binary.readline(limit)
        if not line:
            raise StopIteration
        self._raw.append(line)
        if len(line) == limit and not line.endswith(b"\n"):
            while True:  # the rest of the over-long line belongs to the same row
                more = self._binary.readline(limit)
                self._raw.append(more)
                if not more or more.endswith(b"\n"):
                    break
            self.problem = True
            return "\n"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.problem = True
            return "\n"
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        return text


def _csv_rows(binary: BinaryIO) -> Iterator[tuple[int, list[str] | None, bytes]]:
    """(row number, cells or None when unreadable, raw bytes) per data row; row 0 is the
    header. Blank lines are no rows (as on the server)."""
    lines = _RawLines(binary)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    lines.problem = False
    yield 0, header, lines.take()
    row = 0
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            cells = None
            lines.problem = True
        raw = lines.take()
        problem, lines.problem = lines.problem, False
        if not cells and not problem:
            continue
        row += 1
        yield row, None if problem else cells, raw


def _ndjson_rows(binary: BinaryIO) -> Iterator[tuple[int, str | None, bytes]]:
    """(row number, line or None when unreadable, raw bytes) per data row."""
    lines = _RawLines(binary)
    row = 0
    for line in lines:
        raw = lines.take()
        problem, lines.problem = lines.problem, False
        if not problem and not line.strip():
            continue
        row += 1
        yield row, None if problem else line, raw


def read_preview(path: Path, fmt: FileFormat, limit: int = 100, start_row: int = 1) -> FilePreview:
    """`limit` data rows of `path` from `start_row` on, read streaming."""
    last = start_row + limit - 1
    rows: list[tuple[int, tuple[str, ...]]] = []
    unreadable = "(not readable: too long or not UTF-8)"
    with path.open("rb") as binary:
        if fmt == "csv":
            header: tuple[str, ...] = ()
            for number, cells, _raw in _csv_rows(binary):
                if number == 0:
                    if not cells:
                        return FilePreview((), (), "The file has no header row.")
                    header = tuple(cells)
                    continue
                if number > last:
                    break
                if number < start_row:
                    continue
                shown = (unreadable,) if cells is None else tuple(_cut(c) for c in cells)
                rows.append((number, shown))
            return FilePreview(header, tuple(rows))
        columns: dict[str, None] = {}
        objects: list[tuple[int, dict[str, Any]]] = []
        for number, line, _raw in _ndjson_rows(binary):
            if number > last:
                break
            if number < start_row:
                continue
            value: Any
            try:
                value = json.loads(line) if line is not None else {"": unreadable}
            except ValueError as exc:
                value = {"": f"not JSON: {exc}"}
            if not isinstance(value, dict):
                value = {"": f"not a JSON object: {_cut(str(line).strip())}"}
            columns.update(dict.fromkeys(value))
            objects.append((number, value))
    names = tuple(columns)
    for number, value in objects:
        texts = tuple(_cut(_cell(value[name])) if name in value else "" for name in names)
        rows.append((number, texts))
    return FilePreview(names, tuple(rows))


def write_rejected_rows(source: Path, fmt: FileFormat, rows: Iterable[int], target: Path) -> int:
    """Copy the data rows numbered `rows` from `source` to `target`, byte for byte.

    A CSV keeps its header line(s). The source is read once, streaming, up to the last
    wanted row; `target` appears only when complete (written beside it, then renamed).
    Returns how many rows were written.
    """
    wanted = set(rows)
    last = max(wanted, default=0)
    written = 0
    ending = b"\n"
    with atomic_output(target) as out, source.open("rb") as binary:
        numbered = _csv_rows(binary) if fmt == "csv" else _ndjson_rows(binary)
        for number, _content, raw in numbered:
            if number == 0 and fmt == "csv":
                ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
                out.write(raw if raw.endswith(b"\n") else raw + ending)
                continue
            if number > last:
                break
            if number in wanted:
                out.write(raw if raw.endswith(b"\n") else raw + ending)
                written += 1
    return written


class _TextSink:
    """A `write(str)` for csv.writer over a binary file (UTF-8)."""

    def __init__(self, out: Any) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return int(self._out.write(text.encode("utf-8")))


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Any]:
    """A binary file that becomes `target` only if the block completes (0600)."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- writing an export ---------------------------------------------------------------


def _cell(value: Any) -> str:
    """A value as CSV text: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _data_name(key: str) -> str:
    return f"data.{key}" if key in META_COLUMNS else key


def export_object(record: Any) -> dict[str, Any]:
    """One NDJSON export line: the record's own fields, then its data keys."""
    line: dict[str, Any] = {
        "guid": record.guid,
        "system_id": record.system_id,
        "version": record.version,
        "updated_at": record.updated_at,
        "deleted": 1 if record.deleted else 0,
    }
    for key, value in record.data.items():
        line[_data_name(key)] = value
    return line


class ExportStopped(Exception):
    """The export was aborted while being written."""


class ExportWriter:
    """Writes an export as pages arrive; the file appears only when `finish` completes.

    Every page goes straight to a temporary NDJSON file beside the target: for NDJSON
    that file is the export, renamed at the end. A CSV needs all its columns before its
    first row, and they are known only after the last page: `finish` then writes the
    CSV from the temporary file (one pass over the server, nothing held in memory).
    `abort` may be called from another thread than the writing one (a cancelled export
    aborts while a page may still be being written): both hold one lock.
    """

    def __init__(self, target: Path, fmt: FileFormat) -> None:
        self.target = target
        self.format = fmt
        self.rows = 0
        self.rows_finished = 0  # CSV rows written by `finish` so far (for progress)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        self._temporary = Path(name)
        self._out = os.fdopen(fd, "wb")
        # Data columns in first-seen order: whether each held scalars, arrays (and the
        # longest array seen).
        self._scalars: dict[str, bool] = {}
        self._arrays: dict[str, int] = {}
        self._order: dict[str, None] = {}

    def write_page(self, records: Iterable[Any]) -> int:
        """Append `records`; returns the rows written so far."""
        with self._lock:
            if self._closed:
                raise ExportStopped("the export was stopped")
            lines = []
            for record in records:
                if self.format == "csv":
                    for key, value in record.data.items():
                        name = _data_name(key)
                        self._order.setdefault(name)
                        if isinstance(value, list):
                            self._arrays[name] = max(self._arrays.get(name, 0), len(value))
                        else:
                            self._scalars[name] = True
                lines.append(json.dumps(export_object(record), ensure_ascii=False))
                self.rows += 1
            if lines:
                self._out.write(("\n".join(lines) + "\n").encode("utf-8"))
            return self.rows

    def columns(self) -> list[str]:
        """The CSV header: the record's fields, then the data keys.

        A key that holds arrays (and only arrays) gets `name[0]` … `name[n-1]` for the
        longest; a key that holds arrays in some records and other values in others
        gets one column with the arrays as JSON text (an import refuses both forms).
        """
        header: list[str] = list(META_COLUMNS)
        for name in self._order:
            if name in self._arrays and name not in self._scalars:
                header.extend(f"{name}[{index}]" for index in range(self._arrays[name]))
            else:
                header.append(name)
        return header

    def finish(self) -> Path:
        """Complete the file and move it to the target; returns the target."""
        with self._lock:
            if self._closed:
                raise ExportStopped("the export was stopped")
            self._out.close()
            try:
                if self.format == "csv":
                    with atomic_output(self.target) as out:
                        self._write_csv(out)
                    self._temporary.unlink()
                else:
                    os.replace(self._temporary, self.target)
            except BaseException:
                with contextlib.suppress(OSError):
                    self._temporary.unlink()
                raise
            finally:
                self._closed = True
            return self.target

    def _write_csv(self, out: Any) -> None:
        header = self.columns()
        flattened = {name for name in self._arrays if name not in self._scalars}
        writer = csv.writer(_TextSink(out), lineterminator="\r\n")
        writer.writerow(header)
        width = len(header)
        position = {name: index for index, name in enumerate(header)}
        with self._temporary.open("rb") as lines:
            for line in lines:
                if self._stop.is_set():
                    raise ExportStopped("the export was stopped")
                cells = [""] * width
                for name, value in json.loads(line).items():
                    if name in flattened:
                        for index, item in enumerate(value):
                            cells[position[f"{name}[{index}]"]] = _cell(item)
                    else:
                        cells[position[name]] = _cell(value)
                writer.writerow(cells)
                self.rows_finished += 1

    def abort(self) -> None:
        """Stop and remove everything written; the target is left as it was."""
        self._stop.set()  # a running `finish` stops at its next row and releases the lock
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._out.close()
            with contextlib.suppress(OSError):
                self._temporary.unlink()

    @property
    def temporary(self) -> Path:
        """The file being written (for tests and error messages)."""
        return self._temporary


# -- rates ----------------------------------------------------------------------------


class RateMeter:
    """Rows (or bytes) per second over the last few seconds, and the time left."""

    def __init__(self, window_seconds: float = 5.0) -> None:
        self._window = window_seconds
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, done: float, at: float | None = None) -> None:
        """Record that `done` units are done at time `at` (now by default)."""
        now = time.monotonic() if at is None else at
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        """Units per second, None until two samples are apart in time."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 <= 0:
            return None
        return max(0.0, (d1 - d0) / (t1 - t0))

    def seconds_left(self, remaining: float) -> float | None:
        """The time to do `remaining` more units at the current rate."""
        rate = self.rate
        if not rate or remaining < 0:
            return None
        return remaining / rate


def format_count(value: float) -> str:
    """A row count or rate with thousands separators."""
    return f"{round(value):,}"


def format_bytes(value: float) -> str:
    """Bytes as B, KB, MB or GB (decimal units, as file managers show them)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{round(value)} B"
