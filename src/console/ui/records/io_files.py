"""Import and export files of the Records tab, read and written streaming (no Qt here).

Everything here touches the disk and can take a while on a big file: the dialogs call it
through `asyncio.to_thread`, so the UI loop stays responsive. Nothing reads a whole file
into memory, and nothing holds a whole export: rows go to disk as they arrive.

Row numbers are the server's: data row 1 is the first row after a CSV's header, or the
first non-blank line of an NDJSON file; blank lines are not rows.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FileFormat = Literal["csv", "ndjson"]
FORMATS: tuple[FileFormat, ...] = ("csv", "ndjson")
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json", ".ldjson")
# The columns an export writes before the data keys; a data key with one of these names
# is written as `data.<key>` so it can never be mistaken for the record's own field.
META_COLUMNS = ("guid", "system_id", "version", "updated_at", "deleted")
PREVIEW_CELL_CHARS = 200  # a preview cell longer than this is cut (the file is untouched)


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


def _csv_records(handle: Iterable[str]) -> Iterator[list[str]]:
    """CSV records, blank lines skipped (the server does not count them either)."""
    for record in csv.reader(handle):
        if record and any(cell.strip() for cell in record):
            yield record


def read_preview(path: Path, fmt: FileFormat, limit: int = 100) -> FilePreview:
    """The first `limit` data rows of `path`, read streaming."""
    rows: list[tuple[int, tuple[str, ...]]] = []
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            records = _csv_records(handle)
            try:
                header = next(records, None)
                if header is None:
                    return FilePreview((), (), "The file has no header row.")
                for number, record in enumerate(records, start=1):
                    if number > limit:
                        break
                    rows.append((number, tuple(_cut(cell) for cell in record)))
            except (csv.Error, UnicodeDecodeError) as exc:
                return FilePreview(tuple(header or ()), tuple(rows), f"Cannot read on: {exc}")
        return FilePreview(tuple(header), tuple(rows))
    columns: dict[str, None] = {}
    objects: list[tuple[int, Any]] = []
    with path.open("rb") as binary:
        for number, line in enumerate(_ndjson_lines(binary), start=1):
            if number > limit:
                break
            try:
                value = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                value = {"": f"not JSON: {exc}"}
            if not isinstance(value, dict):
                value = {"": f"not a JSON object: {_cut(line.decode('utf-8', 'replace'))}"}
            columns.update(dict.fromkeys(value))
            objects.append((number, value))
    names = tuple(columns)
    for number, value in objects:
        cells = tuple(_cut(_cell(value[name])) if name in value else "" for name in names)
        rows.append((number, cells))
    return FilePreview(names, tuple(rows))


def _ndjson_lines(binary: Iterable[bytes]) -> Iterator[bytes]:
    """The non-blank lines of an NDJSON file, each with its line ending."""
    for line in binary:
        if line.strip():
            yield line


def write_rejected_rows(source: Path, fmt: FileFormat, rows: Iterable[int], target: Path) -> int:
    """Copy the data rows numbered `rows` from `source` to `target`, same format.

    A CSV keeps its header; NDJSON lines are copied byte for byte. The source is read
    once, streaming; `target` appears only when complete (written beside it, then
    renamed). Returns how many rows were written.
    """
    wanted = set(rows)
    last = max(wanted, default=0)
    written = 0
    with atomic_output(target) as out:
        if fmt == "csv":
            with source.open(encoding="utf-8-sig", newline="") as handle:
                text = _TextSink(out)
                writer = csv.writer(text, lineterminator=_line_ending(source))
                records = _csv_records(handle)
                header = next(records, None)
                if header is not None:
                    writer.writerow(header)
                for number, record in enumerate(records, start=1):
                    if number > last:
                        break
                    if number in wanted:
                        writer.writerow(record)
                        written += 1
        else:
            with source.open("rb") as binary:
                for number, line in enumerate(_ndjson_lines(binary), start=1):
                    if number > last:
                        break
                    if number in wanted:
                        out.write(line if line.endswith(b"\n") else line + b"\n")
                        written += 1
    return written


def _line_ending(path: Path) -> str:
    """The line ending of the file's first line (CRLF or LF)."""
    with path.open("rb") as binary:
        first = binary.readline(1 << 20)
    return "\r\n" if first.endswith(b"\r\n") else "\n"


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


