"""The page a tab shows in place of its own when its part cannot be used here: the server
does not offer it, or the connected key may not use it (an ingest key on an admin part)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.api.capabilities import (
    Capabilities,
    describe,
    describe_key,
    key_reason,
    not_offered_text,
    unavailable_text,
)


class NotOfferedPage(QWidget):
    """ "This server does not offer records." (or "This key may not use records." and
    which kind of key may), and what the server and the key do offer."""

    def __init__(self, part: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part = part
        self.forbidden = False  # offered by the server, refused to the connected key
        self.headline = QLabel(not_offered_text(part))
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.headline.setStyleSheet("font-size: 15px; font-weight: 600;")
        # Forbidden only: what the key is and which kind of key may use the part.
        self.reason = QLabel()
        self.reason.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reason.setWordWrap(True)
        self.reason.hide()
        self.offered = QLabel()
        self.offered.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.offered.setWordWrap(True)
        self.offered.setStyleSheet("color: #5c5f66;")
        self.setAccessibleName(not_offered_text(part))
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.headline)
        layout.addWidget(self.reason)
        layout.addWidget(self.offered)
        layout.addStretch(2)

    def show_capabilities(self, capabilities: Capabilities) -> None:
        """Say why the part cannot be used here, and what the server (and key) offer."""
        self.forbidden = capabilities.offers(self.part) and not capabilities.allows(self.part)
        headline = unavailable_text(capabilities, self.part) or not_offered_text(self.part)
        self.headline.setText(headline)
        self.setAccessibleName(headline)
        self.reason.setText(key_reason(capabilities, self.part))
        self.reason.setVisible(self.forbidden)
        offered = (describe(capabilities), describe_key(capabilities))
        self.offered.setText(" ".join(text for text in offered if text))
        said = (self.reason.text() if self.forbidden else "", self.offered.text())
        self.setAccessibleDescription(" ".join(text for text in said if text))
