"""The selected log entry: its fields at once, then its detail from the server (bodies as
formatted JSON, per-item errors, the processing timeline), with Copy and Find by ID for
every ID and click-to-filter on its values."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.logs import LogDetail, LogEntry, LogEvent, LogItemError, LogsApi
from console.common.redaction import looks_like_key, mask_secret
from console.logbuffer.buffer import Column
from console.ui.widgets.elided_label import ElidedLabel
from console.ui.widgets.row_table import setup_row_view
from console.ui.widgets.status_badge import badge_label_style

log = logging.getLogger(__name__)

# The server keeps the first 64 KiB of a body; a body longer than this (a server keeping
# more) is cut here, so the pane never formats or shows an unbounded text.
MAX_BODY_CHARS = 256 * 1024
SERVER_KEEPS = 64 * 1024  # bytes of a body the server keeps (PLATFORM_API, Connector logs)
# Bodies longer than this are formatted in a worker thread (json.loads + dumps of 64 KiB
# takes a few ms; of the 256 KiB bound, tens of ms).
FORMAT_IN_THREAD_CHARS = 8 * 1024
# Indenting multiplies a nested body: 64 KiB of `[[[...]]]` nested 900 deep would become
# 58 MB of spaces (seconds to build, a frozen pane to show). Past this depth or this size
# the body is shown as received instead.
MAX_FORMAT_DEPTH = 64
MAX_FORMATTED_CHARS = 1024 * 1024
TIMELINE_COLUMNS = ("Stage", "Time", "Since previous", "Detail")
ERROR_COLUMNS = ("Item", "Field", "Message")
# `[14].sku`: item 14's field sku (how refusals name an item's problem).
_ITEM_FIELD = re.compile(r"^\[(\d+)\]\.?(.*)$")
# The IDs a row is shown for, in order: (name, label, can Find by ID).
ID_ROWS = (
    ("request", "Request ID", True),
    ("correlation", "Correlation ID", True),
    ("idempotency", "Idempotency key", True),
    ("key", "Key", False),
)
LINK_STYLE = "QPushButton { text-align: left; color: #1d4f9c; padding: 1px 4px; }"
# The values that filter when clicked, in the order shown.
FILTER_COLUMNS = (Column.STATUS, Column.FEED, Column.INTENT, Column.HTTP_STATUS, Column.KEY)


# A JSON token of a body that may be cut anywhere: a string (perhaps unterminated), a
# punctuation mark, a run of anything else (numbers, literals, stray text), or spaces.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\],:]|[^"{}\[\],:\s]+|\s+', re.DOTALL)
NOTE_WARNING = "color: #7a5200;"
NOTE_NEUTRAL = "color: #5c5f66;"


@dataclass(frozen=True)
class FormattedBody:
    """A body ready to show: its text and a note saying what it is (`neutral`: the note
    only informs, it warns of nothing)."""

    text: str
    note: str
    is_json: bool
    neutral: bool = False


def _size(size: int) -> str:
    return f"{size // 1024:,} KiB" if size >= 1024 and size % 1024 == 0 else f"{size:,} bytes"


def _cut_note(body: str, total_bytes: int | None) -> str:
    """ "First 64 KiB of 1,234,567 bytes (cut)." (what is shown of how much was sent)."""
    kept = len(body.encode("utf-8", "surrogatepass"))
    # The server cuts at 64 KiB of bytes; a character it cut in two is not shown (<4 bytes).
    if SERVER_KEEPS - 4 < kept <= SERVER_KEEPS:
        kept = SERVER_KEEPS
    whole = f" of {total_bytes:,} bytes" if total_bytes and total_bytes > kept else ""
    return f"First {_size(kept)}{whole} (cut)."


def _line(depth: int) -> str:
    return "\n" + "  " * min(depth, MAX_FORMAT_DEPTH)


def indent_cut_json(text: str, break_depth: int = MAX_FORMAT_DEPTH) -> str | None:
    """`text`, JSON that may be cut anywhere, laid out as json.dumps(indent=2) would lay
    out the whole: a line per item, indented by depth (up to MAX_FORMAT_DEPTH levels).

    Lines break only at depths up to `break_depth` (1: one line per top-level item).
    Tolerant of the cut (an open string, unclosed brackets) and of whatever else it
    meets, which is kept as it is; None when the result would pass MAX_FORMATTED_CHARS.
    Iterative and linear in the text.
    """
    out: list[str] = []
    size = 0
    depth = 0
    previous = ""
    need_break = False  # the next item starts a line (after an opener or a comma)
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.isspace():
            continue
        if token in ("}", "]"):
            inner = depth
            depth = max(0, depth - 1)
            empty = previous in ("{", "[")
            piece = token if empty or inner > break_depth else _line(depth) + token
            need_break = False
        else:
            piece = _line(depth) if need_break else ""
            need_break = False
            if token in ("{", "["):
                depth += 1
                need_break = depth <= break_depth
                piece += token
            elif token == ",":
                need_break = depth <= break_depth
                piece += "," if need_break else ", "
            elif token == ":":
                piece += ": "
            else:
                piece += token
        out.append(piece)
        size += len(piece)
        if size > MAX_FORMATTED_CHARS:
            return None
        previous = token
    return "".join(out)


def format_body(
    body: str | None,
    *,
    encoding: str | None = None,
    truncated: bool = False,
    total_bytes: int | None = None,
) -> FormattedBody:
    """Pretty-print `body` when it is valid JSON, else show it raw; say base64 and cuts."""
    if body is None:
        return FormattedBody("", "No body kept.", False)
    notes: list[str] = []
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
        truncated = True
    if truncated:
        notes.append(_cut_note(body, total_bytes))
    if encoding == "base64":
        notes.insert(0, "Not text: shown as base64, as the server keeps it.")
        return FormattedBody(body, " ".join(notes), False)
    try:
        # Strict: NaN/Infinity are not JSON; json's depth limit ends absurd nesting.
        parsed = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        if truncated and body.strip():
            # Valid JSON cut short, as a rule: laid out as far as it goes, a line per item
            # (or, when that would be too large, a line per top-level item).
            laid_out = indent_cut_json(body)
            if laid_out is None:
                laid_out = indent_cut_json(body, break_depth=1)
            if laid_out is not None:
                return FormattedBody(laid_out, " ".join(notes), False, neutral=True)
        if body.strip():
            notes.insert(0, "Not valid JSON: shown as received.")
        return FormattedBody(body, " ".join(notes), False, neutral=not body.strip())
    text = _indented(parsed)
    if text is None:
        notes.insert(0, "Too deeply nested or too large to format: shown as received.")
        return FormattedBody(body, " ".join(notes), False)
    return FormattedBody(text, " ".join(notes), True)


def _depth_within(value: object, limit: int) -> bool:
    # Iterative: the parsed body is user data, so no recursion over it.
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _indented(parsed: object) -> str | None:
    if not _depth_within(parsed, MAX_FORMAT_DEPTH):
        return None
    parts: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(parsed):
        size += len(chunk)
        if size > MAX_FORMATTED_CHARS:
            return None
        parts.append(chunk)
    return "".join(parts)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def clock(value: float | None) -> str:
    """Local date and time to the millisecond (a timeline's steps are ms apart)."""
    if value is None:
        return "—"
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def span(seconds: float | None) -> str:
    """A duration between two steps: `12 ms`, `1.25 s`, `3 min 5 s`."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def timeline_rows(events: tuple[LogEvent, ...]) -> list[tuple[str, str, str, str]]:
    """(stage, time, since previous, detail) per event, then the total from first to last."""
    rows: list[tuple[str, str, str, str]] = []
    previous: float | None = None
    first: float | None = None
    last: float | None = None
    for event in events:
        since = (
            event.timestamp - previous
            if event.timestamp is not None and previous is not None
            else None
        )
        rows.append((event.stage, clock(event.timestamp), span(since), event.detail or ""))
        if event.timestamp is not None:
            previous = event.timestamp
            first = event.timestamp if first is None else first
            last = event.timestamp
    if len(events) > 1 and first is not None and last is not None:
        rows.append(("total", "", span(last - first), ""))
    return rows


def error_rows(errors: tuple[LogItemError, ...]) -> list[tuple[str, str, str]]:
    """(item, field, message) per error; `[14].sku` reads as item 14, field sku."""
    rows = []
    for error in errors:
        item, field = error.item, error.field or ""
        match = _ITEM_FIELD.match(field)
        if match:
            item = int(match.group(1)) if item is None else item
            field = match.group(2)
        rows.append(("—" if item is None else str(item), field or "—", error.message))
    return rows


def shown_key(entry: LogEntry) -> str:
    """The entry's key as prefix…last4 (a full secret, should one come, is masked)."""
    key = entry.key or ""
    return mask_secret(key) if looks_like_key(key) else key


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # it quotes server statuses
    label.setStyleSheet("font-weight: 600;")
    return label


class IdRow(QWidget):
    """An ID with Copy and (for searchable IDs) Find by ID."""

    def __init__(self, name: str, label: str, findable: bool, pane: LogDetailPane) -> None:
        super().__init__(pane)
        self.name = name
        self.value = ""
        # Too long for the pane: cut in the middle with an ellipsis (an ID's start and end
        # both tell IDs apart), whole in the tooltip and from Copy.
        self.label = ElidedLabel("—", elide=Qt.TextElideMode.ElideMiddle)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip(f"Copy the {label.lower()}")
        self.copy_button.clicked.connect(self.copy)
        self.find_button = QPushButton("Find by ID")
        self.find_button.setToolTip(f"Show everything this {label.lower()} leads to")
        self.find_button.clicked.connect(lambda: pane.find_requested.emit(self.value))
        policy = self.find_button.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # Copy buttons stay in one column
        self.find_button.setSizePolicy(policy)
        self.find_button.setVisible(findable)
        self.findable = findable
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.copy_button)
        layout.addWidget(self.find_button)
        self.set_value("")

    def set_value(self, value: str) -> None:
        """Show `value` ("" for none: the buttons are disabled)."""
        self.value = value
        self.label.setText(value or "—")
        self.label.setToolTip(f"{value}\nCopy puts it on the clipboard whole" if value else "")
        self.copy_button.setEnabled(bool(value))
        self.find_button.setEnabled(bool(value) and self.findable)

    def copy(self) -> None:
        """Put the ID on the clipboard."""
        if self.value:
            QGuiApplication.clipboard().setText(self.value)


