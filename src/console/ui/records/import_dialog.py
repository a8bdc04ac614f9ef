"""The Import dialog: choose a file, preview it with the server's dry run, import with
progress, then a per-row report and the rejected rows as a file to fix and re-import.

Where an import stopped (cancelled, window closed, connection lost) is kept per
profile, feed and file version (`import_resume`); choosing the same file again offers
to resume after the last row done. Imports are upserts by system id, so a row imported
twice updates its record instead of adding another.

The dialog opens with `open()` and runs its coroutines on its own TaskRunner, so no
nested event loop runs inside a coroutine (STACK_NOTES 2) and closing it cancels what
it started (never the server's import: only Cancel does that).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.feeds import Feed
from console.api.imports import DryRun, ImportsApi, ImportStatus
from console.ui.formatting import format_duration, format_timestamp
from console.ui.protection import WriteGate, gate_button
from console.ui.records.import_resume import (
    FileFingerprint,
    ImportResumeStore,
    ResumePoint,
    fingerprint,
    new_point,
)
from console.ui.records.io_files import (
    FORMATS,
    FileFormat,
    FilePreview,
    RateMeter,
    detect_format,
    format_bytes,
    format_count,
    in_file_thread,
    read_preview,
    write_rejected_rows,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.error_banner import error_text

PREVIEW_ROWS = 100  # rows read locally and dry-run by the server
# How often a running import's status is asked for: 2 requests a second leave most of the
# contract's per-IP limit (1000 per 5 minutes) to the rest of the console.
POLL_SECONDS = 0.5
SAVE_POINT_SECONDS = 1.0  # how often, at most, the resume point is written while running
# Statuses of an import that is still going; any other status is final.
RUNNING_STATUSES = frozenset({"queued", "uploading", "processing", "running", "cancelling"})
FORMAT_TITLES = {
    "csv": "CSV (header row, one record per row)",
    "ndjson": "NDJSON (one JSON object per line)",
}
ACTION_COLOURS = {"reject": "#fdecea", "update": "#fff8e1"}  # dry-run actions
NO_DUPLICATES = (
    "Importing is an upsert by system id: a row imported again updates its record, it "
    "never adds a second one."
)


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # server messages
    label.setWordWrap(True)
    label.setStyleSheet("color: #a61b0f;")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # file names, server text
    label.setWordWrap(True)
    label.setStyleSheet("color: #5c5f66;")
    return label


class RowErrorsModel(QAbstractTableModel):
    """The import's rejected rows: row, field, message (read straight from the status)."""

    COLUMNS = ("Row", "Field", "Message")

    def __init__(self) -> None:
        super().__init__()
        self._errors: tuple[Any, ...] = ()

    def set_errors(self, errors: tuple[Any, ...]) -> None:
        """Show `errors` (ImportRowError items), sorted by row."""
        self.beginResetModel()
        self._errors = tuple(sorted(errors, key=lambda error: error.row or 0))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        """Number of rejected rows listed."""
        return 0 if parent.isValid() else len(self._errors)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        """Row, field, message."""
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """The cell's text."""
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        error = self._errors[index.row()]
        row = str(error.row) if error.row else "—"
        return (row, error.field or "—", error.message)[index.column()]


