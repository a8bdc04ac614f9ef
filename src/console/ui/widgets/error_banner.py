"""The error banner: what failed, which field to fix, and a copyable correlation ID."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.common.redaction import redact_secrets


def describe_error(error: BaseException) -> tuple[str, list[str], str | None]:
    """Headline, detail lines (every problem) and correlation ID of any failure."""
    if isinstance(error, ApiError):
        if error.status == 0:
            headline = f"Cannot reach the server: {error.message}"
        else:
            headline = f"{error.message} (HTTP {error.status} {error.code})"
        # The body repeats its one error in `errors`: the headline says it once already.
        details = [
            f"{p.field}: {p.message}" if p.field else p.message
            for p in error.problems
            if p.message and (p.field or p.message != error.message)
        ]
        if error.field and len(details) <= 1:
            details = [f"Field to fix: {error.field}"]
        return redact_secrets(headline), [redact_secrets(d) for d in details], error.correlation_id
    text = str(error) or type(error).__name__
    return redact_secrets(f"Unexpected error: {text}"), [], None


def error_text(error: BaseException) -> str:
    """The banner's content as plain lines, for a dialog that shows its own errors."""
    headline, details, correlation_id = describe_error(error)
    lines = [headline, *details]
    if correlation_id:
        lines.append(f"Correlation ID: {correlation_id}")
    return "\n".join(lines)


class ErrorBanner(QFrame):
    """A dismissible banner above the tabs."""

    dismissed = Signal()
    find_requested = Signal(str)  # the correlation ID's link: Find by ID shows its trace

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(
            "#errorBanner { background: #fdecea; border: 1px solid #f5b7b1; border-radius: 6px; }"
            " #errorBanner QLabel { color: #611a15; }"
        )
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.headline, self.details):
            # Wrapped within the window's width: a long URL or name in a message must not
            # widen the window (an unbreakable run is clipped; the text stays selectable).
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.correlation_label = QLabel()
        self.correlation_label.setTextFormat(Qt.TextFormat.RichText)
        self.correlation_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction
        )
        self.correlation_label.setToolTip("Click the ID to find it: its log entries and records")
        self.correlation_label.linkActivated.connect(self._find_correlation_id)
        self.copy_button = QPushButton("Cop&y ID")
        self.copy_button.setToolTip(
            "Copy the correlation ID, to quote to support or find in the logs"
        )
        self.copy_button.clicked.connect(self.copy_correlation_id)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        self.close_button = close

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.headline)
        text.addWidget(self.details)
        corr_row = QHBoxLayout()
        corr_row.addWidget(self.correlation_label)
        corr_row.addWidget(self.copy_button)
        corr_row.addStretch(1)
        text.addLayout(corr_row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addLayout(text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.correlation_id: str | None = None
        self.hide()

    def show_error(self, error: BaseException, *, context: str = "") -> None:
        """Show `error` (replacing any earlier one), after `context` when given."""
        headline, details, correlation_id = describe_error(error)
        self.headline.setText(f"{context}: {headline}" if context else headline)
        self.details.setText("\n".join(f"• {line}" for line in details))
        self.details.setVisible(bool(details))
        self.correlation_id = correlation_id
        self.correlation_label.setText(
            f'Correlation ID: <a href="trace:">{html.escape(correlation_id)}</a>'
            if correlation_id
            else ""
        )
        self.correlation_label.setVisible(bool(correlation_id))
        self.copy_button.setVisible(bool(correlation_id))
        self.show()

    def copy_correlation_id(self) -> None:
        """Put the correlation ID on the clipboard."""
        if self.correlation_id:
            QGuiApplication.clipboard().setText(self.correlation_id)

    def _find_correlation_id(self, _href: str) -> None:
        if self.correlation_id:
            self.find_requested.emit(self.correlation_id)

    def dismiss(self) -> None:
        """Hide the banner."""
        self.hide()
        self.dismissed.emit()
