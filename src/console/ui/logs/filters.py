"""The Ingest Logs filter bar: the loaded time range (server side) and the view's filters.

Two kinds of filter, kept apart on purpose:
- the **time range** (Last 15 min, 1 h, 24 h, 7 d, or Custom) says what is loaded from the
  server into the buffer: changing it reloads (`range_changed`);
- everything else (status, feed, intent, HTTP status facets, a key or error clicked
  elsewhere, a zoomed time window, free text) filters within the buffer, with no round
  trip (`filter_changed`). Its state is one `BufferFilter`, set as a whole.

The bar holds no buffer: facet menus ask `counts` (given by the tab) for their counts
when they open, so they are never stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from console.logbuffer.buffer import BufferFilter

TYPING_DEBOUNCE_MS = 150
# Room for any ID (the server's bound is 255): clicking "filter on this ID" puts the whole
# ID in the field, so the field and the filter it drives say the same thing.
MAX_FILTER_TEXT = 256
# (label, seconds back from now); None: custom.
PRESETS: tuple[tuple[str, float | None], ...] = (
    ("Last 15 minutes", 15 * 60.0),
    ("Last hour", 3600.0),
    ("Last 24 hours", 86_400.0),
    ("Last 7 days", 7 * 86_400.0),
    ("Custom…", None),
)
DEFAULT_PRESET = 1  # the last hour: enough to see a pattern, quick to load
CUSTOM_INDEX = len(PRESETS) - 1
# Facet buttons: (the BufferFilter field, the Column name, the button's title).
FACETS: tuple[tuple[str, str, str], ...] = (
    ("statuses", "STATUS", "&Status"),
    ("feeds", "FEED", "F&eed"),
    ("intents", "INTENT", "I&ntent"),
    ("http_statuses", "HTTP_STATUS", "&HTTP"),
)
CountsProvider = Callable[[str], list[tuple[object, int]]]


@dataclass(frozen=True)
class TimeRange:
    """What to load: `seconds` back from now (a preset), or a fixed custom span."""

    seconds: float | None = 3600.0
    since: float | None = None
    until: float | None = None

    @property
    def is_live(self) -> bool:
        """A preset ends now, so the live tail can follow it."""
        return self.seconds is not None

    def resolve(self, now: float | None = None) -> tuple[float | None, float | None]:
        """(since, until) to load; until None: up to now (and the tail after)."""
        if self.seconds is not None:
            return (time.time() if now is None else now) - self.seconds, None
        return self.since, self.until


def facet_value_text(field: str, value: object) -> str:
    """How a facet's value reads (0 and None as "none")."""
    if value in (None, "", 0):
        return "none"
    return str(value).replace("_", " ") if field == "statuses" else str(value)


def format_moment(value: float) -> str:
    """A moment in a chip: local date and time to the second."""
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


class FilterChip(QFrame):
    """One active filter that has no picker (a key, an error, a zoomed window), with ✕."""

    removed = Signal()

    def __init__(self, text: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logChip")
        self.setStyleSheet(
            "#logChip { background: #eef0f4; border: 1px solid #d6d9e0; border-radius: 10px; }"
        )
        self.label = QLabel(text)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # typed text, feed names
        self.label.setToolTip(tooltip)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip(f"Remove the filter: {text}")
        close.setAccessibleName(f"Remove the filter {text}")
        close.clicked.connect(self.removed)
        self.close_button = close
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 2, 0)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        layout.addWidget(close)