class ImportDialog(QDialog):
    """Preview, import with progress and cancel, report; resumes an interrupted import."""

    preview_ready = Signal(object)  # DryRun, once the preview shows it
    preview_failed = Signal(object)  # the exception
    import_started = Signal(str)  # the import id
    progress_changed = Signal(object)  # ImportStatus, after each poll
    import_finished = Signal(object)  # the final ImportStatus
    import_failed = Signal(object)  # the exception that stopped watching the import
    rejects_saved = Signal(str, int)  # path, rows written

    def __init__(
        self,
        imports: ImportsApi,
        feed: Feed,
        *,
        profile: str,
        store: ImportResumeStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import into “{feed.name}”")
        self.resize(960, 640)
        self.imports = imports
        self.feed = feed
        self.profile = profile
        self.store = store or ImportResumeStore()
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._task_failed)
        # The connected profile's write gate (set by `start_import` from a session).
        self.gate: WriteGate | None = None
        self.finished.connect(self.runner.cancel_all)

        # What the dialog currently refers to: the preview, the resume offer and the
        # import all belong to this one file version (answers for another are dropped).
        self.path: Path | None = None
        self.file: FileFingerprint | None = None
        self.resume_point: ResumePoint | None = None
        self.dry_run: DryRun | None = None
        self.status: ImportStatus | None = None
        self._running_import: str | None = None  # the server's import this dialog follows
        self._cancel_requested = False
        self.file_dialog: QFileDialog | None = None
        self.last_rejects_file: Path | None = None
        # What the preview shows: file, format, id field, and whether it starts at the resume row.
        self._previewed: tuple[Path | None, str, str, bool] | None = None

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_setup_page())
        self.pages.addWidget(self._build_run_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._sync_buttons()

    # -- setup page ------------------------------------------------------------------

    def _build_setup_page(self) -> QWidget:
        page = QWidget()
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("File")
        self.file_edit.setPlaceholderText("A .csv or .ndjson file")
        self.file_edit.editingFinished.connect(self._file_typed)
        self.browse_button = QPushButton("&Choose file…")
        self.browse_button.clicked.connect(self.choose_file)
        self.browse_button.setAutoDefault(False)  # Enter in the file field previews, no more
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Format")
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_TITLES[fmt], fmt)
        self.format_combo.currentIndexChanged.connect(self._options_changed)
        self.id_field_edit = QLineEdit(self.feed.id_field)
        self.id_field_edit.setMaxLength(200)
        self.id_field_edit.setToolTip(
            f"The field that holds each row's system id (the feed's is “{self.feed.id_field}”)"
        )
        self.id_field_edit.editingFinished.connect(self._options_changed)
        form = QFormLayout()
        form.addRow("File", file_row)
        form.addRow("Format", self.format_combo)
        form.addRow("Id field", self.id_field_edit)

        self.resume_frame = QFrame()
        self.resume_frame.setObjectName("resumeFrame")
        self.resume_frame.setStyleSheet(
            "#resumeFrame { background: #eef4fd; border: 1px solid #b6cff5; border-radius: 6px; }"
        )
        self.resume_label = QLabel()
        self.resume_label.setTextFormat(Qt.TextFormat.PlainText)
        self.resume_label.setWordWrap(True)
        self.resume_check = QCheckBox()
        self.resume_check.setAccessibleName("Resume after the last row imported")
        self.resume_check.setChecked(True)
        self.resume_check.toggled.connect(self._options_changed)
        self.follow_button = QPushButton("Show its progress")
        self.follow_button.clicked.connect(self.follow_running_import)
        resume_layout = QVBoxLayout(self.resume_frame)
        resume_layout.addWidget(self.resume_label)
        resume_row = QHBoxLayout()
        resume_row.addWidget(self.resume_check)
        resume_row.addStretch(1)
        resume_row.addWidget(self.follow_button)
        resume_layout.addLayout(resume_row)
        self.resume_frame.hide()

        self.preview_summary = _muted(
            "Choose a file: its first rows and the server's dry run show here."
        )
        self.preview_table = QTableWidget()
        self.preview_table.setAccessibleName("Preview")
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_table.verticalHeader().hide()
        self.preview_table.setWordWrap(False)
        self.preview_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.setup_error = _error_label()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.import_button = QPushButton("&Import")
        self.import_button.setObjectName("primaryButton")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start_import)
        buttons = QHBoxLayout()
        self.upsert_note = _muted(NO_DUPLICATES)
        buttons.addWidget(self.upsert_note, 1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.import_button)

        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(self.resume_frame)
        layout.addWidget(self.preview_summary)
        layout.addWidget(self.preview_table, 1)
        layout.addWidget(self.setup_error)
        layout.addLayout(buttons)
        return page

    def choose_file(self) -> QFileDialog:
        """Open a file chooser (Qt's own, so it behaves the same everywhere)."""
        chooser = QFileDialog(self, "Choose a file to import")
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.setNameFilters(["CSV or NDJSON (*.csv *.ndjson *.jsonl *.json)", "All files (*)"])
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.fileSelected.connect(lambda name: self.set_file(Path(name)))
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def _file_typed(self) -> None:
        text = self.file_edit.text().strip()
        if text and (self.path is None or Path(text) != self.path):
            self.set_file(Path(text))

    def set_file(self, path: Path) -> asyncio.Task[Any]:
        """Use `path`: its format from the extension (or from an import of it that stopped),
        then the preview and any resume offer."""
        self.path = path
        self.file_edit.setText(str(path))
        self.format_combo.blockSignals(True)
        self.format_combo.setCurrentIndex(FORMATS.index(detect_format(path)))
        self.format_combo.blockSignals(False)
        return self._refresh_preview(adopt_stopped_import=True)

    def _options_changed(self) -> None:
        if self.path is not None and self._previewed != self._options():
            self._refresh_preview(adopt_stopped_import=False)

    @property
    def file_format(self) -> FileFormat:
        """The chosen format."""
        fmt: FileFormat = self.format_combo.currentData()
        return fmt

    @property
    def id_field(self) -> str:
        """The chosen id field (the feed's when left empty)."""
        return self.id_field_edit.text().strip() or self.feed.id_field

    def _options(self) -> tuple[Path | None, str, str, bool]:
        return self.path, self.file_format, self.id_field, self.resume_check.isChecked()

    def _refresh_preview(self, *, adopt_stopped_import: bool) -> asyncio.Task[Any]:
        self.dry_run = None
        self.resume_point = None
        self.file = None
        self._previewed = self._options()
        self.setup_error.hide()
        self.resume_frame.hide()
        self.preview_table.clear()
        self.preview_table.setRowCount(0)
        self.preview_table.setColumnCount(0)
        self.preview_summary.setText("Reading the first rows and asking the server for a dry run…")
        self._sync_buttons()
        assert self.path is not None
        return self.runner.start(self._preview(self.path, adopt_stopped_import), name="preview")

    async def _preview(self, path: Path, adopt_stopped_import: bool) -> None:
        try:
            file = await in_file_thread(fingerprint, path)
        except OSError as exc:
            self._preview_unreadable(path, exc)
            return
        point = self.store.load(self.profile, self.feed.id, file)
        if point is not None and adopt_stopped_import:
            self._adopt_options(point)  # a resume must read the file as it was read
        fmt, id_field = self.file_format, self.id_field
        self._previewed = self._options()
        if point is not None and (point.format, point.id_field) == (fmt, id_field):
            await self._offer_resume(file, point)
        start_row = self._resume_row() or 1
        try:
            preview = await in_file_thread(read_preview, path, fmt, PREVIEW_ROWS, start_row)
        except OSError as exc:
            self._preview_unreadable(path, exc)
            return
        self.file = file
        self._show_preview(preview)
        try:
            dry_run = await self.imports.dry_run(
                self.feed.id,
                path,
                format=fmt,
                id_field=id_field,
                rows=PREVIEW_ROWS,
                start_row=None if start_row == 1 else start_row,
            )
        except ApiError as exc:
            self.preview_summary.setText("The server's dry run failed: nothing was imported.")
            self._show_setup_error(error_text(exc))
            self.preview_failed.emit(exc)
            return
        self.dry_run = dry_run
        self._show_dry_run(preview, dry_run, start_row)
        self._sync_buttons()
        self.preview_ready.emit(dry_run)

    def _preview_unreadable(self, path: Path, error: OSError) -> None:
        self._show_setup_error(f"Cannot read {path}: {error.strerror or error}")
        self.preview_summary.setText("")
        self.preview_failed.emit(error)

    def _resume_row(self) -> int | None:
        """The row an import started now would start at (None: the first)."""
        point = self.resume_point
        if point is None or point.status in RUNNING_STATUSES or not self.resume_check.isChecked():
            return None
        return point.start_row

    def _adopt_options(self, point: ResumePoint) -> None:
        if point.format in FORMATS:
            self.format_combo.blockSignals(True)
            self.format_combo.setCurrentIndex(FORMATS.index(point.format))
            self.format_combo.blockSignals(False)
        if point.id_field:
            self.id_field_edit.setText(point.id_field)

    def _show_preview(self, preview: FilePreview) -> None:
        table = self.preview_table
        table.setColumnCount(3 + len(preview.columns))
        table.setHorizontalHeaderLabels(["Row", "Dry run", "Why", *preview.columns])
        table.setRowCount(len(preview.rows))
        for index, (number, cells) in enumerate(preview.rows):
            table.setItem(index, 0, QTableWidgetItem(str(number)))
            for column, cell in enumerate(cells):
                table.setItem(index, 3 + column, QTableWidgetItem(cell))
        table.resizeColumnsToContents()
        if preview.problem:
            self._show_setup_error(preview.problem)

    def _show_dry_run(self, preview: FilePreview, dry_run: DryRun, start_row: int) -> None:
        by_row = {row.row: row for row in dry_run.rows}
        for index, (number, _cells) in enumerate(preview.rows):
            outcome = by_row.get(number)
            if outcome is None:
                continue
            why = outcome.message or ""
            if outcome.field:
                why = f"{outcome.field}: {why}" if why else outcome.field
            action = QTableWidgetItem(outcome.action)
            self.preview_table.setItem(index, 1, action)
            self.preview_table.setItem(index, 2, QTableWidgetItem(why))
            colour = ACTION_COLOURS.get(outcome.action)
            if colour is not None:
                for column in range(self.preview_table.columnCount()):
                    item = self.preview_table.item(index, column)
                    if item is not None:
                        item.setBackground(QBrush(QColor(colour)))
        self.preview_table.resizeColumnsToContents()
        checked = len(dry_run.rows) or len(preview.rows)
        if start_row == 1:
            rows = f"the first {format_count(checked)} rows"
        else:
            rows = f"rows {format_count(start_row)}–{format_count(start_row + checked - 1)}"
        self.preview_summary.setText(
            f"Dry run of {rows} (nothing changed yet): "
            f"{format_count(dry_run.would_create)} would be created, "
            f"{format_count(dry_run.would_update)} updated, "
            f"{format_count(dry_run.would_reject)} rejected."
        )

    async def _offer_resume(self, file: FileFingerprint, point: ResumePoint) -> None:
        # The server knows best how far the import got (it may have gone on after the
        # window closed); without an answer, the last point saved here is used.
        running = False
        try:
            status = await self.imports.status(self.feed.id, point.import_id)
        except ApiError:
            status = None
        if status is not None:
            running = status.status in RUNNING_STATUSES
            if not running and _complete(status):
                self.store.forget(self.profile, self.feed.id, file)
                return
            point = dataclasses.replace(
                point,
                last_row=max(point.last_row, status.last_row),
                total=status.total or point.total,
                status=status.status,
            )
        self.resume_point = point
        when = format_timestamp(point.saved_at)
        if running:
            self.resume_label.setText(
                f"An import of this file is still running on the server (row "
                f"{format_count(point.last_row)} done, {when})."
            )
        else:
            total = f" of {format_count(point.total)}" if point.total else ""
            self.resume_label.setText(
                f"An import of this file stopped ({point.status or 'interrupted'}, {when}) "
                f"after row {format_count(point.last_row)}{total}."
            )
        self.resume_check.setText(f"Resume from row {format_count(point.start_row)}")
        self.resume_check.setVisible(not running)
        self.follow_button.setVisible(running)
        self.resume_frame.show()

    def _show_setup_error(self, text: str) -> None:
        self.setup_error.setText(text)
        self.setup_error.show()

    def _sync_buttons(self) -> None:
        ready = self.dry_run is not None and self.file is not None
        if self.gate is not None:
            gate_button(self.gate, self.import_button, ready)
        else:
            self.import_button.setEnabled(ready)
        start_row = self._resume_row() if ready else None
        if start_row is not None:
            self.import_button.setText(f"&Import from row {format_count(start_row)}")
        else:
            self.import_button.setText("&Import")

    # -- run page --------------------------------------------------------------------

    def _build_run_page(self) -> QWidget:
        page = QWidget()
        self.run_title = QLabel()
        self.run_title.setTextFormat(Qt.TextFormat.PlainText)
        self.run_title.setWordWrap(True)
        font = self.run_title.font()
        font.setBold(True)
        self.run_title.setFont(font)
        self.upload_label = _muted("Uploading…")
        self.upload_bar = QProgressBar()
        self.upload_bar.setFormat("%p%")
        self.rows_label = _muted("Waiting for the server…")
        self.rows_bar = QProgressBar()
        self.rate_label = _muted("")
        self.correlation_label = QLabel()
        self.correlation_label.setTextFormat(Qt.TextFormat.PlainText)
        self.correlation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_error = _error_label()
        self.report_summary = QLabel()
        self.report_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.report_summary.setWordWrap(True)
        self.errors_model = RowErrorsModel()
        self.errors_view = QTableView()
        self.errors_view.setAccessibleName("Rejected rows")
        self.errors_view.setModel(self.errors_model)
        self.errors_view.verticalHeader().hide()
        self.errors_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.errors_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.errors_view.hide()
        self.errors_note = _muted("")
        self.errors_note.hide()
        self.cancel_import_button = QPushButton("Cancel import")
        self.cancel_import_button.setToolTip(
            "Stop after the batch the server is working on; resume later from where it stopped"
        )
        self.cancel_import_button.clicked.connect(self.cancel_import)
        self.save_rejects_button = QPushButton("&Save rejected rows…")
        self.save_rejects_button.setToolTip(
            "Write exactly the rejected rows, from your file, to a new file to fix and import"
        )
        self.save_rejects_button.clicked.connect(self.choose_rejects_file)
        self.save_rejects_button.hide()
        self.done_button = QPushButton("Close")
        self.done_button.clicked.connect(self.accept)
        self.closing_note = _muted(
            "Closing this window does not stop the import on the server: Cancel does. "
            "Choose the same file again to follow or resume it."
        )
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_import_button)
        buttons.addWidget(self.save_rejects_button)
        buttons.addWidget(self.done_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.run_title)
        layout.addWidget(self.upload_label)
        layout.addWidget(self.upload_bar)
        layout.addWidget(self.rows_label)
        layout.addWidget(self.rows_bar)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.correlation_label)
        layout.addWidget(self.run_error)
        layout.addWidget(self.report_summary)
        layout.addWidget(self.errors_view, 1)
        layout.addWidget(self.errors_note)
        layout.addStretch(0)
        layout.addWidget(self.closing_note)
        layout.addLayout(buttons)
        return page

    def start_import(self) -> asyncio.Task[Any] | None:
        """Upload the file and follow the import (from the resume row when ticked)."""
        if self.path is None or self.file is None or self.dry_run is None:
            return None
        if self.gate is not None and not self.gate.permit("Import"):
            return None
        start_row = self._resume_row()
        self._enter_run_page(start_row)
        return self.runner.start(
            self._run(self.path, self.file, self.file_format, self.id_field, start_row),
            name="import",
        )

    def follow_running_import(self) -> asyncio.Task[Any] | None:
        """Follow the import of this file that is still running on the server."""
        point = self.resume_point
        if point is None or self.file is None:
            return None
        self._enter_run_page(None, uploading=False)
        self.run_title.setText(f"Following the running import {point.import_id}")
        return self.runner.start(
            self._follow(point.import_id, self.file, point.format, point.id_field),
            name="import",
        )

    def _enter_run_page(self, start_row: int | None, *, uploading: bool = True) -> None:
        assert self.path is not None
        self._cancel_requested = False
        self.status = None
        self.run_error.hide()
        self.report_summary.hide()
        self.errors_view.hide()
        self.errors_note.hide()
        self.save_rejects_button.hide()
        self.cancel_import_button.setEnabled(True)
        self.cancel_import_button.show()
        self.closing_note.show()
        where = f" from row {format_count(start_row)}" if start_row else ""
        self.run_title.setText(f"Importing {self.path.name}{where} into “{self.feed.name}”")
        self.upload_label.setVisible(uploading)
        self.upload_bar.setVisible(uploading)
        self.upload_bar.setRange(0, 1000)
        self.upload_bar.setValue(0)
        self.rows_bar.setRange(0, 0)  # busy until the server says how many rows
        self.rows_label.setText("Waiting for the server…")
        self.rate_label.setText("")
        self.correlation_label.setText("")
        self.pages.setCurrentIndex(1)

    async def _run(
        self,
        path: Path,
        file: FileFingerprint,
        fmt: FileFormat,
        id_field: str,
        start_row: int | None,
    ) -> None:
        upload_rate = RateMeter()

        def uploaded(sent: int, total: int) -> None:
            upload_rate.add(sent)
            if total > 0:
                self.upload_bar.setValue(round(1000 * sent / total))
            rate = upload_rate.rate
            speed = f" · {format_bytes(rate)}/s" if rate else ""
            self.upload_label.setText(
                f"Uploading: {format_bytes(sent)} of {format_bytes(total)}{speed}"
            )

        self.upload_label.setText("Uploading…")
        try:
            status = await self.imports.start(
                self.feed.id,
                path,
                format=fmt,
                id_field=id_field,
                start_row=start_row,
                progress=uploaded,
            )
        except asyncio.CancelledError:
            if self._cancel_requested:
                self._show_upload_cancelled()
            raise
        except ApiError as exc:
            self._stopped_watching(exc, "The upload failed: nothing was imported.")
            return
        except OSError as exc:  # the file went away or changed while being sent
            self._stopped_watching(
                exc, f"Cannot read {path}: {exc.strerror or exc}. Nothing was imported."
            )
            return
        self.upload_bar.setValue(1000)
        self.upload_label.setText("Uploaded. The server imports it in batches.")
        # The server's rows before `start_row` count as done: a later resume goes on
        # from whichever is further.
        done_before = (start_row or 1) - 1
        self._save_point(file, status, fmt, id_field, done_before)
        self.import_started.emit(status.import_id)
        if self._cancel_requested:
            self.runner.start(self._send_cancel(status.import_id), name="cancel")
        await self._watch(status, file, fmt, id_field, done_before)

    async def _follow(self, import_id: str, file: FileFingerprint, fmt: str, id_field: str) -> None:
        try:
            status = await self.imports.status(self.feed.id, import_id)
        except ApiError as exc:
            self._stopped_watching(exc, "Cannot read the import's status.")
            return
        await self._watch(status, file, fmt, id_field, 0)

    async def _watch(
        self, status: ImportStatus, file: FileFingerprint, fmt: str, id_field: str, done_before: int
    ) -> None:
        self._running_import = status.import_id
        if status.correlation_id:
            self.correlation_label.setText(f"Correlation ID: {status.correlation_id}")
        rows_rate = RateMeter()
        saved_at = time.monotonic()
        while True:
            self._show_progress(status, rows_rate)
            self.progress_changed.emit(status)
            if status.status not in RUNNING_STATUSES:
                break
            await asyncio.sleep(POLL_SECONDS)
            try:
                status = await self.imports.status(self.feed.id, status.import_id)
            except ApiError as exc:
                self._save_point(file, status, fmt, id_field, done_before)
                self._stopped_watching(
                    exc,
                    "Lost touch with the import. The server may still be working on it: "
                    "choose the same file again to follow or resume it.",
                )
                return
            if time.monotonic() - saved_at >= SAVE_POINT_SECONDS:
                self._save_point(file, status, fmt, id_field, done_before)
                saved_at = time.monotonic()
        self._running_import = None
        if _complete(status):
            self.store.forget(self.profile, self.feed.id, file)
        else:
            self._save_point(file, status, fmt, id_field, done_before)
        self._show_report(status)
        self.import_finished.emit(status)

    def _save_point(
        self, file: FileFingerprint, status: ImportStatus, fmt: str, id_field: str, done_before: int
    ) -> None:
        point = new_point(
            status.import_id,
            max(done_before, status.last_row),
            status.total,
            fmt,
            id_field,
            status.status,
        )
        try:
            self.store.save(self.profile, self.feed.id, file, point)
        except OSError as exc:
            self.run_error.setText(f"Cannot keep the resume point on this computer: {exc}")
            self.run_error.show()

    def _show_progress(self, status: ImportStatus, rate: RateMeter) -> None:
        self.status = status
        done = status.last_row
        total = status.total
        if total:
            self.rows_bar.setRange(0, total)
            self.rows_bar.setValue(min(done, total))
            self.rows_label.setText(
                f"{format_count(done)} of {format_count(total)} rows · {_counts(status)}"
            )
        else:
            self.rows_bar.setRange(0, 0)
            self.rows_label.setText(f"{format_count(done)} rows so far")
        rate.add(status.processed)
        speed = rate.rate
        if status.status in RUNNING_STATUSES and speed is not None:
            left = rate.seconds_left((total or 0) - done) if total else None
            eta = f" · about {format_duration(left)} left" if left is not None else ""
            self.rate_label.setText(f"{format_count(speed)} rows/s{eta}")
        if status.status == "cancelling":
            self.rows_label.setText(self.rows_label.text() + " · stopping after the current batch…")

    def _show_report(self, status: ImportStatus) -> None:
        self.status = status
        self.cancel_import_button.hide()
        self.closing_note.hide()
        self.upload_label.hide()
        self.upload_bar.hide()
        self.rate_label.setText("")
        total = f" of {format_count(status.total)}" if status.total else ""
        counts = _counts(status)
        if _complete(status):
            title = f"Import finished: {format_count(status.last_row)}{total} rows read"
            if status.failed:
                rejected = "row was" if status.failed == 1 else "rows were"
                title += f"; {format_count(status.failed)} {rejected} rejected (below)"
        else:
            title = (
                f"Import {status.status} after row {format_count(status.last_row)}{total}. "
                "Choose the same file again to resume from row "
                f"{format_count(status.last_row + 1)}."
            )
        self.run_title.setText(title)
        self.rows_label.setText(f"{format_count(status.last_row)}{total} rows")
        summary = f"{counts}."
        if status.started_at and status.finished_at and status.finished_at > status.started_at:
            took = status.finished_at - status.started_at
            summary += (
                f" Took {format_duration(took)} ({format_count(status.processed / took)} rows/s)."
            )
        if status.failed:
            summary += (
                "\nThe rejected rows are listed below by their row in the file: save them as a "
                "file, fix them there and import that file."
            )
        else:
            summary += " No row was rejected."
        self.report_summary.setText(summary)
        self.report_summary.show()
        self.errors_model.set_errors(status.errors)
        has_errors = bool(status.errors)
        self.errors_view.setVisible(has_errors)
        self.save_rejects_button.setVisible(has_errors)
        if status.errors_omitted:
            listed = len(self.rejected_rows())
            self.errors_note.setText(
                f"The server lists {format_count(listed)} of the "
                f"{format_count(listed + status.errors_omitted)} rejected rows; only those "
                "can be saved."
            )
            self.errors_note.show()

    def _show_upload_cancelled(self) -> None:
        self.run_title.setText("Upload cancelled: nothing was imported.")
        self.upload_label.hide()
        self.upload_bar.hide()
        self.rows_label.setText("")
        self.rows_bar.hide()
        self.cancel_import_button.hide()
        self.closing_note.hide()

    def _stopped_watching(self, error: BaseException, headline: str) -> None:
        self._running_import = None
        self.run_title.setText(headline)
        self.run_error.setText(error_text(error))
        self.run_error.show()
        self.cancel_import_button.hide()
        self.closing_note.hide()
        self.rows_bar.setRange(0, 1)
        self.import_failed.emit(error)

    def cancel_import(self) -> None:
        """Ask the server to stop at its next batch boundary (or stop the upload)."""
        self._cancel_requested = True
        self.cancel_import_button.setEnabled(False)
        import_id = self._running_import
        if import_id is None:
            self.runner.cancel("import")  # still uploading: nothing reaches the server
            return
        self.rows_label.setText(self.rows_label.text() + " · cancelling…")
        self.runner.start(self._send_cancel(import_id), name="cancel")

    async def _send_cancel(self, import_id: str) -> None:
        try:
            await self.imports.cancel(self.feed.id, import_id)
        except ApiError as exc:
            self.cancel_import_button.setEnabled(True)
            self.run_error.setText(f"Could not cancel: {error_text(exc)}")
            self.run_error.show()

    # -- rejected rows ---------------------------------------------------------------

    def rejected_rows(self) -> list[int]:
        """The data rows the server rejected, in file order."""
        status = self.status
        if status is None:
            return []
        # Row 0: an error of the import as a whole (it stopped), not of one row.
        return sorted({error.row for error in status.errors if error.row})

    def choose_rejects_file(self) -> QFileDialog | None:
        """Ask where to write the rejected rows."""
        if self.path is None:
            return None
        suggested = self.path.with_name(f"{self.path.stem}.rejected{self.path.suffix}")
        chooser = QFileDialog(self, "Save rejected rows", str(suggested))
        chooser.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.selectFile(str(suggested))
        chooser.fileSelected.connect(lambda name: self.save_rejected_rows(Path(name)))
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def save_rejected_rows(self, target: Path) -> asyncio.Task[Any] | None:
        """Write the rejected rows from the imported file to `target` (same format)."""
        if self.path is None:
            return None
        rows = self.rejected_rows()
        return self.runner.start(
            self._write_rejects(self.path, self.file_format, rows, target), name="rejects"
        )

    async def _write_rejects(
        self, source: Path, fmt: FileFormat, rows: list[int], target: Path
    ) -> None:
        self.save_rejects_button.setEnabled(False)
        self.errors_note.setText(f"Saving {format_count(len(rows))} rejected rows to {target}…")
        self.errors_note.show()
        try:
            written = await in_file_thread(write_rejected_rows, source, fmt, rows, target)
        except OSError as exc:
            self.run_error.setText(f"Cannot write {target}: {exc.strerror or exc}")
            self.run_error.show()
            return
        finally:
            self.save_rejects_button.setEnabled(True)
        self.last_rejects_file = target
        self.errors_note.setText(
            f"Saved {format_count(written)} rejected rows to {target}. Fix them there and "
            "import that file."
        )
        self.errors_note.show()
        self.rejects_saved.emit(str(target), written)

    def _task_failed(self, error: BaseException) -> None:
        target = self.run_error if self.pages.currentIndex() == 1 else self.setup_error
        target.setText(error_text(error))
        target.show()


