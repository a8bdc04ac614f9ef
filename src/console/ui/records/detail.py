"""The selected record: its data as copyable JSON, who archived it, and its history."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.api.records import ArchiveMark, HistoryEntry, Record
from console.ui.formatting import format_timestamp
from console.ui.trace.links import IdLink
from console.ui.widgets.row_table import setup_row_view
from console.ui.widgets.status_badge import badge_label_style

HISTORY_COLUMNS = ("When", "Intent", "Changed", "Key", "Correlation ID")
CORRELATION_COLUMN = HISTORY_COLUMNS.index("Correlation ID")


def record_json(record: Record) -> str:
    """The record's data as indented JSON, keys in the order stored."""
    return json.dumps(record.data, indent=2, ensure_ascii=False)


def describe_mark(mark: ArchiveMark) -> str:
    """`2026-11-29 22:41 by fdk_…ab12 (key_…)`."""
    who = mark.key or "an unknown key"
    if mark.key_id:
        who += f" ({mark.key_id})"
    return f"{format_timestamp(mark.at)} by {who}"


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet("font-weight: 600;")
    return label


def _section(head: QHBoxLayout, body: QWidget) -> QWidget:
    """A part of the split: its heading row above `body`, which takes the height."""
    part = QWidget()
    layout = QVBoxLayout(part)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addLayout(head)
    layout.addWidget(body, 1)
    return part


