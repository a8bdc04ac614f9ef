"""An ID shown as a link: a click (or Enter when it has the focus) opens its trace."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

FIND_TOOLTIP = "Click to find this ID: its log entries, items and records touched"


class IdLink(QLabel):
    """A selectable ID that links to its trace (`find_requested`)."""

    find_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = ""
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.linkActivated.connect(self._activated)
        self.set_id("")

    def set_id(self, value: str, shown: str | None = None) -> None:
        """Link to `value` (shown as `shown`, default the value); empty shows a dash."""
        self.value = value
        text = shown if shown is not None else value
        if value:
            self.setText(f'<a href="trace:">{html.escape(text)}</a>')
            self.setToolTip(f"{value}\n{FIND_TOOLTIP}")
        else:
            self.setText(html.escape(text or "—"))
            self.setToolTip("")

    def _activated(self, _href: str) -> None:
        if self.value:
            self.find_requested.emit(self.value)
