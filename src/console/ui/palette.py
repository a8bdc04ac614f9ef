"""The command palette (Ctrl+Shift+P): type part of an action's name, pick it, press Enter.

The entries are the action registry's (and one "Connect to …" per saved profile), ranked by
a fuzzy match: the typed letters must appear in order; word starts and runs of adjacent
letters rank first ("rotate" finds "Rotate the selected key", "nwp" finds "New pipeline").
An action that cannot run now stays listed, greyed, with the reason under its title; Enter
on it says why again and runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QFrame,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.ui.actions import ConsoleAction

WORD_START = 10  # a letter that starts a word ("r" of "Rotate", "k" of "key")
RUN = 6  # a letter right after the previous match
FIRST_LETTER = 4  # the match starts the title
CATEGORY_PENALTY = 15  # found only with the category's words ("keys rot")
ID_ROLE = Qt.ItemDataRole.UserRole
GREY = QColor("#6b6e75")
NAVIGATION_KEYS = (
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
)


def _is_word_start(text: str, index: int) -> bool:
    return index == 0 or not text[index - 1].isalnum()


def fuzzy_score(query: str, text: str) -> int | None:
    """How well `query` matches `text` (higher is better); None when its letters are not
    all in `text` in order. Spaces in the query are ignored."""
    letters = [c for c in query.lower() if not c.isspace()]
    if not letters:
        return 0
    lowered = text.lower()
    length = len(lowered)
    # best[j]: the best score with the current letter matched at position j (None: cannot).
    best: list[int | None] = [None] * length
    for i, letter in enumerate(letters):
        current: list[int | None] = [None] * length
        best_before: int | None = None  # max of best[k] for k < j - 1
        for j in range(length):
            if j >= 2 and best[j - 2] is not None:
                earlier = best[j - 2]
                assert earlier is not None
                best_before = earlier if best_before is None else max(best_before, earlier)
            if lowered[j] != letter:
                continue
            gain = 1 + (WORD_START if _is_word_start(lowered, j) else 0)
            if i == 0:
                current[j] = gain + (FIRST_LETTER if j == 0 else 0)
                continue
            options = []
            if j >= 1 and best[j - 1] is not None:
                adjacent = best[j - 1]
                assert adjacent is not None
                options.append(adjacent + RUN)
            if best_before is not None:
                options.append(best_before)
            if options:
                current[j] = gain + max(options)
        best = current
    found = [score for score in best if score is not None]
    if not found:
        return None
    return max(found) - length // 20  # a shorter title wins a tie


def action_score(query: str, action: ConsoleAction) -> int | None:
    """`query` against the action's title, else against its category and title."""
    score = fuzzy_score(query, action.title)
    if score is not None:
        return score
    score = fuzzy_score(query, f"{action.category} {action.title}")
    return None if score is None else score - CATEGORY_PENALTY


def rank(query: str, actions: Iterable[ConsoleAction]) -> list[ConsoleAction]:
    """The actions `query` matches, best first (ties keep their order)."""
    scored = [(action_score(query, a), i, a) for i, a in enumerate(actions)]
    kept = [(score, i, a) for score, i, a in scored if score is not None]
    kept.sort(key=lambda entry: (-entry[0], entry[1]))
    return [a for _score, _i, a in kept]


def shortcut_text(action: ConsoleAction) -> str:
    """The action's keys as this platform writes them ("Ctrl+Shift+P, …")."""
    return ", ".join(
        QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
        for key in action.shortcuts
    )


@dataclass(frozen=True)
class Entry:
    """An action as the palette lists it: why it cannot run now (None: it can)."""

    action: ConsoleAction
    refusal: str | None


