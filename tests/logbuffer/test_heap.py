"""The C heap gives freed million-row temporaries back (glibc; see `bound_heap`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Without a fixed mmap threshold, glibc raises it when the 16 MiB block is freed, then
# serves the 6 MiB blocks from the heap: freeing them leaves ~60 MiB resident.
_PROBE = """
import numpy as np
from console.logbuffer.buffer import bound_heap
if {bounded}:
    bound_heap()
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096
big = np.ones(16 << 20, np.uint8)
del big
before = rss()
held = [np.ones(6 << 20, np.uint8) for _ in range(10)]
del held[::2]  # every other one: the heap's freed middles, not its top
print(rss() - before)
"""


def _resident_after_frees(bounded: bool) -> int:
    code = _PROBE.format(bounded=bounded)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_big_blocks_leave_the_process() -> None:
    # Five 6 MiB blocks are still held: 30 MiB; the freed five must not stay resident.
    assert _resident_after_frees(bounded=True) < 36 << 20
    assert _resident_after_frees(bounded=False) > 54 << 20  # the probe shows the problem
