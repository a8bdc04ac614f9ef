"""Coloured status pills, painted by a delegate so tables stay cheap to render."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

# (background, text) per status word; unknown words get the neutral pair.
BADGE_COLOURS: dict[str, tuple[str, str]] = {
    "active": ("#d7f5e1", "#11643a"),
    "running": ("#d7f5e1", "#11643a"),
    "expiring": ("#fff1cc", "#7a5200"),
    "deploying": ("#dbe9ff", "#1d4f9c"),
    "stopping": ("#fff1cc", "#7a5200"),
    "expired": ("#fde0dc", "#8f1d12"),
    "failed": ("#fde0dc", "#8f1d12"),
    "revoked": ("#e8e8ea", "#55565c"),
    "archived": ("#e8e8ea", "#55565c"),
    "stopped": ("#e8e8ea", "#3b3c40"),
    "draft": ("#eef0f4", "#3b3c40"),
    # Connector log entries' processing statuses (as the Ingest Logs table writes them).
    "succeeded": ("#d7f5e1", "#11643a"),
    "partially failed": ("#fff1cc", "#7a5200"),
    "queued": ("#eef0f4", "#3b3c40"),
    "processing": ("#dbe9ff", "#1d4f9c"),
    "duplicate": ("#e8e8ea", "#55565c"),
    "rejected": ("#f6e0f3", "#6e2369"),
}
NEUTRAL = ("#eef0f4", "#3b3c40")


def badge_colours(status: str) -> tuple[QColor, QColor]:
    """Background and text colour of the badge for `status`."""
    background, text = BADGE_COLOURS.get(status, NEUTRAL)
    return QColor(background), QColor(text)


class StatusBadgeDelegate(QStyledItemDelegate):
    """Paints the cell's display text as a rounded, coloured pill."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Draw selection background, then the pill."""
        status = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        style = option.widget.style() if option.widget else None
        if style is not None and option.state & QStyle.StateFlag.State_Selected:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem,
                option,
                painter,
                option.widget,
            )
        if not status:
            return
        background, text = badge_colours(status)
        metrics = QFontMetrics(option.font)
        width = metrics.horizontalAdvance(status) + 16
        height = metrics.height() + 4
        rect = option.rect
        pill = QRectF(rect.x() + 6, rect.center().y() - height / 2 + 1, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setPen(text)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, status)
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        """Room for the pill and its margins."""
        base = super().sizeHint(option, index)
        return QSize(base.width() + 28, max(base.height(), 26))


def badge_label_style(status: str) -> str:
    """A style sheet that makes a QLabel look like the table's badge."""
    background, text = BADGE_COLOURS.get(status, NEUTRAL)
    return (
        f"QLabel {{ background: {background}; color: {text}; border-radius: 9px;"
        " padding: 1px 9px; font-weight: 600; }"
    )
