"""The Bulk ingest dialog: choose a feed and a file, preview its first items with the item key
checked, then upload it through the resumable bulk uploader with progress, pause, resume and
cancel, and a summary at the end.

Pause stops the uploader's task (its manifest is written as it stops) and Resume runs it
again: it goes on from the manifest, and a batch that was in flight when it stopped is sent
again with the same Idempotency-Key, so the server answers it as a replay and applies
nothing twice. Closing the dialog (or the window) while uploading is a pause that nobody
resumes here: the manifest stays, and the upload is offered again when this server is
connected (`resume_bar`). Cancel asks once, stops, and forgets the manifest.

The dialog is not modal (the window stays usable during a long upload) and runs its
coroutines on the window's TaskRunner, so the window's shutdown stops an upload cleanly,
writing its manifest.

A finished upload's rejected items stay in the uploader's private file (the summary lists
the first 100; Save rejected… copies all of them from it) until the dialog is closed: then
the file is removed. Closing before any save asks first (Save… / Discard / Cancel). A save
is refused when the uploaded file changed since (size or mtime): its items would no longer
match their reasons; the reasons alone are saved then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.feeds import Feed, FeedsApi
from console.api.ingest import (
    BulkUploader,
    UploadIncomplete,
    UploadProgress,
    UploadSummary,
    item_key_problem,
)
from console.api.ingest_sources import FORMATS, MAX_BATCH_ITEMS, SourceError, SourceFormat
from console.api.rejected_items import (
    SavedRejects,
    SourceChanged,
    reasons_path_for,
    rejected_sources,
    save_rejected,
)
from console.api.upload_manifest import ManifestStore, PendingUpload, default_manifest_dir
from console.api.upload_rejects import RejectedItems, sidecar_for
from console.ui.bulk.preview import PREVIEW_ITEMS, BulkPreview, read_bulk_preview
from console.ui.bulk.resume_bar import how_far
from console.ui.formatting import format_duration
from console.ui.protection import gate_button
from console.ui.records.io_files import (
    RateMeter,
    format_bytes,
    format_count,
    in_file_thread,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.confirm import (
    ConfirmBox,
    ask_save_or_discard,
    confirm_destructive,
    destructive_confirmation,
)
from console.ui.widgets.error_banner import error_text

LISTED_REJECTS = 100  # rejected items listed in the summary ("Save rejected…" writes all)
TYPED_PATH_PAUSE_MS = 400  # a pause in typing a path that names a file previews it
FORMAT_TITLES: dict[SourceFormat, str] = {
    "ndjson": "NDJSON (one JSON object per line)",
    "json": "JSON (one array of objects)",
    "csv": "CSV (header row, one item per row)",
}
FLAGGED = "#fdecea"
# Tasks on the window's runner (one bulk dialog at a time).
FEED_COUNT_TASK = "bulk.feed_count"
# After an upload the server goes on applying its last batches: the count is read again,
# a second apart, until it holds what the upload could add, or has not moved for
# FEED_COUNT_SETTLED reads (ids already in the feed replace records rather than add), at
# most FEED_COUNT_READS times (one small GET each; cancelled when the dialog closes).
FEED_COUNT_READS = 120
FEED_COUNT_SETTLED = 5
FEED_COUNT_INTERVAL = 1.0  # seconds
FEEDS_TASK, PREVIEW_TASK, UPLOAD_TASK, REJECTS_TASK = (
    "bulk.feeds",
    "bulk.preview",
    "bulk.upload",
    "bulk.rejects",
)
REJECTED_TEXT_TASK = "bulk.rejected_text"  # the listed rejected items' content, from the file
MAX_REJECTED_TEXT = 300  # characters of a rejected item shown in its row (the tooltip: more)
PAGE_SETUP, PAGE_RUN = 0, 1
DIALOG_SIZE = (960, 640)  # at most 90% x 85% of the screen's available area

log = logging.getLogger(__name__)


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # file, feed and server text: never markup
    label.setWordWrap(True)
    label.setStyleSheet("color: #5c5f66;")
    return label


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # server messages and paths: never markup
    label.setWordWrap(True)
    label.setStyleSheet("color: #a61b0f;")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def counted(count: int, singular: str, plural: str) -> str:
    """`count` with its noun agreeing: "1 batch", "37 batches"."""
    return f"{count:,} {singular if count == 1 else plural}"


def feed_title(feed: Feed) -> str:
    """The feed as the picker lists it."""
    return f"{feed.name} · id field “{feed.id_field}” · {feed.record_count:,} records"


def typed_stream(text: str) -> Feed | None:
    """A stream named by hand, keyed by the contract's default id field (the item key
    field overrides it)."""
    name = text.strip()
    return Feed(name, name, "ingest", "id", 0, 0.0) if name else None


def fresh_name(feeds: list[Feed], feed_id: str) -> str:
    """The listed feed's name (its id when it is not listed)."""
    return next((feed.name for feed in feeds if feed.id == feed_id), feed_id)


