"""Window-modal questions that run an action only when the user picks it.

They open with `open()` (never a nested event loop inside a coroutine, STACK_NOTES 2),
delete themselves when answered, and name their buttons so tests can click them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget


class Confirmation(QMessageBox):
    """A warning whose one destructive button does the thing; Cancel is the default."""

    def __init__(self, parent: QWidget, title: str, text: str, info: str, action: str) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        self.setText(text)
        self.setInformativeText(info)
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
