"""The review of a three-way merge when Apply met a newer revision (412).

Conflicts are listed one by one (path, base, mine, theirs), each with a choice; below,
the changes taken from the server and the merged text against your edit. Nothing is
applied until "Apply merged"; Cancel keeps your edit as a draft.
"""

from __future__ import annotations

import difflib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.definition.merge import UNKNOWN, Conflict, MergeResult, Path, Side, format_path
from console.definition.merge_text import MergedText, describe_value, merged_text
from console.ui.pipelines.dialogs import _monospace_view, _write_coloured_diff

_CHOICE_TEXT = {
    Side.MINE: "Keep mine",
    Side.THEIRS: "Take theirs",
    Side.BASE: "Use the original",
}


class ConflictRow(QGroupBox):
    """One conflict: its path, the three values, and a choice between them."""

    def __init__(self, conflict: Conflict, parent: QWidget | None = None) -> None:
        super().__init__(format_path(conflict.path), parent)
        self.conflict = conflict
        self.setAccessibleName(f"Conflict at {format_path(conflict.path)}")
        grid = QGridLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[Side, QRadioButton] = {}
        for column, (side, title) in enumerate(
            ((Side.BASE, "Original"), (Side.MINE, "Yours"), (Side.THEIRS, "Server's"))
        ):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
            value = QPlainTextEdit(describe_value(conflict.value(side)))
            value.setReadOnly(True)
            value.setAccessibleName(f"{title} value at {format_path(conflict.path)}")
            value.setMaximumHeight(90)
            value.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            grid.addWidget(value, 1, column)
            button = QRadioButton(_CHOICE_TEXT[side])
            button.setEnabled(conflict.value(side) is not UNKNOWN)
            self.group.addButton(button)
            self.buttons[side] = button
            # Its own size, not the column's: a click anywhere on it lands on it.
            grid.addWidget(button, 2, column, Qt.AlignmentFlag.AlignLeft)

    @property
    def choice(self) -> Side | None:
        """The side chosen, if any yet."""
        return next((side for side, button in self.buttons.items() if button.isChecked()), None)


class MergeDialog(QDialog):
    """Review a merge with the server's newer revision, decide conflicts, then apply."""

    def __init__(
        self,
        result: MergeResult,
        mine_text: str,
        *,
        name: str,
        base_revision: int | None,
        their_revision: int | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.merge_result = result
        self.mine_text = mine_text
        self.setWindowTitle(f"Merge with the server's revision {their_revision}")
        self.resize(1000, 720)
        count = len(result.conflicts)
        if count:
            said = "1 change clashes" if count == 1 else f"{count} changes clash"
            ask = f"{said} with yours: choose a value for each, then review and apply."
        else:
            ask = "Their changes and yours do not overlap: review the merged result and apply it."
        intro = QLabel(
            f"Someone applied revision {their_revision} of “{name}” after the revision "
            f"{base_revision} your edit started from. Nothing was applied. {ask}"
        )
        intro.setWordWrap(True)

        self.rows = [ConflictRow(conflict) for conflict in result.conflicts]
        conflicts = QWidget()
        column = QVBoxLayout(conflicts)
        for row in self.rows:
            row.group.buttonToggled.connect(self._refresh)
            column.addWidget(row)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setAccessibleName("Conflicts to decide")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(conflicts)
        scroll.setVisible(bool(self.rows))
        scroll.setMinimumHeight(min(len(self.rows), 2) * 170)

        self.taken_list = QListWidget()
        self.taken_list.setAccessibleName("Changes taken from the server")
        for change in result.taken:
            self.taken_list.addItem(
                f"{format_path(change.path)}: {_one_line(change.before)} → "
                f"{_one_line(change.after)}"
            )
        if not result.taken:
            self.taken_list.addItem("(none: the server changed only what clashes)")
        self.diff_view = _monospace_view("")
        self.diff_view.setAccessibleName("The merged result against your edit")
        self.layout_label = QLabel("")
        self.layout_label.setWordWrap(True)

        review = QWidget()
        review_layout = QHBoxLayout(review)
        review_layout.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Changes taken from the server</b>"))
        left.addWidget(self.taken_list)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Merged result against your edit</b>"))
        right.addWidget(self.diff_view)
        right.addWidget(self.layout_label)
        review_layout.addLayout(left, 1)
        review_layout.addLayout(right, 2)

        splitter = QSplitter()
        splitter.setOrientation(splitter.orientation().Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(review)

        self.apply_button = QPushButton("Apply merged")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.accept)
        self.cancel_button = QPushButton("Cancel (keep my edit as a draft)")
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.merged = MergedText(mine_text, True)
        self._refresh()

    def choices(self) -> dict[Path, Side]:
        """The side chosen for each conflict decided so far."""
        return {
            row.conflict.path: choice for row in self.rows if (choice := row.choice) is not None
        }

    def choose(self, path: Path, side: Side) -> None:
        """Choose `side` for the conflict at `path` (as clicking its button does)."""
        for row in self.rows:
            if row.conflict.path == path:
                row.buttons[side].setChecked(True)

    @property
    def decided(self) -> bool:
        """Every conflict has a choice."""
        return len(self.choices()) == len(self.rows)

    def _refresh(self) -> None:
        choices = self.choices()
        # Undecided conflicts show as yours until chosen; Apply waits for every choice.
        self.merged = merged_text(
            self.mine_text, self.merge_result.changes(choices), self.merge_result.document(choices)
        )
        diff = "".join(
            difflib.unified_diff(
                self.mine_text.splitlines(keepends=True),
                self.merged.text.splitlines(keepends=True),
                fromfile="your edit",
                tofile="merged",
            )
        )
        self.diff_view.clear()
        if diff:
            _write_coloured_diff(self.diff_view, diff)
        else:
            self.diff_view.setPlainText("The merged result is your edit as it stands.")
        self.layout_label.setText(
            "Your comments and layout are kept; only the merged values changed."
            if self.merged.layout_kept
            else "The merged result could not keep your text's comments and layout: it is "
            "written out afresh (the Diff shows every line)."
        )
        left = len(self.rows) - len(choices)
        self.apply_button.setEnabled(left == 0)
        self.apply_button.setToolTip(
            "" if left == 0 else f"Choose a value for each conflict first ({left} left)."
        )


def _one_line(value: object) -> str:
    text = describe_value(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:79] + "…"