def _counts(status: ImportStatus) -> str:
    """Created, updated, unchanged (rows imported again as they were) and rejected."""
    unchanged = f", {format_count(status.unchanged)} unchanged" if status.unchanged else ""
    return (
        f"{format_count(status.created)} created, {format_count(status.updated)} updated"
        f"{unchanged}, {format_count(status.failed)} rejected"
    )


def _complete(status: ImportStatus) -> bool:
    """Whether the import went through the whole file (not cancelled or failed half-way)."""
    if status.status in RUNNING_STATUSES:
        return False
    if status.total:
        return status.last_row >= status.total
    return status.status not in ("cancelled", "canceled", "failed")


def start_import(
    parent: QWidget | None,
    source: ConsoleSession | ImportsApi,
    feed: Feed,
    *,
    profile: str | None = None,
    store: ImportResumeStore | None = None,
) -> ImportDialog:
    """Open the Import dialog for `feed` (window-modal, non-blocking) and return it.

    `source` is the console's session (its connection and profile name) or an
    ImportsApi with the `profile` its resume points are kept under.
    """
    if isinstance(source, ConsoleSession):
        imports = ImportsApi(source.require_client())
        profile = profile or (source.profile.name if source.profile is not None else "")
    else:
        imports = source
    dialog = ImportDialog(imports, feed, profile=profile or "", store=store, parent=parent)
    if isinstance(source, ConsoleSession):
        gate = dialog.gate = source.protection
        gate.writes_changed.connect(dialog._sync_buttons)
        dialog._sync_buttons()
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