def flat_cells(record: Any) -> tuple[dict[str, str], dict[str, int]]:
    """A record as CSV cells, and the length of each array field it has.

    Arrays become `name[0]`, `name[1]`, …, the form imports read back as an array;
    objects and other non-strings are JSON text.
    """
    cells = {
        "guid": record.guid,
        "system_id": record.system_id or "",
        "version": str(record.version),
        "updated_at": _cell(record.updated_at),
        "deleted": "1" if record.deleted else "0",
    }
    arrays: dict[str, int] = {}
    for key, value in record.data.items():
        name = _data_name(key)
        if isinstance(value, list):
            arrays[name] = len(value)
            for index, item in enumerate(value):
                cells[f"{name}[{index}]"] = _cell(item)
        else:
            cells[name] = _cell(value)
    return cells, arrays


class ExportWriter:
    """Writes an export as pages arrive; the file appears only when `finish` completes.

    CSV needs every column before its first row, and the columns are known only after
    the last page: pages are spooled to a temporary NDJSON file beside the target (one
    pass over the server, nothing held in memory), and `finish` writes the CSV from it.
    `write_page` and `abort` may be called from different threads (a cancelled export
    aborts while a page may still be being written).
    """

    def __init__(self, target: Path, fmt: FileFormat) -> None:
        self.target = target
        self.format = fmt
        self.rows = 0
        self._lock = threading.Lock()
        self._closed = False
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        self._temporary = Path(name)
        self._out = os.fdopen(fd, "wb")
        # Scalar columns in first-seen order; for arrays, the longest length seen.
        self._columns: dict[str, None] = {}
        self._arrays: dict[str, int] = {}

    def write_page(self, records: Iterable[Any]) -> int:
        """Append `records`; returns the rows written so far."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the export was stopped")
            lines = []
            for record in records:
                if self.format == "csv":
                    cells, arrays = flat_cells(record)
                    for key, value in record.data.items():
                        name = _data_name(key)
                        self._columns.setdefault(f"{name}[]" if isinstance(value, list) else name)
                    for name, length in arrays.items():
                        self._arrays[name] = max(self._arrays.get(name, 0), length)
                    lines.append(json.dumps(cells, ensure_ascii=False))
                else:
                    lines.append(json.dumps(export_object(record), ensure_ascii=False))
                self.rows += 1
            if lines:
                self._out.write(("\n".join(lines) + "\n").encode("utf-8"))
            return self.rows

    def columns(self) -> list[str]:
        """The CSV header: the record's fields, then data keys (arrays as name[i])."""
        header: list[str] = list(META_COLUMNS)
        for name in self._columns:
            if name.endswith("[]"):
                base = name[:-2]
                header.extend(f"{base}[{i}]" for i in range(self._arrays.get(base, 0)))
            else:
                header.append(name)
        return header

    def finish(self) -> Path:
        """Complete the file and move it to the target; returns the target."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the export was stopped")
            self._out.close()
            try:
                if self.format == "csv":
                    spool = self._temporary
                    with atomic_output(self.target) as out:
                        self._write_csv(spool, out)
                    spool.unlink()
                else:
                    os.replace(self._temporary, self.target)
            except BaseException:
                with contextlib.suppress(OSError):
                    self._temporary.unlink()
                raise
            finally:
                self._closed = True
            return self.target

    def _write_csv(self, spool: Path, out: Any) -> None:
        header = self.columns()
        writer = csv.DictWriter(_TextSink(out), header, lineterminator="\r\n", restval="")
        writer.writeheader()
        with spool.open("rb") as lines:
            for line in lines:
                writer.writerow(json.loads(line))

    def abort(self) -> None:
        """Stop and remove everything written; the target is left as it was."""
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
