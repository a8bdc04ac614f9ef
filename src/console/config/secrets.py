"""Profile keys in the OS keychain through keyring; in memory when there is none.

A plain-text store is never chosen on its own: `keyrings.alt` backends write secrets
to disk unencrypted, so discovery that lands on one counts as "no keychain".
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from console.common.private_files import open_private, private_directory

log = logging.getLogger(__name__)

SERVICE = "integration-console"
SANDBOX_KEY_FILE = "console-admin.key"


class SecretStore:
    """Get and set profile keys; knows whether they survive a restart."""

    def __init__(self, backend: Any | None = None) -> None:
        self._memory: dict[str, str] = {}
        self._explicit = backend
        self._resolved = False
        self._chosen: Any | None = None
        self._reason: str | None = None

    @property
    def _backend(self) -> Any | None:
        # Discovery loads every keyring backend (~60 ms): do it on first use, after
        # the window has painted, not at start-up.
        if not self._resolved:
            self._chosen, self._reason = _choose_backend(self._explicit)
            self._resolved = True
        return self._chosen

    @property
    def unavailable_reason(self) -> str | None:
        """Why keys cannot be kept in a keychain here (None when they can)."""
        _ = self._backend
        return self._reason

    @property
    def persistent(self) -> bool:
        """True when keys go to a real keychain and survive a restart."""
        return self._backend is not None

    def get(self, account: str) -> str | None:
        """The secret stored under `account`, if any."""
        if account in self._memory:
            return self._memory[account]
        if self._backend is None:
            return None
        try:
            value: str | None = self._backend.get_password(SERVICE, account)
        except Exception as exc:  # a locked or broken keychain must not crash the app
            log.warning("keychain read failed for %s: %s", account, type(exc).__name__)
            return None
        return value

    def set(self, account: str, secret: str) -> bool:
        """Store `secret`; returns False when it is kept in memory only."""
        if self._backend is not None:
            try:
                self._backend.set_password(SERVICE, account, secret)
                self._memory.pop(account, None)
                return True
            except Exception as exc:
                log.warning("keychain write failed for %s: %s", account, type(exc).__name__)
        self._memory[account] = secret
        return False

    def delete(self, account: str) -> None:
        """Forget the secret of `account` everywhere."""
        self._memory.pop(account, None)
        if self._backend is None:
            return
        try:
            self._backend.delete_password(SERVICE, account)
        except Exception:
            log.debug("no keychain entry to delete for %s", account)


def profile_account(profile_name: str) -> str:
    """Keychain account name of a connection profile's key."""
    return f"profile:{profile_name}"


def saved_key_account(key_id: str, key_name: str) -> str:
    """Keychain account name for a key the user chose to keep on this computer."""
    return f"key:{key_id}:{key_name}"


def read_sandbox_key_file(data_dir: Path) -> str | None:
    """The sandbox profile's key when no keychain exists (a 0600 file in its data dir)."""
    path = data_dir / SANDBOX_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def write_sandbox_key_file(data_dir: Path, secret: str) -> Path:
    """Write the sandbox key readable by the owner only (created 0600, never wider)."""
    path = data_dir / SANDBOX_KEY_FILE
    private_directory(data_dir)
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return path


def _choose_backend(explicit: Any | None) -> tuple[Any | None, str | None]:
    if explicit is not None:
        return explicit, None
    try:
        import keyring
        import keyring.backends.fail
    except Exception as exc:
        return None, f"the keyring library could not load ({type(exc).__name__})"
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring):
        return None, "this computer has no usable keychain (no Secret Service or equivalent)"
    if type(backend).__module__.startswith("keyrings.alt"):
        return None, "the only keychain found stores secrets in plain text"
    if getattr(backend, "priority", 1) < 1:
        return None, "the keychain found is not a secure one"
    return backend, None
