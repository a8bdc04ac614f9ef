"""Dialogs of the Pipelines tab: diff, edit conflict, unsaved edits, confirmations."""

from __future__ import annotations

import difflib
from enum import Enum

from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.api.pipelines import Pipeline


def _monospace_view(text: str) -> QPlainTextEdit:
    view = QPlainTextEdit(text)
    view.setReadOnly(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    return view


def unified_diff(server_text: str, edited_text: str, *, server_label: str) -> str:
    """A unified diff from the server's definition to the edited one."""
    lines = difflib.unified_diff(
        server_text.splitlines(keepends=True),
        edited_text.splitlines(keepends=True),
        fromfile=server_label,
        tofile="your edits",
    )
    return "".join(lines)


class DiffDialog(QDialog):
    """The edits against the server's current definition, coloured like a code review."""

    def __init__(self, diff_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Changes against the server")
        self.resize(900, 600)
        self.view = _monospace_view("")
        if not diff_text:
            self.view.setPlainText("No changes: the editor matches the server's definition.")
        else:
            _write_coloured_diff(self.view, diff_text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)


def _write_coloured_diff(view: QPlainTextEdit, diff_text: str) -> None:
    cursor = view.textCursor()
    added, removed, plain = QTextCharFormat(), QTextCharFormat(), QTextCharFormat()
    added.setBackground(QColor("#e6ffec"))
    removed.setBackground(QColor("#ffebe9"))
    for line in diff_text.splitlines(keepends=True):
        if line.startswith("+") and not line.startswith("+++"):
            fmt = added
        elif line.startswith("-") and not line.startswith("---"):
            fmt = removed
        else:
            fmt = plain
        cursor.insertText(line, fmt)
    view.moveCursor(QTextCursor.MoveOperation.Start)


class ConflictChoice(Enum):
    """What to do when someone else applied first (412)."""

    KEEP_MINE = "mine"
    TAKE_THEIRS = "theirs"
    CANCEL = "cancel"


class ConflictDialog(QDialog):
    """Both versions side by side; the user decides which one wins."""

    def __init__(
        self,
        mine: str,
        theirs: str,
        *,
        their_revision: int | None,
        base_revision: int | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Someone else changed this pipeline")
        self.resize(1100, 640)
        self.choice = ConflictChoice.CANCEL
        intro = QLabel(
            f"You edited revision {base_revision}, but the server now has revision "
            f"{their_revision}. Nothing was applied. Choose which version to keep; your "
            "edits stay in their draft until you decide."
        )
        intro.setWordWrap(True)
        self.mine_view = _monospace_view(mine)
        self.theirs_view = _monospace_view(theirs)
        panes = QHBoxLayout()
        for title, view in (
            ("Your edits", self.mine_view),
            (f"Server, revision {their_revision}", self.theirs_view),
        ):
            column = QVBoxLayout()
            label = QLabel(f"<b>{title}</b>")
            column.addWidget(label)
            column.addWidget(view)
            panes.addLayout(column)
        self.keep_mine_button = QPushButton("Apply mine over theirs")
        self.take_theirs_button = QPushButton("Discard mine, take theirs")
        cancel = QPushButton("Decide later")
        self.keep_mine_button.clicked.connect(lambda: self._choose(ConflictChoice.KEEP_MINE))
        self.take_theirs_button.clicked.connect(lambda: self._choose(ConflictChoice.TAKE_THEIRS))
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(cancel)
        buttons.addStretch(1)
        buttons.addWidget(self.take_theirs_button)
        buttons.addWidget(self.keep_mine_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(panes, 1)
        layout.addLayout(buttons)

    def _choose(self, choice: ConflictChoice) -> None:
        self.choice = choice
        self.accept()


def confirm_box(parent: QWidget, title: str, text: str, info: str, action: str) -> QMessageBox:
    """A warning box whose destructive button is named `action`; Cancel is the default."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(info)
    box.action_button = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)  # type: ignore[attr-defined]
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box


def force_stop_box(parent: QWidget, pipeline: Pipeline) -> QMessageBox:
    """Force stop abandons a running sync: say so."""
    return confirm_box(
        parent,
        "Force stop pipeline",
        f"Force stop “{pipeline.name}”?",
        "A sync that is running now is abandoned half-way: the destination may hold a "
        "partial load until the next successful sync.",
        "Force stop",
    )


def archive_box(parent: QWidget, pipeline: Pipeline) -> QMessageBox:
    """Archiving stops a deployed pipeline and cannot be undone."""
    deployed = pipeline.status in ("running", "deploying", "stopping", "failed")
    info = "Archived pipelines are hidden from the list and cannot be started again."
    if deployed:
        info = "It is stopped and torn down first. " + info
    return confirm_box(parent, "Archive pipeline", f"Archive “{pipeline.name}”?", info, "Archive")


def unsaved_edits_box(parent: QWidget, name: str) -> QMessageBox:
    """Switching away from edits: they are kept as a draft unless discarded."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Unapplied edits")
    box.setText(f"“{name}” has edits that are not applied.")
    box.setInformativeText(
        "Keep them as a draft on this computer (they come back when you open the "
        "pipeline again), or discard them."
    )
    box.keep_button = box.addButton("Keep draft", QMessageBox.ButtonRole.AcceptRole)  # type: ignore[attr-defined]
    box.discard_button = box.addButton("Discard edits", QMessageBox.ButtonRole.DestructiveRole)  # type: ignore[attr-defined]
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(box.keep_button)  # type: ignore[attr-defined]
    box.setEscapeButton(cancel)
    return box
