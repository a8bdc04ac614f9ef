"""One C heap for every thread (glibc only), set at process start before any thread.

glibc gives threads that allocate at once heaps (arenas) of their own. The Ingest Logs
load parses its pages and fills the buffer on worker threads, so their temporaries land
in such arenas, and `malloc_trim` never gives back the free top of an arena other than
the main one: measured with the tab loading 1,000,000 entries from the sandbox, 8-9 MB
of free but resident memory in three thread arenas after the load (201.5 -> 194.1 MB of
RSS with one arena; filters no slower). An arena made before the limit stays, hence the
call before the first thread starts. Nothing imported here the first paint waits for
(numpy, the log buffer): the app calls it at start-up.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

_M_ARENA_MAX: Final = -8  # glibc's mallopt parameter number (malloc.h)


def share_one_heap() -> None:
    """Make every thread allocate from the main heap, which `malloc_trim` trims whole."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_ARENA_MAX, 1)
