"""Dialogs of the Pipelines tab: diff, unsaved edits, confirmations (merge: merge_dialog)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Protocol

from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from console.api.pipelines import Pipeline
from console.ui.widgets.confirm import Confirmation, ConfirmBox, destructive_confirmation


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
        self.view.setAccessibleName("Differences")
        if not diff_text:
            self.view.setPlainText("No changes: the editor matches the server's definition.")
        else:
            _write_coloured_diff(self.view, diff_text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)


ADDED_BACKGROUND = "#e6ffec"  # your edits' lines, as in a code review
REMOVED_BACKGROUND = "#ffebe9"  # the server's lines that the edits replace


def _line_format(background: str | None) -> QTextCharFormat:
    fmt = QTextCharFormat()
    if background is not None:
        fmt.setBackground(QColor(background))
    return fmt


def _write_coloured_diff(view: QPlainTextEdit, diff_text: str) -> None:
    cursor = view.textCursor()
    added, removed = _line_format(ADDED_BACKGROUND), _line_format(REMOVED_BACKGROUND)
    plain = _line_format(None)
    for line in diff_text.splitlines(keepends=True):
        if line.startswith("+") and not line.startswith("+++"):
            fmt = added
        elif line.startswith("-") and not line.startswith("---"):
            fmt = removed
        else:
            fmt = plain
        cursor.insertText(line, fmt)
    view.moveCursor(QTextCursor.MoveOperation.Start)


def discard_box(parent: QWidget, name: str, changed_lines: int) -> Confirmation:
    """Discarding names what goes and says how to get it back."""
    lines = "1 changed line" if changed_lines == 1 else f"{changed_lines} changed lines"
    return Confirmation(
        parent,
        "Discard edits",
        f"Discard your edits to “{name}”: {lines}?",
        "The editor goes back to the server's definition and the draft is deleted. "
        "Ctrl+Z in the editor brings the edits back.",
        "Discard edits",
    )


def force_stop_box(
    parent: QWidget, pipeline: Pipeline, type_to_confirm: str | None = None
) -> ConfirmBox:
    """Force stop abandons a running sync: say so (production: type the name)."""
    return destructive_confirmation(
        parent,
        "Force stop pipeline",
        f"Force stop “{pipeline.name}”?",
        "A sync that is running now is abandoned half-way: the destination may hold a "
        "partial load until the next successful sync.",
        "Force stop",
        type_to_confirm=type_to_confirm,
    )


def archive_box(
    parent: QWidget, pipeline: Pipeline, type_to_confirm: str | None = None
) -> ConfirmBox:
    """Archiving stops a deployed pipeline and cannot be undone (production: type the name)."""
    deployed = pipeline.status in ("running", "deploying", "stopping", "failed")
    info = "Archived pipelines are hidden from the list and cannot be started again."
    if deployed:
        info = "It is stopped and torn down first. " + info
    return destructive_confirmation(
        parent,
        "Archive pipeline",
        f"Archive “{pipeline.name}”?",
        info,
        "Archive",
        type_to_confirm=type_to_confirm,
    )


class EditsOwner(Protocol):
    """What holds unapplied edits: it can keep them as a draft or throw them away."""

    def save_draft(self) -> None:
        """Keep the edits on disk."""
        ...

    def discard_edits(self) -> None:
        """Throw the edits away."""
        ...


class UnsavedEditsBox(QMessageBox):
    """Leaving unapplied edits: keep them as a draft (default), discard them, or stay."""

    def __init__(self, parent: QWidget, name: str, opening: str | None = None) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Question)
        self.setWindowTitle("Unapplied edits")
        self.setText(f"“{name}” has edits that are not applied.")
        self._name = name
        self.set_opening(opening)
        self.keep_button = self.addButton("Keep draft", QMessageBox.ButtonRole.AcceptRole)
        self.discard_button = self.addButton(
            "Discard edits", QMessageBox.ButtonRole.DestructiveRole
        )
        cancel = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.keep_button)
        self.setEscapeButton(cancel)

    def set_opening(self, opening: str | None) -> None:
        """Name the pipeline about to be opened (the newest one asked for), if any."""
        keep = (
            "Keep them as a draft on this computer (they come back when you open "
            f"“{self._name}” again), or discard them."
        )
        self.setInformativeText(
            f"Before opening “{opening}”: {keep[0].lower()}{keep[1:]}"
            if opening is not None
            else keep
        )

    def ask(
        self,
        edits: EditsOwner,
        proceed: Callable[[], object],
        on_cancel: Callable[[], object] | None = None,
    ) -> None:
        """Open; keep or discard `edits` as chosen, then `proceed`; Cancel runs `on_cancel`."""

        def chosen(button: QAbstractButton) -> None:
            if button is self.keep_button:
                edits.save_draft()
            elif button is self.discard_button:
                edits.discard_edits()
            else:
                if on_cancel is not None:
                    on_cancel()
                return
            proceed()

        self.buttonClicked.connect(chosen)
        self.finished.connect(self.deleteLater)
        self.open()
