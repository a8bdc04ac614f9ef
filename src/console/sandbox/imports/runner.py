"""The import runner: one asyncio task working through queued imports, one at a time.

Per import: the file's rows are parsed on a worker thread (never the writer
or the event loop), `batch_rows` rows at a time; while the writer applies batch k through
the records store (one transaction: the upserts, the row errors and the progress), the
worker already parses batch k + 1. Each batch's transaction first checks that the import
is still running, so a cancel (itself a write on the same writer thread) stops it exactly
at a batch boundary. The uploaded file is removed when the import ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from console.common.private_files import private_directory
from console.sandbox.imports import store
from console.sandbox.imports.bulk import Prepared as PreparedItem
from console.sandbox.imports.bulk import apply_prepared, prepare
from console.sandbox.imports.rows import Batch, RowError, batches
from console.sandbox.logs.model import MAX_ENTRY_ERRORS
from console.sandbox.logs.store import set_status
from console.sandbox.records.store import Actor, FeedRef, system_id_of
from console.sandbox.settings import ImportSettings
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import now

logger = logging.getLogger("console.sandbox")
# A batch's items ready for the writer, and its row errors so far.
Prepared = tuple[list[PreparedItem], list[RowError]]

UPLOADS_DIRECTORY = "imports"


def uploads_directory(data_dir: Path) -> Path:
    """Where uploads wait for their import (0700, inside the data dir)."""
    return Path(data_dir) / UPLOADS_DIRECTORY


@dataclass(frozen=True)
class ImportJob:
    """One queued import: its row, its file and how to apply its rows."""

    seq: int
    path: Path
    file_format: str
    start_row: int
    feed: FeedRef  # with the import's id_field
    actor: Actor


def _apply(job: ImportJob, batch: Batch, work: Prepared, conn: sqlite3.Connection) -> bool:
    """Apply one batch (writer thread); False when the import is no longer running."""
    if store.status_of(conn, job.seq) != "running":
        return False
    items, errors = work
    applied = apply_prepared(conn, job.feed, items, job.actor, now())
    store.record_progress(
        conn,
        job.seq,
        processed=batch.size,
        created=applied.created,
        updated=applied.updated,
        unchanged=applied.unchanged,
        errors=[*errors, *(applied.errors or [])],
        last_row=batch.last_row,
    )
    return True


def settle_log_entry(conn: sqlite3.Connection, seq: int) -> None:
    """Bring the import's connector log entry in line with the import (writer thread, the
    caller's transaction): running is processing; succeeded, partially_failed and failed
    carry over with the row errors (the first 100, `item` = row number); cancelled and
    interrupted are failed, with an error saying so first (docs/api.md, D10)."""
    row = conn.execute(
        "SELECT log_id, status, failed, last_row FROM imports WHERE seq = ?", (seq,)
    ).fetchone()
    if row is None or row["log_id"] is None or row["status"] == "queued":
        return
    log_ids = [int(row["log_id"])]
    status = str(row["status"])
    if status == "running":
        set_status(conn, log_ids, "processing")
        return
    last_row = int(row["last_row"])
    notes: list[dict[str, Any]] = []
    if status == "cancelled":
        notes.append(
            {"item": None, "field": None,
             "message": f"The import was cancelled: rows up to {last_row} were applied, "
             "later rows were not."}
        )  # fmt: skip
    elif status == "interrupted":
        notes.append(
            {"item": None, "field": None,
             "message": f"The import was interrupted (the server stopped): rows up to "
             f"{last_row} were applied; resume with start_row {last_row + 1}."}
        )  # fmt: skip
    # The import's own failures (row NULL) first, then the rows' errors.
    fatal = conn.execute(
        "SELECT row, field, message FROM import_errors WHERE import_seq = ? AND row IS NULL",
        (seq,),
    ).fetchall()
    rows = conn.execute(
        "SELECT row, field, message FROM import_errors WHERE import_seq = ?"
        " AND row IS NOT NULL ORDER BY rowid LIMIT ?",
        (seq, MAX_ENTRY_ERRORS),
    ).fetchall()
    for error in (*fatal, *rows):
        notes.append({"item": error["row"], "field": error["field"], "message": error["message"]})
    failed = int(row["failed"]) + len(fatal) + (status in ("cancelled", "interrupted"))
    final = status if status in ("succeeded", "partially_failed") else "failed"
    set_status(conn, log_ids, final, errors=notes[:MAX_ENTRY_ERRORS], error_count=failed)


def _begin(conn: sqlite3.Connection, seq: int, at: float) -> bool:
    """store.begin, and the import's entry moves to processing."""
    started = store.begin(conn, seq, at)
    if started:
        settle_log_entry(conn, seq)
    return started