class CopyableValue(QWidget):
    """A selectable value with a small Copy button beside it; an ID links to its trace."""

    def __init__(self, button_text: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = IdLink()
        self.button = QPushButton(button_text)
        self.button.setToolTip(tooltip)
        self.button.clicked.connect(self.copy)
        self.value = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.set_value("")

    def set_value(self, value: str, shown: str | None = None) -> None:
        """Show `shown` (default: the value itself); Copy copies `value`."""
        self.value = value
        self.label.set_id(value, shown)
        self.button.setEnabled(bool(value))

    def copy(self) -> None:
        """Put the value on the clipboard."""
        if self.value:
            QGuiApplication.clipboard().setText(self.value)


class RecordDetail(QWidget):
    """Everything about one record; the tab decides which (`show_record`)."""

    more_history_requested = Signal()
    find_requested = Signal(str)  # a correlation ID's link or "Look up": show its trace

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: Record | None = None
        self.title = QLabel("No record selected")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # record ids, as the server sent them
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status_badge = QLabel("")
        self.status_badge.setTextFormat(Qt.TextFormat.PlainText)
        self.status_badge.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.not_listed = QLabel("")
        self.not_listed.setTextFormat(Qt.TextFormat.PlainText)
        self.not_listed.setStyleSheet("color: #7a5200;")
        self.not_listed.hide()
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.not_listed)
        head.addWidget(self.status_badge)

        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        for name in ("GUID", "System id", "Version", "Created", "Updated"):
            label = QLabel("—")
            label.setTextFormat(Qt.TextFormat.PlainText)  # server values
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.values[name] = label
            form.addRow(name, label)
        self.last_change = CopyableValue(
            "C&opy ID", "Copy the correlation ID of the request that last changed it"
        )
        self.last_change.label.find_requested.connect(self.find_requested)
        form.addRow("Last change", self.last_change)

        # Who archived it (or, restored since, who restored it): the trash view's answer.
        self.archive_box = QFrame()
        self.archive_box.setObjectName("archiveBox")
        self.archive_box.setStyleSheet(
            "#archiveBox { background: #f4f4f6; border: 1px solid #dcdde2; border-radius: 6px; }"
        )
        self.archived_label = QLabel("")
        self.archived_label.setTextFormat(Qt.TextFormat.PlainText)  # who archived it
        self.archived_label.setWordWrap(True)
        self.archived_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.archive_correlation = CopyableValue(
            "Copy arc&hive ID", "Copy the correlation ID of the request that archived it"
        )
        self.archive_correlation.label.find_requested.connect(self.find_requested)
        box_layout = QVBoxLayout(self.archive_box)
        box_layout.setContentsMargins(8, 6, 8, 6)
        box_layout.addWidget(self.archived_label)
        box_layout.addWidget(self.archive_correlation)
        self.archive_box.hide()

        self.json_view = QPlainTextEdit()
        self.json_view.setReadOnly(True)
        self.json_view.setAccessibleName("Record data")
        self.json_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.json_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_view.setPlaceholderText("The record's data appears here.")
        self.copy_json_button = QPushButton("Copy &JSON")
        self.copy_json_button.setToolTip("Copy the record's data as formatted JSON")
        self.copy_json_button.clicked.connect(self.copy_json)
        json_head = QHBoxLayout()
        json_head.addWidget(_heading("Data"))
        json_head.addStretch(1)
        json_head.addWidget(self.copy_json_button)
        json_part = _section(json_head, self.json_view)

        self.history = QTableWidget(0, len(HISTORY_COLUMNS))
        self.history.setHorizontalHeaderLabels(HISTORY_COLUMNS)
        self.history.setAccessibleName("Record history")
        setup_row_view(self.history, alternating=False)
        self.history.verticalHeader().hide()
        self.history.verticalHeader().setDefaultSectionSize(22)
        header = self.history.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.history.itemSelectionChanged.connect(self._sync_history_buttons)
        self.history.doubleClicked.connect(lambda _index: self.copy_history_correlation())
        self.copy_history_button = QPushButton("Copy ro&w's ID")
        self.copy_history_button.setToolTip("Copy the correlation ID of the selected change")
        self.copy_history_button.clicked.connect(self.copy_history_correlation)
        self.find_history_button = QPushButton("Loo&k up row's ID")
        self.find_history_button.setToolTip(
            "Find by ID: the trace of the selected change's correlation ID (its log entries, "
            "items and records)"
        )
        self.find_history_button.clicked.connect(self.find_history_correlation)
        self.history.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._history_menu)
        self.more_history_button = QPushButton("&Previous changes")
        self.more_history_button.setToolTip("Load the next page of this record's history")
        self.more_history_button.clicked.connect(self.more_history_requested)
        self.history_status = QLabel("")
        self.history_status.setTextFormat(Qt.TextFormat.PlainText)
        self.history_status.setStyleSheet("color: #5c5f66;")
        history_head = QHBoxLayout()
        history_head.addWidget(_heading("History"))
        history_head.addWidget(self.history_status, 1)
        history_head.addWidget(self.more_history_button)
        history_head.addWidget(self.copy_history_button)
        history_head.addWidget(self.find_history_button)
        history_part = _section(history_head, self.history)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(json_part)
        split.addWidget(history_part)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        self.actions_row = QHBoxLayout()  # the tab puts Edit, Archive, Restore here
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addWidget(self.archive_box)
        layout.addLayout(self.actions_row)
        layout.addWidget(split, 1)
        self._history_entries: list[HistoryEntry] = []
        self.show_record(None)

    # -- what is shown -------------------------------------------------------------

    def set_listing(self, note: str) -> None:
        """Say whether the list shows this record ("" when it does, or nobody knows yet)."""
        self.not_listed.setText(note)
        self.not_listed.setVisible(bool(note) and self.record is not None)

    def show_record(self, record: Record | None) -> None:
        """Show `record` (None: nothing); its history is set apart (`set_history`)."""
        changed_record = (record.guid if record else None) != (
            self.record.guid if self.record else None
        )
        self.record = record
        if record is None:
            self.not_listed.hide()
        if record is None:
            self.title.setText("No record selected")
            self.status_badge.setText("")
            self.status_badge.setStyleSheet("")
            for label in self.values.values():
                label.setText("—")
            self.last_change.set_value("")
            self.archive_box.hide()
            self.json_view.setPlainText("")
            self.copy_json_button.setEnabled(False)
            self.set_history([], more=False, status="")
            return
        self.title.setText(f"Record {record.system_id or record.guid}")
        status = "archived" if record.deleted else "active"
        self.status_badge.setText(status)
        self.status_badge.setStyleSheet(badge_label_style(status))
        values = {
            "GUID": record.guid,
            "System id": record.system_id or "—",
            "Version": str(record.version),
            "Created": format_timestamp(record.created_at),
            "Updated": format_timestamp(record.updated_at),
        }
        for name, value in values.items():
            self.values[name].setText(value)
        self.values["Updated"].setToolTip(f"{record.updated_at:.3f}")
        self.last_change.set_value(record.last_correlation_id or "")
        self._show_marks(record)
        text = record_json(record)
        if text != self.json_view.toPlainText():
            # Keep the reader's scroll position when only another field moved.
            bar = self.json_view.verticalScrollBar()
            position = bar.value() if not changed_record else 0
            self.json_view.setPlainText(text)
            bar.setValue(position)
        self.copy_json_button.setEnabled(True)
        if changed_record:
            self.set_history([], more=False, status="Loading history…")

    def _show_marks(self, record: Record) -> None:
        archived, restored = record.archived, record.restored
        if record.deleted:
            if archived is not None:
                self.archived_label.setText(f"Archived {describe_mark(archived)}.")
                self.archive_correlation.set_value(archived.correlation_id)
            else:
                self.archived_label.setText("Archived (the server did not say by whom).")
                self.archive_correlation.set_value("")
            self.archive_correlation.show()
            self.archive_box.show()
        elif restored is not None and archived is not None and restored.at >= archived.at:
            self.archived_label.setText(
                f"Restored {describe_mark(restored)}; archived before that "
                f"{describe_mark(archived)}."
            )
            self.archive_correlation.set_value(restored.correlation_id)
            self.archive_correlation.button.setText("Cop&y restore ID")
            self.archive_correlation.button.setToolTip(
                "Copy the correlation ID of the request that restored it"
            )
            self.archive_box.show()
        else:
            self.archive_box.hide()
        if record.deleted:
            self.archive_correlation.button.setText("Copy arc&hive ID")
            self.archive_correlation.button.setToolTip(
                "Copy the correlation ID of the request that archived it"
            )

    def set_history(self, entries: list[HistoryEntry], *, more: bool, status: str = "") -> None:
        """Show `entries` (newest first); `more`: older ones can be loaded."""
        self._history_entries = list(entries)
        self.history.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            cells = (
                format_timestamp(entry.timestamp),
                entry.intent,
                ", ".join(entry.changed) or "—",
                entry.key or entry.key_id or "—",
                entry.correlation_id,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(f"{entry.timestamp:.3f}")
                elif column == 3 and entry.key_id:
                    item.setToolTip(entry.key_id)
                elif column == CORRELATION_COLUMN:
                    item.setToolTip("Double-click to copy; Look up row's ID shows its trace")
                self.history.setItem(row, column, item)
        self.more_history_button.setVisible(more)
        if not status and self.record is not None:
            count = len(entries)
            status = f"{count} change{'s' if count != 1 else ''}" + (
                " (more below)" if more else ""
            )
        self.history_status.setText(status)
        self._sync_history_buttons()

    def history_entries(self) -> list[HistoryEntry]:
        """The changes listed now."""
        return list(self._history_entries)

    def _sync_history_buttons(self) -> None:
        self.copy_history_button.setEnabled(bool(self.history.selectedItems()))
        self.find_history_button.setEnabled(bool(self.history.selectedItems()))

    # -- copying -------------------------------------------------------------------

    def copy_json(self) -> None:
        """Put the record's formatted JSON on the clipboard."""
        if self.record is not None:
            QGuiApplication.clipboard().setText(record_json(self.record))

    def copy_history_correlation(self) -> None:
        """Put the selected change's correlation ID on the clipboard."""
        rows = self.history.selectionModel().selectedRows()
        if rows:
            entry = self._history_entries[rows[0].row()]
            QGuiApplication.clipboard().setText(entry.correlation_id)

    def find_history_correlation(self) -> None:
        """Show the trace of the selected change's correlation ID."""
        rows = self.history.selectionModel().selectedRows()
        if rows:
            correlation_id = self._history_entries[rows[0].row()].correlation_id
            if correlation_id:
                self.find_requested.emit(correlation_id)

    def _history_menu(self, at: QPoint) -> None:
        row = self.history.rowAt(at.y())
        if row < 0:
            return
        self.history.selectRow(row)
        menu = QMenu(self)
        menu.addAction("Copy correlation ID").triggered.connect(self.copy_history_correlation)
        menu.addAction("Find by ID (its trace)").triggered.connect(self.find_history_correlation)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.history.viewport().mapToGlobal(at))
