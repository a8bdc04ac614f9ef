"""The pipeline scheduler: one asyncio task that applies due simulation steps on time.

Routes also apply due steps of the pipelines they touch (see `pipeline_runs`), so the
scheduler is what makes steps happen, and events appear, while nobody is asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from console.sandbox.logs.model import LogSignal
from console.sandbox.pipelines import runs as pipeline_runs
from console.sandbox.settings import PipelineTiming
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import now

logger = logging.getLogger("console.sandbox")

# The longest the scheduler sleeps, so a clock jump or a missed wake-up costs at most this.
MAX_IDLE_SECONDS = 1.0
# After an unexpected error, wait this long rather than spin.
ERROR_BACKOFF_SECONDS = 1.0


class PipelineScheduler:
    """Runs `pipeline_runs.advance` whenever the next step is due, until stopped."""

    def __init__(
        self, database: Database, timing: PipelineTiming, log_signal: LogSignal | None = None
    ) -> None:
        self.database = database
        self.timing = timing
        # Woken after a tick that applied steps (each step logs its events).
        self.log_signal = log_signal
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pipelines")

    def wake(self) -> None:
        """Re-plan now: a route scheduled a step (start, stop) sooner than the planned wake."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the task and wait for it (prompt: it only ever waits on sleep or one hop)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _tick(self, conn: sqlite3.Connection) -> tuple[int, float | None]:
        applied = pipeline_runs.advance(conn, self.timing, now())
        return applied, pipeline_runs.next_due(conn)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the hop, so a wake during it is not lost
            try:
                applied, due = await self.database.run(self._tick)
                if applied and self.log_signal is not None:
                    self.log_signal.notify()
            except Exception:
                logger.exception("the pipeline scheduler failed; retrying")
                due = now() + ERROR_BACKOFF_SECONDS
            timeout = MAX_IDLE_SECONDS if due is None else due - now()
            timeout = min(max(timeout, 0.0), MAX_IDLE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
