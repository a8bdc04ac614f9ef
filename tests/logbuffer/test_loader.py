"""load_range against the real sandbox seeded with `--demo-logs`: pages into the buffer
until the range is covered or the buffer is full, with progress, and cancels cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import pytest

from console.api.logs import LogEntry, LogsApi
from console.api.transport import ApiClient
from console.logbuffer.buffer import BufferFilter, Column, LogBuffer
from console.logbuffer.loader import LoadProgress, load_range
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key
from tests.conftest import SUITE_RATE_LIMIT, run
from tests.logbuffer.entries import page

T = TypeVar("T")
SEEDED = 4500


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxProcess, str]]:
    """A sandbox with SEEDED demo log entries and an admin key of the demo account (no
    --demo: its pipelines would keep writing entries while a test compares)."""
    data_dir = tmp_path_factory.mktemp("logs-seeded")
    server = SandboxProcess(
        data_dir, demo=False, rate_limit=SUITE_RATE_LIMIT, extra_args=["--demo-logs", str(SEEDED)]
    )
    server.start(timeout=60)
    key = mint_key(data_dir, account="demo", kind="admin")
    yield server, key
    server.stop()


def server_ids(server: SandboxProcess, where: str = "1", *params: Any) -> list[int]:
    """The demo account's entry ids matching `where`, newest first (read from the file)."""
    conn = sqlite3.connect(database_path(server.data_dir))
    try:
        return [
            row[0]
            for row in conn.execute(
                "SELECT l.id FROM logs l JOIN accounts a ON a.id = l.account_id"
                f" WHERE a.name = 'demo' AND {where} ORDER BY l.id DESC",
                params,
            )
        ]
    finally:
        conn.close()


def with_logs(
    seeded: tuple[SandboxProcess, str], work: Callable[[LogsApi], Coroutine[Any, Any, T]]
) -> T:
    server, key = seeded
    assert server.base_url is not None
    url = server.base_url

    async def main() -> T:
        client = ApiClient(url, key)
        try:
            return await work(LogsApi(client))
        finally:
            await client.aclose()

    return run(main())


def held_ids(buffer: LogBuffer) -> list[int]:
    return [buffer.entry_id(int(slot)) for slot in buffer.select(BufferFilter()).slots]


def test_loads_every_entry_of_the_range_newest_first(
    seeded: tuple[SandboxProcess, str],
) -> None:
    buffer = LogBuffer()
    reports: list[LoadProgress] = []
    expected = server_ids(seeded[0])
    since = 0.0

    async def work(logs: LogsApi) -> LoadProgress:
        return await load_range(logs, buffer, since=since, until=None, on_progress=reports.append)

    final = with_logs(seeded, work)
    assert held_ids(buffer) == expected
    assert final.loaded == len(expected) >= SEEDED
    assert final.done
    assert final.pages == len(reports) >= SEEDED // 1000
    assert [r.loaded for r in reports] == sorted(r.loaded for r in reports)
    assert final.rate > 0
    assert final.eta_seconds() == 0.0
    first = reports[0]
    assert first.span is not None
    # Without `until`, the span ends at the first page's newest timestamp.
    first_page = buffer.select(BufferFilter()).slots[:1000]
    assert first.span == (since, max(buffer.column_values(first_page, Column.TIME)))  # type: ignore[type-var]


def test_loads_a_time_range_with_server_filters_exactly(
    seeded: tuple[SandboxProcess, str],
) -> None:
    server = seeded[0]
    conn = sqlite3.connect(database_path(server.data_dir))
    try:
        low, high = conn.execute("SELECT min(timestamp), max(timestamp) FROM logs").fetchone()
    finally:
        conn.close()
    since = low + (high - low) * 0.25
    until = low + (high - low) * 0.75
    buffer = LogBuffer()
    reports: list[LoadProgress] = []

    async def work(logs: LogsApi) -> LoadProgress:
        return await load_range(
            logs,
            buffer,
            since=since,
            until=until,
            page_size=300,
            on_progress=reports.append,
            feed="orders",
        )

    final = with_logs(seeded, work)
    expected = server_ids(
        server, "l.feed = 'orders' AND l.timestamp >= ? AND l.timestamp < ?", since, until
    )
    assert expected
    assert held_ids(buffer) == expected
    assert final.loaded == len(expected)
    # The ETA comes from the share of the range covered: known after the first page.
    assert any(r.eta_seconds() is not None for r in reports[:-1]) or len(reports) == 1
    assert all(0.0 <= (r.covered() or 0.0) <= 1.0 for r in reports)


