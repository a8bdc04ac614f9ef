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
    QLabel,
    QWidget,
)

from console.api.errors import ApiError
from console.api.feeds import Feed, FeedsApi
from console.api.records import RecordQuery, RecordsApi
from console.ui.formatting import format_duration
from console.ui.records.io_files import (
    ExportWriter,
    FileFormat,
    RateMeter,
    format_count,
    in_file_thread,
)
from console.ui.session import ConsoleSession
from console.ui.widgets.error_banner import error_text
from console.ui.widgets.export_dialog import ExportDialogBase

PAGE_SIZE = 1000
FINISH_POLL_SECONDS = 0.2  # how often the progress of writing a CSV from its spool shows
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


class ExportDialog(ExportDialogBase):
    """Choose format and file, then export with progress and Cancel."""

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
        note = QLabel(
            "CSV: guid, system_id, version, updated_at, deleted, then the data keys; arrays "
            "as name[0], name[1], … and objects as JSON text, so the file imports again."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5c5f66;")
        super().__init__(
            f"Export from “{feed.name}”",
            f"Exports the {describe_query(query)} of “{feed.name}”.",
            feed.id,
            parent,
            notes=(note,),
        )
        self.note = note
        self.records = records
        self.feeds = feeds
        self.feed = feed
        self.page_size = PAGE_SIZE
        self.query = query
        self.rows_written = 0
        self._writer: ExportWriter | None = None
        self.finished.connect(self._closed)
        self.cancel_button.clicked.connect(self.cancel_export)

    def _format_changed(self) -> None:
        self.note.setVisible(self.file_format == "csv")
        super()._format_changed()

    def start_export(self) -> asyncio.Task[Any] | None:
        """Export to the chosen file."""
        text = self.file_edit.text().strip()
        if not text or self.runner.running:
            return None
        target = Path(text).expanduser()
        self._busy()
        self.progress_bar.setRange(0, 0)
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

    def _closed(self) -> None:
        # The partial file goes at once, not when the cancelled task next runs.
        if self._writer is not None:
            self._writer.abort()
        self.runner.cancel_all()


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
