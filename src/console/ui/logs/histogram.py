"""Entries per status over time, stacked: click a bar to filter to it, drag to pick a range.

Painted by hand (one rectangle per status and bin), so a thousand bins cost one paint
and no widgets. The numbers come from `LogBuffer.histogram` over the current selection;
this widget keeps no entries, only those counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

if TYPE_CHECKING:
    from console.logbuffer.buffer import Histogram

# Bar colours per processing status (contract order); failures stand out, the normal
# case is calm. The same colours name the statuses in the tooltips and the legend.
STATUS_COLOURS: dict[str, str] = {
    "queued": "#9db4d6",
    "processing": "#4f7fc4",
    "succeeded": "#4caf7a",
    "partially_failed": "#f0a640",
    "failed": "#d9473b",
    "duplicate": "#a3a7b0",
    "rejected": "#8e3a8a",
}
NEUTRAL_COLOUR = "#b8bcc6"
DRAG_THRESHOLD_PX = 4  # a press that moves less than this is a click
AXIS_HEIGHT = 18
TOP_MARGIN = 20  # the legend's strip
LEFT_MARGIN = 44  # room for the largest count
RIGHT_MARGIN = 8
LEGEND_SWATCH = 9
LEGEND_SWATCH_GAP = 5
LEGEND_ENTRY_GAP = 12


def status_colour(status: str) -> QColor:
    """The histogram's colour of `status`."""
    return QColor(STATUS_COLOURS.get(status, NEUTRAL_COLOUR))


def time_label(value: float, span: float) -> str:
    """A time as the axis shows it: with the date when the span is over a day."""
    moment = datetime.fromtimestamp(value)
    if span > 2 * 86_400:
        return moment.strftime("%b %d %H:%M")
    if span > 3_600 * 20:
        return moment.strftime("%a %H:%M")
    if span < 600:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%H:%M")


