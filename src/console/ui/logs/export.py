"""Export of the Ingest Logs view's current selection to CSV or NDJSON, with progress.

The rows are exactly those the table shows: the Selection (its slots) is fixed when the
dialog opens, and the buffer writes them (`LogBuffer.write_csv` / `write_ndjson`) in a
worker thread, in chunks, reporting progress and checking Cancel between chunks. The
file is written beside the target under a temporary name (0600, as every file the console
writes) and renamed only when complete: Cancel or a failure leaves no half file.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

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

from console.ui.formatting import format_duration
from console.ui.records.io_files import (
    FORMATS,
    FileFormat,
    RateMeter,
    atomic_output,
    format_count,
    in_file_thread,
)
from console.ui.tasks import TaskRunner
from console.ui.widgets.error_banner import error_text

if TYPE_CHECKING:
    from console.logbuffer.buffer import LogBuffer, Selection

FORMAT_TITLES = {"csv": "CSV", "ndjson": "NDJSON (one JSON object per line)"}
PROGRESS_POLL_SECONDS = 0.1


class ExportCancelled(Exception):
    """The user cancelled; the temporary file is removed."""


def write_selection(
    buffer: LogBuffer,
    selection: Selection,
    target: Path,
    fmt: FileFormat,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Write `selection` to `target` (0600, atomically); returns the rows written.

    Blocking: run it in a worker thread. Raises ExportCancelled when `cancelled()` turned
    true before the end (nothing is left on disk then).
    """
    writer: Callable[..., int] = buffer.write_csv if fmt == "csv" else buffer.write_ndjson
    with atomic_output(target) as out:
        binary: BinaryIO = out
        rows = writer(selection, binary, progress=progress, cancelled=cancelled)
        if cancelled is not None and cancelled():
            raise ExportCancelled
    return rows


class LogExportDialog(QDialog):
    """Choose format and file, then write the shown entries with progress and Cancel."""

    export_finished = Signal(str, int)  # path, rows written
    export_stopped = Signal(object)  # the error, or None when cancelled

    def __init__(
        self,
        buffer: LogBuffer,
        selection: Selection,
        description: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export log entries")
        self.setMinimumWidth(560)
        self.buffer = buffer
        self.selection = selection
        self.total = len(selection)
        self.rows_written = 0
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._task_failed)
        self.finished.connect(self._closed)
        self.file_dialog: QFileDialog | None = None
        self._stop = threading.Event()
        self._done = 0  # rows written, as the worker last said (read on the UI thread)

        entries = f"{format_count(self.total)} entr{'y' if self.total == 1 else 'ies'}"
        self.what_label = QLabel(f"Exports the {entries} shown ({description}).")
        self.what_label.setWordWrap(True)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Export format")
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_TITLES[fmt], fmt)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("Export file")
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

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, max(1, self.total))
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
        text = self.file_edit.text().strip()
        if text:
            self.file_edit.setText(str(Path(text).with_suffix(f".{self.file_format}")))

    def _sync_buttons(self) -> None:
        busy = self.runner.running > 0
        self.export_button.setEnabled(bool(self.file_edit.text().strip()) and not busy)

    def choose_file(self) -> QFileDialog:
        """Ask where to write the export (Qt's own dialog, the same everywhere)."""
        suggested = f"ingest-logs.{self.file_format}"
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
        """Write the file chosen."""
        text = self.file_edit.text().strip()
        if not text or self.runner.running:
            return None
        target = Path(text).expanduser()
        self._stop.clear()
        self.error_label.hide()
        self.progress_bar.show()
        self.progress_bar.setValue(0)
        self.progress_label.setText("Starting…")
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        for widget in (self.export_button, self.format_combo, self.file_edit, self.browse_button):
            widget.setEnabled(False)
        task = self.runner.start(self._export(target, self.file_format), name="export")
        task.add_done_callback(lambda _task: self._idle())
        return task

    def cancel_export(self) -> None:
        """Stop the export; nothing is left on disk."""
        self.cancel_button.setEnabled(False)
        self._stop.set()

    def _progress(self, done: int, _total: int) -> None:
        self._done = done  # the worker thread's; the UI polls it

    async def _export(self, target: Path, fmt: FileFormat) -> None:
        self.rows_written = self._done = 0
        rate = RateMeter()
        rate.add(0)
        writing = asyncio.ensure_future(
            in_file_thread(
                write_selection,
                self.buffer,
                self.selection,
                target,
                fmt,
                self._progress,
                self._stop.is_set,
            )
        )
        try:
            while not writing.done():
                await asyncio.wait({writing}, timeout=PROGRESS_POLL_SECONDS)
                rate.add(self._done)
                self._show_progress(rate)
            rows = writing.result()
        except ExportCancelled:
            done = format_count(self._done)
            self._stopped(f"Export cancelled after {done} rows: no file was written.", None)
            return
        except OSError as exc:
            self._stopped(f"The export stopped; no file was written. {exc}", exc)
            return
        except asyncio.CancelledError:
            self._stop.set()  # the dialog closed: the worker stops at its next chunk
            raise
        self.rows_written = rows
        self.progress_bar.setValue(self.progress_bar.maximum())
        written = f"{format_count(rows)} row{'' if rows == 1 else 's'}"
        self.progress_label.setText(f"Exported {written} to {target}.")
        self.export_finished.emit(str(target), rows)

    def _show_progress(self, rate: RateMeter) -> None:
        done = self._done
        self.progress_bar.setValue(done)
        speed = rate.rate
        per_second = f" · {format_count(speed)} rows/s" if speed else ""
        left = rate.seconds_left(max(0, self.total - done))
        eta = f" · about {format_duration(left)} left" if left is not None else ""
        self.progress_label.setText(
            f"{format_count(done)} of {format_count(self.total)} rows{per_second}{eta}"
        )

    def _stopped(self, text: str, error: BaseException | None) -> None:
        self.progress_bar.hide()
        self.progress_label.setText("")
        self.error_label.setText(text)
        self.error_label.show()
        self.export_stopped.emit(error)

    def _closed(self) -> None:
        self._stop.set()
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


def open_export(
    parent: QWidget | None, buffer: LogBuffer, selection: Selection, description: str
) -> LogExportDialog:
    """Open the export dialog for `selection` (non-blocking) and return it."""
    dialog = LogExportDialog(buffer, selection, description, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