class LogFilterBar(QWidget):
    """Time range, free text, facet pickers and chips; `filter` is the view's filter."""

    range_changed = Signal()  # the time range to load changed
    filter_changed = Signal()  # `filter` changed (typing is debounced)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter: BufferFilter | None = None  # set once the buffer module is loaded
        self.counts: CountsProvider | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(TYPING_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._text_settled)
        self._chips: list[FilterChip] = []

        self.range_combo = QComboBox()
        for label, seconds in PRESETS:
            self.range_combo.addItem(label, seconds)
        self.range_combo.setCurrentIndex(DEFAULT_PRESET)
        self._range_index = DEFAULT_PRESET  # the range chosen last (Custom: CUSTOM_INDEX)
        self.range_combo.setAccessibleName("Time range to load")
        self.range_combo.setToolTip("Which entries are loaded from the server (reloads)")
        self.range_combo.activated.connect(self._preset_chosen)
        range_label = QLabel("Ran&ge:")
        range_label.setBuddy(self.range_combo)
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addSecs(-3600))
        self.until_edit = QDateTimeEdit(now)
        for edit, name in ((self.since_edit, "From"), (self.until_edit, "To")):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            edit.setAccessibleName(f"Custom range: {name.lower()}")
            edit.setToolTip(f"{name} (local time); press Load to read this range")
            edit.hide()
        self.load_button = QPushButton("L&oad")
        self.load_button.setToolTip("Load the custom range")
        self.load_button.clicked.connect(self.range_changed)
        self.load_button.hide()
        for edit in (self.since_edit, self.until_edit):
            edit.dateTimeChanged.connect(lambda _value: self._sync_load_button())

        self.text_edit = QLineEdit()
        self.text_edit.setPlaceholderText(
            "Search request, correlation or idempotency IDs, feeds, keys, errors"
        )
        self.text_edit.setClearButtonEnabled(True)
        self.text_edit.setMaxLength(MAX_FILTER_TEXT)
        self.text_edit.setAccessibleName("Search the loaded entries")
        self.text_edit.textEdited.connect(lambda _text: self._debounce.start())
        self.text_edit.returnPressed.connect(self._text_settled)
        self.text_edit.textChanged.connect(self._text_cleared)

        self.facet_buttons: dict[str, QToolButton] = {}
        self.facet_menus: dict[str, QMenu] = {}
        for field, column, title in FACETS:
            button = QToolButton()
            button.setText(f"{title} ▾")
            button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            button.setAccessibleName(f"Filter by {title.replace('&', '').lower()}")
            menu = QMenu(button)
            menu.aboutToShow.connect(lambda f=field, c=column: self._fill_menu(f, c))
            button.setMenu(menu)
            self.facet_buttons[field] = button
            self.facet_menus[field] = menu
        self.clear_button = QPushButton("Clear filte&rs")
        self.clear_button.setToolTip("Show every loaded entry")
        self.clear_button.clicked.connect(self.clear_filters)
        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(4)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(range_label)
        top.addWidget(self.range_combo)
        top.addWidget(self.since_edit)
        top.addWidget(self.until_edit)
        top.addWidget(self.load_button)
        top.addWidget(self.text_edit, 1)
        self.top_row = top
        second = QHBoxLayout()
        second.setContentsMargins(0, 0, 0, 0)
        for button in self.facet_buttons.values():
            second.addWidget(button)
        second.addLayout(self.chips_row)
        second.addStretch(1)
        second.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(second)
        self._sync_widgets()

    # -- the time range ---------------------------------------------------------------

    def time_range(self) -> TimeRange:
        """The range the widgets name."""
        seconds = self.range_combo.currentData()
        if seconds is not None:
            return TimeRange(seconds=float(seconds))
        since = self.since_edit.dateTime().toSecsSinceEpoch()
        until = self.until_edit.dateTime().toSecsSinceEpoch()
        if until <= since:
            until = since + 60
        return TimeRange(seconds=None, since=float(since), until=float(until))

    def set_preset(self, index: int) -> None:
        """Choose a preset (or Custom) as if picked; reloads unless Custom."""
        self.range_combo.setCurrentIndex(index)
        self._preset_chosen(index)

    def set_custom_range(self, since: float, until: float) -> None:
        """Choose Custom with this span (the caller reloads)."""
        self.range_combo.setCurrentIndex(CUSTOM_INDEX)
        self._range_index = CUSTOM_INDEX
        self.since_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(since)))
        self.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(until) + 59))
        self._show_custom(True)

    def _preset_chosen(self, index: int) -> None:
        custom = self.range_combo.itemData(index) is None
        previous, self._range_index = self._range_index, index
        if custom and previous != CUSTOM_INDEX:
            # From a preset: the span it named, ending now (not when the tab was built).
            seconds = self.range_combo.itemData(previous)
            now = QDateTime.currentDateTime()
            span = int(seconds) if seconds is not None else 3600
            self.since_edit.setDateTime(now.addSecs(-span))
            self.until_edit.setDateTime(now)
        self._show_custom(custom)
        if not custom:
            self.range_changed.emit()

    def _show_custom(self, custom: bool) -> None:
        for widget in (self.since_edit, self.until_edit, self.load_button):
            widget.setVisible(custom)

    def _sync_load_button(self) -> None:
        """An empty or backwards span cannot load (it used to load one minute, silently)."""
        ordered = self.until_edit.dateTime() > self.since_edit.dateTime()
        self.load_button.setEnabled(ordered)
        self.load_button.setToolTip(
            "Load the custom range" if ordered else "“To” must be after “From” to load"
        )

    # -- the view's filter --------------------------------------------------------------

    def set_filter(self, new: BufferFilter, *, emit: bool = True) -> None:
        """Make `new` the view's filter (widgets follow); `filter_changed` if it differs."""
        old, self.filter = self.filter, new
        if self.text_edit.text().strip() != new.text:
            self.text_edit.setText(new.text)
        self._sync_widgets()
        if emit and new != old:
            self.filter_changed.emit()

    def clear_filters(self) -> None:
        """Back to every loaded entry (the time range stays)."""
        if self.filter is not None:
            self.set_filter(type(self.filter)())

    def _text_settled(self) -> None:
        self._debounce.stop()
        if self.filter is None:
            return
        text = self.text_edit.text().strip()
        if text != self.filter.text:
            self.set_filter(_replace(self.filter, text=text))

    def _text_cleared(self, text: str) -> None:
        if not text:  # the clear button, or select-all + delete: at once
            self._text_settled()

    def _fill_menu(self, field: str, column: str) -> None:
        menu = self.facet_menus[field]
        menu.clear()
        if self.filter is None:
            menu.addAction("Not loaded yet").setEnabled(False)
            return
        chosen: frozenset[Any] = getattr(self.filter, field)
        counts = self.counts(column) if self.counts is not None else []
        listed = {value for value, _count in counts}
        for value, count in counts:
            self._add_choice(
                menu,
                field,
                value,
                f"{facet_value_text(field, value)}  ({count:,})",
                value in chosen,
            )
        for value in sorted(chosen - listed, key=str):  # chosen, none left: still un-tickable
            self._add_choice(menu, field, value, f"{facet_value_text(field, value)}  (0)", True)
        if not counts and not chosen:
            menu.addAction("No values in the loaded entries").setEnabled(False)
        if chosen:
            menu.addSeparator()
            clear = menu.addAction("Any")
            clear.triggered.connect(lambda: self._set_field(field, frozenset()))

    def _add_choice(
        self, menu: QMenu, field: str, value: object, text: str, checked: bool
    ) -> QAction:
        action = menu.addAction(text)
        action.setCheckable(True)
        action.setChecked(checked)
        action.setData(value)
        action.toggled.connect(lambda on, v=value: self._toggle(field, v, on))
        return action

    def _toggle(self, field: str, value: object, on: bool) -> None:
        if self.filter is None:
            return
        current: frozenset[Any] = getattr(self.filter, field)
        self._set_field(field, current | {value} if on else current - {value})

    def _set_field(self, field: str, values: frozenset[Any]) -> None:
        if self.filter is not None:
            self.set_filter(_replace(self.filter, **{field: frozenset(values)}))

    def _sync_widgets(self) -> None:
        """Facet titles name what is chosen; a chip per key, error and time window."""
        current = self.filter
        for field, _column, title in FACETS:
            button = self.facet_buttons[field]
            # The title keeps its mnemonic (Alt+S opens the status picker).
            chosen = sorted(getattr(current, field), key=str) if current is not None else []
            if not chosen:
                button.setText(f"{title} ▾")
            elif len(chosen) == 1:
                button.setText(f"{title}: {facet_value_text(field, chosen[0])} ▾")
            else:
                button.setText(f"{title}: {len(chosen)} chosen ▾")
            button.setEnabled(current is not None)
        for chip in self._chips:
            self.chips_row.removeWidget(chip)
            chip.deleteLater()
        self._chips = []
        if current is None:
            self.clear_button.setEnabled(False)
            return
        for key in sorted(current.keys):
            self._add_chip(f"key {key}", "Entries of this key", keys=current.keys - {key})
        for error in sorted(current.errors):
            short = error if len(error) <= 48 else error[:47] + "…"
            self._add_chip(f"error {short}", error, errors=current.errors - {error})
        if current.since is not None or current.until is not None:
            since = format_moment(current.since) if current.since is not None else "…"
            until = format_moment(current.until) if current.until is not None else "…"
            self._add_chip(
                f"time {since} – {until}",
                "A time window within the loaded range",
                since=None,
                until=None,
            )
        self.clear_button.setEnabled(not current.is_empty())

    def _add_chip(self, text: str, tooltip: str, **without: Any) -> None:
        chip = FilterChip(text, tooltip)
        chip.removed.connect(lambda: self._remove(without))
        self.chips_row.addWidget(chip)
        self._chips.append(chip)

    def _remove(self, without: dict[str, Any]) -> None:
        if self.filter is not None:
            self.set_filter(_replace(self.filter, **without))

    @property
    def chips(self) -> list[FilterChip]:
        """The chips shown (keys, errors, the time window)."""
        return list(self._chips)


def _replace(current: BufferFilter, **changes: Any) -> BufferFilter:
    from dataclasses import replace

    return replace(current, **changes)
