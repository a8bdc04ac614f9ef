"""The Ingest Logs tab: a time range of connector log entries, held in a columnar buffer.

What is loaded: the chosen time range (a preset ending now, or a custom span) is paged
from the server, newest first, into a `LogBuffer` (numpy columns, up to 1,000,000
entries) with progress and Cancel. Everything after that is local and instant: the
status, feed, intent and HTTP status facets, a clicked value, a zoomed time window and
the free text all make a `BufferFilter`, and `LogBuffer.select` turns it into a
`Selection` (the slots to show, newest first). The table, the histogram, the error
groups and the export all read that one Selection. The text filter runs in a worker
thread; an answer for a filter that is no longer the current one is dropped.

One current entry (`current_id`) drives the detail pane. Only the user changes it (a
row picked); a filter, a reload or the live tail never does: after every change the row
of that entry is selected again if it is shown, else nothing is selected and the detail
keeps showing it, marked as hidden by the filter.

The live tail adds new entries at the top. When the view is scrolled to the top they
appear there; when the user has scrolled away, the first entry in view stays where it
was (the scroll bar moves by the rows inserted above) and "N new" says what came in.
numpy and the buffer are imported when the tab first loads, never before the first paint.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import importlib.util
import itertools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.ui.formatting import format_duration
from console.ui.logs.filters import LogFilterBar, facet_value_text, format_moment
from console.ui.logs.groups import GROUP_ROLE, ErrorGroupsModel, make_groups_view
from console.ui.logs.histogram import LogHistogram
from console.ui.logs.model import (
    COLUMNS,
    STATUS_COLUMN,
    TIME_SAMPLES,
    VALUE_ROLE,
    LogTableModel,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.row_table import setup_row_view
from console.ui.widgets.status_badge import StatusBadgeDelegate

if TYPE_CHECKING:
    from console.api.logs import LogEntry
    from console.logbuffer.buffer import (
        AddResult,
        BufferFilter,
        ErrorGroup,
        Histogram,
        LogBuffer,
        Selection,
    )
    from console.logbuffer.loader import LoadProgress

T = TypeVar("T")
BUFFER_MODULE = "console.logbuffer.buffer"
LOADER_MODULE = "console.logbuffer.loader"
TAIL_MODULE = "console.ui.logs.tail"
DETAIL_MODULE = "console.ui.logs.detail"
ROW_HEIGHT = 24
PROGRESS_REFRESH_S = 0.5  # while loading, the view shows what is in at most this often
MAX_HISTOGRAM_BINS = 90
# Histogram and error groups of a bigger selection are computed on a worker thread, after
# the table has shown the rows (~4 ms per 100,000 entries here).
SUMMARY_IN_WORKER_ABOVE = 100_000
# Bin widths the histogram picks from: the smallest that gives at most MAX_HISTOGRAM_BINS.
BIN_SECONDS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip
HIDDEN_NOTE = "This entry is hidden by the current filter."
# A full view makes room for the live tail's entries by dropping its oldest.
EVICTED_NOTE = "This entry has left the view: it keeps the newest {capacity:,} entries."
ID_COLUMNS = frozenset({"REQUEST_ID", "CORRELATION_ID"})
# The columns but the two IDs get what their content needs (text: measured with the
# table's font, plus padding); the IDs share what is left, elided in the middle (the
# tooltip and Copy give them whole), so all nine fit at a 1280 px window with the detail
# pane open.
COLUMN_TEXT_WIDTHS = {
    "TIME": TIME_SAMPLES["full"],
    "FEED": "inventory99",
    "INTENT": "record.update",
    "HTTP_STATUS": "HTTP",
    "ITEMS": "10,000",
    "DURATION": "Duration",
}
STATUS_WIDTH = 124  # the widest pill, "partially failed", and its margins
CELL_PADDING = 14
TABLE_SHARE = (860, 400)  # the splitter's first sizes: table, detail pane


def column_widths(metrics: QFontMetrics, time_format: str = "full") -> dict[int, int]:
    """Widths of the columns sized to their content (the ID columns stretch)."""
    widths = {}
    for column, (_title, name, _filters) in enumerate(COLUMNS):
        if name == "STATUS":
            widths[column] = STATUS_WIDTH
        elif name == "TIME":
            widths[column] = metrics.horizontalAdvance(TIME_SAMPLES[time_format]) + CELL_PADDING
        elif name in COLUMN_TEXT_WIDTHS:
            widths[column] = metrics.horizontalAdvance(COLUMN_TEXT_WIDTHS[name]) + CELL_PADDING
    return widths


class LogTableView(QTableView):
    """The entries table. A click (or any move of the current row) never scrolls it
    sideways: rows are selected whole, so the cell's column needs no bringing into view,
    and Qt's doing so shifted the table under the pointer."""

    def scrollTo(
        self,
        index: QModelIndex | QPersistentModelIndex,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        """Scroll vertically only."""
        sideways = self.horizontalScrollBar()
        kept = sideways.value()
        super().scrollTo(index, hint)
        sideways.setValue(kept)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Ctrl+C copies the current cell whole (an ID elided on screen; a time with its
        date)."""
        if event.matches(QKeySequence.StandardKey.Copy):
            index = self.currentIndex()
            whole = index.isValid() and COLUMNS[index.column()][1] == "TIME"
            role = Qt.ItemDataRole.ToolTipRole if whole else Qt.ItemDataRole.DisplayRole
            text = index.data(role) if index.isValid() else None
            if isinstance(text, str) and text:
                QGuiApplication.clipboard().setText(text)
            event.accept()
            return
        super().keyPressEvent(event)


# One thread for the view's numpy passes (text filter, histogram, groups): each thread
# that allocates gets its own glibc heap, and arrays of a million entries made on many
# pool threads left ~200 MB in those heaps after 160 filter changes at 1M (measured).
# Plain threads, not qasync's: its QThreads still running at exit abort the process.
_VIEW_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logs-view")


async def in_view_worker(function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` on the view's worker thread."""
    return await asyncio.get_running_loop().run_in_executor(
        _VIEW_WORKER, functools.partial(function, *args)
    )


@functools.cache
def module_available(name: str) -> bool:
    """Whether this build has the module `name` (the live tail, the detail pane)."""
    return importlib.util.find_spec(name) is not None


def bin_seconds_for(span: float) -> float:
    """The histogram's bin width for a span: a round width, at most MAX_HISTOGRAM_BINS bins."""
    for width in BIN_SECONDS:
        if span / width <= MAX_HISTOGRAM_BINS:
            return float(width)
    return float(math.ceil(span / MAX_HISTOGRAM_BINS))


def describe_filter(f: BufferFilter) -> str:
    """The view's filter in words (what an export names)."""
    parts: list[str] = []
    for field, title in (
        ("statuses", "status"),
        ("feeds", "feed"),
        ("intents", "intent"),
        ("http_statuses", "HTTP"),
        ("keys", "key"),
        ("errors", "error"),
    ):
        values = sorted(getattr(f, field), key=str)
        if values:
            parts.append(f"{title} " + " or ".join(facet_value_text(field, v) for v in values))
    if f.since is not None or f.until is not None:
        since = format_moment(f.since) if f.since is not None else "…"
        until = format_moment(f.until) if f.until is not None else "…"
        parts.append(f"from {since} to {until}")
    if f.text:
        parts.append(f"text “{f.text}”")
    return ", ".join(parts) if parts else "no filter"


class IngestLogsTab(QWidget):
    """Connector log entries of the connected account: load, filter, tail, export."""

    loaded = Signal(int)  # a load ended (finished, full, cancelled): entries held
    view_applied = Signal(int)  # rows shown after a filter, load step or tail batch
    summaries_shown = Signal()  # the histogram and error groups of the rows shown
    current_changed = Signal(object)  # the current entry id (int) or None
    find_requested = Signal(str)  # an ID the user asked Find by ID for
    load_failed = Signal(object)

    def __init__(
        self, session: ConsoleSession, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        # Entries the next load's buffer may hold (None: MAX_ENTRIES); tests make it small.
        self.buffer_capacity: int | None = None
        self.buffer: LogBuffer | None = None
        self.selection: Selection | None = None
        self.current_id: int | None = None
        self.loading = False
        self.load_progress: LoadProgress | None = None
        self.loaded_range: tuple[float | None, float | None] | None = None
        self.new_count = 0  # entries that arrived above the view since it left the top
        self.dropped = 0  # what the live tail could not show (its own count)
        self._modules: dict[str, ModuleType] = {}
        self._needs_load = False
        self._pending_filter: BufferFilter | None = None
        self._token = 0  # the newest filter asked; older answers are dropped
        self._select_again = False  # entries arrived while a text filter ran
        self._summary_token = 0  # the newest histogram and groups asked
        self._summary_shown = 0  # the token of the ones shown
        self._summaries_again = False
        self._trim_after_summaries = False  # a load ended: its first summaries trim after
        self._shown_generation = -1
        self._last_progress_refresh = 0.0
        self._syncing = False
        self._live_wanted = True
        self.tail: Any = None  # LiveTail, when this build has it
        self._detail_connected = False  # the detail pane has this connection's LogsApi
        self.tail_state = "stopped"

        self.filter_bar = LogFilterBar()
        self.filter_bar.counts = self._facet_counts
        self.filter_bar.range_changed.connect(self.reload)
        self.filter_bar.filter_changed.connect(lambda: self.refilter("filter"))

        self.live_button = QPushButton("● &Live")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setAccessibleName("Live tail")
        self.live_button.setToolTip("Show new entries as they are written (ranges ending now)")
        self.live_button.toggled.connect(self._live_toggled)
        self.live_label = QLabel("")
        self.live_label.setTextFormat(Qt.TextFormat.PlainText)  # server messages
        self.live_label.setStyleSheet("color: #5c5f66;")
        self.live_label.setMinimumWidth(120)
        self.new_button = QPushButton("")
        self.new_button.setObjectName("newEntriesButton")
        self.new_button.setToolTip("New entries arrived above: show them (back to the top)")
        self.new_button.clicked.connect(self.jump_to_top)
        self.new_button.hide()
        self.dropped_label = QLabel("")
        self.dropped_label.setStyleSheet("color: #8a5300;")
        self.dropped_label.hide()
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setToolTip("Load the time range again from the server (F5)")
        self.refresh_button.clicked.connect(self.reload)
        self.export_button = QPushButton("E&xport…")
        self.export_button.setToolTip("Write the entries shown to a CSV or NDJSON file")
        self.export_button.clicked.connect(self.open_export)
        self.filter_bar.top_row.addWidget(self.refresh_button)
        self.filter_bar.top_row.addWidget(self.live_button)
        self.filter_bar.top_row.addWidget(self.export_button)

        self.summary_label = QLabel("Not loaded")
        self.summary_label.setStyleSheet("color: #5c5f66;")
        # Its text changes with every filter: a fixed policy keeps that from laying out
        # (and repainting) the row around it each time.
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.summary_label.setAccessibleName("What is shown")
        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName("Loading progress")
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel loa&ding")
        self.cancel_button.clicked.connect(self.cancel_load)
        self.cancel_button.hide()
        status_row = QHBoxLayout()
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.summary_label, 1)
        status_row.addWidget(self.progress_bar)
        status_row.addWidget(self.cancel_button)
        status_row.addWidget(self.dropped_label)
        status_row.addWidget(self.new_button)
        status_row.addWidget(self.live_label)
        # As tall as its buttons when none shows: "N new" or a load's Cancel appearing would
        # otherwise push the histogram and the table down under the reader's eyes.
        self.summary_label.setMinimumHeight(
            max(self.new_button.sizeHint().height(), self.cancel_button.sizeHint().height())
        )

        self.histogram = LogHistogram()
        self.histogram.bar_clicked.connect(self._bar_clicked)
        self.histogram.range_picked.connect(self._range_picked)

        self.model = LogTableModel()
        self.table = LogTableView()
        self.table.setModel(self.model)
        setup_row_view(self.table)
        self.table.setAccessibleName("Log entries")
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setItemDelegateForColumn(STATUS_COLUMN, StatusBadgeDelegate(self.table))
        vertical = self.table.verticalHeader()
        vertical.hide()
        # Fixed row heights: the view never measures a row (there may be a million).
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        for column, width in column_widths(self.table.fontMetrics()).items():
            header.resizeSection(column, width)
        for column, (_title, name, _filters) in enumerate(COLUMNS):
            if name in ID_COLUMNS:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.viewport().installEventFilter(self)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._cell_menu)
        self.table.verticalScrollBar().valueChanged.connect(self._scrolled)

        self.groups_model = ErrorGroupsModel()
        self.groups_view = make_groups_view(self.groups_model)
        self.groups_view.clicked.connect(self._group_clicked)
        self.groups_view.activated.connect(self._group_clicked)
        self.groups_title = groups_title = QLabel("Error groups")
        groups_title.setStyleSheet("font-weight: 600;")
        groups_title.setBuddy(self.groups_view)
        self.groups_empty = QLabel("No errors in the entries shown.")
        self.groups_empty.setStyleSheet("color: #5c5f66;")
        # Top-aligned in the space the table leaves: the title stays put when no group shows.
        self.groups_empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        # Always in place (empty when not needed): showing and hiding it would move the
        # detail pane, and repaint it, on every filter change.
        self.hidden_note = QLabel("")
        self.hidden_note.setStyleSheet("color: #8a5300;")
        self.hidden_note.setFixedHeight(self.hidden_note.sizeHint().height())
        self.hidden_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        # The detail pane (console.ui.logs.detail) needs the buffer's module, so it is
        # built when the tab first loads; until then this placeholder holds its place.
        self.detail: Any = None
        self.detail_placeholder = QLabel("Pick an entry to see it here.")
        self.detail_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_placeholder.setStyleSheet("color: #5c5f66;")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.histogram)
        left_layout.addWidget(self.table, 1)
        groups_box = QWidget()
        groups_layout = QVBoxLayout(groups_box)
        groups_layout.setContentsMargins(0, 0, 0, 0)
        groups_layout.setSpacing(2)
        groups_layout.addWidget(groups_title)
        groups_layout.addWidget(self.groups_view, 1)
        groups_layout.addWidget(self.groups_empty, 1)
        detail_box = QWidget()
        detail_layout = QVBoxLayout(detail_box)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.hidden_note)
        detail_layout.addWidget(self.detail_placeholder, 1)
        self.detail_layout = detail_layout
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(groups_box)
        right.addWidget(detail_box)
        right.setSizes([170, 480])
        right.setChildrenCollapsible(False)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes(list(TABLE_SHARE))
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_bar)
        layout.addLayout(status_row)
        layout.addWidget(splitter, 1)

        chain: list[QWidget] = [
            self.filter_bar.range_combo,
            self.filter_bar.since_edit,
            self.filter_bar.until_edit,
            self.filter_bar.load_button,
            self.filter_bar.text_edit,
            self.refresh_button,
            self.live_button,
            self.export_button,
            *self.filter_bar.facet_buttons.values(),
            self.filter_bar.clear_button,
            self.cancel_button,
            self.new_button,
            self.histogram,
            self.table,
            self.groups_view,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        self._sync_actions()

    # -- connection -----------------------------------------------------------------

    def connected(self) -> None:
        """A connection is ready: load now if the tab shows, else when it is first shown."""
        self._needs_load = True
        self._sync_actions()
        if self.isVisible():
            self.reload()

    def showEvent(self, event: QShowEvent) -> None:
        """The first look loads (nothing is fetched, nor numpy imported, for a hidden tab)."""
        super().showEvent(event)
        if self._needs_load and self.session.client is not None:
            self.reload()

    def clear(self) -> None:
        """Forget the previous connection's entries (its answers must not land here)."""
        self.runner.cancel("logs.load")
        self.runner.cancel("logs.select")
        self.runner.cancel("logs.summaries")
        self._stop_tail()
        self._token += 1
        self.buffer = None
        self.selection = None
        self.loaded_range = None
        self.load_progress = None
        self.loading = False
        self._needs_load = False
        self.model.clear()
        if self.detail is not None:
            self.detail.set_logs(None)
        self._detail_connected = False
        self.histogram.set_histogram(None, ())
        self.groups_model.set_groups([])
        self._set_current(None)
        self.new_count = 0
        self._set_dropped(0)
        self.new_button.hide()
        self.progress_bar.hide()
        self.cancel_button.hide()
        self.summary_label.setText("Not connected")
        self._sync_actions()

    @property
    def is_settled(self) -> bool:
        """Loaded (or stopped loading) and showing the answer to the current filter."""
        return (
            self.buffer is not None
            and not self.loading
            and self.selection is not None
            and "logs.select" not in self.runner.names
            and "logs.summaries" not in self.runner.names
            and self._summary_shown == self._summary_token
        )

    async def shutdown(self) -> None:
        """Stop the live tail and wait until its connection is released (window closing)."""
        tail = self._detach_tail()
        if tail is not None:
            await tail.shutdown()

    # -- loading --------------------------------------------------------------------------

    def reload(self) -> asyncio.Task[Any] | None:
        """Load the chosen time range from the server into a new buffer."""
        if self.session.client is None:
            return None
        self._needs_load = False
        if self.loading:
            # The load under way is superseded: it stops without a word (and without
            # `loaded`), as if cleared.
            self.buffer = None
        return self.runner.start(self._load(), name="logs.load")

    def cancel_load(self) -> None:
        """Stop loading; what is loaded stays (and is said to be partial)."""
        self.runner.cancel("logs.load")

    async def _modules_loaded(self) -> tuple[ModuleType, ModuleType]:
        """The buffer and loader modules, imported off the UI thread the first time."""
        if not self._modules:
            self.summary_label.setText("Preparing the log view…")
            for name in (BUFFER_MODULE, LOADER_MODULE):
                self._modules[name] = await in_view_worker(importlib.import_module, name)
            buffer_module = self._modules[BUFFER_MODULE]
            self._build_detail()
            if self.filter_bar.filter is None:
                start = self._pending_filter or buffer_module.BufferFilter()
                self._pending_filter = None
                self.filter_bar.set_filter(start, emit=False)
        return self._modules[BUFFER_MODULE], self._modules[LOADER_MODULE]

    def _build_detail(self) -> None:
        """Put the detail pane in its placeholder's place (this build may lack it)."""
        if self.detail is not None or not module_available(DETAIL_MODULE):
            return
        detail_module = importlib.import_module(DETAIL_MODULE)
        detail = detail_module.LogDetailPane(None)
        detail.filter_requested.connect(self.filter_on_column)
        detail.find_requested.connect(self.find_requested)
        # Scrolled: the pane's full height (bodies, timeline, errors) must not set the
        # window's minimum height.
        scroll = QScrollArea()
        scroll.setAccessibleName("Entry detail")
        scroll.setWidget(detail)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.detail_layout.replaceWidget(self.detail_placeholder, scroll)
        self.detail_placeholder.hide()
        self.detail = detail
        QWidget.setTabOrder(self.groups_view, detail)

    async def _load(self) -> None:
        buffer_module, loader = await self._modules_loaded()
        self._stop_tail()
        if self.detail is not None and not self._detail_connected:
            self.detail.set_logs(self.session.logs)
            self._detail_connected = True
        time_range = self.filter_bar.time_range()
        since, until = time_range.resolve()
        buffer_module.bound_heap()  # before the first million-row temporaries (see there)
        capacity = self.buffer_capacity or buffer_module.MAX_ENTRIES
        buffer: LogBuffer = buffer_module.LogBuffer(capacity)
        self.buffer = buffer
        self.loaded_range = (since, until)
        self._fit_time_column(since, until)
        self.loading = True
        self.load_progress = None
        self.new_count = 0
        self.new_button.hide()
        self._set_dropped(0)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.cancel_button.show()
        self.summary_label.setText("Loading entries…")
        self._last_progress_refresh = 0.0
        self._sync_actions()
        self.refilter("load")
        outcome = "done"
        try:
            self.load_progress = await loader.load_range(
                self.session.logs,
                buffer,
                since=since,
                until=until,
                on_progress=functools.partial(self._load_progressed, buffer),
            )
        except asyncio.CancelledError:
            if self.buffer is not buffer:
                raise  # cleared or replaced: nothing of this load is shown any more
            outcome = "cancelled"
            self._load_ended(buffer, outcome)
            raise
        except Exception as error:
            if self.buffer is buffer:
                self._load_ended(buffer, "failed")
                self.load_failed.emit(error)
            raise
        self._load_ended(buffer, outcome)

    def _load_progressed(self, buffer: LogBuffer, progress: LoadProgress) -> None:
        if buffer is not self.buffer:
            return
        self.load_progress = progress
        covered = progress.covered()
        if covered is not None:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(round(covered * 1000))
        eta = progress.eta_seconds()
        parts = [f"Loading: {progress.loaded:,} entries"]
        if progress.rate:
            parts.append(f"{progress.rate:,.0f}/s")
        if eta is not None:
            parts.append(f"about {format_duration(eta)} left")
        self.summary_label.setText(" · ".join(parts))
        now = time.monotonic()
        if now - self._last_progress_refresh >= PROGRESS_REFRESH_S:
            self._last_progress_refresh = now
            self.refilter("load")

    def _load_ended(self, buffer: LogBuffer, outcome: str) -> None:
        self.loading = False
        self.progress_bar.hide()
        self.cancel_button.hide()
        self._load_outcome = outcome
        self._trim_after_summaries = True
        self.refilter("load")
        newest = self.model.entry_id_at(0) if self.model.rowCount() else None
        if self.current_id is None and newest is not None:
            # The first look makes the newest entry current, so the detail is not empty
            # (as the Records tab does); from then on only the user picks.
            self.select_entry(newest)
        self._sync_actions()
        self.loaded.emit(len(buffer))
        if outcome == "done" and self.live_button.isChecked():
            self._start_tail()

    # -- the view's filter -------------------------------------------------------------------

    @property
    def filter(self) -> BufferFilter | None:
        """The view's filter (None before the first load)."""
        return self.filter_bar.filter

    def show_filter(self, f: BufferFilter) -> None:
        """Filter the view with `f` (the time range loaded stays)."""
        if self.filter_bar.filter is None:
            self._pending_filter = f  # applied once the buffer module is loaded
            return
        self.filter_bar.set_filter(f)

    def filter_on_column(self, column: object, value: object) -> None:
        """Filter on one value of a column (a clicked cell, the detail pane's links)."""
        current = self.filter_bar.filter
        if current is None or value is None or value == "":
            return
        name = getattr(column, "name", str(column))
        if name in ("REQUEST_ID", "CORRELATION_ID", "IDEMPOTENCY_KEY"):
            # IDs are not facets: the text search finds every entry that names the ID.
            self.filter_bar.set_filter(_replace(current, text=str(value)))
            return
        buffer_module = self._modules[BUFFER_MODULE]
        self.filter_bar.set_filter(current.with_value(buffer_module.Column[name], value))

    def filter_on_cell(self, index: QModelIndex) -> bool:
        """Filter on the value of a table cell; False when its column does not filter."""
        if not index.isValid():
            return False
        _title, name, field = COLUMNS[index.column()]
        if field is None:
            return False
        self.filter_on_column(name, index.data(VALUE_ROLE))
        return True

    def refilter(self, reason: str = "filter") -> None:
        """Apply the view's filter to the buffer (at once, or in a worker for text)."""
        buffer, f = self.buffer, self.filter_bar.filter
        if buffer is None or f is None:
            return
        if f.text and reason == "tail" and "logs.select" in self.runner.names:
            # New entries while a text filter runs: run it again once it has answered
            # (cancelling it for every batch could starve the view under a fast tail).
            self._select_again = True
            return
        self._token += 1
        token = self._token
        self._select_again = False
        if not f.text:
            self.runner.cancel("logs.select")
            self._apply(buffer, buffer.select(f), f, reason)
            return
        self.runner.start(self._select_in_worker(token, buffer, f, reason), name="logs.select")

    async def _select_in_worker(
        self, token: int, buffer: LogBuffer, f: BufferFilter, reason: str
    ) -> None:
        selection = await in_view_worker(buffer.select, f)
        if token != self._token or buffer is not self.buffer or f != self.filter_bar.filter:
            return  # a newer filter was asked meanwhile: this answer is stale
        if selection.generation != buffer.generation:
            # Entries were evicted or added while it ran: drop the slots no longer held
            # (they would show other entries), and look again for what was added.
            selection = type(selection)(buffer.still_held(selection), selection.generation)
            self._select_again = True
        self._apply(buffer, selection, f, reason)
        if self._select_again:
            self._select_again = False
            QTimer.singleShot(0, self, lambda: self.refilter("tail"))

    def _apply(self, buffer: LogBuffer, selection: Selection, f: BufferFilter, reason: str) -> None:
        """Show `selection`: table (keeping selection and position), histogram, groups."""
        table = self.table
        bar = table.verticalScrollBar()
        old_value = bar.value()
        at_top = old_value == 0
        # The entry that must stay put: the first one in view while rows arrive (tail,
        # load), the current one when the filter changes.
        anchor_id: int | None = None
        anchor_row = -1
        if reason in ("tail", "load") and not at_top and self.model.rowCount():
            anchor_row = table.rowAt(0)
        elif reason == "filter" and self.current_id is not None:
            found = self.model.row_of_id(self.current_id)
            anchor_row = found if found is not None else -1
        if anchor_row >= 0:
            anchor_id = self.model.entry_id_at(anchor_row)  # None if evicted meanwhile
        # How far the anchor's top is above the viewport's (pixels; negative: below).
        anchor_offset = -table.rowViewportPosition(anchor_row) if anchor_row >= 0 else 0
        self.selection = selection
        self._shown_generation = selection.generation
        self._syncing = True
        auto_scroll = table.hasAutoScroll()
        table.setAutoScroll(False)
        try:
            self.model.set_selection(buffer, selection)
            table.doItemsLayout()  # the scroll range must know the new row count now
            current_row = self.model.row_of_id(self.current_id)
            if current_row is not None:
                table.selectionModel().setCurrentIndex(
                    self.model.index(current_row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
            else:
                table.clearSelection()
            new_row = self.model.row_of_id(anchor_id) if anchor_id is not None else None
            if new_row is not None:
                bar.setValue(new_row * ROW_HEIGHT + anchor_offset)
                if reason == "tail" and new_row > anchor_row:
                    self.new_count += new_row - anchor_row
            elif reason == "filter" or at_top:
                bar.setValue(0)
        finally:
            table.setAutoScroll(auto_scroll)
            self._syncing = False
        self._note_hidden(self.current_id is not None and current_row is None)
        if self.current_id is not None and not buffer.has_id(self.current_id):
            self.hidden_note.setText(EVICTED_NOTE.format(capacity=buffer.capacity))
        self._show_new_count()
        self._update_summary()
        self._sync_actions()
        self._summarize(buffer, selection, f, reason)
        self.view_applied.emit(len(selection))

    def _histogram_span(
        self, buffer: LogBuffer, f: BufferFilter
    ) -> tuple[float, float, int] | None:
        """(start, end, bins) the histogram shows: the time window, else the loaded range."""
        loaded_since, loaded_until = self.loaded_range or (None, None)
        start = f.since if f.since is not None else loaded_since
        end = f.until if f.until is not None else loaded_until
        if start is None:
            start = buffer.oldest_time
        if end is None:
            newest = buffer.newest_time
            end = max(time.time(), newest) if newest is not None else time.time()
        if start is None or end <= start:
            return None
        width = bin_seconds_for(end - start)
        first = math.floor(start / width) * width
        bins = max(1, math.ceil((end - first) / width))
        return first, first + bins * width, bins

    def _summarize(
        self, buffer: LogBuffer, selection: Selection, f: BufferFilter, reason: str
    ) -> None:
        """Histogram and error groups of `selection`: at once when small, else (a pass
        over up to a million entries, tens of ms) on a worker thread after the table."""
        span = self._histogram_span(buffer, f)
        if len(selection) <= SUMMARY_IN_WORKER_ABOVE:
            self._summary_token += 1
            self._show_summaries(*_summaries(buffer, selection, span), self._summary_token)
            return
        if reason == "tail" and "logs.summaries" in self.runner.names:
            self._summaries_again = True  # after the one running (no starvation)
            return
        self._summary_token += 1
        token = self._summary_token
        # Started in the loop's next turn, after the table's paint (the paint request is
        # already posted): the worker's numpy work would share the GIL with that paint.
        QTimer.singleShot(
            0,
            self,
            lambda: (
                token == self._summary_token
                and self.runner.start(
                    self._summaries_in_worker(token, buffer, selection, span),
                    name="logs.summaries",
                )
            ),
        )

    async def _summaries_in_worker(
        self,
        token: int,
        buffer: LogBuffer,
        selection: Selection,
        span: tuple[float, float, int] | None,
    ) -> None:
        answer = await in_view_worker(_summaries, buffer, selection, span)
        if token != self._summary_token or buffer is not self.buffer:
            return  # a newer view was asked meanwhile
        self._show_summaries(*answer, token)
        if self._trim_after_summaries and not self.loading:
            # The load's pages and the first passes over what it loaded are done: the C
            # heap they freed goes back to the system (~5 MB at 1M, a few ms here).
            self._trim_after_summaries = False
            await in_view_worker(_release_load_garbage, buffer)
        elif not self.loading and not self._summaries_again:
            # A filter's view is complete: its freed selections and summaries' temporaries
            # go back too, in the worker (RSS at 1M after 160 filter changes: 210.6 -> 201.2 MB).
            await in_view_worker(buffer.trim)
        if self._summaries_again:
            self._summaries_again = False
            current, f = self.selection, self.filter_bar.filter
            if current is not None and f is not None:
                QTimer.singleShot(0, self, lambda: self._summarize(buffer, current, f, "tail"))

    def _show_summaries(
        self, histogram: Histogram | None, groups: list[ErrorGroup], token: int
    ) -> None:
        self._summary_shown = token
        self.histogram.set_histogram(histogram, buffer_statuses(self._modules))
        self.groups_model.set_groups(groups)
        has_groups = self.groups_model.rowCount() > 0
        self.groups_view.setVisible(has_groups)
        self.groups_empty.setVisible(not has_groups)
        self.summaries_shown.emit()

    def _facet_counts(self, column: str) -> list[tuple[object, int]]:
        """A facet's values and counts, over the view with that facet's own choice left out."""
        buffer, f = self.buffer, self.filter_bar.filter
        if buffer is None or f is None:
            return []
        column_enum = self._modules[BUFFER_MODULE].Column[column]
        base = f.without(column_enum)
        selection = buffer.select(base) if base != f or self.selection is None else self.selection
        counts: list[tuple[object, int]] = buffer.facet(selection, column_enum)
        return counts

    def _bar_clicked(self, since: float, until: float, status: str) -> None:
        current = self.filter_bar.filter
        if current is None:
            return
        changes: dict[str, Any] = {"since": since, "until": until}
        if status:
            changes["statuses"] = frozenset({status})
        self.filter_bar.set_filter(_replace(current, **changes))

    def _range_picked(self, since: float, until: float) -> None:
        current = self.filter_bar.filter
        if current is not None:
            self.filter_bar.set_filter(_replace(current, since=since, until=until))

    def _group_clicked(self, index: QModelIndex) -> None:
        group = index.data(GROUP_ROLE)
        current = self.filter_bar.filter
        if group is None or current is None:
            return
        feeds = frozenset({group.feed}) if group.feed else current.feeds
        self.filter_bar.set_filter(_replace(current, errors=frozenset({group.error}), feeds=feeds))

    # -- the current entry ---------------------------------------------------------------

    def _selection_changed(self, *_args: object) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return  # deselecting (Ctrl+click) keeps the entry in the detail
        picked = self.model.entry_id_at(rows[0].row())
        if picked is not None:
            self._set_current(picked)

    def select_entry(self, entry_id: int) -> bool:
        """Make entry `entry_id` current and select its row; False when not shown."""
        row = self.model.row_of_id(entry_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _note_hidden(self, hidden: bool) -> None:
        self.hidden_note.setText(HIDDEN_NOTE if hidden else "")

    @property
    def current_hidden(self) -> bool:
        """Whether the current entry is hidden by the filter (the detail says so)."""
        return bool(self.hidden_note.text())

    def _set_current(self, entry_id: int | None) -> None:
        changed = entry_id != self.current_id
        self.current_id = entry_id
        self._note_hidden(False)
        if self.detail is not None and entry_id is not None and self.buffer is not None:
            slot = self.buffer.slot_of(entry_id)
            if slot is not None:
                entry: LogEntry = self.buffer.entry(slot)
                self.detail.show_entry(entry)
        elif self.detail is not None and entry_id is None and hasattr(self.detail, "clear"):
            self.detail.clear()
        if changed:
            self.current_changed.emit(entry_id)

    # -- clicks in the table ----------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Alt+click on a value filters on it (the row's selection is left alone)."""
        if (
            watched is self.table.viewport()
            and event.type() == QEvent.Type.MouseButtonPress
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):
            index = self.table.indexAt(event.position().toPoint())
            if self.filter_on_cell(index):
                return True
        return super().eventFilter(watched, event)

    def cell_menu(self, index: QModelIndex) -> QMenu:
        """The context menu of a cell: filter on it, copy it, Find by ID."""
        menu = QMenu(self)
        title, name, field = COLUMNS[index.column()]
        value = index.data(VALUE_ROLE)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if field is not None and value not in (None, ""):
            shown = text if len(text) <= 40 else text[:39] + "…"
            action = menu.addAction(f"Filter on {title.lower()} “{shown}”")
            # The value named, not the index: rows move under an open menu (live tail).
            action.triggered.connect(lambda: self.filter_on_column(name, value))
        if name in ID_COLUMNS and text:
            find = menu.addAction(f"Find by ID: {text}")
            find.triggered.connect(lambda: self.find_requested.emit(text))
        if text:
            copy = menu.addAction(f"Copy {title.lower()}")
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(text))
        return menu

    def _cell_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if index.isValid():
            menu = self.cell_menu(index)
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.table.viewport().mapToGlobal(position))

    # -- live tail -------------------------------------------------------------------------------

    def _live_toggled(self, on: bool) -> None:
        self._live_wanted = on
        if not on:
            self._stop_tail()
        elif self.buffer is not None and not self.loading:
            self._start_tail()
        self._sync_actions()

    def _start_tail(self) -> None:
        buffer = self.buffer
        if (
            buffer is None
            or self.session.client is None
            or not module_available(TAIL_MODULE)
            or not self._shown_range_is_live()
        ):
            return
        self._stop_tail()
        tail_module = importlib.import_module(TAIL_MODULE)
        tail = tail_module.LiveTail(self)
        tail.entries_added.connect(self._tail_added)
        tail.state_changed.connect(self._tail_state)
        tail.dropped_changed.connect(self._set_dropped)
        tail.entries_updated.connect(self._tail_updated)
        tail.failed.connect(self._tail_failed)
        self.tail = tail
        tail.start(self.session.logs, buffer, {}, buffer.newest_id)

    def _detach_tail(self) -> Any:
        """The running tail, no longer heard (None when there is none)."""
        tail, self.tail = self.tail, None
        if tail is not None:
            tail.entries_added.disconnect(self._tail_added)
            tail.state_changed.disconnect(self._tail_state)
            tail.dropped_changed.disconnect(self._set_dropped)
            tail.entries_updated.disconnect(self._tail_updated)
            tail.failed.disconnect(self._tail_failed)
        return tail

    def _stop_tail(self) -> None:
        tail = self._detach_tail()
        if tail is not None:
            tail.stop()
            tail.deleteLater()
        self._tail_state("stopped")

    def _tail_added(self, _result: AddResult) -> None:
        self.refilter("tail")

    def _tail_updated(self, slots: list[int]) -> None:
        """Held entries finished (their status changed): a status filter may now differ,
        and the detail of the current entry must not keep its old status."""
        self.refilter("tail")
        buffer, detail = self.buffer, self.detail
        if buffer is None or detail is None or self.current_id is None:
            return
        slot = buffer.slot_of(self.current_id)
        if slot is not None and slot in slots:
            detail.refresh_entry(buffer.entry(slot))

    def _tail_failed(self, message: str) -> None:
        self.live_label.setText(f"Live tail stopped: {message}")

    def _tail_state(self, state: str) -> None:
        self.tail_state = state
        self._show_live_state()

    def _show_live_state(self) -> None:
        state = self.tail_state
        if state == "live" and self.table.verticalScrollBar().value() > 0:
            # New entries still arrive (the histogram counts them); the rows in view stay.
            text = "Live: the view holds still while you read below the top"
        else:
            text = {"live": "Live", "reconnecting": "Reconnecting…", "stopped": ""}.get(
                state, state.capitalize()
            )
        self.live_label.setText(text)

    def _set_dropped(self, dropped: int) -> None:
        self.dropped = dropped
        self.dropped_label.setVisible(dropped > 0)
        self.dropped_label.setText(
            f"{dropped:,} new entr{'y' if dropped == 1 else 'ies'} not shown (the view could "
            "not keep up): Refresh loads them"
        )

    def _scrolled(self, value: int) -> None:
        if value == 0 and self.new_count:
            self.new_count = 0
            self._show_new_count()
        self._show_live_state()

    def _show_new_count(self) -> None:
        self.new_button.setVisible(self.new_count > 0)
        self.new_button.setText(f"↑ {self.new_count:,} new")
        self.new_button.setAccessibleName(f"{self.new_count} new entries above: show them")

    def jump_to_top(self) -> None:
        """Show the newest entries (the "N new" button)."""
        self.table.verticalScrollBar().setValue(0)
        self.new_count = 0
        self._show_new_count()

    # -- export ------------------------------------------------------------------------------

    def open_export(self) -> Any:
        """Open the export dialog for the entries shown; None when nothing is shown."""
        buffer, selection, f = self.buffer, self.selection, self.filter_bar.filter
        if buffer is None or selection is None or f is None:
            return None
        from console.ui.logs.export import open_export

        restart_tail = self.tail is not None and len(buffer) >= buffer.capacity
        if restart_tail:
            # A full buffer evicts its oldest entries as new ones arrive, which would
            # change what the chosen rows hold while they are written.
            self._stop_tail()
        dialog = open_export(self, buffer, selection, describe_filter(f))
        if restart_tail:
            dialog.finished.connect(lambda _code: self._live_button_restart(buffer))
        self.export_dialog = dialog
        return dialog

    def _live_button_restart(self, buffer: LogBuffer) -> None:
        if buffer is self.buffer and self.live_button.isChecked():
            self._start_tail()

    # -- words -------------------------------------------------------------------------------

    def _update_summary(self) -> None:
        buffer, selection = self.buffer, self.selection
        if buffer is None or selection is None:
            return
        held = len(buffer)
        shown = len(selection)
        if self.loading:
            return  # the progress line speaks
        text = f"{shown:,} of {held:,} entries" if shown != held else f"{held:,} entries"
        since, until = self.loaded_range or (None, None)
        if since is not None:
            end = format_moment(until) if until is not None else "now"
            text += f" · loaded from {format_moment(since)} to {end}"
        outcome = getattr(self, "_load_outcome", "done")
        if outcome == "cancelled":
            text += " · loading cancelled: older entries of the range are missing"
        elif outcome == "failed":
            text += " · loading failed: older entries of the range are missing"
        elif held >= buffer.capacity:
            text += f" · the newest {buffer.capacity:,} of the range (narrow it for older ones)"
        self.summary_label.setText(text)

    def _shown_range_is_live(self) -> bool:
        """The range loaded ends now. Picking Custom changes nothing until Load: the entries
        shown, and their live tail, are still the preset's."""
        if self.loaded_range is not None:
            return self.loaded_range[1] is None
        return self.filter_bar.time_range().is_live

    def _fit_time_column(self, since: float | None, until: float | None) -> None:
        """Times as the range needs them (the time alone within a day), the column as
        wide as that: what it gives up goes to the ID columns."""
        span = None if since is None else (until if until is not None else time.time()) - since
        time_format = self.model.set_time_span(span)
        time_column = next(c for c, (_t, name, _f) in enumerate(COLUMNS) if name == "TIME")
        width = column_widths(self.table.fontMetrics(), time_format)[time_column]
        self.table.horizontalHeader().resizeSection(time_column, width)

    def _sync_actions(self) -> None:
        connected = self.session.client is not None
        self.refresh_button.setEnabled(connected)
        self.export_button.setEnabled(
            self.selection is not None and len(self.selection) > 0 and not self.loading
        )
        live_possible = self._shown_range_is_live() and module_available(TAIL_MODULE)
        self.live_button.setEnabled(live_possible)
        self.live_button.setToolTip(
            "Show new entries as they are written"
            if live_possible
            else "Live tail follows ranges that end now (not a custom range)"
        )


def _release_load_garbage(buffer: LogBuffer) -> None:
    """Collect the load's reference cycles, then trim: what the collection frees (its
    requests' and tasks' cycles, measured) lands in the C heap after the first trim,
    ~4.5 MB RSS at 1M when trimmed again."""
    gc.collect()
    buffer.trim()


def _summaries(
    buffer: LogBuffer, selection: Selection, span: tuple[float, float, int] | None
) -> tuple[Histogram | None, list[ErrorGroup]]:
    """The histogram (None without a span) and error groups of `selection` (any thread)."""
    histogram = buffer.histogram(selection, *span) if span is not None else None
    return histogram, buffer.error_groups(selection)


def buffer_statuses(modules: dict[str, ModuleType]) -> tuple[str, ...]:
    """The buffer's statuses in contract order (once the module is loaded)."""
    module = modules.get(BUFFER_MODULE)
    return tuple(module.STATUSES) if module is not None else ()


def _replace(current: BufferFilter, **changes: Any) -> BufferFilter:
    from dataclasses import replace

    return replace(current, **changes)
