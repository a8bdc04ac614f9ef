"""The intent worker: one asyncio task that drains the durable queue in order, and polls.

Each round reads the oldest pending intents on a reader connection, marks them processing
(one writer hop), parses and checks their bodies on a parser thread (never the writer
thread), then applies them in chunks of at most `CHUNK_ITEMS` items, each chunk and its
outcome in one writer transaction. Intents left queued or processing by a killed server
are simply the oldest pending ones when it starts again, and go on from their last
committed chunk. Polling feeds get a poll queued every `IntentTiming.poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from console.sandbox.intents import queue
from console.sandbox.intents.apply import Prepared, apply_chunks, chunks_of, prepare
from console.sandbox.intents.queue import QueuedIntent
from console.sandbox.settings import IntentTiming
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import now

logger = logging.getLogger("console.sandbox")

# At most this many intents, and (unless one alone has more) items, per round.
BATCH_INTENTS = 64
BATCH_ITEMS = 5_000
# At most this many items per writer transaction: a large intent is applied in several, so
# the writer is held only briefly at a time (~50 ms for small items through the bulk
# upsert) and other requests get it in between.
CHUNK_ITEMS = 2_000
# The longest the worker sleeps with nothing to do (a missed wake-up costs at most this).
MAX_IDLE_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 1.0


def _prepare_all(batch: list[QueuedIntent]) -> list[Prepared]:
    return [prepare(queued) for queued in batch]


class IntentWorker:
    """Applies queued intents until stopped; `wake` after queueing one."""

    def __init__(
        self,
        database: Database,
        timing: IntentTiming,
        *,
        on_logged: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.timing = timing
        # Called (on the event loop) after a commit that inserted connector log entries.
        self.on_logged = on_logged
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intent-parse")
        self._next_poll_check = 0.0
        self._backlog = False
        # The next batch, read and prepared while the writer applies the current one.
        self._ahead: asyncio.Future[list[Prepared]] | None = None

    def start(self) -> None:
        """Start the task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="intents")

    def busy(self) -> bool:
        """Whether queued intents wait: the last look at the queue found some (the record
        indexer then yields the writer)."""
        return self._backlog

    def wake(self) -> None:
        """Look at the queue now: an intent was just committed."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the task and wait for it. An intent cut short stays pending and is applied
        (once) by the next start: its apply and outcome commit together or not at all."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
        self._parser.shutdown(wait=True)

    async def _read_and_prepare(self, after: int) -> list[Prepared]:
        """The next batch of pending intents after seq `after`, read and prepared."""
        batch = await self.database.read(
            partial(queue.pending, limit=BATCH_INTENTS, max_items=BATCH_ITEMS, after=after)
        )
        if not batch:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._parser, _prepare_all, batch)

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()

    async def drain_once(self) -> int:
        """Apply one batch of pending intents; return how many were applied (0: none).

        While the writer applies a batch, the next one (the intents after it) is read and
        prepared on the parser thread: every intent of a batch is finished when its chunks
        are applied, so the next batch is exactly what the queue holds after it. Should
        applying fail, that read-ahead is dropped and the queue read again."""
        ahead, self._ahead = self._ahead, None
        prepared = await ahead if ahead is not None else []
        if not prepared:
            prepared = await self._read_and_prepare(0)
        self._backlog = bool(prepared)
        if not prepared:
            return 0
        await self.database.run(
            partial(queue.mark_processing, seqs=[item.queued.seq for item in prepared], at=now())
        )
        self._ahead = asyncio.ensure_future(self._read_and_prepare(prepared[-1].queued.seq))
        applied = 0
        try:
            for chunks in chunks_of(prepared, CHUNK_ITEMS):
                applied += await self.database.run(partial(apply_chunks, chunks=chunks, at=now()))
        except BaseException:
            self._drop_ahead()
            raise
        return applied

    async def poll_if_due(self) -> None:
        """Queue the polls that are due (asking a reader first, so the writer rarely is)."""
        at = now()
        if at < self._next_poll_check:
            return
        self._next_poll_check = at + min(self.timing.poll_seconds, MAX_IDLE_SECONDS)
        if await self.database.read(partial(queue.polls_due, at=at)):
            queued = await self.database.run(
                partial(queue.enqueue_polls, timing=self.timing, at=at)
            )
            if queued and self.on_logged is not None:
                self.on_logged()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the hop, so a wake during it is not lost
            try:
                await self.poll_if_due()
                if await self.drain_once():
                    continue
            except Exception:
                logger.exception("the intent worker failed; retrying")
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                continue
            timeout = min(MAX_IDLE_SECONDS, max(self._next_poll_check - now(), 0.01))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