def format_of(path: Path) -> SourceFormat:
    """The format a file's name says (NDJSON when it says none)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "json"
    return "ndjson"


class BulkIngestDialog(QDialog):
    """Feed, file, preview; upload with progress, pause, resume and cancel; summary."""

    feeds_loaded = Signal(int)
    preview_ready = Signal(object)  # BulkPreview
    preview_failed = Signal(object)  # the exception
    state_changed = Signal(str)  # setup, running, paused, finished, failed, cancelled
    progress_changed = Signal(object)  # UploadProgress
    upload_finished = Signal(object)  # UploadSummary
    upload_failed = Signal(object)  # the exception
    upload_interrupted = Signal()  # closed while uploading: the manifest is kept
    rejects_saved = Signal(str, int)  # path, items written
    rejects_save_refused = Signal(str)  # why (the file changed since the upload)
    rejected_text_shown = Signal(int)  # listed rejected items whose content is shown

    def __init__(
        self,
        session: ConsoleSession,
        runner: TaskRunner,
        *,
        server_id: str,
        manifest_dir: Path | None = None,
        resume: PendingUpload | None = None,
        path: Path | None = None,
        feed_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`resume`: an interrupted upload to go on with at once; `path` and `feed_id`:
        a file and a feed to start with (the user still starts the upload)."""
        super().__init__(parent)
        self.setWindowTitle("Bulk ingest")
        self._fit_screen()
        self.session = session
        self.client = session.require_client()
        self.runner = runner
        self.server_id = server_id
        self.store = ManifestStore(manifest_dir or default_manifest_dir())
        self.max_items = MAX_BATCH_ITEMS  # items per request at most (tests cut smaller)
        self.count_interval = FEED_COUNT_INTERVAL  # between reads after an upload (tests cut)
        self.feeds: list[Feed] = []
        self.path: Path | None = None
        self.preview: BulkPreview | None = None
        self.kept: PendingUpload | None = None  # an interrupted upload of this very choice
        self.uploader: BulkUploader | None = None
        self.progress: UploadProgress | None = None
        self.summary: UploadSummary | None = None
        self.state = "setup"
        self.file_dialog: QFileDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.ingest_box: ConfirmBox | None = None  # production: type the feed's id to start
        self.last_rejects_file: Path | None = None
        self._resume = resume
        self._wanted_feed = resume.feed if resume is not None else feed_id
        self._stop_reason: str | None = None  # why the running task is being stopped
        self._task: asyncio.Task[Any] | None = None
        self._plan: tuple[Feed, Path, SourceFormat, str | None] | None = None
        self._bytes_rate = RateMeter()
        self._items_rate = RateMeter()
        self._preview_feed: str | None = None  # the feed the preview was read for
        self.close_box: QMessageBox | None = None  # closing while uploading: asked first
        self.save_box: QMessageBox | None = None  # closing with unsaved rejected items
        self._saved_rejects = False  # a save of the summary's rejected items succeeded
        self._close_after_save = False  # Save… chosen on closing: close once saved

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_setup_page())
        self.pages.addWidget(self._build_run_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self.finished.connect(self._closed)
        session.disconnected.connect(self._connection_gone)
        # Writes refused (a locked production profile): Start stays, disabled, and says why.
        session.protection.writes_changed.connect(self._sync_buttons)
        if resume is not None:
            self._adopt(resume)
        elif path is not None:
            self.set_file(path)
        self._sync_buttons()
        self.runner.start(self._load_feeds(), name=FEEDS_TASK)

    def _fit_screen(self) -> None:
        """960x640, or less on a smaller screen (on 1024x640 it filled the screen)."""
        parent = self.parentWidget()
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
        self.resize(
            min(DIALOG_SIZE[0], available.width() * 9 // 10),
            min(DIALOG_SIZE[1], available.height() * 85 // 100),
        )

    def is_uploading(self) -> bool:
        """An upload is running and nobody has asked it to stop."""
        return self.state == "running" and self._stop_reason is None

    # -- setup page ------------------------------------------------------------------

    def _build_setup_page(self) -> QWidget:
        page = QWidget()
        self.feed_combo = QComboBox()
        self.feed_combo.setPlaceholderText("Loading feeds…")
        self.feed_combo.currentIndexChanged.connect(self._feed_changed)
        # Choosing the feed again (the same one) reads its record count again too.
        self.feed_combo.activated.connect(lambda _index: self.refresh_feed_count())
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("File")
        self.file_edit.setPlaceholderText("An .ndjson, .jsonl, .json or .csv file")
        self.file_edit.editingFinished.connect(self._file_typed)
        # A typed path previews once it names a file, without Enter: the Start button stays
        # disabled until a preview, and clicking it would not take the focus from the field.
        self._typed_timer = QTimer(self)
        self._typed_timer.setSingleShot(True)
        self._typed_timer.setInterval(TYPED_PATH_PAUSE_MS)
        self._typed_timer.timeout.connect(self._file_typed_pause)
        self.file_edit.textEdited.connect(self._path_edited)
        # Enter in the field previews what it names; it never starts the upload (the Start
        # button is the dialog's default, and a QLineEdit passes Enter on to it).
        self.file_edit.installEventFilter(self)
        self.browse_button = QPushButton("&Choose file…")
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self.choose_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Format")
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_TITLES[fmt], fmt)
        self.format_combo.currentIndexChanged.connect(self._refresh_preview)
        self.item_key_edit = QLineEdit()
        self.item_key_edit.setMaxLength(100)
        self.item_key_edit.setToolTip(
            "The field that identifies each item (sent as X-Item-Key); empty: the feed's id field"
        )
        self.item_key_edit.editingFinished.connect(self._refresh_preview)
        # A key being typed makes the preview stale: Start waits for the new one.
        self.item_key_edit.textEdited.connect(lambda _text: self._sync_buttons())
        form = QFormLayout()
        form.addRow("&Feed", self.feed_combo)
        form.addRow("File", file_row)
        form.addRow("F&ormat", self.format_combo)
        form.addRow("Item &key", self.item_key_edit)

        self.kept_label = QLabel()
        self.kept_label.setTextFormat(Qt.TextFormat.PlainText)  # a file and feed name
        self.kept_label.setWordWrap(True)
        self.kept_label.setObjectName("keptUpload")
        self.kept_label.setStyleSheet(
            "#keptUpload { background: #eef4fd; border: 1px solid #b6cff5; border-radius: 6px;"
            " padding: 6px; }"
        )
        self.kept_label.hide()
        self.preview_summary = _muted(
            f"Choose a feed and a file: its first {PREVIEW_ITEMS} items show here, each "
            "checked for the item key."
        )
        self.preview_table = QTableWidget()
        self.preview_table.setAccessibleName("Preview of the first items")
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_table.verticalHeader().hide()
        self.preview_table.setWordWrap(False)
        self.preview_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.setup_error = _error_label()
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        self.start_button = QPushButton("&Start upload")
        self.start_button.setObjectName("primaryButton")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_upload)
        # Wide enough for either of its texts (it says Resume when a kept upload matches).
        self.start_button.setText("&Resume upload")
        self.start_button.setMinimumWidth(self.start_button.sizeHint().width())
        buttons = QHBoxLayout()
        buttons.addWidget(
            _muted(
                "Interrupted, the upload can be resumed (here or at the next start) and "
                "never applies an item twice."
            ),
            1,
        )
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.start_button)

        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(self.kept_label)
        layout.addWidget(self.preview_summary)
        layout.addWidget(self.preview_table, 1)
        layout.addWidget(self.setup_error)
        layout.addLayout(buttons)
        return page

    @property
    def feed(self) -> Feed | None:
        """The chosen feed."""
        if self.feed_combo.isEditable():  # a server that lists no feeds: the typed stream
            return typed_stream(self.feed_combo.currentText())
        feed_id = self.feed_combo.currentData()
        return next((f for f in self.feeds if f.id == feed_id), None)

    @property
    def file_format(self) -> SourceFormat:
        """The chosen format."""
        fmt: SourceFormat = self.format_combo.currentData()
        return fmt

    @property
    def item_key(self) -> str | None:
        """The item key given (None: the feed's id field, chosen by the server)."""
        return self.item_key_edit.text().strip() or None

    def checked_key(self) -> str | None:
        """The field the preview checks each item for: the item key, else the feed's id
        field (None: no feed chosen yet)."""
        feed = self.feed
        return self.item_key or (feed.id_field if feed is not None else None)

    async def _load_feeds(self) -> None:
        if not self.session.capabilities.allows("feeds"):  # also: an ingest key (403)
            self._ask_for_stream()
            return
        try:
            feeds = await FeedsApi(self.client).list_all()
        except ApiError as exc:
            self._show_setup_error(f"Cannot list the feeds: {error_text(exc)}")
            return
        # By name, as the user looks for them (the server lists them by id).
        feeds = sorted(feeds, key=lambda feed: (feed.name.casefold(), feed.id))
        self.feeds = feeds
        wanted = self._wanted_feed
        self.feed_combo.blockSignals(True)
        self.feed_combo.clear()
        for feed in feeds:
            self.feed_combo.addItem(feed_title(feed), feed.id)
            self.feed_combo.setItemData(
                self.feed_combo.count() - 1, f"{feed.name} ({feed.id})", Qt.ItemDataRole.ToolTipRole
            )
        self.feed_combo.setPlaceholderText("Choose a feed" if feeds else "This account has no feed")
        index = self.feed_combo.findData(wanted) if wanted is not None else -1
        self.feed_combo.setCurrentIndex(index if index >= 0 else (0 if feeds else -1))
        self.feed_combo.blockSignals(False)
        self.feeds_loaded.emit(len(feeds))
        self._feed_changed(listed=True)
        if self._resume is not None:
            resume, self._resume = self._resume, None
            if self.feed is None or self.feed.id != resume.feed:
                self._show_setup_error(
                    f"The feed “{resume.feed}” of the interrupted upload is not on this "
                    "server any more: it cannot be resumed."
                )
            else:
                self.start_upload()

    def _ask_for_stream(self) -> None:
        """A server offering /api/ingest but no feed list (an Inspire connector): the user
        names the stream, as the service names it (a wrong name is 404 STREAM_NOT_FOUND)."""
        self.feed_combo.setEditable(True)
        line = self.feed_combo.lineEdit()
        if line is not None:
            line.setPlaceholderText("The stream your key writes to")
        self.feed_combo.setToolTip(
            "This server does not list its feeds: type the stream's name (an ingest key "
            "writes to its own stream only)."
        )
        if self._wanted_feed:
            self.feed_combo.setEditText(self._wanted_feed)
        self.feed_combo.editTextChanged.connect(lambda _text: self._feed_changed())
        self.feeds_loaded.emit(0)
        self._feed_changed()

    def select_feed(self, feed_id: str) -> None:
        """Choose the feed `feed_id` (once the feeds are loaded)."""
        if self.feed_combo.isEditable():
            self.feed_combo.setEditText(feed_id)
            return
        index = self.feed_combo.findData(feed_id)
        if index < 0:
            raise ValueError(f"no feed {feed_id!r} listed")
        self.feed_combo.setCurrentIndex(index)

    def _feed_changed(self, _index: int = -1, *, listed: bool = False) -> None:
        feed = self.feed
        self.item_key_edit.setPlaceholderText(
            f"the feed's id field, “{feed.id_field}”" if feed is not None else ""
        )
        if not listed:  # just listed: its count is fresh
            self.refresh_feed_count()
        self._refresh_preview()

    def refresh_feed_count(self, *, until: int | None = None) -> asyncio.Task[Any] | None:
        """Read the chosen feed's record count again (the list's goes stale while the
        dialog stays open); `until`: after an upload, read it every second until the feed
        holds that many records, a few times at most."""
        feed = self.feed
        if feed is None:
            return None
        reads = FEED_COUNT_READS if until is not None else 1
        return self.runner.start(self._read_feed_count(feed.id, until, reads), name=FEED_COUNT_TASK)

    async def _read_feed_count(self, feed_id: str, until: int | None, reads: int) -> None:
        last: int | None = None
        still = 0  # reads in a row with the same count
        for attempt in range(reads):
            if attempt:
                await asyncio.sleep(self.count_interval)
            try:
                fresh = await FeedsApi(self.client).get(feed_id)
            except ApiError as exc:  # the count is a hint: the listed one stays
                log.info("cannot read the record count of feed %s: %s", feed_id, exc)
                if until is not None and last is not None:
                    self._show_count(feed_id, fresh_name(self.feeds, feed_id), last, "unknown")
                return
            still = still + 1 if fresh.record_count == last else 1
            last = fresh.record_count
            if until is None or fresh.record_count >= until:
                self._show_feed(fresh, "now")
                return
            if still >= FEED_COUNT_SETTLED:
                self._show_feed(fresh, "settled")
                return
            self._show_feed(fresh, "applying" if attempt + 1 < reads else "unknown")

    def _show_feed(self, fresh: Feed, how: str = "now") -> None:
        self.feeds = [fresh if feed.id == fresh.id else feed for feed in self.feeds]
        index = self.feed_combo.findData(fresh.id)
        if index >= 0:
            self.feed_combo.setItemText(index, feed_title(fresh))
        self._show_count(fresh.id, fresh.name, fresh.record_count, how)

    def _show_count(self, feed_id: str, name: str, count: int, how: str) -> None:
        """Under the summary: the feed's count, said as current only once it is (`how`:
        now, settled, applying, unknown)."""
        if self._plan is None or self._plan[0].id != feed_id or self.state != "finished":
            return
        if how == "now":
            text = f"The feed “{name}” holds {count:,} records now."
        elif how == "settled":
            seconds = round(FEED_COUNT_SETTLED * self.count_interval)
            text = (
                f"The feed “{name}” holds {count:,} records (unchanged for {seconds} s: the "
                "upload looks applied; items whose ids were already there replace records "
                "instead of adding)."
            )
        elif how == "applying":
            text = (
                f"The server is still applying the upload… the feed “{name}” holds "
                f"{count:,} records so far."
            )
        else:
            text = (
                f"The feed “{name}” held {count:,} records at the last read; the server may "
                "still be applying the upload."
            )
        self.feed_count_note.setText(text)
        self.feed_count_note.show()

    def choose_file(self) -> QFileDialog:
        """Open a file chooser (Qt's own, so it behaves the same everywhere)."""
        chooser = QFileDialog(self, "Choose a file to upload")
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.setNameFilters(
            ["NDJSON, JSON or CSV (*.ndjson *.jsonl *.json *.csv)", "All files (*)"]
        )
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.fileSelected.connect(lambda name: self.set_file(Path(name)))
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter in the File field previews the path typed (and is not passed on)."""
        if (
            watched is self.file_edit
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self._typed_timer.stop()
            text = self.file_edit.text().strip()
            if text and (self.path is None or Path(text) != self.path):
                self.set_file(Path(text))
            elif text and self.preview is None:
                self._refresh_preview()
            return True
        return super().eventFilter(watched, event)

    def _path_edited(self, _text: str) -> None:
        self._typed_timer.start()
        self._sync_buttons()  # the preview shown is of another path now: Start waits

    def preview_is_current(self) -> bool:
        """The preview shown is of the path, format, item key and feed chosen now."""
        preview, feed, path = self.preview, self.feed, self.path
        if preview is None or feed is None or path is None:
            return False
        return (
            self.file_edit.text().strip() == str(path)
            and preview.path == path
            and preview.format == self.file_format
            and preview.item_key == self.checked_key()
            and self._preview_feed == feed.id
        )

    def _file_typed_pause(self) -> None:
        text = self.file_edit.text().strip()
        if text and Path(text).is_file():
            self._file_typed()

    def _file_typed(self) -> None:
        text = self.file_edit.text().strip()
        if text and (self.path is None or Path(text) != self.path):
            self.set_file(Path(text))

    def set_file(self, path: Path) -> None:
        """Use `path` (its format from its name) and preview it."""
        self.path = path
        self.file_edit.setText(str(path))
        self.format_combo.blockSignals(True)
        self.format_combo.setCurrentIndex(FORMATS.index(format_of(path)))
        self.format_combo.blockSignals(False)
        self._refresh_preview()

    def _adopt(self, upload: PendingUpload) -> None:
        """Read the file as the interrupted upload read it: same format and item key."""
        self.path = upload.path
        self.file_edit.setText(str(upload.path))
        fmt = upload.manifest.format
        self.format_combo.blockSignals(True)
        if fmt in FORMATS:
            self.format_combo.setCurrentIndex(FORMATS.index(fmt))
        self.format_combo.blockSignals(False)
        self.item_key_edit.setText(upload.manifest.item_key or "")

    def _refresh_preview(self) -> None:
        self.preview = None
        self.kept = None
        self.kept_label.hide()
        self.setup_error.hide()
        self.preview_table.clear()
        self.preview_table.setRowCount(0)
        self.preview_table.setColumnCount(0)
        key = self.checked_key()
        if self.path is None or key is None or self.state != "setup":
            self._sync_buttons()
            return
        if self.item_key is not None and (problem := item_key_problem(self.item_key)):
            self._show_setup_error(f"Item key: {problem}.")
            self._sync_buttons()
            return
        self.preview_summary.setText(f"Reading the first {PREVIEW_ITEMS} items…")
        self._sync_buttons()
        feed = self.feed
        assert feed is not None
        self.runner.start(
            self._preview(feed, self.path, self.file_format, key, self.item_key),
            name=PREVIEW_TASK,
        )

    async def _preview(
        self, feed: Feed, path: Path, fmt: SourceFormat, key: str, item_key: str | None
    ) -> None:
        # A newer choice cancels this task (same name), so what lands here is current.
        try:
            preview = await in_file_thread(read_bulk_preview, path, fmt, key)
        except (OSError, SourceError, UnicodeDecodeError) as exc:
            detail = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
            self.preview_summary.setText("")
            self._show_setup_error(f"Cannot read {path.name} as {fmt.upper()}: {detail}")
            self._sync_buttons()
            self.preview_failed.emit(exc)
            return
        kept = await in_file_thread(self._kept_upload, feed.id, path, fmt, item_key)
        self.preview = preview
        self._preview_feed = feed.id
        self.kept = kept
        self._show_preview(preview)
        self._sync_buttons()
        self.preview_ready.emit(preview)

    def _kept_upload(
        self, feed_id: str, path: Path, fmt: str, item_key: str | None
    ) -> PendingUpload | None:
        """The interrupted upload this choice would resume, if one is kept (file thread)."""
        resolved = str(path.resolve())
        for upload in self.store.pending(self.server_id):
            manifest = upload.manifest
            if (manifest.feed, manifest.path, manifest.format, manifest.item_key) == (
                feed_id,
                resolved,
                fmt,
                item_key,
            ) and upload.file_state() == "unchanged":
                return upload
        return None

    def _show_preview(self, preview: BulkPreview) -> None:
        table = self.preview_table
        headers = ["Item", f"{preview.item_key} (item key)", "Problem", *preview.columns]
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(preview.items))
        for row, item in enumerate(preview.items):
            cells = [f"[{item.number}]", item.key, item.problem or "", *item.cells]
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if item.problem is not None:
                    cell.setBackground(QBrush(QColor(FLAGGED)))
                    cell.setToolTip(item.problem)
                table.setItem(row, column, cell)
        table.resizeColumnsToContents()
        count = len(preview.items)
        if count == 0:
            self.preview_summary.setText("The file holds no item.")
            return
        lacking = preview.lacking_key
        other = preview.flagged - lacking
        text = f"First {count} item{'s' if count != 1 else ''}: "
        if lacking:
            text += (
                f"{lacking} of {count} lack the item key “{preview.item_key}” (flagged): the "
                "server refuses those, the others are sent."
            )
        else:
            text += f"every object has the item key “{preview.item_key}”."
        if other:
            text += f" {other} cannot be sent as they are (flagged)."
        self.preview_summary.setText(text)
        kept = self.kept
        if kept is not None:
            self.kept_label.setText(
                "An interrupted upload of this file to this feed is kept: "
                f"{how_far(kept)}. Start resumes it; "
                "nothing the server took is applied again."
            )
            self.kept_label.show()

    def _show_setup_error(self, text: str) -> None:
        self.setup_error.setText(text)
        self.setup_error.show()

    def _sync_buttons(self) -> None:
        ready = self.state == "setup" and self.preview_is_current()
        gate = self.session.protection
        gate_button(gate, self.start_button, ready)
        gate_button(gate, self.resume_button, True)
        self.start_button.setText("&Resume upload" if self.kept is not None else "&Start upload")
        running = self.state == "running"
        paused = self.state == "paused"
        self.pause_button.setVisible(running)
        self.done_button.setVisible(not running)
        self.resume_button.setVisible(paused)
        self.cancel_button.setVisible(running or paused)
        self.cancel_button.setEnabled(self._stop_reason != "cancel")
        self.pause_button.setEnabled(self._stop_reason is None)

    # -- run page --------------------------------------------------------------------

    def _build_run_page(self) -> QWidget:
        page = QWidget()
        self.run_title = QLabel()
        self.run_title.setTextFormat(Qt.TextFormat.PlainText)  # it names the file
        self.run_title.setWordWrap(True)
        font = self.run_title.font()
        font.setBold(True)
        self.run_title.setFont(font)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFormat("%p%")
        self.progress_label = _muted("")
        self.rate_label = _muted("")
        self.run_note = _muted("")
        self.run_error = _error_label()
        self.report_label = QLabel()
        self.report_label.setTextFormat(Qt.TextFormat.PlainText)
        self.report_label.setWordWrap(True)
        self.report_label.hide()
        self.feed_count_note = _muted("")
        self.feed_count_note.hide()
        self.rejects_table = QTableWidget(0, 3)
        self.rejects_table.setAccessibleName("Rejected items")
        self.rejects_table.setHorizontalHeaderLabels(["Item", "Why it was rejected", "Content"])
        self.rejects_table.horizontalHeaderItem(0).setToolTip(  # type: ignore[union-attr]
            "The item's index in the file, from [0] (as the reasons and the CLI count)"
        )
        self.rejects_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rejects_table.verticalHeader().hide()
        self.rejects_table.horizontalHeader().setStretchLastSection(True)
        self.rejects_table.hide()
        self.rejects_note = _muted("")
        self.rejects_note.hide()
        self.ids_label = _muted("")
        self.ids_label.hide()
        self.ids_text = QPlainTextEdit()
        self.ids_text.setAccessibleName("Ids of the items sent")
        self.ids_text.setReadOnly(True)
        self.ids_text.setMaximumHeight(120)
        self.ids_text.hide()

        self.pause_button = QPushButton("&Pause")
        self.pause_button.clicked.connect(self.pause_upload)
        self.resume_button = QPushButton("&Resume")
        self.resume_button.clicked.connect(self.resume_upload)
        self.cancel_button = QPushButton("&Cancel upload")
        self.cancel_button.clicked.connect(self.ask_to_cancel)
        self.save_rejects_button = QPushButton("Save &rejected…")
        self.save_rejects_button.clicked.connect(self.choose_rejects_file)
        self.save_rejects_button.hide()
        self.copy_ids_button = QPushButton("Copy &IDs")
        self.copy_ids_button.clicked.connect(self.copy_ids)
        self.copy_ids_button.hide()
        self.done_button = QPushButton("Close")
        self.done_button.clicked.connect(self.reject)
        # The run page's buttons are never the default (Enter is no click), and while the
        # upload runs nothing sits where Start was: the second click of a double-clicked
        # Start lands on empty space, not on Close (which stopped the upload it had just
        # started). Close shows once the upload is no longer running.
        for button in (
            self.pause_button,
            self.resume_button,
            self.cancel_button,
            self.save_rejects_button,
            self.copy_ids_button,
            self.done_button,
        ):
            button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_rejects_button)
        buttons.addWidget(self.copy_ids_button)
        buttons.addStretch(1)
        buttons.addWidget(self.done_button)

        layout = QVBoxLayout(page)
        layout.addWidget(self.run_title)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.rate_label)
        layout.addWidget(self.run_note)
        layout.addWidget(self.run_error)
        layout.addWidget(self.report_label)
        layout.addWidget(self.feed_count_note)
        layout.addWidget(self.rejects_table, 1)
        layout.addWidget(self.rejects_note)
        layout.addWidget(self.ids_label)
        layout.addWidget(self.ids_text)
        layout.addStretch(0)
        layout.addLayout(buttons)
        return page

    def _set_state(self, state: str) -> None:
        self.state = state
        self._sync_buttons()
        self.state_changed.emit(state)

    def start_upload(self) -> asyncio.Task[Any] | None:
        """Upload the chosen file to the chosen feed (resuming a kept upload of it)."""
        feed, path = self.feed, self.path
        if feed is None or path is None or self.state != "setup":
            return None
        gate = self.session.protection
        if not gate.permit("Bulk ingest"):
            return None
        if gate.is_protected:
            # Production: the feed's id is typed before anything is sent (elsewhere the
            # Start button, after the preview, is the one confirmation).
            self.ingest_box = confirm_destructive(
                gate,
                lambda typed: destructive_confirmation(
                    self,
                    "Bulk ingest",
                    f"Upload {path.name} to “{feed.name}” on production?",
                    "Every item is upserted into the feed by its id field; items already "
                    "there are replaced. An upload cannot be undone.",
                    "Start upload",
                    type_to_confirm=typed,
                ),
                feed.id,
                lambda: self._begin_upload(feed, path),
            )
            return None
        return self._begin_upload(feed, path)

    def _begin_upload(self, feed: Feed, path: Path) -> asyncio.Task[Any] | None:
        if self.feed != feed or self.path != path or self.state != "setup":
            return None  # the choice changed while the question was open (a typed stream
            # is a new Feed at each read: compared by value)
        self.runner.cancel(PREVIEW_TASK)
        self._plan = (feed, path, self.file_format, self.item_key)
        self.run_title.setText(f"Uploading {path.name} to “{feed.name}”")
        self.run_error.hide()
        self.progress_bar.setValue(0)
        self.progress_label.setText("Reading the file…")
        self.pages.setCurrentIndex(PAGE_RUN)
        task = self._run()
        self.pause_button.setFocus(Qt.FocusReason.OtherFocusReason)
        return task

    def pause_upload(self) -> None:
        """Stop sending (what the server took is kept in the manifest); Resume goes on."""
        if self.state != "running" or self._stop_reason is not None:
            return
        self._stop_reason = "pause"
        self.run_note.setText("Pausing: waiting for the batches in flight to stop…")
        self._sync_buttons()
        self.runner.cancel(UPLOAD_TASK)

    def resume_upload(self) -> asyncio.Task[Any] | None:
        """Go on from where the paused upload stopped."""
        if self.state != "paused" or self._plan is None:
            return None
        if not self.session.protection.permit("Resume upload"):
            return None
        return self._run()

    def _run(self) -> asyncio.Task[Any]:
        assert self._plan is not None
        feed, path, fmt, item_key = self._plan
        self._stop_reason = None
        self._bytes_rate = RateMeter()
        self._items_rate = RateMeter()
        self.run_note.setText(
            "Stopped in any way (Pause, closing this dialog or the app, a lost connection), "
            "the upload goes on later from where it stopped."
        )
        self.uploader = BulkUploader(
            self.client,
            feed.id,
            path,
            format=fmt,
            item_key=item_key,
            manifest_dir=self.store.directory,
            max_items=self.max_items,
            on_progress=self._show_progress,
            server_id=self.server_id,
            # The listed feed's id field: items without it (flagged in the preview) are left
            # out before sending, not refused by the server batch after batch. A typed
            # stream's id field is not known here: the server's first 400 names it.
            expected_key=feed.id_field if any(f.id == feed.id for f in self.feeds) else None,
        )
        self._set_state("running")
        task = self.runner.start(self._upload(self.uploader), name=UPLOAD_TASK)
        self._task = task
        task.add_done_callback(self._upload_ended)
        return task

    async def _upload(self, uploader: BulkUploader) -> None:
        try:
            summary = await uploader.run()
        except UploadIncomplete as exc:
            self._failed(exc, resumable=not exc.refused)
        except (OSError, SourceError, ValueError) as exc:
            self._failed(exc, resumable=False)
        except Exception as exc:  # shown here, not in the window's banner
            self._failed(exc, resumable=True)
        else:
            self._finished(summary)

    def _upload_ended(self, task: asyncio.Task[Any]) -> None:
        """The upload task is over: it finished, failed, or was stopped (and why)."""
        if task is not self._task:
            return
        self._task = None
        if not task.cancelled():
            return  # _finished or _failed said it
        reason, self._stop_reason = self._stop_reason, None
        if reason == "cancel":
            forgotten = self._discard_manifest()
            self.run_title.setText("Upload cancelled.")
            if forgotten:
                self.run_note.setText(
                    "What the server had taken stays on the server; the progress kept for "
                    "resuming is gone."
                )
            self._set_state("cancelled")
        elif reason == "pause":
            self.run_note.setText(
                "Paused. Resume goes on from here; a batch that was in flight is sent again "
                "and answered as a replay (nothing is applied twice)."
            )
            self._set_state("paused")
        else:  # the dialog closed, the connection went away, or the window shut down
            self._set_state("paused")
            if reason is not None:  # not at shutdown: nothing is left to offer it then
                self.upload_interrupted.emit()
        # Nothing is moving now: no rate nor time left. The Pause button clicked is gone
        # (the focus fell on Cancel upload): Resume takes its place, and the focus.
        self.rate_label.setText("")
        if self.state == "paused" and self.isActiveWindow():
            self.resume_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _discard_manifest(self) -> bool:
        """Forget the upload's progress file; False, and said here, when it cannot go."""
        uploader = self.uploader
        path = uploader.manifest_path if uploader is not None else None
        if path is None:
            return True
        try:
            path.unlink(missing_ok=True)
            sidecar_for(path).unlink(missing_ok=True)
        except OSError as exc:
            self.run_error.setText(
                f"The progress kept for resuming could not be removed: {path} "
                f"({exc.strerror or exc}). The upload stays offered for resuming when this "
                "server is connected: Discard it there, or delete that file."
            )
            self.run_error.show()
            self.run_note.setText("What the server had taken stays on the server.")
            return False
        return True

    def ask_to_cancel(self) -> QMessageBox:
        """Ask once whether to stop the upload and forget its progress."""
        self.confirm_box = self._question(
            "Cancel the upload?",
            "Stop the upload and forget how far it got? What the server has taken stays "
            "there; uploading the file again later starts from its beginning (the server "
            "answers the batches it has already seen as replays).",
            "Cancel upload",
            "Keep paused" if self.state == "paused" else "Keep uploading",
            self.cancel_upload,
        )
        return self.confirm_box

    def _question(
        self, title: str, text: str, yes: str, no: str, on_yes: Callable[[], object]
    ) -> QMessageBox:
        """An open Yes/No question about the upload: `no` is the default and Esc, `yes`
        runs `on_yes`."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText(yes)
        box.button(QMessageBox.StandardButton.No).setText(no)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        box.accepted.connect(on_yes)
        box.finished.connect(box.deleteLater)
        box.open()
        return box

    def cancel_upload(self) -> None:
        """Stop the upload and forget its manifest (no question: `ask_to_cancel` asks)."""
        if self.state == "paused":
            if self._discard_manifest():
                self.run_note.setText("What the server had taken stays on the server.")
            self.run_title.setText("Upload cancelled.")
            self._set_state("cancelled")
            return
        if self.state != "running":
            return
        self._stop_reason = "cancel"
        self._sync_buttons()
        self.runner.cancel(UPLOAD_TASK)

    def _show_progress(self, progress: UploadProgress) -> None:
        self.progress = progress
        self._bytes_rate.add(progress.bytes_done)
        self._items_rate.add(progress.items_sent)
        total = progress.bytes_total or 0
        if total:
            self.progress_bar.setValue(round(1000 * progress.bytes_done / total))
        self.progress_label.setText(
            f"{format_bytes(progress.bytes_done)} of {format_bytes(total)} · "
            f"{format_count(progress.items_sent)} items sent · "
            f"{counted(progress.batches_done, 'batch', 'batches')} · "
            f"{counted(progress.duplicates, 'replay', 'replays')} · "
            f"{progress.rejected_count:,} rejected"
        )
        rate = self._items_rate.rate
        left = self._bytes_rate.seconds_left(total - progress.bytes_done) if total else None
        parts = []
        if rate is not None:
            parts.append(f"{format_count(rate)} items/s")
        if left is not None:
            parts.append(f"about {format_duration(left)} left")
        self.rate_label.setText(" · ".join(parts))
        self.progress_changed.emit(progress)

    def _finished(self, summary: UploadSummary) -> None:
        self.summary = summary
        self.progress_bar.setValue(1000)
        feed_name = self._plan[0].name if self._plan is not None else ""
        self.run_title.setText(
            f"Upload finished: {format_count(summary.items_sent)} items sent to “{feed_name}”"
        )
        self.rate_label.setText("")
        self.run_note.setText("")
        replays = (
            f"{counted(summary.duplicates, 'batch', 'batches')} "
            f"({format_count(summary.duplicate_items)} items) "
            f"{'was' if summary.duplicates == 1 else 'were'} answered as replays of batches "
            "the server already had: not applied again"
            if summary.duplicates
            else "no batch was a replay"
        )
        self.report_label.setText(
            f"{format_count(summary.items_sent)} items accepted in "
            f"{counted(summary.batches_done, 'batch', 'batches')}; {replays}; "
            f"{summary.rejected_count:,} items rejected; "
            f"{counted(summary.batches_retried, 'batch', 'batches')} retried."
        )
        self.report_label.show()
        self._show_rejects(summary.rejects)
        self._show_ids(summary)
        self._set_state("finished")
        if self._plan is not None:
            # The server applies the last batches just after answering them: read the
            # count until it holds what this upload could add (new ids), a few times.
            self.refresh_feed_count(until=self._plan[0].record_count + summary.items_sent)
        self.upload_finished.emit(summary)

    def _show_rejects(self, rejects: RejectedItems) -> None:
        shown = rejects.first[:LISTED_REJECTS]
        self.rejects_table.setRowCount(len(shown))
        for row, (index, reason) in enumerate(shown):
            self.rejects_table.setItem(row, 0, QTableWidgetItem(f"[{index}]"))
            self.rejects_table.setItem(row, 1, QTableWidgetItem(reason))
        self.rejects_table.resizeColumnToContents(0)
        self.rejects_table.setColumnWidth(1, 420)
        self.rejects_table.setVisible(bool(rejects))
        if shown and self._plan is not None:
            _feed, path, fmt, _key = self._plan
            self.runner.start(
                self._show_rejected_text(path, fmt, [index for index, _ in shown]),
                name=REJECTED_TEXT_TASK,
            )
        self.save_rejects_button.setVisible(bool(rejects))
        if rejects.count > LISTED_REJECTS:
            self.rejects_note.setText(
                f"The first {LISTED_REJECTS} of {rejects.count:,} rejected items are listed "
                "(by index in the file, from [0]); Save rejected… writes them all."
            )
            self.rejects_note.show()
        elif rejects:
            self.rejects_note.setText("Items are named by their index in the file, from [0].")
            self.rejects_note.show()

    async def _show_rejected_text(self, path: Path, fmt: SourceFormat, indexes: list[int]) -> None:
        """Each listed rejected item's own text, read from the file by its byte range."""
        try:
            found = await in_file_thread(
                lambda: [
                    (index, text.decode("utf-8", errors="replace"))
                    for index, text in rejected_sources(
                        path, fmt, indexes, limit=MAX_REJECTED_TEXT * 4
                    )
                ]
            )
        except (OSError, SourceError) as exc:  # the file moved or changed: the reasons stay
            log.info("cannot read the rejected items of %s: %s", path, exc)
            return
        rows = {index: row for row, index in enumerate(indexes)}
        for index, text in found:
            row = rows.get(index)
            if row is None:
                continue
            one_line = " ".join(text.split())
            shown = (
                one_line
                if len(one_line) <= MAX_REJECTED_TEXT
                else one_line[: MAX_REJECTED_TEXT - 1] + "…"
            )
            cell = QTableWidgetItem(shown)
            cell.setToolTip(text)
            self.rejects_table.setItem(row, 2, cell)
        self.rejected_text_shown.emit(len(found))

    def _show_ids(self, summary: UploadSummary) -> None:
        uploader = self.uploader
        prefix = uploader.key_prefix if uploader is not None else None
        lines = []
        if prefix:
            lines.append(f"Idempotency keys of every batch start with: {prefix}")
        lines.extend(
            f"{request}  {correlation}"
            for request, correlation in zip(
                summary.request_ids, summary.correlation_ids, strict=False
            )
        )
        self.ids_label.setText(
            "To find the upload in the logs: search the key prefix in Ingest Logs (every batch, "
            "over every run), or Find by ID with a request or correlation ID of the batches "
            "this run sent:"
        )
        self.ids_text.setPlainText("\n".join(lines))
        self.ids_label.setVisible(bool(lines))
        self.ids_text.setVisible(bool(lines))
        self.copy_ids_button.setVisible(bool(lines))

    def copy_ids(self) -> None:
        """Put the key prefix and every request and correlation ID on the clipboard."""
        QGuiApplication.clipboard().setText(self.ids_text.toPlainText())

    def _failed(self, error: BaseException, *, resumable: bool) -> None:
        self.run_title.setText(
            "The upload stopped before the end." if resumable else "The upload cannot go on."
        )
        self.run_error.setText(error_text(error))
        self.run_error.show()
        self.rate_label.setText("")
        if resumable:
            self.run_note.setText(
                "Its progress is kept: Resume goes on from where it stopped (now, or when this "
                "server is connected again)."
            )
            self._set_state("paused")
        else:
            self.run_note.setText("")
            self._set_state("failed")
        self.upload_failed.emit(error)

    def _connection_gone(self) -> None:
        """The console left this server: stop (the upload is offered when it comes back)."""
        if self.state == "running" and self._stop_reason is None:
            self._stop_reason = "connection"
            self.runner.cancel(UPLOAD_TASK)
        self.run_note.setText(
            "The console left this server: the upload is kept and offered again when you "
            "connect to it."
        )
        self.reject()

    def reject(self) -> None:
        """Close (Esc, the title bar's X, Close); while uploading, ask first: keep
        uploading, or pause and close (the upload stays resumable). A finished upload
        whose rejected items are not saved asks too: closing removes them."""
        if self.ask_before_closing() is None:
            super().reject()

    def ask_before_closing(self) -> QMessageBox | None:
        """The question closing this dialog asks, opened (None: it closes unasked). Quitting
        the window asks the same one."""
        if self.is_uploading():
            return self.ask_to_close()
        if self.has_unsaved_rejects():
            return self.ask_to_save_rejects()
        return None

    def dismiss(self) -> None:
        """Close without asking (another upload replaces this dialog's)."""
        if self.is_uploading():
            self.pause_and_close()
            return
        super().reject()

    def has_unsaved_rejects(self) -> bool:
        """A finished upload's rejected items, in this open summary, that no save has
        written yet (closing the summary removes them)."""
        return (
            self.isVisible()
            and self.summary is not None
            and bool(self.summary.rejects)
            and not self._saved_rejects
        )

    def ask_to_save_rejects(self) -> QMessageBox:
        """Closing a summary with unsaved rejected items: Save… (then close), Discard
        (close: they are removed), or Cancel (the default: stay)."""
        if self.save_box is not None and self.save_box.isVisible():
            return self.save_box
        count = self.summary.rejects.count if self.summary is not None else 0
        listed = min(count, LISTED_REJECTS)
        shown = "all listed" if listed == count else f"only the first {listed:,} are listed"
        box = ask_save_or_discard(
            self,
            "Save rejected items?",
            f"Save the {count:,} rejected {'item' if count == 1 else 'items'} before closing?",
            f"The uploader keeps them ({shown}) only while this summary is open: closing "
            "removes them. Save… writes them as the file holds them, to fix and upload again, "
            "with their reasons next to them.",
            on_save=self._save_then_close,
            on_discard=super().reject,
        )
        box.finished.connect(self._save_box_closed)
        self.save_box = box
        return box

    def _save_box_closed(self, _result: int) -> None:
        self.save_box = None  # answered: deleted next

    def _save_then_close(self) -> None:
        chooser = self.choose_rejects_file()
        if chooser is not None:
            self._close_after_save = True
            chooser.rejected.connect(self._keep_open)

    def _keep_open(self) -> None:
        self._close_after_save = False  # no file chosen: the summary stays

    def ask_to_close(self) -> QMessageBox:
        """Closing a running upload: keep uploading (the default) or pause and close."""
        if self.close_box is not None and self.close_box.isVisible():
            return self.close_box
        self.close_box = self._question(
            "Close while uploading?",
            "The upload is still running. Pause it and close this dialog? Its progress is "
            "kept: it is offered for resuming when this server is connected, and nothing the "
            "server took is applied again.",
            "Pause and close",
            "Keep uploading",
            self.pause_and_close,
        )
        return self.close_box

    def pause_and_close(self) -> None:
        """Stop the upload, keeping its progress for resuming, and close the dialog."""
        if self.state == "running" and self._stop_reason is None:
            self._stop_reason = "close"
            self.runner.cancel(UPLOAD_TASK)
        super().reject()

    def _closed(self, _result: int) -> None:
        """Closed while uploading: stop, keeping the manifest (an interrupted upload)."""
        for name in (FEEDS_TASK, FEED_COUNT_TASK, PREVIEW_TASK, REJECTS_TASK, REJECTED_TEXT_TASK):
            self.runner.cancel(name)
        if self.summary is not None:
            # The summary is dismissed: nothing can save its rejected items any more.
            self.summary.rejects.discard()
        if self.state == "running" and self._stop_reason is None:
            self._stop_reason = "close"
            self.runner.cancel(UPLOAD_TASK)
        with contextlib.suppress(RuntimeError, TypeError):  # already disconnected
            self.session.disconnected.disconnect(self._connection_gone)

    # -- rejected items ----------------------------------------------------------------

    def choose_rejects_file(self) -> QFileDialog | None:
        """Ask where to write the rejected items (as the file holds them; their index and
        reason go next to them, in `<stem>.reasons.ndjson`)."""
        if self.summary is None or self._plan is None:
            return None
        path = self._plan[1]
        suggested = path.with_name(f"{path.stem}.rejected{path.suffix or '.ndjson'}")
        chooser = QFileDialog(self, "Save rejected items", str(suggested))
        chooser.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.selectFile(str(suggested))
        chooser.fileSelected.connect(lambda name: self.save_rejects(Path(name)))
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def save_rejects(self, target: Path) -> asyncio.Task[Any] | None:
        """Write every rejected item to `target` as the uploaded file holds it (to be fixed
        and uploaded again), and each one's index and reason next to it (both 0600, whole),
        streamed from the file and the upload's rejected items."""
        if self.summary is None or self._plan is None:
            return None
        _feed, path, fmt, _key = self._plan
        return self.runner.start(
            self._write_rejects(target, self.summary, path, fmt), name=REJECTS_TASK
        )

    async def _write_rejects(
        self, target: Path, summary: UploadSummary, source: Path, fmt: SourceFormat
    ) -> None:
        rejects = summary.rejects
        reasons = reasons_path_for(target)
        try:
            saved: SavedRejects = await in_file_thread(
                lambda: save_rejected(
                    rejects,
                    source,
                    fmt,
                    target,
                    size=summary.source_size,
                    mtime_ns=summary.source_mtime_ns,
                )
            )
        except SourceChanged as exc:
            # The reasons are the upload's own and still right: they alone are saved.
            try:
                await in_file_thread(rejects.copy_to, reasons)
            except OSError as error:
                self.run_error.setText(
                    f"{exc}; the reasons cannot be saved either: cannot write {reasons}: "
                    f"{error.strerror or error}"
                )
            else:
                self._saved_rejects = True  # all that can still be saved is
                self.run_error.setText(
                    f"{exc}. Only their indexes and reasons were saved, to {reasons}."
                )
            self.run_error.show()
            self.rejects_save_refused.emit(str(exc))
            return
        except OSError as exc:
            self.run_error.setText(f"Cannot write {target}: {exc.strerror or exc}")
            self.run_error.show()
            return
        except SourceError as exc:
            self.run_error.setText(f"Cannot read the rejected items from {source}: {exc}")
            self.run_error.show()
            return
        self.last_rejects_file = target
        self._saved_rejects = True
        if saved.count == rejects.count:
            self.rejects_note.setText(
                f"Saved {saved.count:,} rejected items to {target} (as the file holds them: fix "
                f"and upload it), their reasons to {reasons.name}."
            )
        else:
            self.rejects_note.setText(
                f"Saved only {saved.count:,} of {rejects.count:,} rejected items to {target}: "
                f"the others were not found in {source.name}. All {rejects.count:,} reasons "
                f"are in {reasons.name}."
            )
        self.rejects_note.show()
        self.rejects_saved.emit(str(target), saved.count)
        if self._close_after_save:
            self.reject()
