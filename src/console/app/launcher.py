"""Start the embedded sandbox as a child process and give the console a key for it.

Qt-free and Starlette-free: the GUI process only spawns the server and mints its own
admin key in the sandbox database (the store module is stdlib only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
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
# Connector log entries a new sandbox is seeded with (spread over the last 7 days), so
# its Ingest Logs tab has entries, a histogram and error groups to show.
DEMO_LOG_ENTRIES = 10_000
# A lookup waiting for the first paint starts anyway after this long (a window that
# never paints must not keep the connection waiting for ever).
NOT_BEFORE_LIMIT = 3.0


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
        self._key_lookup: Future[str | None] | None = None

    def start(
        self,
        then: Callable[[], object] | None = None,
        not_before: threading.Event | None = None,
    ) -> None:
        """Spawn the child and look its key up in a thread; return at once.

        The console calls this at process start, so the child's start-up overlaps the
        Qt imports and the first paint. The lookup thread waits for `not_before` (the
        first paint: its imports would share the GIL with the UI thread's) for at most
        NOT_BEFORE_LIMIT seconds; `then` runs in that thread afterwards (more start-up
        work that must stay off the UI thread).
        """
        with self._lock:
            if self.process is None or not self.process.running:
                first_run = not self.data_dir.exists() or not any(self.data_dir.iterdir())
                self.data_dir.mkdir(parents=True, exist_ok=True)
                # Demo log entries on the first run only, like the demo data (the
                # server adds the N entries on every start it is given them).
                extra = ["--demo-logs", str(DEMO_LOG_ENTRIES)] if first_run else []
                self.process = SandboxProcess(self.data_dir, demo=True, extra_args=extra)
                self.process.spawn()
            if self._key_lookup is None:
                lookup: Future[str | None] = Future()
                self._key_lookup = lookup
                threading.Thread(
                    target=self._look_up_key,
                    args=(lookup, then, not_before),
                    name="keychain",
                    daemon=True,
                ).start()

    def _look_up_key(
        self,
        lookup: Future[str | None],
        then: Callable[[], object] | None,
        not_before: threading.Event | None,
    ) -> None:
        if not_before is not None:
            not_before.wait(NOT_BEFORE_LIMIT)
        try:
            lookup.set_result(self.saved_key())
        except BaseException as exc:
            lookup.set_exception(exc)
        if then is not None:
            try:
                then()
            except Exception:
                log.exception("start-up work after the keychain lookup failed")

    def ensure_started(self) -> SandboxConnection:
        """Start the child unless it runs (demo data on first run); mint or reuse the key.

        Blocking: run it in a worker thread from the UI.
        """
        self.start()
        with self._lock:
            process, lookup = self.process, self._key_lookup
            # A later call (a restarted child, a reconnect) reads the keychain afresh.
            self._key_lookup = None
        assert process is not None
        assert lookup is not None
        base_url = process.base_url or process.wait_until_listening()
        key = lookup.result() or self.mint_new_key()
        return SandboxConnection(base_url, key)

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
        """Tell the child to stop and return at once (the console's close path).

        The child stops by itself when its stdin closes; its lock on the data dir keeps
        a new server off the database until it has. Nothing here waits for it.
        """
        process = self.process
        if process is not None:
            process.release()
