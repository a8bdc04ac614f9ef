"""Window-modal questions that run an action only when the user picks it.

They open with `open()` (never a nested event loop inside a coroutine, STACK_NOTES 2),
delete themselves when answered, and name their buttons so tests can click them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QAbstractButton, QLabel, QMessageBox, QWidget

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
