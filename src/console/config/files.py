"""Writing the console's own files so that a crash never leaves half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from console.common.private_files import private_directory


def write_json_atomically(path: Path, payload: Any, *, indent: int | None = None) -> None:
    """Write `payload` as JSON to a temp file beside `path`, then rename it over `path`."""
    # mkstemp creates the file 0600 whatever the umask, and the rename keeps that mode.
    private_directory(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=indent)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the old file is intact; drop the partial one
            os.unlink(tmp)
        raise
