"""Table model of API keys and the filter the tab puts in front of it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from console.api.keys import ApiKey
from console.ui.formatting import format_relative, format_timestamp

COLUMNS = ("Name", "Kind", "Key", "Feed", "Created", "Expires", "Last used", "Status")
STATUS_COLUMN = COLUMNS.index("Status")
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
REVOKED_TEXT = QColor("#8a8b91")

AnyIndex = QModelIndex | QPersistentModelIndex


class KeysTableModel(QAbstractTableModel):
    """Rows of key metadata; never holds a secret."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: list[ApiKey] = []
        self._own: tuple[str, str] | None = None  # (prefix, last4) of the console's key

    def set_own_key(self, prefix: str | None, last4: str | None) -> None:
        """Mark the key the console itself signs in with."""
        self._own = (prefix, last4) if prefix and last4 else None
        if self._keys:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._keys) - 1, 0))

    def is_own(self, key: ApiKey) -> bool:
        """Whether `key` is the one this console uses."""
        return not key.is_revoked and self._own == (key.prefix, key.last4)

    def set_keys(self, keys: list[ApiKey]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._keys = list(keys)
        self.endResetModel()

    def key_at(self, row: int) -> ApiKey:
        """The key of a source row."""
        return self._keys[row]

    def row_of(self, key_id: str) -> int | None:
        """Source row of the key with `key_id`, if listed."""
        return next((i for i, k in enumerate(self._keys) if k.id == key_id), None)

    def all_keys(self) -> list[ApiKey]:
        """Every listed key."""
        return list(self._keys)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of keys."""
        return 0 if parent.isValid() else len(self._keys)

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
        """Cell text, tooltips, sort keys and the grey of revoked rows."""
        if not index.isValid():
            return None
        key = self._keys[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(key, column)
        if role == SORT_ROLE:
            return _sort_value(key, column)
        if role == KEY_ROLE:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == "Name" and self.is_own(key):
                return "This console signs in with this key."
            return _tooltip(key, column)
        if role == Qt.ItemDataRole.FontRole and column == "Name" and self.is_own(key):
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and key.is_revoked:
            return REVOKED_TEXT
        if role == Qt.ItemDataRole.FontRole and column == "Key":
            from PySide6.QtGui import QFontDatabase

            return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        return None


def _display(key: ApiKey, column: str) -> str:
    match column:
        case "Name":
            return key.name
        case "Kind":
            return key.kind
        case "Key":
            return key.masked
        case "Feed":
            return key.feed or "—"
        case "Created":
            return format_timestamp(key.created_at)
        case "Expires":
            return format_timestamp(key.expires_at, empty="never")
        case "Last used":
            return format_timestamp(key.last_used_at, empty="never")
        case _:
            return key.status


def _sort_value(key: ApiKey, column: str) -> Any:
    match column:
        case "Created":
            return key.created_at
        case "Expires":
            return key.expires_at if key.expires_at is not None else float("inf")
        case "Last used":
            return key.last_used_at or 0.0
        case _:
            return _display(key, column).lower()


def _tooltip(key: ApiKey, column: str) -> str | None:
    match column:
        case "Expires":
            return format_relative(key.expires_at, empty="Never expires")
        case "Last used":
            return format_relative(key.last_used_at, empty="Never used")
        case "Status" if key.is_revoked:
            return (
                f"Revoked {format_timestamp(key.revoked_at)}; a revoked key cannot be reactivated."
            )
        case "Name" if key.rotated_from:
            return f"Rotated from {key.rotated_from}"
        case _:
            return None


class KeysFilterModel(QSortFilterProxyModel):
    """Text filter over name, key, feed and id; plus a status filter."""

    def __init__(self) -> None:
        super().__init__()
        self._text = ""
        self._status: str | None = None
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        """Show only keys whose name, masked key, feed or id contains `text`."""
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status(self, status: str | None) -> None:
        """Show only keys with `status` (None: all)."""
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        """Apply both filters."""
        model = self.sourceModel()
        assert isinstance(model, KeysTableModel)
        key = model.key_at(source_row)
        if self._status and key.status != self._status:
            return False
        if not self._text:
            return True
        haystack = " ".join([key.name, key.masked, key.feed or "", key.id, key.kind]).lower()
        return self._text in haystack
