"""The UI's async helpers."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from console.ui.tasks import signal_future


class _Emitter(QObject):
    first = Signal()
    second = Signal(int)


def _receivers(emitter: _Emitter) -> int:
    return emitter.receivers("2first()") + emitter.receivers("2second(int)")


def test_signal_future_completes_on_any_signal_and_then_lets_go(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    emitter = _Emitter()
    future = signal_future(emitter.first, emitter.second)
    assert _receivers(emitter) == 2
    emitter.second.emit(7)  # before anyone awaits: not missed
    assert future.done()
    qtbot.waitUntil(lambda: _receivers(emitter) == 0, timeout=2000)  # done callbacks ran


def test_a_cancelled_signal_future_disconnects(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    emitter = _Emitter()
    future = signal_future(emitter.first)
    future.cancel()
    emitter.first.emit()  # before the callback runs: must not touch the cancelled future
    qtbot.waitUntil(lambda: _receivers(emitter) == 0, timeout=2000)
    assert future.cancelled()
