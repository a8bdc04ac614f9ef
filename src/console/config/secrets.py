"""Profile keys in the OS keychain through keyring; in memory when there is none.

The backend is chosen in code for the platform (Secret Service on Linux and the BSDs,
the Keychain on macOS, the Credential Locker on Windows), never by keyring's discovery:
discovery loads every installed backend to rank them (on Linux the macOS one runs
ldconfig, gcc and ld, ~87 ms), third-party backends vanish in a frozen build, and an
installed `keyrings.alt` would win it and write secrets to disk in plain text. A backend
configured explicitly (`PYTHON_KEYRING_BACKEND`, or keyring's own config file) is honoured.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from console.common.private_files import open_private, private_directory

log = logging.getLogger(__name__)

SERVICE = "integration-console"
SANDBOX_KEY_FILE = "console-admin.key"
BACKEND_ENV = "PYTHON_KEYRING_BACKEND"
# The OS keychain of each platform, by keyring's class path.
PLATFORM_BACKENDS = {
    "darwin": "keyring.backends.macOS.Keyring",
    "win32": "keyring.backends.Windows.WinVaultKeyring",
}
DEFAULT_BACKEND = "keyring.backends.SecretService.Keyring"  # Linux and the BSDs


class SecretStore:
    """Get and set profile keys; knows whether they survive a restart."""

    def __init__(self, backend: Any | None = None) -> None:
        self._memory: dict[str, str] = {}
        self._explicit = backend
        self._resolved = False
        self._chosen: Any | None = None
        self._reason: str | None = None
        # The console resolves the backend in a start-up thread while the UI thread
        # may ask for a key: resolve once, under a lock.
        self._resolving = threading.Lock()

    @property
    def _backend(self) -> Any | None:
        # Loading keyring costs ~70 ms: done on first use (the launcher does it in a
        # thread at process start), never on the UI thread's way to the first paint.
        if not self._resolved:
            with self._resolving:
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


def platform_backend_name(platform: str = sys.platform) -> str:
    """keyring's class path of the OS keychain on `platform` (a `sys.platform` value)."""
    return PLATFORM_BACKENDS.get(platform, DEFAULT_BACKEND)


def _choose_backend(explicit: Any | None) -> tuple[Any | None, str | None]:
    if explicit is not None:
        return explicit, None
    try:
        import keyring.core
    except Exception as exc:
        return None, f"the keyring library could not load ({type(exc).__name__})"
    try:
        # An explicit choice (environment, then keyring's config file) is the user's.
        backend = keyring.core.load_env() or keyring.core.load_config()
    except Exception as exc:
        return None, f"the configured keyring backend cannot be used ({type(exc).__name__}: {exc})"
    if backend is None:
        try:
            # Otherwise the platform's keychain: one backend class loaded, no discovery.
            backend = keyring.core.load_keyring(platform_backend_name())
        except Exception as exc:  # not viable here: no Secret Service, no D-Bus session, …
            log.info("no keychain: %s", exc)
            return None, "this computer has no usable keychain (no Secret Service or equivalent)"
    import keyring.backends.fail

    if isinstance(backend, keyring.backends.fail.Keyring):
        return None, "this computer has no usable keychain (no Secret Service or equivalent)"
    if type(backend).__module__.startswith("keyrings.alt"):
        log.warning("the configured keyring %s keeps secrets in plain text", type(backend).__name__)
    return backend, None