class CommandPalette(QDialog):
    """A frameless box over the window: a search field and the matching actions."""

    ran = Signal(str)  # the id of the action run

    def __init__(
        self,
        actions: Callable[[], list[ConsoleAction]],
        refusal: Callable[[ConsoleAction], str | None],
        trigger: Callable[[ConsoleAction], object],
        parent: QWidget | None = None,
        *,
        only: str | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.FramelessWindowHint)
        self.setWindowTitle("Command palette")
        self.setAccessibleName("Command palette")
        self._trigger = trigger
        listed = [a for a in actions() if only is None or a.id.startswith(only)]
        self.entries = [Entry(a, refusal(a)) for a in listed]

        frame = QFrame()
        frame.setObjectName("paletteFrame")
        frame.setStyleSheet(
            "#paletteFrame { border: 1px solid #8a8f98; border-radius: 6px;"
            " background: palette(window); }"
        )
        self.query_edit = QLineEdit()
        self.query_edit.setPlaceholderText(
            "Type a connection's name" if only else "Type an action's name"
        )
        self.query_edit.setAccessibleName("Search actions")
        self.query_edit.setAccessibleDescription(
            "Up and Down choose an action, Enter runs it, Esc closes"
        )
        self.query_edit.textChanged.connect(self._refill)
        self.query_edit.returnPressed.connect(self.run_current)
        self.query_edit.installEventFilter(self)

        self.list = QTreeWidget()
        self.list.setAccessibleName("Matching actions")
        self.list.setColumnCount(3)
        self.list.setHeaderLabels(["Action", "Category", "Shortcut"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # The search field keeps the focus; the list follows its arrows.
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.list.itemActivated.connect(lambda _item, _column: self.run_current())
        self.list.currentItemChanged.connect(lambda *_: self._show_why())
        self.why_label = QLabel("")
        self.why_label.setWordWrap(True)
        self.why_label.setStyleSheet("color: #5c5f66;")

        inner = QVBoxLayout(frame)
        inner.addWidget(self.query_edit)
        inner.addWidget(self.list, 1)
        inner.addWidget(self.why_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(frame)
        self.resize(640, 420)
        self._items: list[QTreeWidgetItem] = []
        self._refill("")

    # -- listing -----------------------------------------------------------------

    def _refill(self, query: str) -> None:
        by_id = {entry.action.id: entry for entry in self.entries}
        shown = rank(query, (entry.action for entry in self.entries))
        self.list.clear()
        items: list[QTreeWidgetItem] = []
        for action in shown:
            entry = by_id[action.id]
            title = action.title if entry.refusal is None else f"{action.title}\n{entry.refusal}"
            item = QTreeWidgetItem([title, action.category, shortcut_text(action)])
            item.setData(0, ID_ROLE, action.id)
            tip = entry.refusal or action.description
            for column in range(3):
                item.setToolTip(column, tip)
                if entry.refusal is not None:
                    item.setForeground(column, GREY)
            items.append(item)
        self.list.addTopLevelItems(items)
        self._items = items
        if items:
            self.list.setCurrentItem(items[0])
        self._show_why()

    def shown_ids(self) -> list[str]:
        """The ids listed now, in order."""
        return [str(item.data(0, ID_ROLE)) for item in self._items]

    def current_entry(self) -> Entry | None:
        """The entry chosen (the highlighted row)."""
        item = self.list.currentItem()
        if item is None:
            return None
        action_id = item.data(0, ID_ROLE)
        return next((e for e in self.entries if e.action.id == action_id), None)

    def _show_why(self) -> None:
        entry = self.current_entry()
        if entry is None:
            self.why_label.setText("No action matches." if self.query_edit.text() else "")
        elif entry.refusal is not None:
            self.why_label.setText(f"Unavailable: {entry.refusal}")
        else:
            self.why_label.setText(entry.action.description)

    # -- running -----------------------------------------------------------------

    def run_current(self) -> bool:
        """Run the chosen action and close; an unavailable one says why and stays."""
        entry = self.current_entry()
        if entry is None:
            return False
        if entry.refusal is not None:
            self.why_label.setText(f"Unavailable: {entry.refusal}")
            QApplication.beep()
            return False
        self.accept()
        self._trigger(entry.action)
        self.ran.emit(entry.action.id)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Up, Down, PageUp and PageDown in the search field move through the list."""
        if (
            watched is self.query_edit
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in NAVIGATION_KEYS
        ):
            QApplication.sendEvent(self.list, event)
            return True
        return super().eventFilter(watched, event)

    def place_over(self, window: QWidget) -> None:
        """Centre the palette near the top of `window`."""
        geometry = window.geometry()
        width = min(self.width(), max(360, geometry.width() - 80))
        self.resize(width, self.height())
        self.move(geometry.x() + (geometry.width() - width) // 2, geometry.y() + 60)
