"""The Ingest Logs table: reads straight from the LogBuffer through a Selection's slots.

No Python object per row: row r is buffer slot `selection.slots[r]`, and a cell reads the
buffer's column for that slot when the view paints it. So a million rows cost the int32
array the filter already made, and a filter change is a model reset plus the paint of
the rows in view. The few rows on screen are formatted once and kept (`_cache`) until
the next reset or change.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from console.ui.formatting import format_time_ms

if TYPE_CHECKING:
    import numpy as np

    from console.logbuffer.buffer import Column, LogBuffer, Selection

AnyIndex = QModelIndex | QPersistentModelIndex

# (title, Column member name, what a click on its value filters: a BufferFilter field,
# "text" for IDs (the search finds every entry that names them), or None).
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("Time", "TIME", None),
    ("Status", "STATUS", "statuses"),
    ("Feed", "FEED", "feeds"),
    ("Intent", "INTENT", "intents"),
    ("HTTP", "HTTP_STATUS", "http_statuses"),
    ("Items", "ITEMS", None),
    ("Request ID", "REQUEST_ID", "text"),
    ("Correlation ID", "CORRELATION_ID", "text"),
    ("Duration", "DURATION", None),
)
STATUS_COLUMN = 1
NUMERIC = frozenset({"HTTP_STATUS", "ITEMS", "DURATION"})
VALUE_ROLE = Qt.ItemDataRole.UserRole + 1  # the raw value (what a click filters on)
ENTRY_ID_ROLE = Qt.ItemDataRole.UserRole + 2
CACHE_ROWS = 512  # formatted rows kept: several screens' worth
DAY_SECONDS = 86_400
# How the Time column writes a moment, by the span of the range shown: the time alone
# within one day, the day and time across days (the year is in the range's summary; the
# full form is the cell's tooltip).
TIME_FORMATS = {"time": "%H:%M:%S.", "day": "%m-%d %H:%M:%S.", "full": "%Y-%m-%d %H:%M:%S."}
TIME_SAMPLES = {
    "time": "23:59:59.999",
    "day": "12-31 23:59:59.999",
    "full": "2026-12-31 23:59:59.999",
}


def time_format_for(span: float | None) -> str:
    """The Time column's format for a range of `span` seconds (None: unbounded)."""
    if span is None:
        return "full"
    return "time" if span <= DAY_SECONDS else "day"


def format_moment(value: float, time_format: str) -> str:
    """`value` (Unix seconds) in local time, to the millisecond, as `time_format` says."""
    moment = datetime.fromtimestamp(value)
    return moment.strftime(TIME_FORMATS[time_format]) + f"{moment.microsecond // 1000:03d}"


ERROR_TEXT = QColor("#a61b0f")


