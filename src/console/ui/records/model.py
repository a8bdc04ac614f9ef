"""The records table: a lazy model over the server's cursor pages, with bounded memory.

One query at a time is current (`generation`): every fetch carries the generation it was
asked for, and an answer for an older one is dropped, never shown. Rows arrive a page at
a time through `canFetchMore`/`fetchMore` (the view asks as the user scrolls). However
far the user scrolls, at most `max_rows` records are held: pages far from where the view
last read are dropped, keeping only the cursor that fetched them, and a dropped page is
fetched again with that cursor when it scrolls back into view (its rows read "…" until
then). The row count never shrinks for that, so the view's scroll position and selection
stay where they are.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFontDatabase

from console.ui.formatting import format_timestamp

AnyIndex = QModelIndex | QPersistentModelIndex

RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
FIRST_PAGE_ROWS = 100  # the first page paints fast; a screen shows ~25 rows
MORE_PAGE_ROWS = 500  # scrolling on: fewer, larger requests
MAX_ROWS_HELD = 10_000  # also bounds the pause of a full GC, which walks every held record
MAX_DATA_COLUMNS = 16  # more keys than this stay readable in the detail pane's JSON
PLACEHOLDER = "…"
ARCHIVED_TEXT = QColor("#8a8b91")
FIXED_COLUMNS_BEFORE = ("guid", "system_id")
FIXED_COLUMNS_AFTER = ("version", "updated", "deleted")


class RecordPage(Protocol):
    """One cursor page (console.api.pagination.Page)."""

    @property
    def items(self) -> Sequence[Any]: ...
    @property
    def next_cursor(self) -> str | None: ...


# Fetches one page of the current query: (cursor, limit) -> page.
PageFetch = Callable[[str | None, int], Awaitable[RecordPage]]
# Starts a coroutine under a name (TaskRunner.start): a newer task of that name cancels it.
TaskStarter = Callable[..., "asyncio.Task[Any]"]
PageTask = Coroutine[Any, Any, None]


@dataclass(eq=False)  # compared by identity: a slot is one place in the result
class _Slot:
    """One page of the result: where it starts, the cursor that fetches it, its rows."""

    start: int
    size: int
    cursor: str | None
    rows: list[Any] | None = None  # None: dropped from memory (or never came back yet)
    next_cursor: str | None = None
    refilling: bool = False
    failed: bool = False  # its refill failed (the banner said why): not asked again
    last_used: int = 0


@dataclass
class FetchStats:
    """Counts for tests and benchmarks: what was asked of the server."""

    pages: int = 0
    rows: int = 0
    refills: int = 0
    cursors: list[str | None] = field(default_factory=list)


class RecordsTableModel(QAbstractTableModel):
    """Records of one feed and query, paged lazily from the server."""

    first_page_loaded = Signal(int)  # generation, once its first page is in the table
    page_loaded = Signal(int)  # generation, after any page (first, appended or refilled)
    loading_changed = Signal(bool)

    def __init__(
        self,
        start_task: TaskStarter,
        *,
        max_rows: int = MAX_ROWS_HELD,
        first_page_rows: int = FIRST_PAGE_ROWS,
        more_page_rows: int = MORE_PAGE_ROWS,
    ) -> None:
        super().__init__()
        self._start_task = start_task
        self.max_rows = max_rows
        self.first_page_rows = first_page_rows
        self.more_page_rows = more_page_rows
        self.generation = 0
        self.order_descending = True
        self._fetch: PageFetch | None = None
        self._slots: list[_Slot] = []
        self._starts: list[int] = []  # slot starts, for bisect
        self._row_count = 0
        self._tail_cursor: str | None = None
        self._at_end = True
        self._first_loading = False
        self._tail_loading = False
        self._tail_failed = False  # the last "more" failed: not asked again until reloaded
        self._tasks: set[asyncio.Task[Any]] = set()
        self._use_clock = 0
        self._data_keys: list[str] = []
        self._id_field: str | None = None
        self._columns: tuple[str, ...] = FIXED_COLUMNS_BEFORE + FIXED_COLUMNS_AFTER
        self.stats = FetchStats()
        self._fixed_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

    # -- queries -----------------------------------------------------------------

    def load(
        self, fetch: PageFetch, *, keep_columns: bool = True, id_field: str | None = None
    ) -> asyncio.Task[Any]:
        """Show the result of a new query: drop every row, then fetch its first page.

        `keep_columns`: the data columns stay those already shown (the same feed); new
        keys of the first page are added after them. False: the first page decides anew,
        leaving out `id_field` (the system_id column shows it).
        """
        self.generation += 1
        self._cancel_fetches()
        self._fetch = fetch
        self.beginResetModel()
        self._slots = []
        self._starts = []
        self._row_count = 0
        self._tail_cursor = None
        self._at_end = False
        self._tail_loading = False
        self._tail_failed = False
        if not keep_columns:
            self._data_keys = []
            self._columns = FIXED_COLUMNS_BEFORE + FIXED_COLUMNS_AFTER
            self._id_field = id_field
        self.stats = FetchStats()
        self.endResetModel()
        self._set_first_loading(True)
        return self._start(self._first_page(self.generation, fetch), "records.page.first")

    def clear(self) -> None:
        """No query: no rows, nothing in flight is applied any more."""
        self.generation += 1
        self._cancel_fetches()
        self._fetch = None
        self.beginResetModel()
        self._slots = []
        self._starts = []
        self._row_count = 0
        self._at_end = True
        self._tail_loading = False
        self._data_keys = []
        self._columns = FIXED_COLUMNS_BEFORE + FIXED_COLUMNS_AFTER
        self.endResetModel()
        self._set_first_loading(False)

    @property
    def is_loading(self) -> bool:
        """Whether the current query's first page has not come yet."""
        return self._first_loading

    @property
    def at_end(self) -> bool:
        """Whether the last page of the current query is in the table."""
        return self._at_end

    @property
    def rows_held(self) -> int:
        """Records held in memory now (at most `max_rows` plus one page)."""
        return sum(len(s.rows) for s in self._slots if s.rows is not None)

    @property
    def data_keys(self) -> list[str]:
        """The data keys shown as columns."""
        return list(self._data_keys)

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names: guid, system_id, the data keys, version, updated, deleted."""
        return self._columns

    def _start(self, coro: PageTask, name: str) -> asyncio.Task[Any]:
        task = self._start_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_fetches(self) -> None:
        """A new query cancels every request of the old one (their answers are dropped too)."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def _set_first_loading(self, loading: bool) -> None:
        if loading != self._first_loading:
            self._first_loading = loading
            self.loading_changed.emit(loading)

    async def _first_page(self, generation: int, fetch: PageFetch) -> None:
        try:
            page = await fetch(None, self.first_page_rows)
        finally:
            if generation == self.generation:
                self._set_first_loading(False)
        if generation != self.generation:
            return  # a newer query owns the table
        self._count(page, None)
        self._adopt_columns(page.items)
        self._append(None, self.first_page_rows, page)
        self.first_page_loaded.emit(generation)
        self.page_loaded.emit(generation)

    async def _more(self, generation: int, fetch: PageFetch, cursor: str) -> None:
        try:
            page = await fetch(cursor, self.more_page_rows)
        except Exception:
            if generation == self.generation:
                self._tail_failed = True  # the banner says why; Refresh asks again
            raise
        finally:
            if generation == self.generation:
                self._tail_loading = False
        if generation != self.generation:
            return
        self._count(page, cursor)
        self._append(cursor, self.more_page_rows, page)
        self.page_loaded.emit(generation)

    async def _refill(self, generation: int, fetch: PageFetch, slot: _Slot) -> None:
        try:
            page = await fetch(slot.cursor, slot.size)
        except Exception:
            slot.failed = True  # the banner says why; its rows stay "…" until reloaded
            raise
        finally:
            slot.refilling = False
        if generation != self.generation or slot not in self._slots:
            return
        self._count(page, slot.cursor)
        self.stats.refills += 1
        # The slot keeps its place: rows changed meanwhile may differ in number; the
        # cursors of later pages stay those first followed (docs/console.md, Records).
        rows: list[Any] = list(page.items)[: self._slot_length(slot)]
        rows += [None] * (self._slot_length(slot) - len(rows))
        slot.rows = rows
        self._touch(slot)
        self._evict()
        first = slot.start
        last = slot.start + len(rows) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))
        self.page_loaded.emit(generation)

    def _count(self, page: RecordPage, cursor: str | None) -> None:
        self.stats.pages += 1
        self.stats.rows += len(page.items)
        self.stats.cursors.append(cursor)

    def _slot_length(self, slot: _Slot) -> int:
        index = self._slots.index(slot)
        end = self._slots[index + 1].start if index + 1 < len(self._slots) else self._row_count
        return end - slot.start

    def _append(self, cursor: str | None, size: int, page: RecordPage) -> None:
        items = list(page.items)
        self._at_end = not page.next_cursor or page.next_cursor == cursor
        self._tail_cursor = None if self._at_end else page.next_cursor
        if not items:
            return
        slot = _Slot(self._row_count, size, cursor, items, page.next_cursor)
        self.beginInsertRows(QModelIndex(), self._row_count, self._row_count + len(items) - 1)
        self._slots.append(slot)
        self._starts.append(slot.start)
        self._row_count += len(items)
        self.endInsertRows()
        self._touch(slot)
        self._evict()

    def _touch(self, slot: _Slot) -> None:
        self._use_clock += 1
        slot.last_used = self._use_clock

    def _evict(self) -> None:
        """Drop the least recently read pages until at most `max_rows` rows are held."""
        held = self.rows_held
        if held <= self.max_rows:
            return
        for slot in sorted(
            (s for s in self._slots if s.rows is not None), key=lambda s: s.last_used
        ):
            if held <= self.max_rows or slot.last_used == self._use_clock:
                break
            assert slot.rows is not None
            held -= len(slot.rows)
            slot.rows = None

    def _adopt_columns(self, records: Sequence[Any]) -> None:
        """Data keys in order of first appearance; kept, with new ones added after."""
        keys = list(self._data_keys)
        for record in records:
            for key in record.data:
                if len(keys) >= MAX_DATA_COLUMNS:
                    break
                if key not in keys and key != self._id_field:
                    keys.append(key)
        if keys == self._data_keys:
            return
        columns = FIXED_COLUMNS_BEFORE + tuple(keys) + FIXED_COLUMNS_AFTER
        # Only the empty table changes its columns (first page of a query): a reset is free.
        self.beginResetModel()
        self._data_keys = keys
        self._columns = columns
        self.endResetModel()

    # -- reading -----------------------------------------------------------------

    def _slot_of(self, row: int) -> _Slot:
        return self._slots[bisect.bisect_right(self._starts, row) - 1]

    def record_at(self, row: int) -> Any | None:
        """The record shown at `row`, or None while its page is not in memory."""
        if not 0 <= row < self._row_count:
            return None
        slot = self._slot_of(row)
        if slot.rows is None:
            self._request_refill(slot)
            return None
        self._touch(slot)
        offset = row - slot.start
        return slot.rows[offset] if offset < len(slot.rows) else None

    def row_of_guid(self, guid: str) -> int | None:
        """The row of the record with `guid`, among the pages held now."""
        for slot in self._slots:
            if slot.rows is None:
                continue
            for offset, record in enumerate(slot.rows):
                if record is not None and record.guid == guid:
                    return slot.start + offset
        return None

    def update_record(self, record: Any) -> bool:
        """Replace the held record with the same guid (an action answered); False if absent."""
        row = self.row_of_guid(record.guid)
        if row is None:
            return False
        slot = self._slot_of(row)
        assert slot.rows is not None
        slot.rows[row - slot.start] = record
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._columns) - 1))
        return True

    def _request_refill(self, slot: _Slot) -> None:
        if slot.refilling or slot.failed or self._fetch is None:
            return
        slot.refilling = True
        self._start(
            self._refill(self.generation, self._fetch, slot), f"records.page.refill.{slot.start}"
        )

    def cell_text(self, record: Any, column: str) -> str:
        """What a cell of `column` shows for `record`."""
        match column:
            case "guid":
                return str(record.guid)
            case "system_id":
                return record.system_id if record.system_id is not None else "—"
            case "version":
                return str(record.version)
            case "updated":
                return format_timestamp(record.updated_at)
            case "deleted":
                return "archived" if record.deleted else ""
            case _:
                return _data_text(record.data.get(column, _MISSING))

    # -- Qt ------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Rows of the result known so far (held or not)."""
        return 0 if parent.isValid() else self._row_count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """guid, system_id, data keys, version, updated, deleted."""
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles; the updated column says which way it is ordered."""
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "updated":
                way = "newest" if self.order_descending else "oldest"
                return f"Ordered by last update, {way} first (click to reverse)"
            if column in self._data_keys:
                return f"data.{column}"
            if column == "system_id" and self._id_field:
                return f"The feed's id field, data.{self._id_field}"
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell text, the record itself (RECORD_ROLE), tooltips and styling."""
        if not index.isValid():
            return None
        record = self.record_at(index.row())
        column = self._columns[index.column()]
        if record is None:
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(record, column)
        if role == RECORD_ROLE:
            return record
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "updated":
                return f"{record.updated_at:.3f}"
            if column not in FIXED_COLUMNS_BEFORE + FIXED_COLUMNS_AFTER:
                return _data_text(record.data.get(column, _MISSING), limit=500)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and record.deleted:
            return ARCHIVED_TEXT
        if role == Qt.ItemDataRole.FontRole and column == "guid":
            return self._fixed_font
        return None

    def canFetchMore(self, parent: AnyIndex) -> bool:
        """More pages exist and none is being fetched."""
        if parent.isValid() or self._fetch is None:
            return False
        busy = self._tail_loading or self._first_loading or self._tail_failed
        return not self._at_end and not busy

    def fetchMore(self, parent: AnyIndex) -> None:
        """Ask for the next page in the background; its rows are appended when it comes."""
        if not self.canFetchMore(parent) or self._tail_cursor is None or self._fetch is None:
            return
        self._tail_loading = True
        self._start(
            self._more(self.generation, self._fetch, self._tail_cursor), "records.page.more"
        )


class _Missing:
    pass


_MISSING: Any = _Missing()


def _data_text(value: Any, *, limit: int = 120) -> str:
    """A data value in one line: strings as they are, the rest as compact JSON."""
    if value is _MISSING:
        return ""
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
