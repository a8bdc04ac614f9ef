"""Rows of an uploaded CSV or NDJSON file, as items to upsert or row errors (pure, stdlib).

Runs on a worker thread, never on the writer or the event loop. Everything is bounded: a
physical line is at most `MAX_LINE_BYTES`, a CSV header at most `MAX_COLUMNS` columns, a
CSV cell at most the csv module's field limit (128 KiB), a JSON line at most
`MAX_JSON_DEPTH` deep.

Row numbers are 1-based data rows: the CSV header is not a row, and blank lines are
skipped without a number (so row N is the N-th non-blank record after the header).

CSV values stay strings, exactly as written (an empty cell is ""): a CSV has no types,
and guessing them (`007` as 7, `1e3` as 1000.0, `true` as a boolean) would change ids and
codes silently. A column named `name[0]`, `name[1]`, ... becomes one list field `name`,
in index order; trailing empty cells of such a list are dropped (rows have lists of
different lengths), and an empty cell before a filled one is a row error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from console.sandbox.http.errors import ApiError
from console.sandbox.http.payload import check_json_depth, non_finite_problems, parse_json

FORMATS = ("csv", "ndjson")
MAX_LINE_BYTES = 1024 * 1024
MAX_COLUMNS = 1000
MAX_FIELD_NAME = 200
_ARRAY_COLUMN = re.compile(r"^(.+)\[(\d{1,4})\]$")
_BOM = "\ufeff"


class FileProblem(ValueError):
    """The file as a whole cannot be imported (e.g. a bad CSV header): a 400 at upload."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RowError:
    """Why one data row was not imported."""

    row: int
    field: str | None
    message: str


@dataclass
class Batch:
    """Consecutive data rows: the items to upsert (with their row numbers) and the errors."""

    rows: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    last_row: int = 0

    @property
    def size(self) -> int:
        """Data rows in the batch, imported or not."""
        return len(self.rows) + len(self.errors)


def default_system_id(value: object) -> str | None:
    """The records store's rule (kept identical): a string as is, an int as text; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None


# --- physical lines ----------------------------------------------------------------------


class _Lines:
    """A binary file's lines, each at most MAX_LINE_BYTES, decoded as UTF-8.

    A line too long or not UTF-8 is replaced by an empty line and noted in `problem`, which
    the row reader attaches to the record that consumed it (a CSV record may span lines).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.problem: tuple[str | None, str] | None = None
        self._first = True

    def __iter__(self) -> Iterator[str]:
        readline = self._raw.readline
        limit = MAX_LINE_BYTES + 1
        while True:
            line = readline(limit)
            if not line:
                return
            if len(line) == limit and not line.endswith(b"\n"):
                while True:  # skip the rest of the over-long line
                    more = readline(limit)
                    if not more or more.endswith(b"\n"):
                        break
                self.problem = (None, f"the line is longer than {MAX_LINE_BYTES:,} bytes")
                yield "\n"
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem = (None, f"the row is not UTF-8 text (byte {exc.start + 1})")
                yield "\n"
                continue
            if self._first:
                self._first = False
                if text.startswith(_BOM):
                    text = text[1:]
            yield text


# --- CSV ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """What a CSV header says: each column's field, and where lists are assembled."""

    names: tuple[str, ...]
    # (field, index) for `field[index]` columns, None for plain ones; by column.
    slots: tuple[tuple[str, int] | None, ...]
    arrays: dict[str, int]  # field -> its number of columns

    @property
    def plain(self) -> bool:
        """Whether no column is an array item (rows are then a plain zip)."""
        return not self.arrays


def csv_layout(header: list[str]) -> CsvLayout:
    """Check a header and say how rows map to fields; FileProblem if it cannot be used."""
    if not header or header == [""]:
        raise FileProblem("the CSV file has no header row")
    if len(header) > MAX_COLUMNS:
        raise FileProblem(f"the CSV header has {len(header):,} columns; at most {MAX_COLUMNS:,}")
    slots: list[tuple[str, int] | None] = []
    plain: set[str] = set()
    indexes: dict[str, set[int]] = {}
    for position, name in enumerate(header, start=1):
        if not name or len(name) > MAX_FIELD_NAME:
            raise FileProblem(
                f"CSV column {position} needs a name of 1 to {MAX_FIELD_NAME} characters"
            )
        match = _ARRAY_COLUMN.match(name)
        if match is None:
            if name in plain:
                raise FileProblem(f"the CSV header names column {name!r} twice")
            plain.add(name)
            slots.append(None)
            continue
        base, index = match.group(1), int(match.group(2))
        if index in indexes.setdefault(base, set()):
            raise FileProblem(f"the CSV header names column {name!r} twice")
        indexes[base].add(index)
        slots.append((base, index))
    for base, seen in indexes.items():
        if base in plain:
            raise FileProblem(f"the CSV header has both {base!r} and {base}[i] columns")
        if seen != set(range(len(seen))):
            missing = min(set(range(max(seen) + 1)) - seen)
            raise FileProblem(f"the CSV header has no column {base}[{missing}] (a gap)")
    return CsvLayout(tuple(header), tuple(slots), {b: len(s) for b, s in indexes.items()})


