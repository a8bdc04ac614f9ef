"""The Records tab: a feed's records, paged lazily, filtered on the server, one in detail.

Two ids drive everything on screen. The current query (`model.generation`) owns the
table: a new filter, order or feed cancels the requests of the old one, and any answer
for it that still arrives is dropped. The current record (`current_guid`) owns the
detail pane and the actions: it changes only when the user picks a row (or creates a
record); filters and refreshes never change it, and every answer about a record is
checked against it before it is shown.
"""

from __future__ import annotations

import asyncio
import functools
import html
import importlib
import importlib.util
import itertools
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.feeds import Feed, FeedsApi
from console.api.intents import IntentsApi
from console.api.records import Record, RecordQuery, RecordsApi, RecordWrite
from console.ui.protection import gate_button
from console.ui.records.detail import RecordDetail
from console.ui.records.dialogs import FetchDialog, JsonRecordDialog, system_id_text
from console.ui.records.filters import RecordFilterBar
from console.ui.records.model import FIRST_PAGE_ROWS, RECORD_ROLE, RecordsTableModel
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.confirm import Confirmation, confirm_destructive, destructive_confirmation
from console.ui.widgets.error_banner import error_text
from console.ui.widgets.row_table import setup_row_view

HISTORY_PAGE = 50
GUID_COLUMN_PX = 150  # elided in the middle; the detail pane shows it whole
FETCH_METHODS = ("trigger", "polling")
INTENT_POLL_S = 0.25
INTENT_WAIT_S = 60.0
# The Import and Export dialogs live in their own modules, imported when first opened.
IMPORT_MODULE = "console.ui.records.import_dialog"
EXPORT_MODULE = "console.ui.records.export"
ORDER_NEWEST = "-updated_at"
ORDER_OLDEST = "updated_at"


@dataclass(frozen=True)
class ActionResult:
    """What an action did, for the result line (and tests): its words and request id."""

    text: str
    correlation_id: str
    record: Record | None = None
    failed: bool = False  # an outcome with failures: shown in warning colours


@functools.cache
def io_available(module: str) -> bool:
    """Whether this build has the Import or Export dialog's module."""
    return importlib.util.find_spec(module) is not None


def feed_label(feed: Feed) -> str:
    """`Orders (orders) · ingest · id field “id” · 1,204 records`."""
    count = f"{feed.record_count:,} record{'s' if feed.record_count != 1 else ''}"
    return f"{feed.name} · {feed.method} · id field “{feed.id_field}” · {count}"


class ResultLine(QFrame):
    """The last action's outcome, with its correlation ID to copy for support (and a link
    to its trace)."""

    find_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultLine")
        self._set_failed(False)
        self.label = QLabel("")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.label.linkActivated.connect(self._find)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.copy_button = QPushButton("Copy co&rrelation ID")
        self.copy_button.setToolTip("Copy this action's correlation ID (support and logs use it)")
        self.copy_button.clicked.connect(self.copy)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.copy_button)
        self.result: ActionResult | None = None
        self.hide()

    def show_result(self, result: ActionResult) -> None:
        """Say what happened and offer its correlation ID."""
        self.result = result
        self._set_failed(result.failed)
        suffix = f" · correlation ID {result.correlation_id}" if result.correlation_id else ""
        link = (
            f' · correlation ID <a href="trace:">{html.escape(result.correlation_id)}</a>'
            if result.correlation_id
            else ""
        )
        self.label.setText(html.escape(result.text) + link)
        self.label.setToolTip(
            result.text + suffix + ("\nClick the ID to see its trace." if link else "")
        )
        self.copy_button.setEnabled(bool(result.correlation_id))
        self.show()

    def _set_failed(self, failed: bool) -> None:
        background, border = ("#fff4e5", "#f0c36d") if failed else ("#eef6ff", "#c9ddf5")
        self.setProperty("failed", failed)
        self.setStyleSheet(
            f"#resultLine {{ background: {background}; border: 1px solid {border};"
            " border-radius: 6px; }"
        )

    def copy(self) -> None:
        """Put the correlation ID on the clipboard."""
        if self.result is not None and self.result.correlation_id:
            QGuiApplication.clipboard().setText(self.result.correlation_id)

    def _find(self, _href: str) -> None:
        if self.result is not None and self.result.correlation_id:
            self.find_requested.emit(self.result.correlation_id)