class LogHistogram(QWidget):
    """Stacked bars of entries per status; `bar_clicked` and `range_picked` filter."""

    # since, until (epoch seconds) of the bin; the status clicked (its segment), or "".
    bar_clicked = Signal(float, float, str)
    range_picked = Signal(float, float)  # since, until of a drag across the bars

    def __init__(self, statuses: tuple[str, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.statuses = statuses
        self.histogram: Histogram | None = None
        self._totals: list[int] = []
        self._peak = 0
        self._press_x: float | None = None
        self._drag_x: float | None = None
        self._focus_bin: int | None = None  # the bar the keyboard points at
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(124)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Entries over time")
        self.setAccessibleDescription(
            "Entries per status over the shown time range. Click a bar to filter to it, "
            "drag across bars to pick a time range; Left and Right choose a bar, Enter "
            "filters to it."
        )
        self.setToolTip("")

    # -- data ----------------------------------------------------------------------

    def set_histogram(self, histogram: Histogram | None, statuses: tuple[str, ...]) -> None:
        """Show `histogram` (None: nothing loaded)."""
        self.histogram = histogram
        self.statuses = statuses
        if histogram is None:
            self._totals, self._peak = [], 0
        else:
            self._totals = [int(v) for v in histogram.counts.sum(axis=0)]
            self._peak = max(self._totals, default=0)
        if self._focus_bin is not None and self._focus_bin >= len(self._totals):
            self._focus_bin = None
        self.update()

    @property
    def bins(self) -> int:
        """How many bars are shown."""
        return len(self._totals)

    def total(self, index: int) -> int:
        """Entries in bar `index`."""
        return self._totals[index]

    # -- geometry (public so tests click where a user would) ----------------------------

    def plot_rect(self) -> QRectF:
        """Where the bars are drawn."""
        return QRectF(
            LEFT_MARGIN,
            TOP_MARGIN,
            max(1.0, self.width() - LEFT_MARGIN - RIGHT_MARGIN),
            max(1.0, self.height() - TOP_MARGIN - AXIS_HEIGHT),
        )

    def bar_rect(self, index: int) -> QRectF:
        """The whole column of bin `index` (its full height, where a click picks it)."""
        plot = self.plot_rect()
        width = plot.width() / max(1, self.bins)
        return QRectF(plot.left() + index * width, plot.top(), width, plot.height())

    def segment_rect(self, index: int, status: str) -> QRectF:
        """The painted segment of `status` in bar `index` (empty when it has none)."""
        for name, rect in self._segments(index):
            if name == status:
                return rect
        return QRectF()

    def _segments(self, index: int) -> list[tuple[str, QRectF]]:
        histogram = self.histogram
        if histogram is None or self._peak <= 0:
            return []
        plot = self.plot_rect()
        column = self.bar_rect(index)
        gap = 1.0 if column.width() > 3 else 0.0
        scale = plot.height() / self._peak
        bottom = plot.bottom()
        segments = []
        for row, status in enumerate(self.statuses):
            count = int(histogram.counts[row, index])
            if count <= 0:
                continue
            height = max(1.0, count * scale)
            segments.append(
                (status, QRectF(column.left(), bottom - height, column.width() - gap, height))
            )
            bottom -= height
        return segments

    def bin_at(self, x: float) -> int | None:
        """The bin under x, if any."""
        plot = self.plot_rect()
        if self.bins == 0 or x < plot.left() or x >= plot.right():
            return None
        return min(self.bins - 1, int((x - plot.left()) / plot.width() * self.bins))

    def time_at(self, x: float) -> float | None:
        """The time under x (clamped to the shown range)."""
        histogram = self.histogram
        if histogram is None:
            return None
        plot = self.plot_rect()
        fraction = min(1.0, max(0.0, (x - plot.left()) / plot.width()))
        return histogram.start + fraction * (histogram.end - histogram.start)

    def x_of(self, moment: float) -> float:
        """Where time `moment` is on the axis."""
        histogram = self.histogram
        plot = self.plot_rect()
        if histogram is None or histogram.end <= histogram.start:
            return plot.left()
        fraction = (moment - histogram.start) / (histogram.end - histogram.start)
        return plot.left() + fraction * plot.width()

    def status_at(self, index: int, point: QPointF) -> str:
        """The status whose segment of bar `index` holds `point`, or ""."""
        for status, rect in self._segments(index):
            if rect.top() <= point.y() <= rect.bottom():
                return status
        return ""

    # -- painting ------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        """Bars, the peak count, the time axis and a drag's range."""
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        if self.hasFocus():
            # Tab lands here before any bar is chosen: the frame says where the focus is.
            painter.setPen(QPen(palette.highlight().color(), 1))
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        plot = self.plot_rect()
        metrics = QFontMetrics(self.font())
        text_pen = QPen(QColor("#5c5f66"))
        painter.setPen(QPen(QColor("#d6d9e0")))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        histogram = self.histogram
        if histogram is None or self._peak <= 0:
            painter.setPen(text_pen)
            painter.drawText(
                plot,
                Qt.AlignmentFlag.AlignCenter,
                "No entries in this range" if histogram is not None else "Not loaded",
            )
            painter.end()
            return
        painter.setPen(Qt.PenStyle.NoPen)
        colours = {status: status_colour(status) for status in self.statuses}
        for index in range(self.bins):
            for status, rect in self._segments(index):
                painter.setBrush(colours[status])
                painter.drawRect(rect)
        if self._focus_bin is not None and self.hasFocus():
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(palette.highlight().color(), 1.5))
            painter.drawRect(self.bar_rect(self._focus_bin).adjusted(0, 0, -1, 0))
        painter.setPen(text_pen)
        peak = f"{self._peak:,}"
        painter.drawText(
            QRectF(0, plot.top() - 2, LEFT_MARGIN - 6, metrics.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop),
            peak,
        )
        painter.drawText(
            QRectF(0, plot.bottom() - metrics.height(), LEFT_MARGIN - 6, metrics.height()),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom),
            "0",
        )
        span = histogram.end - histogram.start
        ticks = max(2, min(7, int(plot.width() // 150)))
        for tick in range(ticks + 1):
            moment = histogram.start + span * tick / ticks
            x = self.x_of(moment)
            label = time_label(moment, span)
            width = metrics.horizontalAdvance(label)
            left = min(max(x - width / 2, plot.left()), plot.right() - width)
            painter.drawText(
                QRectF(left, plot.bottom() + 2, width + 2, AXIS_HEIGHT),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                label,
            )
        self._paint_legend(painter, plot, metrics, text_pen)
        if self._press_x is not None and self._drag_x is not None:
            left, right = sorted((self._press_x, self._drag_x))
            brush = QRectF(left, plot.top(), right - left, plot.height()) & plot
            shade = QColor(palette.highlight().color())
            shade.setAlpha(60)
            painter.fillRect(brush, shade)
        painter.end()

    def legend_entries(self) -> list[tuple[str, str, QRectF]]:
        """The legend, left to right: (status, its label as drawn, the entry's rectangle).

        A swatch and name for each status shown, at the top right, between the count
        axis and the right edge. When the names do not all fit, the longest are cut
        (with an ellipsis) to the widest width at which they do: every status keeps its
        swatch and the start of its name; the legend's tooltip names them whole.
        """
        histogram = self.histogram
        if histogram is None:
            return []
        present = [
            status
            for row, status in enumerate(self.statuses)
            if int(histogram.counts[row].sum()) > 0
        ]
        metrics = QFontMetrics(self.font())
        plot = self.plot_rect()
        labels = [status.replace("_", " ") for status in present]
        widths = [metrics.horizontalAdvance(label) for label in labels]
        fixed = (LEGEND_SWATCH + LEGEND_SWATCH_GAP + LEGEND_ENTRY_GAP) * len(labels)
        room = int(plot.right() - LEFT_MARGIN) - fixed
        if widths and sum(widths) > room:
            low, high = 0, max(widths)  # the widest cap at which the names fit
            while low < high:
                cap = (low + high + 1) // 2
                if sum(min(width, cap) for width in widths) <= room:
                    low = cap
                else:
                    high = cap - 1
            labels = [
                label
                if width <= low
                else metrics.elidedText(label, Qt.TextElideMode.ElideRight, low)
                for label, width in zip(labels, widths, strict=True)
            ]
        entries: list[tuple[str, str, QRectF]] = []
        x = plot.right()
        for status, label in zip(reversed(present), reversed(labels), strict=True):
            right = x
            x -= metrics.horizontalAdvance(label) + LEGEND_SWATCH_GAP + LEGEND_SWATCH
            entries.append((status, label, QRectF(x, 2.0, right - x, metrics.height())))
            x -= LEGEND_ENTRY_GAP
        entries.reverse()
        return entries

    def legend_tip(self) -> str:
        """The legend's tooltip: every status shown, named whole, with its count."""
        histogram = self.histogram
        if histogram is None:
            return ""
        return "\n".join(
            f"{status.replace('_', ' ')}: {int(histogram.counts[row].sum()):,}"
            for row, status in enumerate(self.statuses)
            if int(histogram.counts[row].sum()) > 0
        )

    def _paint_legend(
        self, painter: QPainter, plot: QRectF, metrics: QFontMetrics, pen: QPen
    ) -> None:
        """A swatch and name for each status shown, at the top right."""
        for status, label, rect in self.legend_entries():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(status_colour(status))
            painter.drawRect(QRectF(rect.left(), rect.top() + metrics.height() / 2 - 4, 9, 9))
            painter.setPen(pen)
            painter.drawText(
                rect.adjusted(LEGEND_SWATCH + LEGEND_SWATCH_GAP, 0, 2, 0),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                label,
            )

    # -- mouse ---------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start a click or a drag."""
        if event.button() == Qt.MouseButton.LeftButton and self.histogram is not None:
            self._press_x = event.position().x()
            self._drag_x = None
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Follow a drag (the range shows shaded)."""
        if self._press_x is not None:
            x = event.position().x()
            if self._drag_x is not None or abs(x - self._press_x) >= DRAG_THRESHOLD_PX:
                self._drag_x = x
                self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """A click filters to its bar (and status); a drag to the range it covered."""
        if event.button() != Qt.MouseButton.LeftButton or self._press_x is None:
            super().mouseReleaseEvent(event)
            return
        press, drag = self._press_x, self._drag_x
        self._press_x = self._drag_x = None
        self.update()
        x = event.position().x()
        if drag is not None and abs(x - press) >= DRAG_THRESHOLD_PX:
            since, until = self.time_at(min(press, x)), self.time_at(max(press, x))
            if since is not None and until is not None and until > since:
                self.range_picked.emit(since, until)
            return
        index = self.bin_at(x)
        if index is not None and self.histogram is not None and self.total(index) > 0:
            since, until = self.histogram.bin_range(index)
            self.bar_clicked.emit(since, until, self.status_at(index, event.position()))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Left/Right move between bars; Enter or Space filters to the bar."""
        if self.bins and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = -1 if event.key() == Qt.Key.Key_Left else 1
            current = self._focus_bin if self._focus_bin is not None else -step % self.bins
            self._focus_bin = (current + step) % self.bins
            self.update()
            rect = self.bar_rect(self._focus_bin)
            QToolTip.showText(
                self.mapToGlobal(rect.center().toPoint()), self._tip(self._focus_bin), self
            )
            return
        if (
            event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
            and self._focus_bin is not None
            and self.histogram is not None
        ):
            since, until = self.histogram.bin_range(self._focus_bin)
            self.bar_clicked.emit(since, until, "")
            return
        super().keyPressEvent(event)

    def event(self, event: QEvent) -> bool:
        """Tooltips: the bar's time range and its count per status."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            if event.pos().y() < TOP_MARGIN and self.legend_entries():
                QToolTip.showText(event.globalPos(), self.legend_tip(), self)
                return True
            index = self.bin_at(float(event.pos().x()))
            if index is None:
                QToolTip.hideText()
                event.ignore()
                return True
            QToolTip.showText(event.globalPos(), self._tip(index), self)
            return True
        return super().event(event)

    def tooltip_text(self, index: int) -> str:
        """What the tooltip of bar `index` says."""
        return self._tip(index)

    def _tip(self, index: int) -> str:
        histogram = self.histogram
        if histogram is None:
            return ""
        since, until = histogram.bin_range(index)
        span = histogram.end - histogram.start
        lines = [
            f"{time_label(since, span)} – {time_label(until, span)}: "
            f"{self.total(index):,} entr{'y' if self.total(index) == 1 else 'ies'}"
        ]
        for row, status in enumerate(self.statuses):
            count = int(histogram.counts[row, index])
            if count:
                lines.append(f"{status.replace('_', ' ')}: {count:,}")
        if self.total(index):
            lines.append("Click to filter to this bar (its status, on a segment)")
        return "\n".join(lines)
