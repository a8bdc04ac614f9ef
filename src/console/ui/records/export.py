"""Export of the Records tab's current filter to CSV or NDJSON, streamed page by page.

Pages of 1000 records are fetched one after another and written as they arrive (in a
worker thread), so neither the feed nor the export is ever held in memory. The file
appears only when complete: it is written beside the target under a temporary name
and renamed at the end, so Cancel (or a failure) leaves no half file behind.
CSV columns: guid, system_id, version, updated_at, deleted, then the data keys, arrays
as `name[0]`, `name[1]`, … and objects as JSON text, the form an import reads back.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.feeds import Feed, FeedsApi
from console.api.records import RecordQuery, RecordsApi
from console.ui.formatting import format_duration
from console.ui.records.io_files import (
    FORMATS,
    ExportWriter,
    FileFormat,
    RateMeter,
    format_count,
    in_file_thread,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.error_banner import error_text

PAGE_SIZE = 1000
FINISH_POLL_SECONDS = 0.2  # how often the progress of writing a CSV from its spool shows
FORMAT_TITLES = {"csv": "CSV", "ndjson": "NDJSON (one JSON object per line)"}
DELETED_TITLES = {"0": "active records", "1": "archived records", "all": "active and archived"}


def describe_query(query: RecordQuery) -> str:
    """The filter in words, as the dialog names what it exports."""
    parts = [DELETED_TITLES.get(query.deleted, query.deleted)]
    if query.q:
        parts.append(f"text “{query.q}”")
    if query.guid:
        parts.append(f"guid {query.guid}")
    if query.system_id:
        parts.append(f"system id {query.system_id}")
    if query.version is not None:
        parts.append(f"changed since version {query.version}")
    parts.extend(f"{name} = {value}" for name, value in query.fields)
    return ", ".join(parts)


def unfiltered(query: RecordQuery) -> bool:
    """Whether `query` lists every active record (so the feed's count is the total)."""
    return query == RecordQuery(order=query.order)


class ExportDialog(QDialog):
    """Choose format and file, then export with progress and Cancel."""

    export_finished = Signal(str, int)  # path, rows written
    export_stopped = Signal(object)  # the error, or None when cancelled
    progress_changed = Signal(int)  # rows written so far, after each page

    def __init__(
        self,
        records: RecordsApi,
        feed: Feed,
        query: RecordQuery,
        *,
        feeds: FeedsApi | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export from “{feed.name}”")
        self.setMinimumWidth(560)
        self.records = records
        self.feeds = feeds
        self.feed = feed
        self.page_size = PAGE_SIZE
        self.query = query
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._task_failed)
        self.finished.connect(self._closed)
        self.file_dialog: QFileDialog | None = None
        self.rows_written = 0
        self._writer: ExportWriter | None = None

        self.what_label = QLabel(f"Exports the {describe_query(query)} of “{feed.name}”.")
        self.what_label.setWordWrap(True)
        self.format_combo = QComboBox()
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_TITLES[fmt], fmt)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("Where to write the file")
        self.file_edit.textChanged.connect(self._sync_buttons)
        self.browse_button = QPushButton("&Choose…")
        self.browse_button.clicked.connect(self.choose_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("File", file_row)
        self.note = QLabel(
            "CSV: guid, system_id, version, updated_at, deleted, then the data keys; arrays "
            "as name[0], name[1], … and objects as JSON text, so the file imports again."
        )
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #5c5f66;")

        self.progress_bar = QProgressBar()
        self.progress_bar.hide()
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #a61b0f;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.clicked.connect(self.cancel_export)
        self.cancel_button.hide()
        self.export_button = QPushButton("&Export")
        self.export_button.setObjectName("primaryButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.what_label)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self._sync_buttons()

    @property
    def file_format(self) -> FileFormat:
        """The chosen format."""
        fmt: FileFormat = self.format_combo.currentData()
        return fmt

    def _format_changed(self) -> None:
        self.note.setVisible(self.file_format == "csv")
        text = self.file_edit.text().strip()
        if text:
            self.file_edit.setText(str(Path(text).with_suffix(f".{self.file_format}")))

    def _sync_buttons(self) -> None:
        busy = self.runner.running > 0
        self.export_button.setEnabled(bool(self.file_edit.text().strip()) and not busy)

    def choose_file(self) -> QFileDialog:
        """Ask where to write the export (Qt's own dialog, the same everywhere)."""
        suggested = f"{self.feed.id}.{self.file_format}"
        chooser = QFileDialog(self, "Export to", suggested)
        chooser.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.selectFile(suggested)
        chooser.fileSelected.connect(self.file_edit.setText)
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def start_export(self) -> asyncio.Task[Any] | None:
        """Export to the chosen file."""
        text = self.file_edit.text().strip()
        if not text or self.runner.running:
            return None
        target = Path(text).expanduser()
        self.error_label.hide()
        self.progress_bar.show()
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText("Starting…")
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        for widget in (self.export_button, self.format_combo, self.file_edit, self.browse_button):
            widget.setEnabled(False)
        task = self.runner.start(self._export(target, self.file_format), name="export")
        task.add_done_callback(lambda _task: self._idle())
        return task

    def cancel_export(self) -> None:
        """Stop the export; the partial file is removed."""
        self.cancel_button.setEnabled(False)
        self.runner.cancel("export")

    async def _export(self, target: Path, fmt: FileFormat) -> None:
        self.rows_written = 0
        expected = await self._expected_rows()
        if expected:
            self.progress_bar.setRange(0, expected)
        rate = RateMeter()
        rate.add(0)
        try:
            writer = ExportWriter(target, fmt)
        except OSError as exc:
            self._stopped(f"Cannot write in {target.parent}: {exc.strerror or exc}", exc)
            return
        self._writer = writer
        try:
            pages = self.records.iterate(self.feed.id, self.query, limit=self.page_size)
            async for page in pages:
                self.rows_written = await in_file_thread(writer.write_page, page.items)
                rate.add(self.rows_written)
                self._show_progress(expected, rate)
                self.progress_changed.emit(self.rows_written)
            await self._finish(writer)
        except asyncio.CancelledError:
            writer.abort()
            if shiboken6.isValid(self):  # not when the closed dialog was deleted first
                done = format_count(self.rows_written)
                self._stopped(f"Export cancelled after {done} rows: no file was written.", None)
            raise
        except (ApiError, OSError) as exc:
            writer.abort()
            text = error_text(exc) if isinstance(exc, ApiError) else str(exc)
            self._stopped(f"The export stopped; no file was written. {text}", exc)
            return
        except BaseException:
            writer.abort()
            raise
        finally:
            self._writer = None
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        rows = f"{format_count(self.rows_written)} row{'' if self.rows_written == 1 else 's'}"
        self.progress_label.setText(f"Exported {rows} to {target}.")
        self.export_finished.emit(str(target), self.rows_written)

    async def _finish(self, writer: ExportWriter) -> None:
        """Complete the file; a CSV is written from the spool now, with its own progress."""
        total = self.rows_written
        self.progress_bar.setRange(0, max(total, 1))
        finishing = asyncio.ensure_future(in_file_thread(writer.finish))
        try:
            while not finishing.done():
                done = writer.rows_finished
                self.progress_bar.setValue(done)
                self.progress_label.setText(
                    f"{format_count(total)} rows fetched: writing the file "
                    f"({format_count(done)} of {format_count(total)})…"
                )
                await asyncio.wait({finishing}, timeout=FINISH_POLL_SECONDS)
        finally:
            if not finishing.done():
                writer.abort()  # stops the writing thread at its next row
        await finishing

    async def _expected_rows(self) -> int | None:
        """The feed's active-record count when the filter is empty (else unknown)."""
        if not unfiltered(self.query):
            return None
        if self.feeds is not None:
            # The count now, not at opening; failing that, the count at opening will do.
            with contextlib.suppress(ApiError):
                self.feed = await self.feeds.get(self.feed.id)
        return self.feed.record_count or None

    def _show_progress(self, expected: int | None, rate: RateMeter) -> None:
        done = self.rows_written
        speed = rate.rate
        per_second = f" · {format_count(speed)} rows/s" if speed else ""
        if expected:
            self.progress_bar.setMaximum(max(expected, done))
            self.progress_bar.setValue(done)
            left = rate.seconds_left(max(0, expected - done))
            eta = f" · about {format_duration(left)} left" if left is not None else ""
            self.progress_label.setText(
                f"{format_count(done)} of about {format_count(expected)} rows{per_second}{eta}"
            )
        else:
            self.progress_label.setText(f"{format_count(done)} rows{per_second}")

    def _stopped(self, text: str, error: BaseException | None) -> None:
        self.progress_bar.hide()
        self.progress_label.setText("")
        self.error_label.setText(text)
        self.error_label.show()
        self.export_stopped.emit(error)

    def _closed(self) -> None:
        # The partial file goes at once, not when the cancelled task next runs.
        if self._writer is not None:
            self._writer.abort()
        self.runner.cancel_all()

    def _idle(self) -> None:
        if not shiboken6.isValid(self):
            return
        self.cancel_button.hide()
        for widget in (self.format_combo, self.file_edit, self.browse_button):
            widget.setEnabled(True)
        self._sync_buttons()

    def _task_failed(self, error: BaseException) -> None:
        self._stopped(error_text(error), error)


def start_export(
    parent: QWidget | None,
    source: ConsoleSession | RecordsApi,
    feed: Feed,
    query: RecordQuery,
) -> ExportDialog:
    """Open the Export dialog for `feed` filtered by `query` (non-blocking) and return it."""
    feeds = None
    if isinstance(source, ConsoleSession):
        records, feeds = RecordsApi(source.require_client()), FeedsApi(source.require_client())
    else:
        records = source
    dialog = ExportDialog(records, feed, query, feeds=feeds, parent=parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