def format_duration_ms(value: float | None) -> str:
    """12 ms, 1.25 s; nothing when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def status_text(status: str) -> str:
    """A processing status as the table and filters write it."""
    return status.replace("_", " ")


class LogTableModel(QAbstractTableModel):
    """Rows of a Selection of a LogBuffer; empty until `set_selection`."""

    def __init__(self, buffer: LogBuffer | None = None) -> None:
        super().__init__()
        self.buffer = buffer
        self.selection: Selection | None = None
        self._slots: np.ndarray | None = None
        self._columns: list[Column] = []
        self._cache: dict[int, tuple[tuple[object, ...], tuple[str, ...]]] = {}
        self.time_format = "full"

    def set_time_span(self, span: float | None) -> str:
        """Write times for a range of `span` seconds (see TIME_FORMATS); the format."""
        time_format = time_format_for(span)
        if time_format != self.time_format:
            self.time_format = time_format
            self.values_changed()
        return time_format

    # -- contents ---------------------------------------------------------------------

    def set_selection(self, buffer: LogBuffer | None, selection: Selection | None) -> None:
        """Show `selection` of `buffer` (None: nothing); one reset, no per-row work."""
        self.beginResetModel()
        if buffer is not None and not self._columns:
            from console.logbuffer.buffer import Column

            self._columns = [Column[name] for _title, name, _f in COLUMNS]
        self.buffer = buffer
        self.selection = selection
        self._slots = selection.slots if selection is not None else None
        self._cache.clear()
        self.endResetModel()

    def clear(self) -> None:
        """No rows."""
        self.set_selection(None, None)

    def values_changed(self) -> None:
        """The buffer's values changed in place (a status refresh): repaint, same rows."""
        self._cache.clear()
        rows = self.rowCount()
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(rows - 1, len(COLUMNS) - 1))

    def slot_at(self, row: int) -> int:
        """The buffer slot shown in `row`."""
        assert self._slots is not None
        return int(self._slots[row])

    def entry_id_at(self, row: int) -> int | None:
        """The id of the entry in `row` (None when the live tail evicted it meanwhile)."""
        assert self.buffer is not None
        slot = self.slot_at(row)
        return self.buffer.entry_id(slot) if self.buffer.holds(slot) else None

    def row_of_id(self, entry_id: int | None) -> int | None:
        """The row of entry `entry_id`, if the selection shows it."""
        if entry_id is None or self.buffer is None or self._slots is None:
            return None
        slot = self.buffer.slot_of(entry_id)
        if slot is None:
            return None
        import numpy as np

        # A selection lists slots newest first, and slot order is id order: the slots
        # fall strictly, so a binary search finds the row (no pass over a million).
        rising = self._slots[::-1]
        index = int(np.searchsorted(rising, slot))
        if index < len(rising) and int(rising[index]) == slot:
            return len(rising) - 1 - index
        return None

    def value_at(self, row: int, column: int) -> object:
        """The raw value of a cell (str, int, float or None)."""
        return self._row(row)[0][column]

    # -- Qt ---------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Entries in the selection."""
        if parent.isValid() or self._slots is None:
            return 0
        return len(self._slots)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """The nine columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section][0]
            if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section][2] is not None:
                return "Alt+click a value (or right-click it) to filter on it"
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Text, raw value, alignment and colour of a cell."""
        if not index.isValid() or self._slots is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._row(index.row())[1][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if COLUMNS[index.column()][1] in NUMERIC:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if COLUMNS[index.column()][1] == "HTTP_STATUS":
                status = self._row(index.row())[0][index.column()]
                if isinstance(status, int) and status >= 400:
                    return ERROR_TEXT
            return None
        if role == VALUE_ROLE:
            return self._row(index.row())[0][index.column()]
        if role == ENTRY_ID_ROLE:
            return self.entry_id_at(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            text = self._row(index.row())[1][index.column()]
            column = COLUMNS[index.column()]
            if column[1] == "TIME":
                value = self._row(index.row())[0][index.column()]
                return format_time_ms(float(value)) if isinstance(value, int | float) else None
            if column[2] is not None and text:
                return f"{text}\nAlt+click to filter on it; right-click for more"
            return text or None
        return None

    def _row(self, row: int) -> tuple[tuple[object, ...], tuple[str, ...]]:
        cached = self._cache.get(row)
        if cached is not None:
            return cached
        buffer = self.buffer
        assert buffer is not None
        slot = self.slot_at(row)
        values = tuple(buffer.value(slot, column) for column in self._columns)
        texts = tuple(
            _text(name, value, self.time_format)
            for (_t, name, _f), value in zip(COLUMNS, values, strict=True)
        )
        if len(self._cache) >= CACHE_ROWS:
            self._cache.clear()
        self._cache[row] = (values, texts)
        return values, texts


def _text(column: str, value: object, time_format: str = "full") -> str:
    if value is None:
        return ""
    if column == "TIME":
        return format_moment(float(value), time_format)  # type: ignore[arg-type]
    if column == "STATUS":
        return status_text(str(value))
    if column == "HTTP_STATUS":
        return str(value) if value else ""
    if column == "DURATION":
        return format_duration_ms(float(value))  # type: ignore[arg-type]
    if column == "ITEMS":
        return f"{int(value):,}"  # type: ignore[call-overload]
    return str(value)
