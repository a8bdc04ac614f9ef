"""Dialogs of the API Keys tab: add, show-once secret, rotate, revoke.

All open with `open()` (window-modal, non-blocking) and report through signals, so
no nested event loop runs inside a coroutine (STACK_NOTES 2).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.api.feeds import Feed
from console.api.keys import ApiKey, CreatedKey
from console.ui.widgets.confirm import ConfirmBox, destructive_confirmation

CLIPBOARD_CLEAR_MS = 60_000
EXPIRY_CHOICES = (("Never", None), ("30 days", 30), ("90 days", 90), ("On a date…", -1))
GRACE_CHOICES = (
    ("Now: the old key stops working at once", 0),
    ("1 hour", 3600),
    ("24 hours", 86400),
    ("3 days", 3 * 86400),
    ("7 days", 7 * 86400),
)


@dataclass(frozen=True)
class NewKeyRequest:
    """What the Add dialog asks the server for."""

    name: str
    kind: str
    feed: str | None
    expires_at: float | None


def _error_label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # server messages
    label.setWordWrap(True)
    label.setStyleSheet("color: #a61b0f;")
    label.hide()
    return label


class AddKeyDialog(QDialog):
    """Name, kind, feed (ingest keys) and expiry of a new key."""

    submitted = Signal(object)  # NewKeyRequest

    def __init__(self, feeds: list[Feed], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add API key")
        self.setMinimumWidth(440)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Nightly export job")
        self.name_edit.setMaxLength(100)
        self.kind_combo = QComboBox()
        self.kind_combo.setAccessibleName("Kind")
        self.kind_combo.addItem("Admin: manages the account through /api/public/v1", "admin")
        self.kind_combo.addItem("Ingest: sends data to one feed", "ingest")
        self.feed_combo = QComboBox()
        self.feed_combo.setAccessibleName("Feed")
        for feed in feeds:
            self.feed_combo.addItem(f"{feed.name} ({feed.id})", feed.id)
        self.expiry_combo = QComboBox()
        self.expiry_combo.setAccessibleName("Expires")
        for label, days in EXPIRY_CHOICES:
            self.expiry_combo.addItem(label, days)
        self.date_edit = QDateEdit(QDate.currentDate().addDays(30))
        self.date_edit.setAccessibleName("Expiry date")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setMinimumDate(QDate.currentDate().addDays(1))
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.error_label = _error_label()

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Kind", self.kind_combo)
        self.feed_label = QLabel("Feed")
        form.addRow(self.feed_label, self.feed_combo)
        form.addRow("Expires", self.expiry_combo)
        form.addRow("", self.date_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("Create key")
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.kind_combo.currentIndexChanged.connect(self._sync_fields)
        self.expiry_combo.currentIndexChanged.connect(self._sync_fields)
        self._feeds_known = bool(feeds)
        self._sync_fields()

    def _sync_fields(self) -> None:
        ingest = self.kind_combo.currentData() == "ingest"
        self.feed_label.setVisible(ingest)
        self.feed_combo.setVisible(ingest)
        self.date_edit.setVisible(self.expiry_combo.currentData() == -1)

    def request(self) -> NewKeyRequest:
        """The request as the form stands; raises ValueError saying what to fix."""
        name = self.name_edit.text().strip()
        if not name:
            raise ValueError("Name: give the key a name that says who uses it.")
        kind = str(self.kind_combo.currentData())
        feed = None
        if kind == "ingest":
            if not self._feeds_known:
                raise ValueError("Feed: this account has no feeds yet; create one first.")
            feed = str(self.feed_combo.currentData())
        days = self.expiry_combo.currentData()
        expires_at: float | None = None
        if days == -1:
            chosen = self.date_edit.date()
            moment = QDateTime(chosen, QTime(23, 59, 59))
            expires_at = moment.toSecsSinceEpoch()
        elif days:
            expires_at = (datetime.now() + timedelta(days=int(days))).timestamp()
        return NewKeyRequest(name, kind, feed, expires_at)

    def _submit(self) -> None:
        try:
            request = self.request()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.set_busy(True)
        self.submitted.emit(request)

    def set_busy(self, busy: bool) -> None:
        """Disable the form while the server works."""
        self.create_button.setEnabled(not busy)
        self.create_button.setText("Creating…" if busy else "Create key")

    def show_error(self, message: str) -> None:
        """Say what to fix; the form keeps everything typed."""
        self.set_busy(False)
        self.error_label.setText(message)
        self.error_label.show()


class SecretDialog(QDialog):
    """Shows a new secret exactly once; closes only after "I have stored it"."""

    def __init__(
        self,
        created: CreatedKey,
        *,
        keychain_reason: str | None,
        save_to_keychain: Callable[[CreatedKey], bool] | None = None,
        heading: str = "Your new API key",
        clipboard_clear_ms: int = CLIPBOARD_CLEAR_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(heading)
        self.setMinimumWidth(560)
        self._secret: str | None = created.secret
        self._created: CreatedKey | None = created
        self._save_to_keychain = save_to_keychain
        self.saved_to_keychain = False
        self._clipboard_clear_ms = clipboard_clear_ms
        self.key = created.key
        intro = QLabel(
            f"<b>{heading}</b> for “{html.escape(created.key.name)}” ({created.key.masked}).<br>"
            "This is the only time the full key is shown. Store it in your secret "
            "manager now: the platform keeps only a hash and cannot show it again."
        )
        intro.setWordWrap(True)
        self.secret_edit = QLineEdit(created.secret)
        self.secret_edit.setAccessibleName("The new key")
        self.secret_edit.setAccessibleDescription("Shown only this once: copy it now")
        self.secret_edit.setReadOnly(True)
        self.secret_edit.setObjectName("secretField")
        self.secret_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.secret_edit.selectAll()
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy_secret)
        self.copy_status = QLabel()
        self.copy_status.setWordWrap(True)
        self.copy_status.hide()
        row = QHBoxLayout()
        row.addWidget(self.secret_edit, 1)
        row.addWidget(self.copy_button)
        self.keychain_box = QCheckBox("Also save it in this computer's keychain")
        self.keychain_note = QLabel()
        self.keychain_note.setTextFormat(Qt.TextFormat.PlainText)  # the keyring's reason
        self.keychain_note.setWordWrap(True)
        self.keychain_note.setStyleSheet("color: #5c5f66; margin-left: 22px;")
        self.keychain_note.hide()
        if keychain_reason:
            self.keychain_box.setEnabled(False)
            self.keychain_note.setText(f"Not available: {keychain_reason}.")
            self.keychain_note.show()
        self.stored_box = QCheckBox("I have stored this key somewhere safe")
        self.close_button = QPushButton("Close")
        self.close_button.setEnabled(False)
        self.close_button.setDefault(True)
        self.stored_box.toggled.connect(self.close_button.setEnabled)
        self.close_button.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.copy_status)
        layout.addWidget(self.keychain_box)
        layout.addWidget(self.keychain_note)
        layout.addWidget(self.stored_box)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.finished.connect(self._forget)

    @property
    def secret(self) -> str | None:
        """The secret while the dialog is open; None once closed."""
        return self._secret

    def copy_secret(self) -> None:
        """Copy, and clear the clipboard later if it still holds the secret."""
        if self._secret is None:
            return
        QGuiApplication.clipboard().setText(self._secret)
        seconds = self._clipboard_clear_ms // 1000
        self.copy_status.setText(f"Copied. The clipboard is cleared in {seconds} s.")
        self.copy_status.show()
        # Parented to the application, the timer outlives the dialog.
        QTimer.singleShot(self._clipboard_clear_ms, _clipboard_clearer(self._secret))

    def done(self, result: int) -> None:
        """Close (however it was asked), saving to the keychain first when ticked.

        A failed save keeps the dialog open, so the secret is not lost.
        """
        created = self._created
        wants_save = self.keychain_box.isChecked() and self._save_to_keychain is not None
        if created is not None and wants_save and not self.saved_to_keychain:
            assert self._save_to_keychain is not None
            self.saved_to_keychain = self._save_to_keychain(created)
            if not self.saved_to_keychain:
                self.copy_status.setText(
                    "Could not save it in the keychain. Copy it somewhere safe, or untick "
                    "the keychain option, then close."
                )
                self.copy_status.setStyleSheet("color: #a61b0f; font-weight: 600;")
                self.copy_status.show()
                self.keychain_box.setChecked(False)
                return
        super().done(result)

    def reject(self) -> None:
        """Escape and the close box do nothing until the user confirms storing the key."""
        if self.stored_box.isChecked():
            super().reject()
        else:
            self.stored_box.setStyleSheet("QCheckBox { color: #a61b0f; font-weight: 600; }")

    def _forget(self) -> None:
        self.secret_edit.clear()
        self._secret = None
        self._created = None


def _clipboard_clearer(secret: str) -> Callable[[], None]:
    def clear() -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard.text() == secret:
            clipboard.clear()

    return clear


class RotateDialog(QDialog):
    """Choose how long the old key keeps working."""

    def __init__(self, key: ApiKey, *, is_own_key: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rotate API key")
        self.key = key
        text = (
            f"Rotate “{html.escape(key.name)}” ({key.masked})? A new key with the same name, "
            "kind and feed is created and shown once. Until the grace period ends both keys work."
        )
        if is_own_key:
            text += (
                "<br><br><b>This console itself uses this key.</b> It switches to the new "
                "key at once, with no restart."
            )
        label = QLabel(text)
        label.setWordWrap(True)
        self.grace_combo = QComboBox()
        self.grace_combo.setAccessibleName("Old key keeps working")
        self.grace_combo.setAccessibleDescription(
            "The grace period: how long the old key still works"
        )
        for title, seconds in GRACE_CHOICES:
            self.grace_combo.addItem(title, seconds)
        self.grace_combo.setCurrentIndex(2)  # 24 h: time to deploy the new key
        form = QFormLayout()
        form.addRow("Old key keeps working", self.grace_combo)
        self.error_label = _error_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.rotate_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.rotate_button.setText("Rotate key")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    @property
    def grace_seconds(self) -> int:
        """The chosen grace period."""
        return int(self.grace_combo.currentData())


def revoke_confirmation(
    key: ApiKey, *, is_own_key: bool, parent: QWidget, type_to_confirm: str | None = None
) -> ConfirmBox:
    """A confirmation that names the key; its Revoke button is the destructive one
    (production: enabled once `type_to_confirm`, the key's name, is typed)."""
    info = (
        "Every request with this key gets 401 from now on. A revoked key cannot be "
        "reactivated; create a new one if you need access again."
    )
    if is_own_key:
        info += "\n\nThis console uses this key: it will lose access to the account."
    return destructive_confirmation(
        parent,
        "Revoke API key",
        f"Revoke “{key.name}” ({key.masked})?",
        info,
        "Revoke",
        type_to_confirm=type_to_confirm,
    )