class RecordsTab(QWidget):
    """Records of the connected account's feeds."""

    feeds_loaded = Signal(int)
    records_loaded = Signal(int)  # rows shown after a query's first page
    record_shown = Signal(object)  # Record, fresh from the server, in the detail pane
    history_loaded = Signal(str)  # guid whose history is listed
    action_done = Signal(object)  # ActionResult
    counts_refreshed = Signal()  # the feeds' record counts were read again after a write
    settled = Signal()  # nothing of the current feed, query or record is in flight
    find_requested = Signal(str)  # a correlation ID's link: Find by ID shows its trace

    def __init__(
        self, session: ConsoleSession, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.feeds: list[Feed] = []
        self.feed: Feed | None = None
        self.current_guid: str | None = None
        self.query: RecordQuery | None = None
        self.order = ORDER_NEWEST
        self._record: Record | None = None  # the current record as last read
        self._detail_loading = False
        self._history_cursor: str | None = None
        self._needs_load = False
        self._syncing_selection = False
        self._auto_select = False  # select the first row of the next first page
        self._sized_columns: tuple[str, ...] = ()
        self.has_loaded = False  # a first page of the current feed has been shown
        self.feeds_listed = False
        self._feeds_loading = False
        self._feeds_task: asyncio.Task[Any] | None = None
        self._open_after_load: tuple[str, str] | None = None  # (feed, GUID) from a trace
        self.model = RecordsTableModel(runner.start)

        self.feed_combo = QComboBox()
        self.feed_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.feed_combo.setMinimumContentsLength(34)
        self.feed_combo.setPlaceholderText("No feed")
        self.feed_combo.activated.connect(self._feed_picked)
        feed_label_widget = QLabel("Feed:")
        feed_label_widget.setBuddy(self.feed_combo)
        # A combo's accessible name is its value unless set (its buddy is only a relation).
        self.feed_combo.setAccessibleName("Feed")
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setToolTip("Reload the feeds, the records and the selected record")
        self.refresh_button.clicked.connect(self.refresh)
        self.new_button = QPushButton("&New record…")
        self.new_button.setObjectName("primaryButton")
        self.new_button.clicked.connect(self.new_record)
        self.fetch_button = QPushButton("&Trigger fetch…")
        self.fetch_button.clicked.connect(lambda: self.ask_fetch(many=False))
        self.fetch_list_button = QPushButton("Fetch &list…")
        self.fetch_list_button.clicked.connect(lambda: self.ask_fetch(many=True))
        self.import_button = QPushButton("I&mport…")
        self.import_button.clicked.connect(self._start_import)
        self.export_button = QPushButton("E&xport…")
        self.export_button.clicked.connect(self._start_export)
        toolbar = QHBoxLayout()
        toolbar.addWidget(feed_label_widget)
        toolbar.addWidget(self.feed_combo, 1)
        toolbar.addWidget(self.refresh_button)
        toolbar.addStretch(0)
        for button in (
            self.fetch_button,
            self.fetch_list_button,
            self.import_button,
            self.export_button,
            self.new_button,
        ):
            toolbar.addWidget(button)

        self.filter_bar = RecordFilterBar()
        self.filter_bar.changed.connect(self.apply_filters)

        self.table = QTableView()
        self.table.setAccessibleName("Records")
        self.table.setModel(self.model)
        setup_row_view(self.table)
        # A GUID's start is its time and its end its random part: both tell records apart.
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        vertical = self.table.verticalHeader()
        vertical.hide()
        # Fixed row heights: the view never measures rows (a million of them).
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setMaximumSectionSize(320)
        # Column widths are measured on the first page only, never by reading further rows.
        header.setResizeContentsPrecision(FIRST_PAGE_ROWS)
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._header_clicked)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.first_page_loaded.connect(self._first_page_loaded)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.modelReset.connect(self._show_order)
        self.model.loading_changed.connect(lambda _loading: self._update_summary())

        self.summary_label = QLabel("Not loaded")
        self.summary_label.setStyleSheet("color: #5c5f66;")
        self.result_line = ResultLine()
        self.result_line.find_requested.connect(self.find_requested)

        self.detail = RecordDetail()
        self.detail.more_history_requested.connect(self.load_more_history)
        self.detail.find_requested.connect(self.find_requested)
        self.edit_button = QPushButton("&Edit…")
        self.edit_button.clicked.connect(self.edit_current)
        self.archive_button = QPushButton("&Archive…")
        self.archive_button.clicked.connect(self.archive_current)
        self.restore_button = QPushButton("Re&store…")
        self.restore_button.clicked.connect(self.restore_current)
        for button in (self.edit_button, self.archive_button, self.restore_button):
            self.detail.actions_row.addWidget(button)
        self.detail.actions_row.addStretch(1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.summary_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([740, 520])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.result_line)
        layout.addWidget(splitter, 1)
        chain = (
            self.feed_combo,
            self.refresh_button,
            self.filter_bar.text_edit,
            self.filter_bar.guid_edit,
            self.filter_bar.system_id_edit,
            self.table,
            self.edit_button,
            self.archive_button,
            self.restore_button,
        )
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        # Writes refused (a locked production profile): the buttons stay, disabled, and say why.
        session.protection.writes_changed.connect(self._sync_actions)
        self._sync_actions()

    # -- connection and feeds ---------------------------------------------------------

    def _records(self) -> RecordsApi:
        return RecordsApi(self.session.require_client())

    def connected(self) -> None:
        """A connection is ready: load the feeds now if the tab shows, else when it does."""
        self._needs_load = True
        self._sync_actions()
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """The first look at the tab loads it (nothing is fetched for a hidden tab)."""
        super().showEvent(event)
        if self._needs_load and self.session.client is not None:
            self.refresh()

    def clear(self) -> None:
        """Forget everything of the previous connection (its answers must not land here)."""
        for name in ("feeds", "keys", "detail", "history", "intent.poll"):
            self.runner.cancel(f"records.{name}")
        self.model.clear()
        self.feeds = []
        self.feed = None
        self.query = None
        self.has_loaded = False
        self.feeds_listed = False
        self._feeds_loading = False
        self._feeds_task = None
        self._open_after_load = None
        self._needs_load = False
        self.feed_combo.clear()
        self.filter_bar.reset()
        self.filter_bar.set_field_names([])
        self.result_line.hide()
        self._set_current(None)
        self.summary_label.setText("Not connected")
        self._sync_actions()

    def refresh(self) -> asyncio.Task[Any] | None:
        """Reload the feeds (counts), then the records and the current record."""
        if self.session.client is None:
            return None
        self._needs_load = False
        self._feeds_loading = True
        task = self.runner.start(self._load_feeds(), name="records.feeds")
        self._feeds_task = task
        task.add_done_callback(self._feeds_done)
        return task

    def _feeds_done(self, task: asyncio.Task[Any]) -> None:
        if task is self._feeds_task:
            self._feeds_loading = False
            pending, self._open_after_load = self._open_after_load, None
            if pending is not None and self.feeds_listed:
                self.open_record(*pending)

    def open_record(self, feed_id: str, guid: str) -> None:
        """Show record `guid` of `feed_id` (a trace's link): its feed, filtered to that
        GUID, the record current. Waits for the feeds when they are not listed yet."""
        if not self.feeds_listed or self._feeds_loading:
            self._open_after_load = (feed_id, guid)
            if not self._feeds_loading:
                self.refresh()
            return
        if (self.feed is None or self.feed.id != feed_id) and not self.select_feed(feed_id):
            self.summary_label.setText(f"The feed “{feed_id}” is not listed: refresh the tab.")
            return
        self.filter_bar.reset()
        self.filter_bar.guid_edit.setText(guid)
        self._set_current(None)
        self._auto_select = True  # the first row of the answer: the record
        self.apply_filters(force=True)

    async def _load_feeds(self) -> None:
        self.summary_label.setText("Loading feeds…")
        feeds = await FeedsApi(self.session.require_client()).list_all()
        self.feeds = feeds
        self.feeds_listed = True
        self._feeds_loading = False  # what follows (records, detail) has its own flags
        keep = self.feed.id if self.feed is not None else None
        self.feed_combo.blockSignals(True)
        self.feed_combo.clear()
        for feed in feeds:
            self.feed_combo.addItem(feed_label(feed), feed.id)
            self.feed_combo.setItemData(
                self.feed_combo.count() - 1, f"{feed.name} ({feed.id})", Qt.ItemDataRole.ToolTipRole
            )
        self.feed_combo.blockSignals(False)
        self.feeds_loaded.emit(len(feeds))
        chosen = next((f for f in feeds if f.id == keep), None)
        if chosen is None and feeds:
            # The first look: the feed with the most records shows the most.
            chosen = max(feeds, key=lambda f: f.record_count)
        if chosen is None:
            self.feed = None
            self.model.clear()
            self._set_current(None)
            self.summary_label.setText("This account has no feeds yet.")
            self._sync_actions()
            self.settled.emit()
            return
        self.feed_combo.setCurrentIndex(self.feed_combo.findData(chosen.id))
        if chosen.id == keep:
            self.feed = chosen  # fresh counts; same filters, same record
            self.apply_filters(force=True)
            if self.current_guid is not None:
                self._load_detail(self.current_guid)
        else:
            self._switch_feed(chosen)

    def _feed_picked(self, index: int) -> None:
        feed_id = self.feed_combo.itemData(index)
        feed = next((f for f in self.feeds if f.id == feed_id), None)
        if feed is not None and (self.feed is None or feed.id != self.feed.id):
            self._switch_feed(feed)

    def select_feed(self, feed_id: str) -> bool:
        """Show the feed `feed_id` as if picked; False when it is not listed."""
        index = self.feed_combo.findData(feed_id)
        if index < 0:
            return False
        self.feed_combo.setCurrentIndex(index)
        self._feed_picked(index)
        return True

    def _switch_feed(self, feed: Feed) -> None:
        """Another feed: its own filters, columns and records; no record is current."""
        self.feed = feed
        self.has_loaded = False
        self.runner.cancel("records.intent.poll")
        self.result_line.hide()  # the last action's line belongs to the feed it acted on
        self.filter_bar.reset()
        self.filter_bar.set_field_names([])
        self._set_current(None)
        self._auto_select = True
        self.runner.start(self._load_data_keys(feed), name="records.keys")
        self.apply_filters(force=True, new_feed=True)

    async def _load_data_keys(self, feed: Feed) -> None:
        try:
            keys = await self._records().data_keys(feed.id)
        except ApiError as error:
            if error.status == 404:  # a server without the extension: type the field
                return
            raise
        if self.feed is not None and self.feed.id == feed.id:
            self.filter_bar.set_field_names(keys)

    # -- the query -----------------------------------------------------------------

    def apply_filters(self, *, force: bool = False, new_feed: bool = False) -> None:
        """Show what the filter bar asks for (a query equal to the current one is kept)."""
        feed = self.feed
        if feed is None or self.session.client is None:
            return
        try:
            query = self.filter_bar.query(self.order)
        except ValueError as error:  # e.g. a field filter the query refuses
            self.summary_label.setText(str(error))
            return
        if not force and query == self.query:
            return
        self.query = query
        api = self._records()

        async def fetch(cursor: str | None, limit: int) -> Any:
            return await api.page(feed.id, query, limit=limit, cursor=cursor)

        self.model.load(fetch, keep_columns=not new_feed, id_field=feed.id_field)
        self._update_summary()
        self._sync_actions()

    def _header_clicked(self, section: int) -> None:
        if self.model.columns[section] != "updated":
            self._show_order()
            return
        self.order = ORDER_OLDEST if self.order == ORDER_NEWEST else ORDER_NEWEST
        self.model.order_descending = self.order == ORDER_NEWEST
        self.apply_filters()

    def _show_order(self) -> None:
        """The sort arrow sits on `updated` and points the server's way."""
        columns = self.model.columns
        if "updated" in columns:
            way = (
                Qt.SortOrder.DescendingOrder
                if self.order == ORDER_NEWEST
                else Qt.SortOrder.AscendingOrder
            )
            header = self.table.horizontalHeader()
            blocked = header.blockSignals(True)
            header.setSortIndicator(columns.index("updated"), way)
            header.blockSignals(blocked)

    def _first_page_loaded(self, generation: int) -> None:
        if generation != self.model.generation:
            return
        if self._sized_columns != self.model.columns:
            # Measured once per set of columns (a feed's first page), not on every filter:
            # measuring every cell of a page costs more than fetching it.
            self._sized_columns = self.model.columns
            self.table.resizeColumnsToContents()
            self.table.setColumnWidth(0, min(self.table.columnWidth(0), GUID_COLUMN_PX))
        self._show_order()
        self.has_loaded = True
        if self._auto_select and self.current_guid is None and self.model.rowCount() > 0:
            record = self.model.record_at(0)
            if record is not None:
                self._set_current(record)
        self._auto_select = False
        self._show_current_in_list()
        self._update_summary()
        self.records_loaded.emit(self.model.rowCount())
        self._maybe_settled()

    def _page_loaded(self, generation: int) -> None:
        if generation == self.model.generation:
            self._show_current_in_list()
            self._update_summary()

    def _update_summary(self) -> None:
        feed = self.feed
        if feed is None:
            return
        if self.model.is_loading:
            self.summary_label.setText(f"Loading records of {feed.name}…")
            return
        rows = self.model.rowCount()
        way = "newest first" if self.order == ORDER_NEWEST else "oldest first"
        if rows == 0:
            text = (
                "No record matches these filters."
                if self.query != RecordQuery()
                else ("No active records in this feed yet.")
            )
        elif self.model.at_end:
            text = f"{rows:,} record{'s' if rows != 1 else ''} match · {way}"
        else:
            text = f"{rows:,} loaded, more as you scroll · {way}"
        self.summary_label.setText(f"{text} · feed holds {feed.record_count:,} active")

    # -- the current record ----------------------------------------------------------

    @property
    def current_record(self) -> Record | None:
        """The current record as last read (the detail pane shows it)."""
        return self._record

    def selected_record(self) -> Record | None:
        """The record of the highlighted row, if its page is in memory."""
        rows = self.table.selectionModel().selectedRows()
        record = rows[0].data(RECORD_ROLE) if rows else None
        return record if isinstance(record, Record) else None

    def select_guid(self, guid: str) -> bool:
        """Make the listed record `guid` current, as a click would; False if not listed."""
        row = self.model.row_of_guid(guid)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._syncing_selection:
            return
        picked = self.selected_record()
        if picked is None:
            self._show_current_in_list()  # a deselection chooses nothing
            return
        if picked.guid != self.current_guid:
            self._set_current(picked)

    def _set_current(self, record: Record | None) -> None:
        """`record` becomes current: the detail shows it now, fresh data follows."""
        self.current_guid = record.guid if record is not None else None
        self._record = record
        self._history_cursor = None
        self.runner.cancel("records.detail")
        self.runner.cancel("records.history")
        self.detail.show_record(record)
        self.detail.set_listing("")
        self._sync_actions()
        if record is not None:
            self._load_detail(record.guid)
        else:
            self._detail_loading = False

    def _is_current(self, feed_id: str, guid: str) -> bool:
        return self.feed is not None and self.feed.id == feed_id and self.current_guid == guid

    def _load_detail(self, guid: str) -> None:
        if self.feed is None or self.session.client is None:
            return
        self._detail_loading = True
        task = self.runner.start(self._fetch_detail(self.feed.id, guid), name="records.detail")
        task.add_done_callback(lambda _t: self._detail_done(guid))

    def _detail_done(self, guid: str) -> None:
        if self.current_guid == guid:
            self._detail_loading = False
            self._maybe_settled()

    async def _fetch_detail(self, feed_id: str, guid: str) -> None:
        api = self._records()
        record = await api.get(feed_id, guid)
        if not self._is_current(feed_id, guid):
            return  # another record was chosen meanwhile
        self._show_fresh(record)
        try:
            page = await api.history(feed_id, guid, limit=HISTORY_PAGE)
        except ApiError as error:
            if error.status == 404 and self._is_current(feed_id, guid):
                self.detail.set_history([], more=False, status="This server keeps no history.")
                return
            raise
        if not self._is_current(feed_id, guid):
            return
        self._history_cursor = page.next_cursor
        self.detail.set_history(list(page.items), more=page.next_cursor is not None)
        self.history_loaded.emit(guid)

    def load_more_history(self) -> None:
        """The next (older) page of the current record's history."""
        if self.feed is None or self.current_guid is None or self._history_cursor is None:
            return
        self.runner.start(
            self._more_history(self.feed.id, self.current_guid, self._history_cursor),
            name="records.history",
        )

    async def _more_history(self, feed_id: str, guid: str, cursor: str) -> None:
        page = await self._records().history(feed_id, guid, limit=HISTORY_PAGE, cursor=cursor)
        if not self._is_current(feed_id, guid) or self._history_cursor != cursor:
            return
        self._history_cursor = page.next_cursor
        entries = self.detail.history_entries() + list(page.items)
        self.detail.set_history(entries, more=page.next_cursor is not None)
        self.history_loaded.emit(guid)

    def _show_fresh(self, record: Record) -> None:
        """Fresh data of the current record: detail, row and actions follow it."""
        if record.guid != self.current_guid:
            return
        self._record = record
        self.model.update_record(record)
        self.detail.show_record(record)
        self._show_listing()
        self._sync_actions()
        self.record_shown.emit(record)

    def _show_current_in_list(self) -> None:
        """Highlight the current record's row, or nothing when the list does not hold it."""
        selection = self.table.selectionModel()
        self._syncing_selection = True
        try:
            row = self.model.row_of_guid(self.current_guid) if self.current_guid else None
            selected = self.selected_record()
            if row is not None:
                if selected is None or selected.guid != self.current_guid:
                    self.table.selectRow(row)
            elif selected is not None or selection.hasSelection():
                selection.clearSelection()
                selection.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._syncing_selection = False
        self._show_listing(row)

    def _show_listing(self, row: int | None = None) -> None:
        """Tell the detail whether the list shows its record; unknown says nothing."""
        if row is None and self.current_guid is not None:
            row = self.model.row_of_guid(self.current_guid)
        if row is not None or self.model.is_loading or self._record is None:
            note = ""
        elif self.model.at_end or self._status_filter_excludes(self._record):
            note = "not in the list with this filter"
        else:
            note = "not among the rows loaded so far"
        self.detail.set_listing(note)

    def _status_filter_excludes(self, record: Record) -> bool:
        """Active / Archived alone hides `record`, however many pages are loaded."""
        deleted = self.query.deleted if self.query is not None else "all"
        return deleted == ("0" if record.deleted else "1")

    def _maybe_settled(self) -> None:
        if self.is_settled:
            self.settled.emit()

    @property
    def is_settled(self) -> bool:
        """The feed's records and the current record are shown; nothing else is coming."""
        if not self.feeds_listed or self._feeds_loading:
            return False
        if self.feed is None:
            return True  # an account without feeds: the tab says so
        return self.has_loaded and not self.model.is_loading and not self._detail_loading

    def _sync_actions(self) -> None:
        """Every button acts on the current feed or record, and says why when it cannot."""
        connected = self.session.client is not None
        feed = self.feed
        record = self._record
        gate = self.session.protection
        self.refresh_button.setEnabled(connected)
        no_feed = "Not connected." if not connected else "Choose a feed first."
        for button, module in (
            (self.new_button, None),
            (self.import_button, IMPORT_MODULE),
            (self.export_button, EXPORT_MODULE),
        ):
            if module is not None and not io_available(module):
                button.setEnabled(False)
                button.setToolTip("Not in this build.")
                continue
            tip = "" if connected and feed is not None else no_feed
            if button is self.export_button:  # a read: never gated
                button.setEnabled(connected and feed is not None)
                button.setToolTip(tip)
            else:
                gate_button(gate, button, connected and feed is not None, tip)
        fetches = connected and feed is not None and feed.method in FETCH_METHODS
        if fetches or feed is None:
            why = "" if fetches else no_feed
        else:
            why = (
                f"Only trigger and polling feeds fetch from a source; “{feed.name}” is an "
                f"{feed.method} feed (records are pushed to it)."
            )
        for button in (self.fetch_button, self.fetch_list_button):
            gate_button(gate, button, fetches, why)
        none = "Select a record first." if connected else "Not connected."
        gate_button(
            gate,
            self.edit_button,
            connected and record is not None,
            "" if record is not None and connected else none,
        )
        can_archive = connected and record is not None and not record.deleted
        gate_button(
            gate,
            self.archive_button,
            can_archive,
            none
            if record is None or not connected
            else "Already archived: Restore brings it back."
            if record.deleted
            else "Archive (soft delete): it stays readable under Archived and can be restored.",
        )
        can_restore = connected and record is not None and record.deleted
        gate_button(
            gate,
            self.restore_button,
            can_restore,
            none
            if record is None or not connected
            else "Only archived records can be restored."
            if not record.deleted
            else "Make this archived record active again.",
        )

    # -- actions -------------------------------------------------------------------

    def show_result(self, result: ActionResult) -> None:
        """Put an action's outcome and correlation ID on the result line."""
        self.result_line.show_result(result)
        self.action_done.emit(result)

    def _written(self, write: RecordWrite, text: str) -> None:
        """After a write: the row, the detail and the result line show what the server kept."""
        record = write.record
        self.model.update_record(record)
        if record.guid == self.current_guid:
            self._show_fresh(record)
            self._load_detail(record.guid)  # the history gained a change
        self.show_result(ActionResult(text, write.correlation_id, record))
        self.runner.start(self._refresh_counts(), name="records.counts")

    async def _refresh_counts(self) -> None:
        """The feeds' record counts after a write (an archive or restore moves them), in the
        picker and the summary, without reloading the list."""
        feeds = await FeedsApi(self.session.require_client()).list_all()
        by_id = {feed.id: feed for feed in feeds}
        for index in range(self.feed_combo.count()):
            feed = by_id.get(self.feed_combo.itemData(index))
            if feed is not None:
                self.feed_combo.setItemText(index, feed_label(feed))
        self.feeds = [by_id.get(feed.id, feed) for feed in self.feeds]
        if self.feed is not None and self.feed.id in by_id:
            self.feed = by_id[self.feed.id]
            self._update_summary()
        self.counts_refreshed.emit()

    def new_record(self) -> JsonRecordDialog | None:
        """Open the JSON editor for a new record (an upsert by the feed's id field)."""
        feed = self.feed
        if feed is None or not self.session.protection.permit("New record"):
            return None
        dialog = JsonRecordDialog(feed, parent=self)
        dialog.submitted.connect(
            lambda data: (
                self.runner.start(self._upsert(dialog, feed, data))
                if self.session.protection.permit("New record")
                else None
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        self.record_dialog = dialog
        dialog.open()
        return dialog

    async def _upsert(self, dialog: JsonRecordDialog, feed: Feed, data: dict[str, Any]) -> None:
        system_id = system_id_text(data.get(feed.id_field))
        try:
            write = await self._records().upsert(feed.id, system_id=system_id, data=data)
        except ApiError as error:
            dialog.show_error(error_text(error))
            return
        except BaseException as error:
            dialog.show_error(f"Could not save the record: {error or type(error).__name__}")
            raise
        dialog.accept()
        verb = "Created" if write.created else "Updated"
        if self.feed is None or self.feed.id != feed.id:
            self.show_result(
                ActionResult(f"{verb} record {system_id} in {feed.name}", write.correlation_id)
            )
            return
        # The record is newest now: show the list from the top with it selected.
        self._set_current(write.record)
        self.show_result(
            ActionResult(f"{verb} record {system_id}", write.correlation_id, write.record)
        )
        self.apply_filters(force=True)
        self.runner.start(self._refresh_counts(), name="records.counts")

    def edit_current(self) -> JsonRecordDialog | None:
        """Open the current record's data to edit; the patch is shown before it is sent."""
        feed, record = self.feed, self._record
        if feed is None or record is None or not self.session.protection.permit("Edit"):
            return None
        dialog = JsonRecordDialog(feed, original=record, parent=self)
        dialog.submitted.connect(
            lambda patch: (
                self.runner.start(self._patch(dialog, feed, record, patch))
                if self.session.protection.permit("Edit")
                else None
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        self.record_dialog = dialog
        dialog.open()
        return dialog

    async def _patch(
        self, dialog: JsonRecordDialog, feed: Feed, record: Record, patch: dict[str, Any]
    ) -> None:
        try:
            write = await self._records().patch(feed.id, record.guid, patch)
        except ApiError as error:
            dialog.show_error(error_text(error))
            return
        except BaseException as error:
            dialog.show_error(f"Could not send the patch: {error or type(error).__name__}")
            raise
        dialog.accept()
        fields = sorted(patch.get("data") or {})
        name = record.system_id or record.guid
        self._written(write, f"Edited record {name}: {', '.join(fields) or 'no data fields'}")

    def archive_current(self) -> None:
        """Confirm once, naming the record, then archive it (soft, reversible)."""
        self._confirm_archive(archive=True)

    def restore_current(self) -> None:
        """Confirm once, naming the record, then restore it."""
        self._confirm_archive(archive=False)

    def _confirm_archive(self, *, archive: bool) -> None:
        feed, record = self.feed, self._record
        if feed is None or record is None or record.deleted == archive:
            return
        name = record.system_id or record.guid
        if archive:
            # Destructive: on production the record's name (system id, else GUID) is typed.
            asked = confirm_destructive(
                self.session.protection,
                lambda typed: destructive_confirmation(
                    self,
                    "Archive record",
                    f"Archive record “{name}” of {feed.name}?",
                    f"GUID {record.guid}. Archiving is a soft delete: the record stays "
                    "readable under Archived, with who archived it, and Restore brings it back.",
                    "Archive",
                    type_to_confirm=typed,
                ),
                name,
                lambda: self.runner.start(self._set_archived(feed, record, True)),
            )
            if asked is not None:
                self.confirm_box = asked
            return
        if not self.session.protection.permit("Restore"):
            return
        # Not destructive (it undoes an archive): asked once everywhere, as before.
        box = Confirmation(
            self,
            "Restore record",
            f"Restore record “{name}” of {feed.name}?",
            f"GUID {record.guid}. It becomes active again; its history keeps the archive.",
            "Restore",
        )
        box.setIcon(Confirmation.Icon.Question)
        self.confirm_box = box
        box.ask(
            lambda: (
                self.runner.start(self._set_archived(feed, record, False))
                if self.session.protection.permit("Restore")
                else None
            )
        )

    async def _set_archived(self, feed: Feed, record: Record, archive: bool) -> None:
        api = self._records()
        if archive:
            write = await api.archive(feed.id, record.guid)
        else:
            write = await api.restore(feed.id, record.guid)
        verb = "Archived" if archive else "Restored"
        self._written(write, f"{verb} record {record.system_id or record.guid}")

    def ask_fetch(self, *, many: bool) -> FetchDialog | None:
        """Ask for the id(s) the trigger or polling feed's connector should pull."""
        feed = self.feed
        what = "Fetch list" if many else "Trigger fetch"
        if feed is None or feed.method not in FETCH_METHODS:
            return None
        if not self.session.protection.permit(what):
            return None
        dialog = FetchDialog(feed, many=many, parent=self)
        dialog.submitted.connect(
            lambda ids: (
                self.runner.start(self._fetch(dialog, feed, ids, many))
                if self.session.protection.permit(what)
                else None
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        self.fetch_dialog = dialog
        dialog.open()
        return dialog

    async def _fetch(self, dialog: FetchDialog, feed: Feed, ids: list[str], many: bool) -> None:
        intents = IntentsApi(self.session.require_client())
        try:
            if many:
                correlation_id = await intents.fetch_list(feed.id, ids)
            else:
                correlation_id = await intents.fetch(feed.id, ids[0])
        except ApiError as error:
            dialog.show_error(error_text(error))
            return
        except BaseException as error:
            dialog.show_error(f"Could not send the fetch: {error or type(error).__name__}")
            raise
        dialog.accept()
        what = (
            f"Fetch list of {len(ids)} id{'s' if len(ids) != 1 else ''}"
            if many
            else (f"Fetch of {ids[0]}")
        )
        self.show_result(ActionResult(f"{what} queued in {feed.name}", correlation_id))
        self.runner.start(
            self._follow_intent(feed, what, correlation_id), name="records.intent.poll"
        )

    async def _follow_intent(self, feed: Feed, what: str, correlation_id: str) -> None:
        """Poll the intent's outcome until it is done, then say how it went."""
        intents = IntentsApi(self.session.require_client())
        deadline = time.monotonic() + INTENT_WAIT_S
        while True:
            outcome = await intents.outcome(correlation_id)
            if outcome.is_finished:
                break
            if time.monotonic() > deadline:
                self.show_result(
                    ActionResult(
                        f"{what}: still {outcome.status} after {INTENT_WAIT_S:g} s "
                        "(its outcome will be in the logs)",
                        correlation_id,
                    )
                )
                return
            await asyncio.sleep(INTENT_POLL_S)
        counts: dict[str, int] = {}
        for item in outcome.records:
            counts[item.action] = counts.get(item.action, 0) + 1
        parts = [f"{count} {action}" for action, count in sorted(counts.items())]
        if outcome.errors:
            first = outcome.errors[0]
            parts.append(f"{len(outcome.errors)} failed ({first.message})")
        text = f"{what} {outcome.status.replace('_', ' ')}"
        if parts:
            text += ": " + ", ".join(parts)
        self.show_result(
            ActionResult(
                text, correlation_id, failed=bool(outcome.errors) or outcome.status == "failed"
            )
        )
        if self.feed is not None and self.feed.id == feed.id:
            self.refresh()  # new records, new counts

    # -- import and export (console.ui.records.import_dialog and .export) ------------

    def _start_import(self) -> None:
        """Open the Import dialog for the current feed."""
        if self.feed is not None and io_available(IMPORT_MODULE):
            if not self.session.protection.permit("Import"):
                return
            opener = importlib.import_module(IMPORT_MODULE).start_import
            self.import_dialog = opener(self, self.session, self.feed)
            feed_id = self.feed.id
            self.import_dialog.import_finished.connect(lambda _status: self._imported(feed_id))

    def _imported(self, feed_id: str) -> None:
        # New and changed records and counts, shown if the tab still shows that feed.
        if self.feed is not None and self.feed.id == feed_id:
            self.refresh()

    def _start_export(self) -> None:
        """Open the Export dialog for the current feed and filters."""
        if self.feed is not None and io_available(EXPORT_MODULE):
            opener = importlib.import_module(EXPORT_MODULE).start_export
            self.export_dialog = opener(self, self.session, self.feed, self.query or RecordQuery())
