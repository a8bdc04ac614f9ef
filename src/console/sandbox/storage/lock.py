"""One server per data directory: an OS lock on a file in it, held for the server's life.

The console does not wait for its sandbox child to stop when the window closes (the
child stops by itself when its stdin closes). A console started again at once would
start a second server on the same database while the first is still shutting down;
this lock makes the second one wait for the first, briefly, and refuse if it does not
go. The OS drops the lock when the holder exits, however it exits (even SIGKILL), so a
stale lock file never blocks anyone. `mint-key` does not take it: it writes through
SQLite's own locking and works while a server runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from console.common.private_files import open_private, private_directory

LOCK_FILE = "sandbox.lock"
POLL_SECONDS = 0.05


class DataDirBusyError(RuntimeError):
    """Another sandbox server holds the data directory."""


class DataDirLock:
    """An exclusive lock on `data_dir` for as long as it is held (a context manager)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, retrying for up to `wait` seconds; raise DataDirBusyError if held."""
        private_directory(self.path.parent)
        fd = open_private(self.path, os.O_RDWR)
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = _read_holder(fd)
                os.close(fd)
                raise DataDirBusyError(
                    f"another sandbox server{f' (pid {holder})' if holder else ''} is using "
                    f"{self.path.parent}; stop it, or start this one with another --data"
                )
            # A blocking CLI step before the server starts: the other holder is
            # usually a server finishing its shutdown.
            time.sleep(POLL_SECONDS)
        # Who holds it, for the message a second server prints.
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let another server have the data directory."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return str(int(os.read(fd, 32).decode("ascii").strip()))
    return ""


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        # One byte past any content: Windows locks are mandatory, and the pid is read
        # from the start of the file.
        os.lseek(fd, 64, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 64, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
