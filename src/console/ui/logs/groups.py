"""Error groups of the Ingest Logs view: (error, feed, count, latest), click one to filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from console.ui.formatting import format_relative, format_timestamp
from console.ui.widgets.row_table import setup_row_view

if TYPE_CHECKING:
    from console.logbuffer.buffer import ErrorGroup

AnyIndex = QModelIndex | QPersistentModelIndex
GROUP_COLUMNS = ("Error", "Feed", "Count", "Latest")
GROUP_ROLE = Qt.ItemDataRole.UserRole + 1


class ErrorGroupsModel(QAbstractTableModel):
    """The groups of the current selection, most entries first (as the buffer orders them)."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[ErrorGroup] = []

    def set_groups(self, groups: list[ErrorGroup]) -> None:
        """Show `groups` (a reset: a handful of rows)."""
        self.beginResetModel()
        self.groups = list(groups)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of groups."""
        return 0 if parent.isValid() else len(self.groups)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Four columns."""
        return 0 if parent.isValid() else len(GROUP_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return GROUP_COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A group's cells."""
        if not index.isValid():
            return None
        group = self.groups[index.row()]
        column = index.column()
        if role == GROUP_ROLE:
            return group
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                group.error,
                group.feed or "—",
                f"{group.count:,}",
                format_timestamp(group.latest),
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            feed = f" on {group.feed}" if group.feed else ""
            return (
                f"{group.error}{feed}: {group.count:,} entr{'y' if group.count == 1 else 'ies'}, "
                f"latest {format_relative(group.latest)}\nClick to show these entries"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def make_groups_view(model: ErrorGroupsModel) -> QTableView:
    """A compact read-only table of the groups."""
    view = QTableView()
    view.setModel(model)
    setup_row_view(view)
    view.setAccessibleName("Error groups")
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    vertical = view.verticalHeader()
    vertical.hide()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(24)
    header = view.horizontalHeader()
    # Fixed widths: sizing to contents would format every group's cells on each change.
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column, width in ((1, 90), (2, 60), (3, 128)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(column, width)
    header.setStretchLastSection(False)
    return view
