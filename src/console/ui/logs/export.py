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

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QWidget,
)

from console.ui.formatting import format_duration
from console.ui.records.io_files import (
    FileFormat,
    RateMeter,
    atomic_output,
    format_count,
    in_file_thread,
)
from console.ui.widgets.export_dialog import ExportDialogBase

if TYPE_CHECKING:
    from console.logbuffer.buffer import LogBuffer, Selection

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


class LogExportDialog(ExportDialogBase):
    """Choose format and file, then write the shown entries with progress and Cancel."""

    def __init__(
        self,
        buffer: LogBuffer,
        selection: Selection,
        description: str,
        parent: QWidget | None = None,
    ) -> None:
        total = len(selection)
        entries = f"{format_count(total)} entr{'y' if total == 1 else 'ies'}"
        super().__init__(
            "Export log entries",
            f"Exports the {entries} shown ({description}).",
            "ingest-logs",
            parent,
        )
        self.buffer = buffer
        self.selection = selection
        self.total = total
        self.rows_written = 0
        self._stop = threading.Event()
        self._done = 0  # rows written, as the worker last said (read on the UI thread)
        self.progress_bar.setRange(0, max(1, self.total))
        self.finished.connect(self._closed)
        self.cancel_button.clicked.connect(self.cancel_export)

    def start_export(self) -> asyncio.Task[Any] | None:
        """Write the file chosen."""
        text = self.file_edit.text().strip()
        if not text or self.runner.running:
            return None
        target = Path(text).expanduser()
        self._stop.clear()
        self._busy()
        self.progress_bar.setValue(0)
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

    def _closed(self) -> None:
        self._stop.set()
        self.runner.cancel_all()


def open_export(
    parent: QWidget | None, buffer: LogBuffer, selection: Selection, description: str
) -> LogExportDialog:
    """Open the export dialog for `selection` (non-blocking) and return it."""
    dialog = LogExportDialog(buffer, selection, description, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
