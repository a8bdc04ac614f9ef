"""One traced ID: its log entries with their timelines, the items and their outcomes, and
the records it touched, each in its own tab.

The page paints from the trace alone (one request). What needs more requests comes after
that first paint and fills in as it arrives: the timelines (`LogsApi.detail`) of the
first entries, a few at a time, and any other entry's when it is expanded; the outcomes
of the intents among the entries (`IntentsApi.outcome`), for the Items tab.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.intents import IntentOutcome, IntentsApi
from console.api.logs import LogEntry, LogEvent, Trace, TraceChange, TraceRecord
from console.ui.formatting import format_time_ms
from console.ui.trace.find_field import shown_id
from console.ui.widgets.error_banner import describe_error
from console.ui.widgets.row_table import setup_row_view

if TYPE_CHECKING:
    from console.ui.session import ConsoleSession
    from console.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

TAB_TITLES = ("Log entries", "Items", "Records")
ENTRY_COLUMNS = (
    "Time",
    "Status",
    "Feed",
    "Intent",
    "HTTP",
    "Items",
    "Request ID",
    "Correlation ID",
    "Duration",
)
ITEM_COLUMNS = ("Request ID", "Item", "Outcome", "Record", "Field", "Message")
RECORD_COLUMNS = ("Feed", "GUID", "System id", "Status", "Changes", "Last change")
CHANGE_COLUMNS = ("When", "Intent", "Changed", "Correlation ID", "Request ID")
STATUS_COLUMN = ENTRY_COLUMNS.index("Status")
REQUEST_COLUMN = ENTRY_COLUMNS.index("Request ID")
PREFETCH_TIMELINES = 20  # the entries whose timelines load after the first paint
DETAIL_CONCURRENCY = 4  # requests at once for timelines, and for outcomes
OUTCOME_LIMIT = 20  # intents whose outcome the Items tab reads
MAX_ITEM_ROWS = 1000
AUTO_EXPAND = 3  # a trace of this many entries or fewer shows every timeline open
# The intents with an outcome under their correlation id (`/api/ingest` is one too).
INTENT_NAMES = frozenset({"upsert", "patch", "delete", "fetch", "fetch-list", "ingest"})
KIND_NAMES = {
    "request_id": "request ID",
    "correlation_id": "correlation ID",
    "idempotency_key": "idempotency key",
    "guid": "record GUID",
    "system_id": "system id",
}
STATUS_COLOURS = {
    "succeeded": "#11643a",
    "partially_failed": "#7a5200",
    "failed": "#8f1d12",
    "rejected": "#8f1d12",
    "duplicate": "#55565c",
    "queued": "#1d4f9c",
    "processing": "#1d4f9c",
}
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
# A row or timeline step that names another request: the request ID it links to.
LINK_ROLE = Qt.ItemDataRole.UserRole + 2
LINK_COLOUR = "#1d4f9c"
# The duplicate step of a timeline names the request it repeats (sandbox logs/query.py).
_REPLAY_OF = re.compile(r"\breplay of (\S+?):? ")
LOADING_TEXT = "Loading timeline…"


def describe_changed(changed: Any) -> str:
    """The fields a change touched, short: `name, price` (or the JSON, cut)."""
    if isinstance(changed, list):
        return ", ".join(str(name) for name in changed) or "—"
    if isinstance(changed, dict):
        return ", ".join(str(name) for name in changed) or "—"
    if changed is None:
        return "—"
    text = json.dumps(changed, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


def matched_text(trace: Trace) -> str:
    """`Matched as a correlation ID and an idempotency key`."""
    kinds = [KIND_NAMES.get(kind, kind) for kind in trace.matched]
    if not kinds:
        return "Matched"
    if len(kinds) == 1:
        return f"Matched as {kinds[0]}"
    return f"Matched as {', '.join(kinds[:-1])} and {kinds[-1]}"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


@dataclass(frozen=True)
class ItemRow:
    """One row of the Items tab."""

    request_id: str
    correlation_id: str | None
    item: int | None
    outcome: str
    record: str
    field: str
    message: str
    link: str | None = None  # a request ID the message names (the one a duplicate repeats)


def replayed_request(events: Iterable[LogEvent]) -> str | None:
    """The request a duplicate repeats, as its timeline names it."""
    for event in events:
        if event.stage == "duplicate" and event.detail:
            found = _REPLAY_OF.search(event.detail + " ")
            if found:
                return found.group(1)
    return None


def original_request(entry: LogEntry, entries: Iterable[LogEntry]) -> str | None:
    """The request of `entries` that a duplicate `entry` repeats: the first that was not a
    duplicate with the same idempotency key and key (or, without one, the same
    correlation ID: a retried intent)."""
    same: list[LogEntry] = []
    for other in entries:
        if other.request_id == entry.request_id or other.processing_status == "duplicate":
            continue
        if entry.idempotency_key:
            if other.idempotency_key == entry.idempotency_key and other.key == entry.key:
                same.append(other)
        elif entry.correlation_id and other.correlation_id == entry.correlation_id:
            same.append(other)
    if not same:
        return None
    return min(same, key=lambda e: e.timestamp).request_id


def item_rows(
    trace: Trace,
    outcomes: dict[str, IntentOutcome],
    originals: Mapping[str, str] | None = None,
) -> tuple[list[ItemRow], dict[str, int]]:
    """What became of each item of the traced requests, and the count of each outcome.

    An intent's outcome (when read) says it per record and per failed item; other
    requests say it through their entry (its item errors) and, for record writes, the
    changes they made to the traced records. A duplicate names (and links to) the request
    it repeats: from `originals` (duplicate's request ID to the original's, read from its
    timeline) or else found among the traced entries.
    """
    rows: list[ItemRow] = []
    changes_by_request: dict[str, list[tuple[TraceRecord, TraceChange]]] = {}
    for record in trace.records:
        for change in record.changes:
            if change.request_id:
                changes_by_request.setdefault(change.request_id, []).append((record, change))
    shown_outcomes: set[str] = set()
    for entry in trace.entries:
        corr = entry.correlation_id
        outcome = outcomes.get(corr) if corr and entry.processing_status != "duplicate" else None
        if outcome is not None and corr in shown_outcomes:
            outcome = None  # another entry of the same intent lists its items already
        elif outcome is not None and corr is not None:
            shown_outcomes.add(corr)

        row = functools.partial(ItemRow, entry.request_id, corr)
        before = len(rows)
        if outcome is not None:
            for done in outcome.records:
                rows.append(row(done.item, done.action, done.system_id or done.guid or "", "", ""))
            for error in outcome.errors:
                rows.append(row(error.item, "failed", "", error.field or "", error.message))
        else:
            failed = "rejected" if entry.processing_status == "rejected" else "failed"
            for logged in entry.errors:
                rows.append(row(logged.item, failed, "", logged.field or "", logged.message))
            if entry.processing_status == "succeeded":
                for record, change in changes_by_request.get(entry.request_id, []):
                    what = "created" if entry.intent == "record.create" else "changed"
                    if record.deleted and change.intent and "archive" in change.intent:
                        what = "archived"
                    rows.append(row(None, what, record.system_id or record.guid, "", ""))
        if len(rows) == before:
            status = entry.processing_status
            link = None
            if status == "duplicate":
                link = (originals or {}).get(entry.request_id) or original_request(
                    entry, trace.entries
                )
                earlier = link or "an earlier request"
                note = f"a repeat of {earlier}: applied once, by that one"
            elif status in ("queued", "processing"):
                note = f"{status}: not finished yet (Refresh to see it later)"
            elif entry.items_received:
                note = f"{_count(entry.items_received, 'item')} received"
            else:
                note = ""
            rows.append(row(None, status or "—", "", "", note, link))
        if entry.error_count > len(entry.errors) and outcome is None:
            rows.append(
                row(
                    None,
                    "more errors",
                    "",
                    "",
                    f"{entry.error_count - len(entry.errors):,} more errors not listed "
                    "(the log keeps the first 100)",
                )
            )
    counts: dict[str, int] = {}
    for item in rows:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    return rows, counts


def _as_link(item: QTreeWidgetItem | QTableWidgetItem, request_id: str, tooltip: str) -> None:
    """Show `item` as a link to `request_id` (a click or Enter follows it)."""
    font = QFont(item.font(0) if isinstance(item, QTreeWidgetItem) else item.font())
    font.setUnderline(True)
    if isinstance(item, QTreeWidgetItem):
        item.setData(0, LINK_ROLE, request_id)
        item.setFont(0, font)
        item.setForeground(0, QColor(LINK_COLOUR))
        item.setToolTip(0, tooltip)
    else:
        item.setData(LINK_ROLE, request_id)
        item.setFont(font)
        item.setForeground(QColor(LINK_COLOUR))
        item.setToolTip(tooltip)


def _item(text: str, tooltip: str | None = None) -> QTableWidgetItem:
    cell = QTableWidgetItem(text)
    cell.setToolTip(tooltip if tooltip is not None else text)
    return cell


def _table(columns: Iterable[str]) -> QTableWidget:
    names = list(columns)
    table = QTableWidget(0, len(names))
    table.setHorizontalHeaderLabels(names)
    setup_row_view(table)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(22)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    return table


class TracePage(QWidget):
    """The trace of one ID, as last read."""

    find_requested = Signal(str)  # an ID shown here, to trace in turn
    open_record_requested = Signal(str, str)  # feed, GUID: show it in the Records tab
    timeline_loaded = Signal(str)  # request ID whose timeline is shown
    outcomes_loaded = Signal()  # the Items tab holds every outcome it asked for
    outcomes_failed = Signal(str)  # some outcomes could not be read: what failed
    refreshed = Signal()  # a new trace of this ID is shown

    def __init__(
        self,
        any_id: str,
        session: ConsoleSession,
        runner: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.any_id = any_id
        self.session = session
        self.runner = runner
        self.trace: Trace | None = None
        self.outcomes: dict[str, IntentOutcome] = {}
        self._outcome_failure = ""  # what the last read of outcomes could not do
        self._unread_outcomes: list[str] = []  # correlation ids whose outcome failed
        self._timelines: dict[str, tuple[LogEvent, ...] | str] = {}
        # Duplicate's request ID -> the request it repeats, as its timeline names it.
        self._originals: dict[str, str] = {}
        self._entry_items: dict[str, QTreeWidgetItem] = {}
        self._asked: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generation = 0
        self._background_pending = False
        self._details_gate = asyncio.Semaphore(DETAIL_CONCURRENCY)

        self.title = QLabel(shown_id(any_id, 90))
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # an ID as pasted, never markup
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setToolTip(any_id)
        self.copy_button = QPushButton("&Copy ID")
        self.copy_button.setToolTip("Copy the traced ID")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(any_id))
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setToolTip("Trace this ID again (statuses and outcomes move on)")
        self.refresh_button.clicked.connect(self.refresh)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.copy_button)
        head.addWidget(self.refresh_button)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #5c5f66;")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.entries_tree = QTreeWidget()
        self.entries_tree.setAccessibleName("Log entries")
        self.entries_tree.setColumnCount(len(ENTRY_COLUMNS))
        self.entries_tree.setHeaderLabels(ENTRY_COLUMNS)
        self.entries_tree.setUniformRowHeights(True)
        self.entries_tree.setAlternatingRowColors(True)
        self.entries_tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.entries_tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.entries_tree.header().setStretchLastSection(False)
        self.entries_tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.entries_tree.itemExpanded.connect(self._expanded)
        self.entries_tree.itemClicked.connect(lambda item, _column: self._follow_link(item))
        self.entries_tree.itemActivated.connect(lambda item, _column: self._follow_link(item))
        self.entries_tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.entries_tree.customContextMenuRequested.connect(self._entry_menu)
        self.entries_note = QLabel("")
        self.entries_note.setStyleSheet("color: #5c5f66;")
        entries_page = QWidget()
        entries_layout = QVBoxLayout(entries_page)
        entries_layout.setContentsMargins(0, 4, 0, 0)
        entries_layout.addWidget(self.entries_tree, 1)
        entries_layout.addWidget(self.entries_note)

        self.items_summary = QLabel("")
        self.items_summary.setWordWrap(True)
        # Server messages go in here (a failed read of outcomes): never markup.
        self.items_summary.setTextFormat(Qt.TextFormat.PlainText)
        self.items_summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.retry_outcomes_button = QPushButton("Re&try outcomes")
        self.retry_outcomes_button.setToolTip("Read again the outcomes that could not be read")
        self.retry_outcomes_button.clicked.connect(self.retry_outcomes)
        self.retry_outcomes_button.hide()
        items_head = QHBoxLayout()
        items_head.addWidget(self.items_summary, 1)
        items_head.addWidget(self.retry_outcomes_button)
        self.items_table = _table(ITEM_COLUMNS)
        self.items_table.setAccessibleName("Items")
        self.items_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.items_table.customContextMenuRequested.connect(self._item_menu)
        self.items_table.itemClicked.connect(self._follow_link)
        self.items_table.itemActivated.connect(self._follow_link)
        items_page = QWidget()
        items_layout = QVBoxLayout(items_page)
        items_layout.setContentsMargins(0, 4, 0, 0)
        items_layout.addLayout(items_head)
        items_layout.addWidget(self.items_table, 1)

        self.records_table = _table(RECORD_COLUMNS)
        self.records_table.setAccessibleName("Records")
        self.records_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.records_table.itemSelectionChanged.connect(self._record_selected)
        self.records_table.doubleClicked.connect(lambda _index: self.open_selected_record())
        self.changes_table = _table(CHANGE_COLUMNS)
        self.changes_table.setAccessibleName("Record changes")
        self.changes_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.changes_table.customContextMenuRequested.connect(self._change_menu)
        self.open_record_button = QPushButton("&Open in Records tab")
        self.open_record_button.setToolTip("Show the selected record in the Records tab")
        self.open_record_button.clicked.connect(self.open_selected_record)
        self.copy_guid_button = QPushButton("Copy &GUID")
        self.copy_guid_button.clicked.connect(self._copy_guid)
        self.records_note = QLabel("")
        self.records_note.setStyleSheet("color: #5c5f66;")
        record_buttons = QHBoxLayout()
        record_buttons.addWidget(self.records_note, 1)
        record_buttons.addWidget(self.copy_guid_button)
        record_buttons.addWidget(self.open_record_button)
        records_top = QWidget()
        top_layout = QVBoxLayout(records_top)
        top_layout.setContentsMargins(0, 4, 0, 0)
        top_layout.addWidget(self.records_table, 1)
        top_layout.addLayout(record_buttons)
        changes_part = QWidget()
        changes_layout = QVBoxLayout(changes_part)
        changes_layout.setContentsMargins(0, 0, 0, 0)
        changes_layout.addWidget(QLabel("Changes of the selected record"))
        changes_layout.addWidget(self.changes_table, 1)
        records_page = QSplitter(Qt.Orientation.Vertical)
        records_page.addWidget(records_top)
        records_page.addWidget(changes_part)
        records_page.setChildrenCollapsible(False)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Parts of the trace")
        for page, title in zip((entries_page, items_page, records_page), TAB_TITLES, strict=True):
            self.tabs.addTab(page, title)
        self.tabs.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self._sync_record_buttons()

    # -- what is shown ---------------------------------------------------------------

    def show_trace(self, trace: Trace) -> None:
        """Show `trace` now; timelines and outcomes follow after the first paint."""
        self._cancel_tasks()
        self._generation += 1
        self.trace = trace
        self.outcomes = {}
        self._outcome_failure = ""
        self._unread_outcomes = []
        self.retry_outcomes_button.hide()
        self._timelines = {}
        self._originals = {}
        self._asked = set()
        self._show_summary(trace)
        self._fill_entries(trace.entries)
        self._fill_items()
        self._fill_records(trace.records)
        for index, count in enumerate((len(trace.entries), 1, len(trace.records))):
            self.tabs.setTabText(index, TAB_TITLES[index] + (f" ({count})" if index != 1 else ""))
        if not trace.entries and trace.records:
            self.tabs.setCurrentIndex(TAB_TITLES.index("Records"))
        self._background_pending = True
        # The tab widget's paint starts them; the timer in case this page is not shown.
        QTimer.singleShot(100, self, self._start_background)
        self.refreshed.emit()

    def _show_summary(self, trace: Trace) -> None:
        parts = [
            matched_text(trace),
            _count(len(trace.entries), "log entry", "log entries"),
            _count(len(trace.records), "record"),
        ]
        notes = []
        if trace.truncated_entries:
            notes.append("only the newest 200 log entries are listed")
        if trace.truncated_records:
            notes.append("only 200 records are listed")
        text = " · ".join(parts)
        if notes:
            text += f" ({'; '.join(notes)})"
        self.summary.setText(text)

    def _fill_entries(self, entries: Iterable[LogEntry]) -> None:
        tree = self.entries_tree
        tree.setUpdatesEnabled(False)
        try:
            tree.clear()
            self._entry_items = {}
            items = []
            for entry in entries:
                item = QTreeWidgetItem(
                    [
                        format_time_ms(entry.timestamp),
                        entry.processing_status,
                        entry.feed or "—",
                        entry.intent or "—",
                        str(entry.http_status) if entry.http_status is not None else "—",
                        f"{entry.items_received:,}",
                        entry.request_id,
                        entry.correlation_id or "—",
                        f"{entry.duration_ms:,.1f} ms" if entry.duration_ms is not None else "—",
                    ]
                )
                item.setData(0, ENTRY_ROLE, entry)
                colour = STATUS_COLOURS.get(entry.processing_status)
                if colour is not None:
                    item.setForeground(STATUS_COLUMN, QColor(colour))
                tips = [f"Request ID {entry.request_id}"]
                if entry.correlation_id:
                    tips.append(f"Correlation ID {entry.correlation_id}")
                if entry.idempotency_key:
                    tips.append(f"Idempotency key {entry.idempotency_key}")
                if entry.key:
                    tips.append(f"Key {entry.key}")
                if entry.error_count:
                    tips.append(_count(entry.error_count, "item error"))
                for column in range(len(ENTRY_COLUMNS)):
                    item.setToolTip(column, "\n".join(tips))
                placeholder = QTreeWidgetItem([LOADING_TEXT])
                item.addChild(placeholder)
                placeholder.setFirstColumnSpanned(True)
                self._entry_items[entry.request_id] = item
                items.append(item)
            tree.addTopLevelItems(items)
            if len(items) <= AUTO_EXPAND:
                for item in items:
                    item.setExpanded(True)
            if items and tree.currentItem() is None:
                tree.setCurrentItem(items[0])
            widths = (200, 95, 85, 95, 45, 55, 195, 195, 75)  # all in a 1100 px window
            for column, width in enumerate(widths):
                tree.setColumnWidth(column, width)
        finally:
            tree.setUpdatesEnabled(True)
        count = len(self._entry_items)
        self.entries_note.setText(
            "No log entry carries this ID." if count == 0 else "Expand an entry for its timeline."
        )

    def _fill_items(self) -> None:
        trace = self.trace
        if trace is None:
            return
        rows, counts = item_rows(trace, self.outcomes, self._originals)
        # Looked up by a record's id: its own item first (and current), not somewhere among
        # the thousands of items of the request that wrote it, nor past the listed rows.
        targets = {
            value
            for record in trace.records
            if self.any_id in (record.guid, record.system_id)
            for value in (record.guid, record.system_id)
            if value
        }
        if targets:
            rows.sort(key=lambda row: row.record not in targets)
        table = self.items_table
        table.setUpdatesEnabled(False)
        try:
            shown = rows[:MAX_ITEM_ROWS]
            table.setRowCount(len(shown))
            for index, row in enumerate(shown):
                cells = (
                    _item(row.request_id, f"{row.request_id}\nCorrelation ID {row.correlation_id}"),
                    _item("—" if row.item is None else str(row.item)),
                    _item(row.outcome),
                    _item(row.record or "—"),
                    _item(row.field or "—"),
                    _item(row.message),
                )
                colour = STATUS_COLOURS.get(row.outcome)
                if colour is not None:
                    cells[2].setForeground(QColor(colour))
                if row.link:
                    _as_link(cells[5], row.link, f"{row.message}\nClick to show {row.link}")
                for column, cell in enumerate(cells):
                    table.setItem(index, column, cell)
            for column, width in enumerate((250, 50, 110, 160, 120)):
                table.setColumnWidth(column, width)
            if targets and shown and shown[0].record in targets:
                table.selectRow(0)
        finally:
            table.setUpdatesEnabled(True)
        requests = len(trace.entries)
        received = sum(e.items_received for e in trace.entries)
        parts = [f"{_count(received, 'item')} received in {_count(requests, 'request')}"]
        parts += [f"{count:,} {what}" for what, count in sorted(counts.items())]
        text = " · ".join(parts)
        if len(rows) > MAX_ITEM_ROWS:
            text += f" · the first {MAX_ITEM_ROWS:,} of {len(rows):,} rows are listed"
        if self._outcome_failure:
            text += f" · {self._outcome_failure}"
        self.items_summary.setText(text)

    def _fill_records(self, records: Iterable[TraceRecord]) -> None:
        table = self.records_table
        table.setUpdatesEnabled(False)
        try:
            listed = list(records)
            table.setRowCount(len(listed))
            for row, record in enumerate(listed):
                last = max((c.timestamp or 0 for c in record.changes), default=0) or None
                cells = (
                    _item(record.feed),
                    _item(record.guid),
                    _item(record.system_id or "—"),
                    _item("archived" if record.deleted else "active"),
                    _item(f"{len(record.changes):,}"),
                    _item(format_time_ms(last)),
                )
                cells[0].setData(ENTRY_ROLE, record)
                for column, cell in enumerate(cells):
                    table.setItem(row, column, cell)
            if listed:
                table.resizeColumnsToContents()
                table.selectRow(0)
            else:
                self.changes_table.setRowCount(0)
        finally:
            table.setUpdatesEnabled(True)
        self.records_note.setText(
            "No record was touched." if not listed else "Double-click a record to open it."
        )
        self._sync_record_buttons()

    # -- background: timelines and outcomes --------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Start the follow-up requests once the trace has painted."""
        if self._background_pending and event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self, self._start_background)
        return super().eventFilter(watched, event)

    def _start_background(self) -> None:
        if not self._background_pending or self.trace is None:
            return
        self._background_pending = False
        trace = self.trace
        for entry in trace.entries[:PREFETCH_TIMELINES]:
            self._load_timeline(entry.request_id)
        seen: list[str] = []
        for entry in trace.entries:
            corr = entry.correlation_id
            if (
                corr
                and corr not in seen
                and entry.intent in INTENT_NAMES
                and entry.processing_status not in ("rejected", "duplicate")
            ):
                seen.append(corr)
        if seen:
            self._read_outcomes(seen[:OUTCOME_LIMIT])
        else:
            self.outcomes_loaded.emit()

    def _read_outcomes(self, correlation_ids: list[str]) -> None:
        self._outcome_failure = ""
        self.retry_outcomes_button.hide()
        self.items_summary.setText(self.items_summary.text() + " · reading outcomes…")
        self._spawn(self._load_outcomes(correlation_ids, self._generation))

    def retry_outcomes(self) -> None:
        """Read again the outcomes whose last read failed."""
        if self._unread_outcomes and self.trace is not None:
            self._outcome_failure = ""
            self._fill_items()  # drops the failure's note before "reading outcomes…"
            self._read_outcomes(list(self._unread_outcomes))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.runner.start(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_tasks(self) -> None:
        try:
            current = asyncio.current_task()
        except RuntimeError:  # called from Qt with no loop running (closing)
            current = None
        for task in list(self._tasks):
            if task is not current:  # a refresh showing its answer goes on to its end
                task.cancel()
                self._tasks.discard(task)

    def _expanded(self, item: QTreeWidgetItem) -> None:
        entry = item.data(0, ENTRY_ROLE)
        if isinstance(entry, LogEntry):
            self._load_timeline(entry.request_id)

    def _load_timeline(self, request_id: str) -> None:
        if request_id in self._asked:
            return
        self._asked.add(request_id)
        self._spawn(self._fetch_timeline(request_id, self._generation))

    async def _fetch_timeline(self, request_id: str, generation: int) -> None:
        async with self._details_gate:
            if generation != self._generation:
                return
            try:
                detail = await self.session.logs.detail(request_id)
                result: tuple[LogEvent, ...] | str = detail.events
            except ApiError as error:
                headline, _details, _corr = describe_error(error)
                result = f"Timeline unavailable: {headline}"
        if generation != self._generation:
            return
        self._timelines[request_id] = result
        self._show_timeline(request_id)
        self.timeline_loaded.emit(request_id)

    def _show_timeline(self, request_id: str) -> None:
        item = self._entry_items.get(request_id)
        result = self._timelines.get(request_id)
        if item is None or result is None:
            return
        item.takeChildren()
        if isinstance(result, str) or not result:
            text = result if isinstance(result, str) else "No timeline was kept for this request."
            note = QTreeWidgetItem([text])
            item.addChild(note)
            note.setFirstColumnSpanned(True)
            return
        start = result[0].timestamp
        children = []
        for event in result:
            at = (
                datetime.fromtimestamp(event.timestamp).strftime("%H:%M:%S.%f")[:-3]
                if event.timestamp is not None
                else "—"
            )
            offset = (
                f"+{(event.timestamp - start) * 1000:,.0f} ms"
                if event.timestamp is not None and start is not None
                else ""
            )
            text = f"{at}  {offset:>10}   {event.stage}"
            if event.detail:
                text += f" — {event.detail}"
            child = QTreeWidgetItem([text])
            child.setToolTip(
                0, f"{format_time_ms(event.timestamp)} {event.stage}: {event.detail or ''}"
            )
            colour = STATUS_COLOURS.get(event.stage)
            if colour is not None:
                child.setForeground(0, QColor(colour))
            original = replayed_request((event,))
            if original is not None:
                _as_link(child, original, f"{child.toolTip(0)}\nClick to show {original}")
            children.append(child)
        item.addChildren(children)
        for child in children:
            child.setFirstColumnSpanned(True)  # a timeline step reads as one line
        original = replayed_request(result)
        if original is not None and self._originals.get(request_id) != original:
            self._originals[request_id] = original
            self._fill_items()  # its Items row names the request it repeats

    def _follow_link(self, item: QTreeWidgetItem | QTableWidgetItem) -> None:
        link = (
            item.data(0, LINK_ROLE) if isinstance(item, QTreeWidgetItem) else item.data(LINK_ROLE)
        )
        if isinstance(link, str) and link:
            self.show_request(link)

    def show_request(self, request_id: str) -> None:
        """Select `request_id`'s entry when this trace holds it; else trace it in turn."""
        item = self._entry_items.get(request_id)
        if item is None:
            self.find_requested.emit(request_id)
            return
        self.tabs.setCurrentIndex(TAB_TITLES.index("Log entries"))
        self.entries_tree.setCurrentItem(item)
        self.entries_tree.scrollToItem(item)
        self.entries_tree.setFocus(Qt.FocusReason.OtherFocusReason)

    def timeline(self, request_id: str) -> tuple[LogEvent, ...] | str | None:
        """The timeline shown for `request_id` (a text when it could not be read)."""
        return self._timelines.get(request_id)

    async def _load_outcomes(self, correlation_ids: list[str], generation: int) -> None:
        gate = asyncio.Semaphore(DETAIL_CONCURRENCY)
        intents = IntentsApi(self.session.require_client())

        async def one(corr: str) -> tuple[str, IntentOutcome | ApiError | None]:
            async with gate:
                try:
                    return corr, await intents.outcome(corr)
                except ApiError as error:
                    if error.status == 404:  # no intent under it (a refused request)
                        return corr, None
                    return corr, error  # said on the Items tab, with a retry

        answers = await asyncio.gather(*(one(corr) for corr in correlation_ids))
        if generation != self._generation:
            return
        failed = [(corr, a) for corr, a in answers if isinstance(a, ApiError)]
        self.outcomes.update(
            (corr, answer) for corr, answer in answers if isinstance(answer, IntentOutcome)
        )
        self._unread_outcomes = [corr for corr, _error in failed]
        if failed:
            headline, _details, _corr = describe_error(failed[0][1])
            count = _count(len(failed), "intent")
            self._outcome_failure = f"the outcomes of {count} could not be read: {headline}"
        else:
            self._outcome_failure = ""
        self._fill_items()
        if failed:
            self.retry_outcomes_button.show()
            self.outcomes_failed.emit(self._outcome_failure)
        else:
            self.outcomes_loaded.emit()

    # -- records -----------------------------------------------------------------------

    def selected_record(self) -> TraceRecord | None:
        """The record of the selected row of the Records tab."""
        rows = self.records_table.selectionModel().selectedRows()
        if not rows:
            return None
        cell = self.records_table.item(rows[0].row(), 0)
        record = cell.data(ENTRY_ROLE) if cell is not None else None
        return record if isinstance(record, TraceRecord) else None

    def _record_selected(self) -> None:
        record = self.selected_record()
        changes = record.changes if record is not None else ()
        table = self.changes_table
        table.setRowCount(len(changes))
        for row, change in enumerate(changes):
            cells = (
                _item(format_time_ms(change.timestamp)),
                _item(change.intent or "—"),
                _item(describe_changed(change.changed)),
                _item(change.correlation_id or "—"),
                _item(change.request_id or "—"),
            )
            for column, cell in enumerate(cells):
                table.setItem(row, column, cell)
        if changes:
            table.resizeColumnsToContents()
        self._sync_record_buttons()

    def _sync_record_buttons(self) -> None:
        record = self.selected_record()
        self.open_record_button.setEnabled(record is not None)
        self.copy_guid_button.setEnabled(record is not None)

    def open_selected_record(self) -> None:
        """Ask the window to show the selected record in the Records tab."""
        record = self.selected_record()
        if record is not None:
            self.open_record_requested.emit(record.feed, record.guid)

    def _copy_guid(self) -> None:
        record = self.selected_record()
        if record is not None:
            QGuiApplication.clipboard().setText(record.guid)

    # -- context menus: copy an ID, or trace it ---------------------------------------

    def _id_menu(self, at: QPoint, viewport: QWidget, ids: list[tuple[str, str]]) -> None:
        menu = QMenu(self)
        for name, value in ids:
            if not value:
                continue
            copy = menu.addAction(f"Copy {name}")
            copy.triggered.connect(lambda _=False, v=value: QGuiApplication.clipboard().setText(v))
        menu.addSeparator()
        for name, value in ids:
            if value and value != self.any_id:
                find = menu.addAction(f"Find this {name}")
                find.triggered.connect(lambda _=False, v=value: self.find_requested.emit(v))
        if menu.actions():
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(viewport.mapToGlobal(at))
        else:
            menu.deleteLater()

    def _entry_menu(self, at: QPoint) -> None:
        item = self.entries_tree.itemAt(at)
        while item is not None and item.parent() is not None:
            item = item.parent()
        entry = item.data(0, ENTRY_ROLE) if item is not None else None
        if isinstance(entry, LogEntry):
            ids = [
                ("request ID", entry.request_id),
                ("correlation ID", entry.correlation_id or ""),
                ("idempotency key", entry.idempotency_key or ""),
            ]
            self._id_menu(at, self.entries_tree.viewport(), ids)

    def _item_menu(self, at: QPoint) -> None:
        row = self.items_table.rowAt(at.y())
        cell = self.items_table.item(row, 0) if row >= 0 else None
        if cell is not None:
            self._id_menu(at, self.items_table.viewport(), [("request ID", cell.text())])

    def _change_menu(self, at: QPoint) -> None:
        row = self.changes_table.rowAt(at.y())
        if row < 0:
            return
        ids = []
        for column, name in ((3, "correlation ID"), (4, "request ID")):
            cell = self.changes_table.item(row, column)
            if cell is not None and cell.text() != "—":
                ids.append((name, cell.text()))
        self._id_menu(at, self.changes_table.viewport(), ids)

    # -- refresh and close ---------------------------------------------------------------

    def refresh(self) -> None:
        """Trace the ID again and show the new answer."""
        self._spawn(self._refresh(self._generation))

    async def _refresh(self, generation: int) -> None:
        self.refresh_button.setEnabled(False)
        try:
            trace = await self.session.logs.trace(self.any_id)
        except ApiError as error:
            if error.status == 404 and generation == self._generation:
                self.summary.setText("Nothing matches this ID any more (pruned or deleted).")
                return
            raise
        finally:
            self.refresh_button.setEnabled(True)
        if generation == self._generation:
            self.show_trace(trace)

    def close_page(self) -> None:
        """Stop what the page still loads (it is being closed)."""
        self._generation += 1
        self._background_pending = False
        self._cancel_tasks()
