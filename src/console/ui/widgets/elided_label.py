"""A one-line label that elides instead of widening its window; the full text is its tooltip.

A QLabel asks for the width of its whole text as its minimum, so one long pipeline or
profile name pushes the whole window wider (and its buttons off-screen).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARACTERS = 4


class ElidedLabel(QLabel):
    """Plain text on one line, elided (at the right unless told); `text()` stays whole."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        elide: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
    ) -> None:
        super().__init__(parent)
        self._elide = elide
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:
        """Show `text` (elided when narrow); its full form is the tooltip."""
        super().setText(text)
        self.setToolTip(text)

    def shown_text(self) -> str:
        """What is painted at the current width."""
        return self.fontMetrics().elidedText(
            self.text(), self._elide, max(0, self.contentsRect().width())
        )

    def minimumSizeHint(self) -> QSize:
        """A few characters wide: the label never forces its window wider."""
        metrics = self.fontMetrics()
        margins = self.contentsMargins()
        width = metrics.horizontalAdvance("W" * MIN_CHARACTERS) + margins.left() + margins.right()
        return QSize(min(width, super().sizeHint().width()), super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the elided text where QLabel would paint the whole."""
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())
        painter.end()
