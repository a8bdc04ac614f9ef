"""Renew a key: a new key with the same name, kind, feed and expiry period, and what
becomes of the old one (docs/console.md, "Key rotation and expiry").

The new key's expiry is the old key's period (expires_at − created_at) counted from now,
or none when the old key had none. The old key is kept until its own expiry, revoked at
once, or retired after a grace: that last is the contract's rotate with `grace_seconds`
(the server ends the old key, and the new one names it in `rotated_from`, so the rotation
panel follows its use), and the new key's expiry is then checked against the period.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from console.api.keys import ApiKey, CreatedKey, KeyKind, KeysApi
from console.ui.formatting import format_timestamp
from console.ui.keys.rotation import is_live, minutes_text, renewal_expiry

KEEP = -1
OLD_KEY_CHOICES = (
    ("Keep it until it expires on its own", KEEP),
    ("Revoke it now", 0),
    ("Revoke it after 1 hour", 3600),
    ("Revoke it after 24 hours", 86400),
)
# A server's rotate may set the successor's expiry by its own rule: a result this far from
# the period counts as not the period (renew then creates the key itself).
EXPIRY_TOLERANCE_SECONDS = 60.0


def period_text(key: ApiKey) -> str:
    """The key's expiry period as the dialog names it."""
    if key.expires_at is None:
        return "never expires"
    return minutes_text(key.expires_at - key.created_at)


class RenewDialog(QDialog):
    """What Renew will create, and what becomes of the old key."""

    def __init__(self, key: ApiKey, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Renew API key")
        self.key = key
        now = time.time()
        expiry = renewal_expiry(key, now)
        label = QLabel(
            f"Renew “{key.name}” ({key.masked})? A new {key.kind} key"
            + (f" for feed {key.feed}" if key.feed else "")
            + f" with the same name is created and shown once. Expiry period: "
            f"{period_text(key)}"
            + (f" (the new key expires {format_timestamp(expiry)})." if expiry else ".")
        )
        label.setWordWrap(True)
        self.old_key_combo = QComboBox()
        self.old_key_combo.setAccessibleName("What becomes of the old key")
        live = is_live(key, now)
        for title, seconds in OLD_KEY_CHOICES:
            if live or seconds == KEEP:
                self.old_key_combo.addItem(title, seconds)
        form = QFormLayout()
        form.addRow("Old key", self.old_key_combo)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.renew_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.renew_button.setText("Renew key")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    @property
    def old_key_grace(self) -> int:
        """KEEP, 0 (revoke now) or the seconds the old key keeps working."""
        return int(self.old_key_combo.currentData())


async def create_renewal(
    keys: KeysApi, key: ApiKey, old_key_grace: int
) -> tuple[CreatedKey, str | None]:
    """Create the renewed key; with a grace, by rotating (the server retires the old key).

    Returns the key (its secret to be shown before anything else can fail) and, when a
    server's rotate chose another expiry than the period, a sentence saying so.
    """
    now = time.time()
    expiry = renewal_expiry(key, now)
    if old_key_grace > 0 and is_live(key, now):
        created = await keys.rotate(key.id, grace_seconds=old_key_grace)
        got = created.key.expires_at
        if (got is None) == (expiry is None) and (
            got is None or expiry is None or abs(got - expiry) <= EXPIRY_TOLERANCE_SECONDS
        ):
            return created, None
        return created, (
            f"The server gave the renewed key the expiry {format_timestamp(got, empty='never')}"
            f", not {format_timestamp(expiry, empty='never')}."
        )
    kind: KeyKind = "ingest" if key.kind == "ingest" else "admin"
    return await keys.create(key.name, kind, feed=key.feed, expires_at=expiry), None