def _finish(conn: sqlite3.Connection, seq: int, at: float, *, fatal: str | None = None) -> None:
    """store.finish, and the import's entry takes its final status."""
    store.finish(conn, seq, at, fatal=fatal)
    settle_log_entry(conn, seq)


def _interrupt(conn: sqlite3.Connection, at: float) -> int:
    """store.interrupt_active, and the interrupted imports' entries are failed."""
    seqs = [
        int(row[0])
        for row in conn.execute(
            "SELECT seq FROM imports WHERE status IN ('queued', 'running') AND log_id IS NOT NULL"
        )
    ]
    count = store.interrupt_active(conn, at)
    for seq in seqs:
        settle_log_entry(conn, seq)
    return count


def _next_batch(
    iterator: Generator[Batch, None, None], feed: FeedRef
) -> tuple[Batch, Prepared] | None:
    """The next batch, parsed and prepared (parse thread), or None at the end."""
    batch = next(iterator, None)
    return None if batch is None else (batch, prepare(batch, feed))


class ImportRunner:
    """Runs queued imports in order, in the background of the server."""

    def __init__(self, database: Database, settings: ImportSettings) -> None:
        self.database = database
        self.settings = settings
        self.directory = uploads_directory(database.data_dir)
        self._queue: asyncio.Queue[ImportJob] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-import")
        self.current: int | None = None  # seq of the import being worked on

    async def start(self) -> None:
        """Recover from a previous server's end, then start working (after `open`).

        Imports a killed server left queued or running are marked interrupted (their
        last_row is exact: resume with start_row = last_row + 1), and their files removed.
        """
        await self.database.run(lambda conn: _interrupt(conn, now()))
        private_directory(self.directory)
        self._remove_uploads()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="imports")

    def running(self) -> bool:
        """Whether an import is being worked on (the record indexer defers its field pass
        meanwhile)."""
        return self.current is not None

    def submit(self, job: ImportJob) -> None:
        """Queue an import (its row is committed, status queued); the runner owns its file."""
        self._queue.put_nowait(job)

    async def stop(self) -> None:
        """Stop working: an import in progress stops after its current batch and, like any
        still queued, is marked interrupted; every upload is removed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.database.run(lambda conn: _interrupt(conn, now()))
        # Not waiting for a parse in progress: its file is removed under it (POSIX keeps
        # it readable until closed; elsewhere the next start removes it).
        self._parser.shutdown(wait=False, cancel_futures=True)
        self._remove_uploads()

    def _remove_uploads(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            for path in self.directory.iterdir():
                with contextlib.suppress(OSError):
                    path.unlink()

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            self.current = job.seq
            try:
                await self._process(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.exception("import %s failed", job.seq)
                message = f"the import stopped on an internal error ({type(exc).__name__})"
                with contextlib.suppress(Exception):
                    await self.database.run(partial(_finish, seq=job.seq, at=now(), fatal=message))
            finally:
                self.current = None
                with contextlib.suppress(OSError):
                    job.path.unlink()

    async def _process(self, job: ImportJob) -> None:
        loop = asyncio.get_running_loop()
        if not await self.database.run(partial(_begin, seq=job.seq, at=now())):
            return  # cancelled while queued
        iterator: Generator[Batch, None, None] = batches(
            job.path,
            job.file_format,
            job.feed.id_field,
            start_row=job.start_row,
            size=self.settings.batch_rows,
            system_id_of=system_id_of,
        )
        pending: asyncio.Future[tuple[Batch, Prepared] | None] | None = None
        try:
            pending = loop.run_in_executor(self._parser, _next_batch, iterator, job.feed)
            while True:
                ready = await pending
                if ready is None:
                    break
                # Parse the next batch while the writer applies this one.
                pending = loop.run_in_executor(self._parser, _next_batch, iterator, job.feed)
                if not await self.database.run(partial(_apply, job, *ready)):
                    return  # cancelled
            await self.database.run(partial(_finish, seq=job.seq, at=now()))
        finally:
            if pending is not None:
                pending.cancel()
            # After any `next` still running on the parser thread (one thread: in order).
            self._parser.submit(iterator.close)