class LogDetailPane(QWidget):
    """One log entry in full; the tab decides which (`show_entry`)."""

    filter_requested = Signal(object, object)  # (Column, value): a value was clicked
    find_requested = Signal(str)  # an ID's Find by ID
    detail_shown = Signal(str)  # request id whose server detail is now shown
    detail_failed = Signal(str)  # request id whose detail could not be fetched

    def __init__(self, logs: LogsApi | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._logs = logs
        self.entry: LogEntry | None = None
        self.detail: LogDetail | None = None
        self._task: asyncio.Task[None] | None = None
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.title = QLabel("No entry selected")
        # Every label of the pane shows the server's values as they are, never as markup.
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.loading = QLabel("")
        self.loading.setStyleSheet("color: #5c5f66;")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.loading)
        self.error = QLabel("")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet(
            "QLabel { background: #fde0dc; color: #8f1d12; padding: 4px 6px; border-radius: 4px; }"
        )
        self.error.hide()

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        self.values: dict[str, QLabel] = {}
        self.value_buttons: dict[Column, QPushButton] = {}
        self._filter_values: dict[Column, object] = {}
        for name in ("Time", "Items", "Duration", "Request", "Client"):
            label = QLabel("—")
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.values[name] = label
        form.addRow("Time", self.values["Time"])
        names = {
            Column.STATUS: "Status",
            Column.FEED: "Feed",
            Column.INTENT: "Intent",
            Column.HTTP_STATUS: "HTTP status",
            Column.KEY: "Key",
        }
        for column in FILTER_COLUMNS:
            button = QPushButton("—")
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setStyleSheet(LINK_STYLE)
            # As wide as its text: the status pill must not stretch across the pane.
            button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _checked=False, c=column: self._filter_clicked(c))
            self.value_buttons[column] = button
            form.addRow(names[column], button)
        for name in ("Items", "Duration", "Request", "Client"):
            form.addRow(name, self.values[name])

        self.ids: dict[str, IdRow] = {}
        ids_form = QFormLayout()
        ids_form.setContentsMargins(0, 0, 0, 0)
        for name, caption, findable in ID_ROWS:
            row = IdRow(name, caption, findable, self)
            self.ids[name] = row
            ids_form.addRow(caption, row)

        self.timeline = QTableWidget(0, len(TIMELINE_COLUMNS))
        self.timeline.setHorizontalHeaderLabels(TIMELINE_COLUMNS)
        self.errors = QTableWidget(0, len(ERROR_COLUMNS))
        self.errors.setHorizontalHeaderLabels(ERROR_COLUMNS)
        self.timeline.setAccessibleName("Timeline")
        self.errors.setAccessibleName("Item errors")
        for table in (self.timeline, self.errors):
            setup_row_view(table, alternating=False)
            table.verticalHeader().hide()
            table.verticalHeader().setDefaultSectionSize(22)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setStretchLastSection(True)
        self.errors_heading = _heading("Item errors")
        self.timeline_heading = _heading("Timeline")

        self.request_body = QPlainTextEdit()
        self.response_body = QPlainTextEdit()
        self.headers_view = QPlainTextEdit()
        self.request_body.setAccessibleName("Request body")
        self.response_body.setAccessibleName("Response body")
        self.headers_view.setAccessibleName("Headers")
        for view in (self.request_body, self.response_body, self.headers_view):
            view.setReadOnly(True)
            view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            view.setFont(fixed)
        self.request_note = QLabel("")
        self.response_note = QLabel("")
        for note in (self.request_note, self.response_note):
            note.setTextFormat(Qt.TextFormat.PlainText)
        for note in (self.request_note, self.response_note):
            note.setWordWrap(True)
            note.setStyleSheet(NOTE_WARNING)
        self.bodies = QTabWidget()
        self.bodies.setAccessibleName("Bodies and headers")
        self.bodies.addTab(self._part(self.request_note, self.request_body), "Request body")
        self.bodies.addTab(self._part(self.response_note, self.response_body), "Response body")
        self.bodies.addTab(self.headers_view, "Headers")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self._part(self.timeline_heading, self.timeline))
        split.addWidget(self._part(self.errors_heading, self.errors))
        split.addWidget(self.bodies)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 4)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.error)
        layout.addLayout(form)
        layout.addLayout(ids_form)
        layout.addWidget(split, 1)
        self.clear()

    @staticmethod
    def _part(heading: QLabel, body: QWidget) -> QWidget:
        part = QWidget()
        layout = QVBoxLayout(part)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addWidget(body, 1)
        return part

    # -- what is shown ---------------------------------------------------------------

    def set_logs(self, logs: LogsApi | None) -> None:
        """The API the detail is fetched from (None: disconnected; clears the pane)."""
        self._logs = logs
        self.clear()

    @property
    def request_id(self) -> str | None:
        """The request id of the entry shown (None: nothing)."""
        return self.entry.request_id if self.entry is not None else None

    @property
    def fetching(self) -> bool:
        """Whether the detail of the entry shown is still being fetched."""
        return self._task is not None and not self._task.done()

    def clear(self) -> None:
        """Show nothing (and drop any answer still on its way)."""
        self._cancel_fetch()
        self.entry = None
        self.detail = None
        self.title.setText("No entry selected")
        self.loading.setText("")
        self._show_error("")
        for label in self.values.values():
            label.setText("—")
        for column in self.value_buttons:
            self._set_filter_value(column, None, "—")
        self.value_buttons[Column.STATUS].setStyleSheet(LINK_STYLE)
        for row in self.ids.values():
            row.set_value("")
        self._fill(self.timeline, [])
        self._show_errors(())
        for view in (self.request_body, self.response_body, self.headers_view):
            view.setPlainText("")
        self.request_note.setText("")
        self.response_note.setText("")

    def show_entry(self, entry: LogEntry) -> None:
        """Show `entry`'s fields now and fetch its detail (bodies, errors, timeline)."""
        same = self.entry is not None and self.entry.request_id == entry.request_id
        if same and (self.detail is not None or self.fetching):
            self._show_fields(entry)  # a refreshed status: the detail already shown stays
            return
        self.clear()
        self.entry = entry
        self._show_fields(entry)
        self._show_errors(entry.errors, entry.error_count)
        if self._logs is None:
            self.loading.setText("")
            return
        self.loading.setText("Loading detail…")
        self._task = asyncio.ensure_future(self._fetch(self._logs, entry.request_id))

    def refresh_entry(self, entry: LogEntry) -> None:
        """The entry shown moved on (the live tail refreshed its status): show its new fields
        and fetch its detail again, so the timeline and errors agree with the table."""
        if self.entry is None or self.entry.request_id != entry.request_id:
            return
        self.entry = entry
        self._show_fields(entry)
        if self._logs is None:
            return
        self._cancel_fetch()
        self.loading.setText("Refreshing detail…")
        self._task = asyncio.ensure_future(self._fetch(self._logs, entry.request_id))

    def _show_fields(self, entry: LogEntry) -> None:
        self.title.setText(f"Request {entry.request_id}")
        self.values["Time"].setText(clock(entry.timestamp))
        self.values["Items"].setText(
            f"{entry.items_received:,}"
            + (f", {entry.error_count:,} with errors" if entry.error_count else "")
        )
        self.values["Duration"].setText(
            "—" if entry.duration_ms is None else span(entry.duration_ms / 1000)
        )
        self.values["Request"].setText(" ".join(filter(None, (entry.method, entry.path))) or "—")
        self.values["Client"].setText(
            " via ".join(filter(None, (entry.client_ip, entry.auth_via))) or "—"
        )
        key = shown_key(entry)
        status = entry.processing_status
        self._set_filter_value(Column.STATUS, status or None, status or "—")
        self.value_buttons[Column.STATUS].setStyleSheet(
            badge_label_style(status).replace("QLabel", "QPushButton")
        )
        self._set_filter_value(Column.FEED, entry.feed, entry.feed or "—")
        self._set_filter_value(Column.INTENT, entry.intent, entry.intent or "—")
        # 0 is the buffer filter's "no HTTP status" (pipeline events, polls).
        http = entry.http_status or 0
        self._set_filter_value(Column.HTTP_STATUS, http, str(entry.http_status or "none"))
        self._set_filter_value(Column.KEY, key or None, key or "—")
        self.ids["request"].set_value(entry.request_id)
        self.ids["correlation"].set_value(entry.correlation_id or "")
        self.ids["idempotency"].set_value(entry.idempotency_key or "")
        self.ids["key"].set_value(key)

    def _set_filter_value(self, column: Column, value: object, text: str) -> None:
        button = self.value_buttons[column]
        button.setText(text)
        button.setEnabled(value is not None)
        button.setToolTip(f"Show only entries with {text}" if value is not None else "")
        if value is None:
            self._filter_values.pop(column, None)
        else:
            self._filter_values[column] = value

    def _filter_clicked(self, column: Column) -> None:
        if column in self._filter_values:
            self.filter_requested.emit(column, self._filter_values[column])

    def _show_errors(self, errors: tuple[LogItemError, ...], count: int | None = None) -> None:
        rows = error_rows(errors)
        self._fill(self.errors, rows)
        total = max(count or 0, len(rows))
        if total > len(rows):
            self.errors_heading.setText(
                f"Item errors ({total:,}; the first {len(rows):,} are kept)"
            )
        else:
            self.errors_heading.setText(f"Item errors ({total:,})" if total else "Item errors")

    @staticmethod
    def _fill(table: QTableWidget, rows: Sequence[tuple[str, ...]]) -> None:
        table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, column, item)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    # -- the detail --------------------------------------------------------------------

    def _cancel_fetch(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _fetch(self, logs: LogsApi, request_id: str) -> None:
        try:
            detail = await logs.detail(request_id)
            request, response = await self._formatted(detail)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # shown inline: the pane is no place for a modal
            if self.request_id != request_id:
                return
            self.loading.setText("")
            message = str(error) if isinstance(error, ApiError) else repr(error)
            if isinstance(error, ApiError) and error.status == 404:
                message = "The server no longer keeps this entry's detail."
            self._show_error(f"Could not load the detail: {message}")
            log.info("log detail of %s failed: %s", request_id, message)
            self.detail_failed.emit(request_id)
            return
        if self.request_id != request_id:
            return  # an answer for an entry no longer shown
        self._show_detail(detail, request, response)
        self.detail_shown.emit(request_id)

    @staticmethod
    async def _formatted(detail: LogDetail) -> tuple[FormattedBody, FormattedBody]:
        def both() -> tuple[FormattedBody, FormattedBody]:
            return (
                format_body(
                    detail.request_body,
                    encoding=detail.request_body_encoding,
                    truncated=detail.request_truncated,
                    total_bytes=detail.request_bytes,
                ),
                format_body(detail.response_body),
            )

        size = len(detail.request_body or "") + len(detail.response_body or "")
        if size > FORMAT_IN_THREAD_CHARS:
            return await asyncio.to_thread(both)
        return both()

    def _show_detail(
        self, detail: LogDetail, request: FormattedBody, response: FormattedBody
    ) -> None:
        self.detail = detail
        self.loading.setText("")
        self._show_error("")
        self.entry = detail.entry
        self._show_fields(detail.entry)
        self._show_errors(detail.entry.errors, detail.entry.error_count)
        self._fill(self.timeline, timeline_rows(detail.events))
        self.timeline_heading.setText(
            f"Timeline ({detail.entry.processing_status})"
            if detail.entry.processing_status
            else "Timeline"
        )
        self.request_body.setPlainText(request.text)
        self.request_note.setText(request.note)
        self.request_note.setStyleSheet(NOTE_NEUTRAL if request.neutral else NOTE_WARNING)
        self.response_body.setPlainText(response.text)
        self.response_note.setText(response.note)
        self.response_note.setStyleSheet(NOTE_NEUTRAL if response.neutral else NOTE_WARNING)
        self.headers_view.setPlainText(
            "\n".join(f"{name}: {value}" for name, value in detail.headers.items())
        )
