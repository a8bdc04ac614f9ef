"""The editor's gutter: line numbers, and a marker on each line that has a problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QPlainTextEdit, QToolTip, QWidget

from console.definition.model import Severity

SEVERITY_COLOURS: dict[Severity, str] = {Severity.ERROR: "#d32f2f", Severity.WARNING: "#e8a317"}
_PADDING = 6


class LineNumberGutter(QWidget):
    """Paints beside an editor's viewport; the editor keeps its geometry in step."""

    def __init__(
        self,
        editor: QPlainTextEdit,
        markers: Callable[[], Mapping[int, Severity]],
        messages: Callable[[int], list[str]],
    ) -> None:
        super().__init__(editor)
        self._editor = editor
        # Callables, not copies: the editor derives markers from its live selections,
        # so they follow edits made since the last validation.
        self._markers = markers
        self._messages = messages
        self.setCursor(Qt.CursorShape.ArrowCursor)

    def marker_width(self) -> int:
        """Width of the marker column, left of the numbers."""
        return self._editor.fontMetrics().height() // 2 + 4

    def width_hint(self) -> int:
        """Width that fits the largest line number and the marker column."""
        digits = max(3, len(str(self._editor.blockCount())))
        numbers = self._editor.fontMetrics().horizontalAdvance("9") * digits
        return self.marker_width() + numbers + 2 * _PADDING

    def sizeHint(self) -> QSize:
        """Qt's size hint: our width, any height."""
        return QSize(self.width_hint(), 0)

    def line_at(self, y: float) -> int | None:
        """The 1-based line painted at gutter height `y`, if any."""
        editor = self._editor
        block = editor.firstVisibleBlock()
        offset = editor.contentOffset()
        while block.isValid():
            rect = editor.blockBoundingGeometry(block).translated(offset)
            if rect.top() > y:
                return None
            if block.isVisible() and rect.bottom() >= y:
                return block.blockNumber() + 1
            block = block.next()
        return None

    def event(self, event: QEvent) -> bool:
        """Show the problems of a marked line as the tooltip."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            line = self.line_at(event.pos().y())
            messages = self._messages(line) if line is not None else []
            if messages:
                QToolTip.showText(event.globalPos(), "\n".join(messages), self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the numbers and markers of the visible lines only."""
        editor = self._editor
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor("#f3f4f6"))
        markers = self._markers()
        metrics = editor.fontMetrics()
        marker_size = metrics.height() // 2
        number_colour = QColor("#8a8f98")
        current_colour = QColor("#2b2f36")
        current_line = editor.textCursor().blockNumber()
        right = self.width() - _PADDING
        block = editor.firstVisibleBlock()
        offset = editor.contentOffset()
        top = editor.blockBoundingGeometry(block).translated(offset).top()
        bottom_limit = event.rect().bottom()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        while block.isValid() and top <= bottom_limit:
            height = editor.blockBoundingRect(block).height()
            if block.isVisible() and top + height >= event.rect().top():
                number = block.blockNumber()
                painter.setPen(current_colour if number == current_line else number_colour)
                painter.drawText(
                    QRect(0, int(top), right, metrics.height()),
                    int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                    str(number + 1),
                )
                severity = markers.get(number + 1)
                if severity is not None:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(QColor(SEVERITY_COLOURS[severity]))
                    y = top + (metrics.height() - marker_size) / 2
                    painter.drawEllipse(QRectF(3, y, marker_size, marker_size))
            top += height
            block = block.next()
        painter.end()
