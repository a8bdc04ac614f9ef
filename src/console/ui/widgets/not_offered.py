"""The page a tab shows in place of its own when the server does not offer its part."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.api.capabilities import Capabilities, describe, not_offered_text


class NotOfferedPage(QWidget):
    """ "This server does not offer records." and what the server does offer."""

    def __init__(self, part: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part = part
        self.headline = QLabel(not_offered_text(part))
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.headline.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.offered = QLabel()
        self.offered.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.offered.setWordWrap(True)
        self.offered.setStyleSheet("color: #5c5f66;")
        self.setAccessibleName(not_offered_text(part))
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.headline)
        layout.addWidget(self.offered)
        layout.addStretch(2)

    def show_capabilities(self, capabilities: Capabilities) -> None:
        """Say what the connected server offers instead."""
        self.offered.setText(describe(capabilities))
        self.setAccessibleDescription(self.offered.text())
