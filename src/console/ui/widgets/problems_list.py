"""The problems of a definition, grouped by where they came from (local or server)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem, QWidget

from console.definition.model import Problem
from console.ui.widgets.line_numbers import SEVERITY_COLOURS

SOURCE_TITLES = {"local": "Local validation", "server": "Server dry-run"}
PROBLEM_ROLE = Qt.ItemDataRole.UserRole


def count_text(count: int) -> str:
    """'No problems', '1 problem', '3 problems'."""
    if count == 0:
        return "No problems"
    return f"{count} problem" if count == 1 else f"{count} problems"


CHECKING_TEXT = "Checking…"


def problem_row_text(problem: Problem) -> str:
    """One row: `line:col  severity  message  [path]`, the position said once."""
    path = f"  [{problem.path}]" if problem.path else ""
    message = problem.message_after_position
    return f"{problem.line}:{problem.column}  {problem.severity.value}  {message}{path}"


def _dot(colour: str) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, 8, 8)
    painter.end()
    return QIcon(pixmap)


class ProblemsList(QTreeWidget):
    """A tree of problems per source; its header line counts them all."""

    problem_activated = Signal(object)  # Problem, on click or Enter
    summary_changed = Signal(str)  # the header line
    problems_set = Signal(str)  # the source whose problems were just replaced

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(1)
        self.setHeaderLabels([count_text(0)])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)  # cheap layout for thousands of rows
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._icons = {severity: _dot(colour) for severity, colour in SEVERITY_COLOURS.items()}
        self._groups: dict[str, QTreeWidgetItem] = {}
        self._problems: dict[str, list[Problem]] = {}
        self._checking: set[str] = set()
        self.itemClicked.connect(self._item_chosen)

    def set_problems(self, source: str, problems: Sequence[Problem]) -> None:
        """Replace the problems of `source` ("local" or "server"); others stay."""
        ordered = sorted(problems, key=lambda p: (p.line, p.column))
        self._problems[source] = ordered
        group = self._group(source)
        self.setUpdatesEnabled(False)
        try:
            group.takeChildren()
            rows = []
            for problem in ordered:
                row = QTreeWidgetItem([problem_row_text(problem)])
                row.setIcon(0, self._icons[problem.severity])
                row.setToolTip(0, problem.message)
                row.setData(0, PROBLEM_ROLE, problem)
                rows.append(row)
            group.addChildren(rows)
            group.setExpanded(True)
        finally:
            self.setUpdatesEnabled(True)
        self._update_group(source)
        self._update_summary()
        self.problems_set.emit(source)

    def set_checking(self, source: str, checking: bool) -> None:
        """Say "Checking…" for `source` until its result is set (or checking stops)."""
        if checking == (source in self._checking):
            return
        if checking:
            self._checking.add(source)
        else:
            self._checking.discard(source)
        self._update_group(source)
        self._update_summary()

    def is_checking(self, source: str | None = None) -> bool:
        """Whether `source` (or any source) is being checked."""
        return bool(self._checking) if source is None else source in self._checking

    def clear_problems(self, source: str | None = None) -> None:
        """Forget the problems of `source`, or of every source."""
        for name in [source] if source is not None else list(self._problems):
            self.set_problems(name, [])

    def problems(self, source: str | None = None) -> list[Problem]:
        """The problems shown for `source`, or for every source."""
        if source is not None:
            return list(self._problems.get(source, []))
        return [p for listed in self._problems.values() for p in listed]

    def count(self, source: str | None = None) -> int:
        """How many problems are shown for `source`, or in all."""
        if source is not None:
            return len(self._problems.get(source, []))
        return sum(len(listed) for listed in self._problems.values())

    def summary(self) -> str:
        """The header line: 'No problems', 'N problems' or 'Checking…'."""
        return self.headerItem().text(0)

    def row_item(self, source: str, index: int) -> QTreeWidgetItem | None:
        """The row of the `index`-th problem of `source` (sorted by position)."""
        group = self._groups.get(source)
        if group is None or not 0 <= index < group.childCount():
            return None
        return group.child(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter or Return on a problem activates it."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.currentItem()
            if item is not None:
                self._item_chosen(item)
                return
        super().keyPressEvent(event)

    def _group(self, source: str) -> QTreeWidgetItem:
        group = self._groups.get(source)
        if group is None:
            group = QTreeWidgetItem([SOURCE_TITLES.get(source, source)])
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            # Local problems first: they follow every keystroke; the server's lag behind.
            self.insertTopLevelItem(0 if source == "local" else self.topLevelItemCount(), group)
            self._groups[source] = group
        return group

    def _update_group(self, source: str) -> None:
        group = self._group(source)
        listed = self._problems.get(source, [])
        state = CHECKING_TEXT if source in self._checking else count_text(len(listed))
        group.setText(0, f"{SOURCE_TITLES.get(source, source)} — {state}")
        group.setHidden(not listed and source not in self._checking)

    def _update_summary(self) -> None:
        text = CHECKING_TEXT if self._checking else count_text(self.count())
        if text != self.summary():
            self.setHeaderLabels([text])
            self.summary_changed.emit(text)

    def _item_chosen(self, item: QTreeWidgetItem) -> None:
        problem = item.data(0, PROBLEM_ROLE)
        if isinstance(problem, Problem):
            self.problem_activated.emit(problem)
