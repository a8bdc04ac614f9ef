"""Window-modal questions that run an action only when the user picks it.

They open with `open()` (never a nested event loop inside a coroutine, STACK_NOTES 2),
delete themselves when answered, and name their buttons so tests can click them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from console.ui.protection import WriteGate

# A question is at least this many characters wide, and wider (up to MAX_WIDTH_PX) when a
# path or URL in it would otherwise be broken in the middle.
MIN_CHARACTERS = 50
MAX_WIDTH_PX = 720


class Confirmation(QMessageBox):
    """A warning whose one destructive button does the thing; Cancel is the default."""

    def __init__(self, parent: QWidget, title: str, text: str, info: str, action: str) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        self.setText(text)
        self.setInformativeText(info)
        _widen_for(self, info)
        self.action_button = self.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        cancel = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(cancel)
        self.setEscapeButton(cancel)

    def ask(self, on_confirm: Callable[[], object]) -> None:
        """Open; run `on_confirm` only if the destructive button is clicked."""

        def chosen(button: QAbstractButton) -> None:
            if button is self.action_button:
                on_confirm()

        self.buttonClicked.connect(chosen)
        self.finished.connect(self.deleteLater)
        self.open()


class TypedNameConfirmation(QDialog):
    """A destructive question on a protected (production) profile: the user types the
    object's name, and the destructive button stays disabled until it matches exactly.

    Typing the name breaks the "click yes" habit that a plain confirmation trains.
    """

    def __init__(
        self,
        parent: QWidget,
        title: str,
        text: str,
        info: str,
        action: str,
        name: str,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.expected_name = name
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self._text = text
        heading = QLabel(text)
        heading.setTextFormat(Qt.TextFormat.PlainText)
        heading.setWordWrap(True)
        heading.setStyleSheet("font-weight: 600;")
        details = QLabel(info)
        details.setTextFormat(Qt.TextFormat.PlainText)
        details.setWordWrap(True)
        prompt = QLabel(f"This is a production profile. Type “{name}” to confirm:")
        prompt.setTextFormat(Qt.TextFormat.PlainText)
        prompt.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(name)
        self.name_edit.setAccessibleName(f"Type {name} to confirm")
        prompt.setBuddy(self.name_edit)
        self.buttons = QDialogButtonBox()
        self.action_button: QPushButton = self.buttons.addButton(
            action, QDialogButtonBox.ButtonRole.DestructiveRole
        )
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        assert cancel is not None
        # Enter never does the destructive thing by itself: neither button is the default.
        for button in (self.action_button, cancel):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.action_button.setEnabled(False)
        self.action_button.setToolTip(f"Type “{name}” above to enable this.")
        self.action_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        self.name_edit.textChanged.connect(self._typed)
        column = QVBoxLayout()
        column.addWidget(heading)
        column.addWidget(details)
        column.addWidget(prompt)
        column.addWidget(self.name_edit)
        row = QHBoxLayout()
        row.addWidget(icon)
        row.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(details.fontMetrics().horizontalAdvance("x" * (MIN_CHARACTERS + 10)))

    def text(self) -> str:
        """The question (as QMessageBox.text())."""
        return self._text

    @property
    def matches(self) -> bool:
        """Whether the typed text is exactly the object's name."""
        return self.name_edit.text() == self.expected_name

    def _typed(self, _text: str) -> None:
        self.action_button.setEnabled(self.matches)
        self.action_button.setToolTip("" if self.matches else f"Type “{self.expected_name}” above.")

    def ask(self, on_confirm: Callable[[], object]) -> None:
        """Open; run `on_confirm` only if the name was typed and the button clicked."""

        def chosen() -> None:
            if self.matches:
                on_confirm()

        self.accepted.connect(chosen)
        self.finished.connect(self.deleteLater)
        self.open()
        self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)


ConfirmBox = Confirmation | TypedNameConfirmation


def destructive_confirmation(
    parent: QWidget,
    title: str,
    text: str,
    info: str,
    action: str,
    *,
    type_to_confirm: str | None = None,
) -> ConfirmBox:
    """A confirmation that asks once, or asks to type `type_to_confirm` when given."""
    if type_to_confirm is None:
        return Confirmation(parent, title, text, info, action)
    return TypedNameConfirmation(parent, title, text, info, action, type_to_confirm)


def confirm_destructive(
    gate: WriteGate,
    box_for: Callable[[str | None], ConfirmBox],
    name: str,
    on_confirm: Callable[[], object],
) -> ConfirmBox | None:
    """The one way a destructive write asks (revoke, archive, force stop, bulk ingest).

    Refused while the gate refuses writes (None: nothing opens). On a protected profile the
    user types `name`; elsewhere confirms once. `box_for(typed_name_or_None)` builds the
    question. `on_confirm` runs only if writes are still allowed when the answer comes
    (the unlock may have run out while the question was open).
    """
    if not gate.permit():
        return None
    box = box_for(name if gate.is_protected else None)
    box.ask(lambda: on_confirm() if gate.permit() else None)
    return box


def ask_save_or_discard(
    parent: QWidget,
    title: str,
    text: str,
    info: str,
    on_save: Callable[[], object],
    on_discard: Callable[[], object],
) -> QMessageBox:
    """Leaving something not yet saved: Save… runs `on_save`, Discard runs `on_discard`,
    Cancel (the default, and Esc) runs nothing. The first two are named `save_button` and
    `discard_button` (objectName), for tests."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(info)
    _widen_for(box, info)
    save = box.addButton("Save…", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    for button, name in ((save, "save_button"), (discard, "discard_button")):
        button.setObjectName(name)

    def chosen(button: QAbstractButton) -> None:
        if button is save:
            on_save()
        elif button is discard:
            on_discard()

    box.buttonClicked.connect(chosen)
    box.finished.connect(box.deleteLater)
    box.open()
    return box


def _widen_for(box: QMessageBox, info: str) -> None:
    """QMessageBox wraps at a narrow width, breaking a path inside: give the text room."""
    label = box.findChild(QLabel, "qt_msgbox_informativelabel")
    if label is None:
        return
    metrics = label.fontMetrics()
    longest = max((metrics.horizontalAdvance(word) for word in info.split()), default=0)
    wanted = max(
        metrics.horizontalAdvance("x" * MIN_CHARACTERS), longest + metrics.averageCharWidth()
    )
    label.setMinimumWidth(min(wanted, MAX_WIDTH_PX))