def _csv_item(layout: CsvLayout, cells: list[str]) -> tuple[dict[str, Any] | None, RowError | None]:
    """A row's item, or why it has none (row 0: the caller numbers it)."""
    if len(cells) != len(layout.names):
        return None, RowError(
            0, None, f"the row has {len(cells)} values; the header has {len(layout.names)}"
        )
    if layout.plain:
        return dict(zip(layout.names, cells, strict=True)), None
    item: dict[str, Any] = {}
    lists: dict[str, list[str]] = {base: [""] * size for base, size in layout.arrays.items()}
    for slot, name, cell in zip(layout.slots, layout.names, cells, strict=True):
        if slot is None:
            item[name] = cell
        else:
            lists[slot[0]][slot[1]] = cell
    for base, values in lists.items():
        end = len(values)
        while end and values[end - 1] == "":
            end -= 1
        for index in range(end):
            if values[index] == "":
                return None, RowError(
                    0, f"{base}[{index}]", f"{base}[{index}] is empty but a later item is not"
                )
        item[base] = values[:end]
    return item, None


def read_csv_layout(path: Path) -> CsvLayout:
    """The layout of a CSV file's header (FileProblem when the header is unusable)."""
    with path.open("rb") as raw:
        lines = _Lines(raw)
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise FileProblem(f"the CSV header cannot be read: {exc}") from None
        if lines.problem is not None:
            raise FileProblem(f"the CSV header cannot be read: {lines.problem[1]}")
    return csv_layout(header or [])


def _csv_records(
    path: Path,
) -> Iterator[tuple[int, list[str] | None, tuple[str | None, str] | None]]:
    """(row number, cells, problem) of each data record of a CSV file (header skipped)."""
    with path.open("rb") as raw:
        lines = _Lines(raw)
        reader = csv.reader(lines)
        next(reader, None)
        lines.problem = None
        row = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row += 1
                lines.problem = None
                yield row, None, (None, f"the row is not valid CSV: {exc}")
                continue
            problem, lines.problem = lines.problem, None
            if not cells and problem is None:
                continue  # a blank line is not a row
            row += 1
            yield row, (None if problem else cells), problem


# --- NDJSON ------------------------------------------------------------------------------


def _ndjson_lines(path: Path) -> Iterator[tuple[int, str | None, tuple[str | None, str] | None]]:
    with path.open("rb") as raw:
        lines = _Lines(raw)
        row = 0
        for line in lines:
            problem, lines.problem = lines.problem, None
            if problem is None and not line.strip():
                continue
            row += 1
            yield row, (None if problem else line), problem


def _json_item(line: str) -> tuple[dict[str, Any] | None, RowError | None]:
    raw = line.encode("utf-8")
    try:
        check_json_depth(raw)
        value = parse_json(raw)
        # inf cannot be stored as JSON: a row error here, not the whole import failing later.
        infinite = non_finite_problems(raw, value)
        if infinite:
            raise ApiError(400, infinite)
    except ApiError as error:
        problem = error.problems[0]
        message = problem.message.replace("The body", "The row")
        return None, RowError(0, problem.field, message)
    if not isinstance(value, dict):
        return None, RowError(0, None, "the row is not a JSON object")
    return value, None


# --- rows and batches --------------------------------------------------------------------


def count_rows(path: Path, file_format: str) -> int:
    """The data rows of a file (numbered as the row reader numbers them)."""
    last = 0
    records = _csv_records(path) if file_format == "csv" else _ndjson_lines(path)
    for last, _, _ in records:  # noqa: B007 - the last row number is the count
        pass
    return last


def rows(
    path: Path,
    file_format: str,
    id_field: str,
    *,
    start_row: int = 1,
    system_id_of: Callable[[object], str | None] = default_system_id,
) -> Iterator[tuple[int, dict[str, Any] | None, RowError | None]]:
    """(row number, item, error) of each data row from `start_row` on; exactly one of item
    and error is set. An item has a valid id in `id_field`."""
    if file_format == "csv":
        layout = read_csv_layout(path)
        for row, cells, problem in _csv_records(path):
            if row < start_row:
                continue
            if cells is None:
                assert problem is not None
                yield row, None, RowError(row, problem[0], problem[1])
                continue
            item, error = _csv_item(layout, cells)
            yield _checked(row, item, error, id_field, system_id_of)
    else:
        for row, line, problem in _ndjson_lines(path):
            if row < start_row:
                continue
            if line is None:
                assert problem is not None
                yield row, None, RowError(row, problem[0], problem[1])
                continue
            item, error = _json_item(line)
            yield _checked(row, item, error, id_field, system_id_of)


def _checked(
    row: int,
    item: dict[str, Any] | None,
    error: RowError | None,
    id_field: str,
    system_id_of: Callable[[object], str | None],
) -> tuple[int, dict[str, Any] | None, RowError | None]:
    if error is not None or item is None:
        assert error is not None
        return row, None, RowError(row, error.field, error.message)
    if id_field not in item:
        return row, None, RowError(row, id_field, f"the row has no {id_field!r} field")
    if system_id_of(item[id_field]) is None:
        return (
            row,
            None,
            RowError(row, id_field, f"{id_field} must be a non-empty string or an integer"),
        )
    return row, item, None


def batches(
    path: Path,
    file_format: str,
    id_field: str,
    *,
    start_row: int = 1,
    size: int = 5000,
    system_id_of: Callable[[object], str | None] = default_system_id,
) -> Generator[Batch, None, None]:
    """The rows from `start_row` on, `size` data rows (imported or not) per batch."""
    batch = Batch()
    for row, item, error in rows(
        path, file_format, id_field, start_row=start_row, system_id_of=system_id_of
    ):
        if item is not None:
            batch.rows.append(row)
            batch.items.append(item)
        elif error is not None:
            batch.errors.append(error)
        batch.last_row = row
        if batch.size >= size:
            yield batch
            batch = Batch()
    if batch.size:
        yield batch


def check_header(path: Path, file_format: str) -> None:
    """Refuse, before anything is queued, a file that cannot be imported at all."""
    if file_format == "csv":
        read_csv_layout(path)
