"""A table model of frozen records (one per row) and the text/status filter in front of it.

Each tab says how its columns read; selection, roles, sorting and filtering are shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import QAbstractItemView, QTableView

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex


class RowTableModel(QAbstractTableModel):
    """Rows of records with an `id`; subclasses define `columns` and how cells read."""

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Any] = []

    # -- what subclasses define ------------------------------------------------

    def display(self, row: Any, column: str) -> str:
        """The cell's text."""
        raise NotImplementedError

    def sort_value(self, row: Any, column: str) -> Any:
        """What the column sorts by (the lower-cased text unless overridden)."""
        return self.display(row, column).lower()

    def tooltip(self, row: Any, column: str) -> str | None:
        """The cell's tooltip, if any."""
        return None

    def style(self, row: Any, column: str, role: int) -> Any:
        """Foreground, font and other styling roles (None: the default)."""
        return None

    # -- rows --------------------------------------------------------------------

    def set_rows(self, rows: list[Any]) -> None:
        """Replace every row; the same ids in the same order only repaint (keeps selection)."""
        if [r.id for r in rows] == [r.id for r in self._rows]:
            self._rows = list(rows)
            self.repaint_all()
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def update_row(self, row: Any) -> None:
        """Replace the row with the same id (after an action answered with fresh data)."""
        index = self.row_of(row.id)
        if index is not None:
            self._rows[index] = row
            self.dataChanged.emit(self.index(index, 0), self.index(index, len(self.columns) - 1))

    def repaint_all(self) -> None:
        """Every cell may read differently now."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(self.columns) - 1)
            )

    def row_at(self, row: int) -> Any:
        """The record of a source row."""
        return self._rows[row]

    def row_of(self, row_id: object) -> int | None:
        """Source row of the record with `row_id`, if listed."""
        return next((i for i, r in enumerate(self._rows) if r.id == row_id), None)

    def all_rows(self) -> list[Any]:
        """Every listed record."""
        return list(self._rows)

    # -- Qt ------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of records."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of columns."""
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Dispatch each role to the subclass."""
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(row, column)
        if role == SORT_ROLE:
            return self.sort_value(row, column)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, column)
        return self.style(row, column, role)


class RowFilterModel(QSortFilterProxyModel):
    """A text filter over `haystack(row)` and an exact filter on `status(row)`."""

    def __init__(self, haystack: Callable[[Any], str], status: Callable[[Any], str]) -> None:
        super().__init__()
        self._haystack = haystack
        self._status_of = status
        self._text = ""
        self._status: str | None = None
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        """Show only rows whose haystack contains `text` (case-insensitive)."""
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str | None) -> None:
        """Show only rows in `status` (None: all)."""
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        """Apply both filters."""
        model = self.sourceModel()
        assert isinstance(model, RowTableModel)
        row = model.row_at(source_row)
        if self._status and self._status_of(row) != self._status:
            return False
        return not self._text or self._text in self._haystack(row).lower()


def selected_row(view: QTableView) -> Any | None:
    """The record of the view's selected row, if any."""
    rows = view.selectionModel().selectedRows()
    return rows[0].data(ROW_ROLE) if rows else None


def select_row(view: QTableView, row_id: object) -> bool:
    """Select (and scroll to) the record with `row_id`; False when it is not shown."""
    proxy = view.model()
    assert isinstance(proxy, QSortFilterProxyModel)
    model = proxy.sourceModel()
    assert isinstance(model, RowTableModel)
    row = model.row_of(row_id)
    if row is None:
        return False
    index = proxy.mapFromSource(model.index(row, 0))
    if not index.isValid():
        return False
    view.selectRow(index.row())
    view.scrollTo(index)
    return True


def setup_row_view(view: QTableView, *, alternating: bool = True) -> None:
    """Make `view` a read-only list of rows: one whole row selected at a time, no
    editing, one line a row without a grid. Tab leaves the table for the next control
    instead of walking its cells (with cell navigation it chose the next row)."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setTabKeyNavigation(False)
    view.setAlternatingRowColors(alternating)
    view.setShowGrid(False)
    view.setWordWrap(False)
