"""Table model of API keys and the filter the tab puts in front of it."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase

from console.api.keys import ApiKey
from console.ui.formatting import format_relative, format_timestamp
from console.ui.keys.rotation import expires_soon, grace_text, is_live
from console.ui.widgets.row_table import RowFilterModel, RowTableModel

COLUMNS = ("Name", "Kind", "Key", "Feed", "Created", "Expires", "Last used", "Status")
STATUS_COLUMN = COLUMNS.index("Status")
REVOKED_TEXT = QColor("#8a8b91")
EXPIRING_TEXT = QColor("#7a5200")
# The Expires cell of a key that ends within 7 days (and has no successor yet).
EXPIRING_MARK = "⚠ "


class KeysTableModel(RowTableModel):
    """Rows of key metadata; never holds a secret."""

    columns = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self._own: tuple[str, str] | None = None  # (prefix, last4) of the console's key
        self._replaced: set[str] = set()  # ids of keys another key was rotated from

    def set_rows(self, rows: list[Any]) -> None:
        """Show `rows`, noting which keys have a successor (in grace while they work)."""
        self._replaced = {key.rotated_from for key in rows if key.rotated_from}
        super().set_rows(rows)

    def in_grace(self, key: ApiKey, now: float | None = None) -> bool:
        """Whether `key` was rotated and still works (its grace period)."""
        at = time.time() if now is None else now
        return key.id in self._replaced and key.expires_at is not None and is_live(key, at)

    def needs_renewal(self, key: ApiKey, now: float | None = None) -> bool:
        """A working key that ends within 7 days and has no successor: flagged."""
        at = time.time() if now is None else now
        return key.id not in self._replaced and expires_soon(key, at)

    def repaint_expiry(self) -> None:
        """The Expires column reads differently now (a grace counts down)."""
        rows = self.rowCount()
        if rows:
            column = COLUMNS.index("Expires")
            self.dataChanged.emit(self.index(0, column), self.index(rows - 1, column))

    def renewal_count(self) -> int:
        """How many listed keys are flagged as expiring within 7 days."""
        now = time.time()
        return sum(1 for key in self.all_rows() if self.needs_renewal(key, now))

    def set_own_key(self, prefix: str | None, last4: str | None) -> None:
        """Mark the key the console itself signs in with."""
        self._own = (prefix, last4) if prefix and last4 else None
        self.repaint_all()

    def is_own(self, key: ApiKey) -> bool:
        """Whether `key` is the one this console uses."""
        return not key.is_revoked and self._own == (key.prefix, key.last4)

    def display(self, row: Any, column: str) -> str:
        """The cell's text."""
        key: ApiKey = row
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
                if self.in_grace(key):
                    return grace_text(key, time.time())
                expires = format_timestamp(key.expires_at, empty="never")
                return EXPIRING_MARK + expires if self.needs_renewal(key) else expires
            case "Last used":
                return format_timestamp(key.last_used_at, empty="never")
            case _:
                return key.status

    def sort_value(self, row: Any, column: str) -> Any:
        """Times sort as times; never-expiring keys last."""
        key: ApiKey = row
        match column:
            case "Created":
                return key.created_at
            case "Expires":
                return key.expires_at if key.expires_at is not None else float("inf")
            case "Last used":
                return key.last_used_at or 0.0
            case _:
                return super().sort_value(row, column)

    def tooltip(self, row: Any, column: str) -> str | None:
        """Relative times, revocation and rotation history."""
        key: ApiKey = row
        match column:
            case "Name" if self.is_own(key):
                return "This console signs in with this key."
            case "Name" if key.rotated_from:
                return f"Rotated from {key.rotated_from}"
            case "Expires" if self.in_grace(key):
                return (
                    f"Rotated: this old key keeps working until "
                    f"{format_timestamp(key.expires_at)}. Select it to see whether it is "
                    "still used."
                )
            case "Expires" if self.needs_renewal(key):
                return (
                    f"Expires within 7 days ({format_relative(key.expires_at)}): "
                    "select it and Renew to keep access."
                )
            case "Expires":
                return format_relative(key.expires_at, empty="Never expires")
            case "Last used":
                return format_relative(key.last_used_at, empty="Never used")
            case "Status" if key.is_revoked:
                revoked = format_timestamp(key.revoked_at)
                return f"Revoked {revoked}; a revoked key cannot be reactivated."
            case _:
                return None

    def style(self, row: Any, column: str, role: int) -> Any:
        """Revoked rows in grey, the console's own key in bold, keys in monospace."""
        key: ApiKey = row
        if role == Qt.ItemDataRole.ForegroundRole and key.is_revoked:
            return REVOKED_TEXT
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and column == "Expires"
            and (self.needs_renewal(key) or self.in_grace(key))
        ):
            return EXPIRING_TEXT
        if role == Qt.ItemDataRole.FontRole:
            if column == "Key":
                return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
            if column == "Name" and self.is_own(key):
                font = QFont()
                font.setBold(True)
                return font
        return None


def keys_filter() -> RowFilterModel:
    """Text filter over name, masked key, feed, id and kind; status filter."""
    return RowFilterModel(
        haystack=lambda key: " ".join([key.name, key.masked, key.feed or "", key.id, key.kind]),
        status=lambda key: key.status,
    )
