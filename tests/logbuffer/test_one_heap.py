"""`share_one_heap`: worker threads allocate from the main C heap (glibc), so the trim
after a load reaches their freed memory too."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A thread's first allocation gets it an arena of its own unless the limit says otherwise;
# malloc_info lists one <heap nr=...> element per arena.
_PROBE = textwrap.dedent(
    """
    import ctypes, os, sys, tempfile, threading
    if sys.argv[1] == "shared":
        from console.common.heap import share_one_heap
        share_one_heap()
    kept = []
    def allocate():
        kept.extend(bytearray(4000) for _ in range(100))
    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    path = os.path.join(tempfile.mkdtemp(), "info.xml")
    out = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(open(path).read().count("<heap nr="))
    """
)


def _arenas(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_worker_threads_share_the_main_heap() -> None:
    assert _arenas("default") == 2  # the probe sees a thread's own arena when there is one
    assert _arenas("shared") == 1
