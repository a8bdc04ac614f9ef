"""Table model of pipelines and the filter in front of it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from console.api.pipelines import Pipeline
from console.ui.formatting import format_relative, format_timestamp

COLUMNS = ("Name", "Status", "Last sync", "Updated", "Rev")
STATUS_COLUMN = COLUMNS.index("Status")
PIPELINE_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2

AnyIndex = QModelIndex | QPersistentModelIndex


class PipelinesTableModel(QAbstractTableModel):
    """One row per pipeline, updated in place so selection survives live refreshes."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Pipeline] = []

    def set_pipelines(self, pipelines: list[Pipeline]) -> None:
        """Replace the rows; same ids in the same order only repaint."""
        if [p.id for p in pipelines] == [p.id for p in self._rows]:
            self._rows = list(pipelines)
            if self._rows:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1)
                )
            return
        self.beginResetModel()
        self._rows = list(pipelines)
        self.endResetModel()

    def update_pipeline(self, pipeline: Pipeline) -> None:
        """Replace one row after an action answered with fresh metadata."""
        row = self.row_of(pipeline.id)
        if row is None:
            return
        self._rows[row] = pipeline
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def pipeline_at(self, row: int) -> Pipeline:
        """The pipeline of a source row."""
        return self._rows[row]

    def row_of(self, pipeline_id: int) -> int | None:
        """Source row of `pipeline_id`, if listed."""
        return next((i for i, p in enumerate(self._rows) if p.id == pipeline_id), None)

    def all_pipelines(self) -> list[Pipeline]:
        """Every listed pipeline."""
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of pipelines."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell text, tooltips and sort keys."""
        if not index.isValid():
            return None
        pipeline = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(pipeline, column)
        if role == SORT_ROLE:
            return _sort_value(pipeline, column)
        if role == PIPELINE_ROLE:
            return pipeline
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Name":
                return f"{pipeline.name} (id {pipeline.id})"
            if column == "Status" and pipeline.last_error:
                return f"Last error: {pipeline.last_error}"
            if column == "Last sync":
                return format_timestamp(pipeline.last_sync_finished_at, empty="Never synced")
            if column == "Updated":
                return format_timestamp(pipeline.updated_at)
            if column == "Rev":
                return f"Revision {pipeline.revision}"
        return None


def _display(pipeline: Pipeline, column: str) -> str:
    match column:
        case "Name":
            return pipeline.name
        case "Status":
            return pipeline.status
        case "Last sync":
            return format_relative(pipeline.last_sync_finished_at, empty="never")
        case "Updated":
            return format_relative(pipeline.updated_at)
        case _:
            return str(pipeline.revision)


def _sort_value(pipeline: Pipeline, column: str) -> Any:
    match column:
        case "Last sync":
            return pipeline.last_sync_finished_at or 0.0
        case "Updated":
            return pipeline.updated_at
        case "Rev":
            return pipeline.revision
        case _:
            return _display(pipeline, column).lower()


class PipelinesFilterModel(QSortFilterProxyModel):
    """Text filter over name and id; status filter."""

    def __init__(self) -> None:
        super().__init__()
        self._text = ""
        self._status: str | None = None
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        """Show only pipelines whose name or id contains `text`."""
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str | None) -> None:
        """Show only pipelines in `status` (None: all)."""
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        """Apply both filters."""
        model = self.sourceModel()
        assert isinstance(model, PipelinesTableModel)
        pipeline = model.pipeline_at(source_row)
        if self._status and pipeline.status != self._status:
            return False
        return not self._text or self._text in f"{pipeline.name} {pipeline.id}".lower()
