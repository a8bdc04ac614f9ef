"""One task runner for every coroutine the UI starts.

It keeps a strong reference to each task (qasync keeps none), cancels the previous
task of the same name (a newer refresh supersedes an older one), reports failures in
the window instead of a silent traceback, and cancels everything on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal, SignalInstance

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    """Starts, tracks and cancels the UI's coroutines."""

    failed = Signal(object)  # the exception of a task that failed
    idle_changed = Signal(bool)  # True when no task runs

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._named: dict[str, asyncio.Task[Any]] = {}

    def start(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Schedule `coro`; a running task with the same `name` is cancelled first."""
        if name is not None and (previous := self._named.get(name)) is not None:
            previous.cancel()
        task = asyncio.ensure_future(coro)
        was_idle = not self._tasks
        self._tasks.add(task)
        if name is not None:
            self._named[name] = task
        task.add_done_callback(lambda done: self._finished(done, name))
        if was_idle:
            self.idle_changed.emit(False)
        return task

    @property
    def names(self) -> set[str]:
        """Names of the named tasks still running."""
        return set(self._named)

    @property
    def running(self) -> int:
        """How many tasks are still running."""
        return len(self._tasks)

    def cancel(self, name: str) -> None:
        """Cancel the running task called `name`, if any."""
        task = self._named.get(name)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        """Cancel every task (window closing, connection switching)."""
        for task in list(self._tasks):
            task.cancel()

    async def shutdown(self) -> None:
        """Cancel every task and wait until each has finished unwinding."""
        self.cancel_all()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _finished(self, task: asyncio.Task[Any], name: str | None) -> None:
        if not shiboken6.isValid(self):
            return  # the window is gone; nobody is left to tell
        self._tasks.discard(task)
        if name is not None and self._named.get(name) is task:
            del self._named[name]
        if not self._tasks:
            self.idle_changed.emit(True)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("task %s failed: %s", name or task.get_name(), error, exc_info=error)
            self.failed.emit(error)


def signal_future(*signals: SignalInstance) -> asyncio.Future[None]:
    """A future done at the first emission of any of `signals`.

    It connects at once, so an emission between now and the `await` is not missed, and
    disconnects when done (or cancelled).
    """
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fired(*_args: object) -> None:
        if not future.done():
            future.set_result(None)

    for signal in signals:
        signal.connect(fired)

    def disconnect(_done: asyncio.Future[None]) -> None:
        for signal in signals:
            with contextlib.suppress(RuntimeError):  # the sender may be gone already
                signal.disconnect(fired)

    future.add_done_callback(disconnect)
    return future
