"""The Find by ID field of the window's top row, and the line that answers it.

Light on purpose (Qt widgets only): the window builds it before its first paint; the
trace window and its pages are imported after that paint (`console.ui.trace.finder`).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QDropEvent, QKeyEvent, QKeySequence, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from console.common.redaction import (
    ADMIN_KEY_PREFIX,
    INGEST_KEY_PREFIX,
    mask_key,
    redact_secrets,
)

MAX_ID_LENGTH = 255  # the server's bound on an id (docs/api.md, Connector logs)
FIELD_MAX_LENGTH = 4096  # what the field holds at all: a pasted novel is cut here
KINDS_SEARCHED = (
    "request IDs, correlation IDs, idempotency keys, record GUIDs and system ids (in every feed)"
)
_QUOTES = ('""', "''", "``", "“”", "‘’", "<>")

# A key, or what looks like one (cut short, or a character too many): a key prefix and a
# run of letters and digits. No ID the server hands out starts like that.
_KEY_LIKE = re.compile(
    rf"(?<![A-Za-z0-9])({re.escape(ADMIN_KEY_PREFIX)}|{re.escape(INGEST_KEY_PREFIX)})"
    r"([A-Za-z0-9]{8,})"
)


def mask_key_like(text: str) -> str:
    """`text` with every key-like run shown as prefix…last4."""
    return _KEY_LIKE.sub(lambda m: mask_key(m.group(1), m.group(2)[-4:]), redact_secrets(text))


def clean_id(text: str) -> str:
    """The ID in what was pasted: without surrounding spaces or one pair of quotes."""
    text = text.strip()
    for pair in _QUOTES:
        if len(text) >= 2 and text[0] == pair[0] and text[-1] == pair[1]:
            return text[1:-1].strip()
    return text


def id_problem(text: str) -> str | None:
    """Why `text` (cleaned) cannot be looked up, or None when it can.

    An API key is refused before anything is sent: it is no ID, and in a URL it would
    reach the status bar, the request log and the server's access log. It is named only
    as prefix…last4.
    """
    if not text:
        return "Paste or type an ID first."
    masked = mask_key_like(text)
    if masked != text:
        return (
            f"That looks like an API key ({masked[:60]}), not an ID: it was not searched, and the "
            "field was cleared. Keys are never looked up."
        )
    if len(text) > MAX_ID_LENGTH:
        return f"An ID has at most {MAX_ID_LENGTH} characters; this has {len(text):,}."
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "An ID holds no line breaks or control characters: paste one ID at a time."
    return None


def shown_id(text: str, limit: int = 60) -> str:
    """`text` as messages show it: keys masked, long ones cut in the middle."""
    text = mask_key_like(text)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-half:]}"


class FindField(QLineEdit):
    """Paste an ID (it is looked up at once) or type one and press Enter."""

    find_requested = Signal(str)  # the text as it stands (the finder cleans it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Find by ID (Ctrl+K)")
        self.setToolTip(
            "Paste a request, correlation or idempotency ID, a record GUID or a system id "
            "to see its trace: log entries, items and records touched."
        )
        self.setClearButtonEnabled(True)
        self.setMaxLength(FIELD_MAX_LENGTH)
        self.setMinimumWidth(260)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.returnPressed.connect(self.submit)

    def submit(self) -> None:
        """Ask for the trace of what the field holds."""
        text = self.text()
        if mask_key_like(text) != text:
            self.clear()  # a secret does not stay on screen
        self.find_requested.emit(text)

    # A paste, however it comes (keys, context menu, middle click, drop), looks up at once.

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Ctrl+V / Shift+Insert paste and look up."""
        super().keyPressEvent(event)
        if event.matches(QKeySequence.StandardKey.Paste):
            self.submit()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """The standard menu, whose Paste also looks up."""
        menu = self.createStandardContextMenu()
        for action in menu.actions():
            if action.objectName() == "edit-paste":
                action.triggered.connect(self.submit)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(event.globalPos())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """A middle-click paste (X11 selection) looks up too."""
        before = self.text()
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.MiddleButton and self.text() != before:
            self.submit()

    def dropEvent(self, event: QDropEvent) -> None:
        """A dropped ID replaces the text and is looked up."""
        data: QMimeData = event.mimeData()
        if data.hasText():
            self.setText(data.text())
            event.acceptProposedAction()
            self.submit()
            return
        super().dropEvent(event)


class FindNotice(QFrame):
    """One line under the top row: what Find by ID could not do (hidden otherwise)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findNotice")
        self.setStyleSheet(
            "#findNotice { background: #fff8e1; border: 1px solid #f0d58c; border-radius: 6px; }"
            " #findNotice QLabel { color: #5a4300; }"
        )
        self.label = QLabel("")
        # Plain: the line quotes what was pasted, which may look like markup.
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def say(self, text: str) -> None:
        """Show `text`; an empty text hides the line."""
        self.label.setText(text)
        self.setVisible(bool(text))