def test_stops_when_the_buffer_is_full(seeded: tuple[SandboxProcess, str]) -> None:
    buffer = LogBuffer(capacity=2500)

    async def work(logs: LogsApi) -> LoadProgress:
        return await load_range(logs, buffer, since=None, until=None)

    final = with_logs(seeded, work)
    assert final.loaded == len(buffer) == 2500
    assert final.pages == 3
    assert held_ids(buffer) == server_ids(seeded[0])[:2500]


def test_cancelling_the_task_leaves_what_was_loaded_consistent(
    seeded: tuple[SandboxProcess, str],
) -> None:
    buffer = LogBuffer()

    async def work(logs: LogsApi) -> int:
        task: asyncio.Task[LoadProgress] | None = None

        def progress(report: LoadProgress) -> None:
            if report.pages == 2 and task is not None:
                task.cancel()

        task = asyncio.create_task(
            load_range(logs, buffer, since=None, until=None, on_progress=progress)
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(buffer)

    held = with_logs(seeded, work)
    assert held == 2000
    assert held_ids(buffer) == server_ids(seeded[0])[:2000]
    # The buffer goes on: live entries on top, a later load below.
    assert buffer.select(BufferFilter(feeds=frozenset({"orders"}))).generation == buffer.generation


class ThreadRecordingBuffer(LogBuffer):
    """A LogBuffer that notes which threads add pages and can hold an add midway."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def add_older(self, entries: Sequence[LogEntry]) -> int:
        self.threads.add(threading.get_ident())
        self.entered.set()
        assert self.release.wait(30)
        return super().add_older(entries)


def test_pages_are_added_off_the_event_loop(seeded: tuple[SandboxProcess, str]) -> None:
    buffer = ThreadRecordingBuffer()

    async def work(logs: LogsApi) -> int:
        await load_range(logs, buffer, since=None, until=None)
        return threading.get_ident()

    loop_thread = with_logs(seeded, work)
    assert buffer.threads
    assert loop_thread not in buffer.threads


def test_a_cancel_during_an_add_waits_for_the_whole_page(
    seeded: tuple[SandboxProcess, str],
) -> None:
    buffer = ThreadRecordingBuffer()
    buffer.release.clear()

    async def work(logs: LogsApi) -> tuple[int, int]:
        task = asyncio.create_task(load_range(logs, buffer, since=None, until=None))
        await asyncio.to_thread(buffer.entered.wait, 30)
        task.cancel()
        await asyncio.sleep(0)  # the cancellation reaches the task while the add is held
        held_when_cancelled = len(buffer)
        buffer.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return held_when_cancelled, len(buffer)

    before, after = with_logs(seeded, work)
    assert (before, after) == (0, 1000)
    assert held_ids(buffer) == server_ids(seeded[0])[:1000]


class CyclingServer:
    """A misbehaving server (the sandbox pages correctly, so it stands in for one): its
    cursors go round `cycle`, each page the entries `pages` names by cursor."""

    def __init__(self, pages: dict[str | None, tuple[list[LogEntry], str | None]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    async def query(self, *, cursor: str | None = None, **_filters: Any) -> Any:
        from console.api.pagination import Page

        self.asked.append(cursor)
        if len(self.asked) > 100:
            raise AssertionError("the loader keeps paging")
        items, following = self.pages[cursor]
        return Page(items=list(items), next_cursor=following)


@pytest.mark.parametrize(
    "pages",
    [
        # A → B → A: a cursor coming back after another one.
        {None: (page(91, 100), "A"), "A": (page(81, 90), "B"), "B": (page(71, 80), "A")},
        # Every page the same entries under a new cursor: nothing is ever added.
        {
            None: (page(91, 100), "c0"),
            **{f"c{n}": (page(91, 100), f"c{n + 1}") for n in range(200)},
        },
        # Empty pages with a cursor on, for ever.
        {None: (page(91, 100), "e0"), **{f"e{n}": ([], f"e{n + 1}") for n in range(200)}},
    ],
    ids=["cycling-cursors", "repeated-pages", "empty-pages"],
)
def test_a_server_whose_cursors_never_end_does_not_keep_the_loader_paging(
    pages: dict[str | None, tuple[list[LogEntry], str | None]],
) -> None:
    server = CyclingServer(pages)
    buffer = LogBuffer()
    progress = run(load_range(server, buffer, since=None, until=None))  # type: ignore[arg-type]
    assert progress.done
    assert len(server.asked) <= 12
    held = held_ids(buffer)
    assert held == sorted(set(held), reverse=True)
    assert held[0] == 100
