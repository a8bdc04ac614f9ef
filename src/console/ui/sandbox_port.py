"""What the window needs from an embedded sandbox, without importing the server side.

`app.py` (the composition root) injects the real implementation, `console.app.launcher`;
the UI reaches the server only over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class SandboxEndpoint(Protocol):
    """Where a running sandbox listens and the key the console uses on it."""

    @property
    def base_url(self) -> str:
        """Base URL of the server."""
        ...

    @property
    def api_key(self) -> str:
        """The console's admin key for it."""
        ...


class SandboxRunner(Protocol):
    """Starts, keys and stops one sandbox child. Blocking (but `stop`): use a worker thread."""

    def ensure_started(self) -> SandboxEndpoint:
        """Start the child unless it runs; return where it listens and the key to use."""
        ...

    def mint_new_key(self) -> str:
        """Mint (and keep) a fresh admin key for the console."""
        ...

    def keep_key(self, key: str) -> None:
        """Keep `key` as the console's key (after a rotation)."""
        ...

    def stop(self) -> None:
        """Tell the child to stop and return at once (it finishes stopping by itself)."""
        ...


SandboxFactory = Callable[[Path], SandboxRunner]
