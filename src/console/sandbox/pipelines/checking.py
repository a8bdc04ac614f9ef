"""Definition checks and conversions off the database threads and off the event loop.

Parsing and validating a definition costs ~40 ms for 1,000 tables and ~0.6 s for a
0.7 MB document, and converting it to YAML ~1 s more; done on the one writer thread it
made every other account's request queue behind it. Small documents are checked in a
thread pool: a few ms of held GIL is harmless. Large ones go to a small pool of spawned
processes: a thread running 0.6 s of pure-Python parsing would hold the GIL the event
loop needs (each GIL hand-over waits up to the 5 ms switch interval, many times per
request), where a process shares only the cores, at a lower priority than the server.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from console.definition import Catalog
from console.sandbox.http.errors import ApiError, Problem
from console.sandbox.pipelines.store import (
    AcceptedDefinition,
    DefinitionFormat,
    SubmittedDefinition,
    check_definition,
    convert_stored,
)

T = TypeVar("T")
logger = logging.getLogger("console.sandbox")

# Above this many characters a definition is checked in a child process (~50 ms of work).
LARGE_DOCUMENT_CHARS = 64 * 1024
# How much lower than the server's a child's CPU priority is (Unix nice increment).
CHILD_NICENESS = 5
# How often a worker checks that the server that started it still runs.
PARENT_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Rejected:
    """A picklable `ApiError` (exceptions with keyword-only fields do not pickle)."""

    status: int
    problems: list[Problem]


def _check(
    submitted: SubmittedDefinition, catalog: Catalog, convert_it: bool
) -> AcceptedDefinition | _Rejected:
    try:
        return check_definition(submitted, catalog, convert_it=convert_it)
    except ApiError as error:
        return _Rejected(error.status, error.problems)


def _start_worker(server_pid: int) -> None:
    """Worker start-up: yield the cores to the server's requests; end when the server does.

    A server stopped normally shuts the pool down; one killed outright (SIGKILL, a crash)
    cannot, and a worker blocked on its task queue would live on as an orphan. So each
    worker watches its parent and exits once it is gone (it is then re-parented).
    """
    if hasattr(os, "nice"):
        os.nice(CHILD_NICENESS)

    def exit_with_server() -> None:
        while os.getppid() == server_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=exit_with_server, name="exit-with-server", daemon=True).start()


def process_workers() -> int:
    """One child per two cores (at least one): the rest stays with the server's requests."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class DefinitionChecker:
    """Runs definition checks and conversions in a thread (small) or a process (large)."""

    def __init__(
        self, *, threads: int = 2, processes: int | None = None, large_chars: int | None = None
    ) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sandbox-cpu")
        self._process_count = processes or process_workers()
        self._large_chars = LARGE_DOCUMENT_CHARS if large_chars is None else large_chars
        # Started on the first large document: most servers never see one.
        self._processes: ProcessPoolExecutor | None = None

    async def check(
        self, submitted: SubmittedDefinition, catalog: Catalog, *, convert_it: bool = True
    ) -> AcceptedDefinition:
        """Validate (and convert, for storing) a definition; raise its 400 or 422."""
        outcome = await self._run(len(submitted.text), _check, submitted, catalog, convert_it)
        if isinstance(outcome, _Rejected):
            raise ApiError(outcome.status, outcome.problems)
        return outcome

    async def convert_stored(
        self, text: str, stored_format: DefinitionFormat, canonical: str
    ) -> str | None:
        """`store.convert_stored`, off the event loop (rows stored before conversion at write)."""
        return await self._run(len(text), convert_stored, text, stored_format, canonical)

    async def _run(self, size: int, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        executor: Executor = self._threads
        if size > self._large_chars:
            executor = self._process_pool()
        try:
            return await loop.run_in_executor(executor, function, *args)
        except BrokenProcessPool:
            # A child died (killed, out of memory): start afresh next time, and do this
            # one in a thread rather than fail a request that did nothing wrong.
            logger.warning("a definition-check child process died; restarting the pool")
            self._drop_process_pool()
            return await loop.run_in_executor(self._threads, function, *args)

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._processes is None:
            self._processes = ProcessPoolExecutor(
                max_workers=self._process_count,
                # spawn, not fork: the server has threads (and SQLite handles) a fork
                # would copy in whatever state they are in.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._processes

    def _drop_process_pool(self) -> None:
        pool, self._processes = self._processes, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the pools; a check in flight in a child finishes there, unanswered."""
        self._drop_process_pool()
        self._threads.shutdown(wait=False, cancel_futures=True)
