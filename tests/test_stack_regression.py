"""STACK_NOTES point 1: PySide6 6.12.0 aborts Python 3.11 after a few hundred slot calls.

Runs the measured reproduction in a child process. Lift the PySide6 pin only when this
passes on the newer release.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["QT_API"] = "pyside6"
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication
    import qasync

    class Emitter(QObject):
        fired = Signal(object)

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    received = []

    async def hops():
        for _ in range(20_000):
            await asyncio.sleep(0)
        emitter = Emitter()
        emitter.fired.connect(lambda value: received.append(value is None))
        for _ in range(100_000):
            emitter.fired.emit(None)

    with loop:
        loop.run_until_complete(hops())
    assert len(received) == 100_000 and all(received), len(received)
    print("ok")
    """
)


def test_qasync_hops_and_signal_emits_do_not_abort_the_process() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=110, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_pyside6_pin_is_below_the_crashing_release() -> None:
    from importlib.metadata import version

    major, minor, *_ = (int(part) for part in version("PySide6-Essentials").split(".")[:3])
    assert (major, minor) < (6, 12), "lift the pin only after the regression test passes"
