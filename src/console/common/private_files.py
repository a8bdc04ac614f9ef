"""Files only their owner may open: directories 0700, files 0600, whatever the umask.

The sandbox's database holds key hashes and the console's log and settings describe the
user's connections: none of it is for other local users. Modes are set explicitly after
creation, because `mkdir(mode=...)` and `os.open(..., mode)` are narrowed by the umask but
never widened, and a pre-existing file keeps whatever mode it had.
On Windows `chmod` only toggles read-only; the per-user profile directories protect them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
# Files SQLite keeps beside a database; it creates them with the database file's own mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Create `path` if missing (with any missing parents) and make it 0700.

    Parents that already exist keep their mode: they are the user's (a home directory,
    `~/.local/state`); parents created here are the console's own and are made 0700 too.
    """
    missing = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=PRIVATE_DIRECTORY)
        os.chmod(directory, PRIVATE_DIRECTORY)
    os.chmod(path, PRIVATE_DIRECTORY)
    return path


def open_private(path: Path, flags: int) -> int:
    """`os.open` creating `path` 0600 (and tightening it to 0600 if it existed)."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, PRIVATE_FILE)
        else:
            os.chmod(path, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, in a 0700 directory, and make it 0600."""
    private_directory(path.parent)
    os.close(open_private(path, os.O_WRONLY))
    return path


def private_database(path: Path) -> Path:
    """Make an SQLite database, its directory and any WAL, SHM or journal file private.

    SQLite creates the side files with the database file's mode (overriding the umask),
    so a 0600 database keeps the ones made later private; existing ones are tightened.
    """
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), PRIVATE_FILE)
    return path
