"""What a tab shows while its feature has not landed: a plain statement, never fake data."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class NotInThisBuild(QWidget):
    """Says plainly that a feature is not in this build, and what it will do."""

    def __init__(self, feature: str, purpose: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel(f"{feature} are not in this build yet")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        body = QLabel(
            f"{purpose}\n\nThis build of Integration Console manages API keys, pipelines "
            "and records; nothing on this tab is simulated or invented."
        )
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setWordWrap(True)
        body.setStyleSheet("color: #5c5f66;")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addStretch(2)
