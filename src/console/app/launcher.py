"""Start the embedded sandbox as a child process and give the console a key for it.

Qt-free and Starlette-free: the GUI process only spawns the server and mints its own
admin key in the sandbox database (the store module is stdlib only).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from console.config.secrets import (
    SecretStore,
    read_sandbox_key_file,
    write_sandbox_key_file,
)
from console.sandbox.process import SandboxProcess

log = logging.getLogger(__name__)

SANDBOX_ACCOUNT = "demo"
CONSOLE_KEY_NAME = "Integration Console (this computer)"


@dataclass(frozen=True)
class SandboxConnection:
    """Where the running sandbox listens and the key the console uses on it."""

    base_url: str
    api_key: str = field(repr=False)


def sandbox_keychain_account(data_dir: Path) -> str:
    """Keychain entry of the console's key for the sandbox in `data_dir`."""
    return f"sandbox:{data_dir.resolve()}"


class SandboxLauncher:
    """Owns the sandbox child for the console's lifetime."""

    def __init__(self, data_dir: Path, secrets: SecretStore) -> None:
        self.data_dir = data_dir
        self.secrets = secrets
        self.process: SandboxProcess | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> SandboxConnection:
        """Start the child unless it runs (demo data on first run); mint or reuse the key.

        Blocking: run it in a worker thread from the UI.
        """
        with self._lock:
            if self.process is None or not self.process.running:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self.process = SandboxProcess(self.data_dir, demo=True)
                self.process.start()
            assert self.process.base_url is not None
            key = self.saved_key() or self.mint_new_key()
            return SandboxConnection(self.process.base_url, key)

    def saved_key(self) -> str | None:
        """The console's key for this sandbox, from the keychain or the 0600 file."""
        if self.secrets.persistent:
            return self.secrets.get(sandbox_keychain_account(self.data_dir))
        return read_sandbox_key_file(self.data_dir)

    def mint_new_key(self) -> str:
        """Mint a fresh admin key for the sandbox account and keep it."""
        from console.sandbox.storage.sqlite import mint_key

        key = mint_key(self.data_dir, account=SANDBOX_ACCOUNT, kind="admin", name=CONSOLE_KEY_NAME)
        self.keep_key(key)
        return key

    def keep_key(self, key: str) -> None:
        """Store the console's sandbox key (after minting or rotating it)."""
        if self.secrets.persistent:
            self.secrets.set(sandbox_keychain_account(self.data_dir), key)
        else:
            path = write_sandbox_key_file(self.data_dir, key)
            log.info("no keychain: sandbox key kept in %s (mode 0600)", path)

    def stop(self) -> None:
        """Stop the child, if running."""
        with self._lock:
            if self.process is not None:
                self.process.stop()
                self.process = None
