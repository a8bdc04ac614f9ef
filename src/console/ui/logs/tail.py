"""Live tail of the Ingest Logs tab: new entries from the server's stream into the buffer,
in batches the UI thread can take without stalling.

The stream task only appends to a bounded hold (`PendingEntries`); a 100 ms timer hands what
is held to `LogBuffer.add_newer` (one `entries_added` a batch, so the view does one model
insert a batch). Paused, entries keep arriving and are held, not added: the view keeps still
and says "N new" (`pending_changed`); resuming delivers them in arrival order. Held beyond
the cap, the oldest are dropped and counted (`dropped_changed`). Every 2 s the statuses of
held non-final entries are refreshed (`entries_updated` names the slots to repaint).
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QObject, QTimer, Signal

from console.api.errors import ApiError
from console.api.logs import LogFilters, LogsApi
from console.logbuffer.buffer import LogBuffer
from console.logbuffer.tail_feed import (
    MAX_PENDING,
    PendingEntries,
    StatusRefresher,
    follow_stream,
)

log = logging.getLogger(__name__)

BATCH_INTERVAL_MS = 100
REFRESH_INTERVAL_MS = 2000
# At most this many entries per batch: a resume after a long pause catches up over a few
# ticks (5,000 a second) instead of one long stall.
MAX_BATCH = 500

LIVE, RECONNECTING, PAUSED, STOPPED = "live", "reconnecting", "paused", "stopped"


class LiveTail(QObject):
    """Follows the log stream into a `LogBuffer` (start, pause, resume, stop)."""

    entries_added = Signal(object)  # AddResult of one batch given to buffer.add_newer
    entries_updated = Signal(object)  # list[int]: buffer slots whose status was refreshed
    state_changed = Signal(str)  # "live", "reconnecting", "paused", "stopped"
    dropped_changed = Signal(int)  # entries dropped since start (more arrived than held)
    pending_changed = Signal(int)  # entries received but not yet added ("N new" paused)
    failed = Signal(str)  # the stream was refused (a wrong key, a bad filter): stopped

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        max_pending: int = MAX_PENDING,
        batch_interval_ms: int = BATCH_INTERVAL_MS,
        refresh_interval_ms: int = REFRESH_INTERVAL_MS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        super().__init__(parent)
        self.max_pending = max_pending
        self.max_batch = max_batch
        self._pending = PendingEntries(max_pending)
        self._buffer: LogBuffer | None = None
        self._refresher: StatusRefresher | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[list[int]] | None = None
        self._connected = True
        self._paused = False
        self._state = STOPPED
        self._reported_dropped = 0
        self._reported_pending = 0
        self._batch_timer = QTimer(self)
        self._batch_timer.setInterval(batch_interval_ms)
        self._batch_timer.timeout.connect(self._deliver)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(refresh_interval_ms)
        self._refresh_timer.timeout.connect(self._start_refresh)

    # -- what it is doing ------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "live", "reconnecting", "paused" or "stopped"."""
        return self._state

    @property
    def running(self) -> bool:
        """Whether the stream task is alive (started and not stopped or failed)."""
        return self._stream_task is not None and not self._stream_task.done()

    @property
    def dropped(self) -> int:
        """Entries dropped since start because more arrived than could be held."""
        return self._pending.dropped

    @property
    def pending(self) -> int:
        """Entries received and not yet added to the buffer."""
        return len(self._pending)

    @property
    def received(self) -> int:
        """Entries the stream delivered since start."""
        return self._pending.received

    @property
    def refresh_pages(self) -> int:
        """Pages the status refresh asked for since start."""
        return self._refresher.requests if self._refresher is not None else 0

    # -- control ---------------------------------------------------------------------

    def start(
        self,
        logs: LogsApi,
        buffer: LogBuffer,
        filters: LogFilters,
        after_id: int | None,
    ) -> None:
        """Follow entries after `after_id` (None: from now) matching `filters` into `buffer`."""
        self.stop()
        self._buffer = buffer
        self._pending = PendingEntries(self.max_pending)
        self._reported_dropped = self._reported_pending = 0
        self._refresher = StatusRefresher(logs, buffer, filters)
        self._connected = True  # until the stream says otherwise: it resumes from after_id
        self._paused = False
        task = asyncio.ensure_future(
            follow_stream(logs, self._pending, filters, after_id, self._on_connection)
        )
        task.add_done_callback(self._stream_ended)
        self._stream_task = task
        self._batch_timer.start()
        self._refresh_timer.start()
        self._set_state()

    def stop(self) -> None:
        """Stop following; entries received and not added are forgotten (a new start after
        the buffer's newest id gets them again)."""
        self._batch_timer.stop()
        self._refresh_timer.stop()
        for task in (self._stream_task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
        self._stream_task = None
        self._refresh_task = None
        self._pending.clear()
        self._report_counts()
        self._set_state()

    def pause(self) -> None:
        """Hold new entries instead of adding them (the user scrolled away)."""
        self._paused = True
        self._set_state()

    def resume(self) -> None:
        """Add what was held, then go on adding as entries arrive."""
        self._paused = False
        self._set_state()
        if self.running:
            self._deliver()

    async def shutdown(self) -> None:
        """Stop and wait until the connection is released."""
        tasks = [t for t in (self._stream_task, self._refresh_task) if t is not None]
        self.stop()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the work --------------------------------------------------------------------

    def _deliver(self) -> None:
        if not self._paused and self._buffer is not None and len(self._pending):
            entries = self._pending.take(self.max_batch)
            result = self._buffer.add_newer(entries)
            self.entries_added.emit(result)
        self._report_counts()

    def _report_counts(self) -> None:
        dropped, pending = self._pending.dropped, len(self._pending)
        if dropped != self._reported_dropped:
            self._reported_dropped = dropped
            self.dropped_changed.emit(dropped)
        if pending != self._reported_pending:
            self._reported_pending = pending
            self.pending_changed.emit(pending)

    def _start_refresh(self) -> None:
        if self._refresher is None or (
            self._refresh_task is not None and not self._refresh_task.done()
        ):
            return
        task = asyncio.ensure_future(self._refresher.refresh(on_updated=self.entries_updated.emit))
        task.add_done_callback(self._refreshed)
        self._refresh_task = task

    def _refreshed(self, task: asyncio.Task[list[int]]) -> None:
        if task is not self._refresh_task or task.cancelled():
            return
        self._refresh_task = None
        error = task.exception()
        if error is not None:
            # The next round tries again; a refusal of the stream itself stops the tail.
            log.warning("live tail: status refresh failed: %s", error)

    def _on_connection(self, connected: bool) -> None:
        self._connected = connected
        self._set_state()

    def _stream_ended(self, task: asyncio.Task[None]) -> None:
        if task is not self._stream_task:
            return  # a stopped or replaced stream
        self._stream_task = None
        self._batch_timer.stop()
        self._refresh_timer.stop()
        if not task.cancelled():
            error = task.exception()
            if error is not None:
                log.warning("live tail stopped: %s", error)
                message = error.message if isinstance(error, ApiError) else str(error)
                self.failed.emit(message or type(error).__name__)
        self._deliver_remaining()
        self._set_state()

    def _deliver_remaining(self) -> None:
        # What arrived before a failure is still shown, unless the user holds the view.
        while not self._paused and len(self._pending):
            self._deliver()
        self._report_counts()

    def _set_state(self) -> None:
        if not self.running:
            state = STOPPED
        elif self._paused:
            state = PAUSED
        else:
            state = LIVE if self._connected else RECONNECTING
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)
