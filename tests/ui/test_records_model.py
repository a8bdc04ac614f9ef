"""RecordsTableModel over an in-memory page source: paging, stale answers, bounded memory.

The page source here is a list in memory that answers like the server (keyset cursors,
`limit`): what is under test is the model's bookkeeping. The tab's tests drive the same
model against the real sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.qtbot import QtBot

from console.ui.records.model import PLACEHOLDER, RECORD_ROLE, RecordsTableModel
from console.ui.tasks import TaskRunner

pytestmark = pytest.mark.gui


@dataclass(frozen=True)
class FakeRecord:
    guid: str
    system_id: str | None
    data: dict[str, Any]
    version: int = 1700000000
    updated_at: float = 1700000000.0
    deleted: bool = False


@dataclass(frozen=True)
class FakePage:
    items: list[FakeRecord]
    next_cursor: str | None


@dataclass
class MemorySource:
    """Answers pages of `records` by cursor (the index of the first row), like the server."""

    records: list[FakeRecord]
    asked: list[tuple[str | None, int]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    finished: int = 0  # calls over, answered or cancelled

    async def __call__(self, cursor: str | None, limit: int) -> FakePage:
        self.asked.append((cursor, limit))
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
        finally:
            self.finished += 1
        start = int(cursor) if cursor else 0
        items = self.records[start : start + limit]
        end = start + len(items)
        return FakePage(items, str(end) if end < len(self.records) else None)


def records(count: int, prefix: str = "r") -> list[FakeRecord]:
    return [
        FakeRecord(f"{prefix}-{i:06d}", f"S{i}", {"name": f"n{i}", "total": i, "tags": ["a"]})
        for i in range(count)
    ]


@pytest.fixture
def model(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> Any:
    runner = TaskRunner()
    errors: list[BaseException] = []
    runner.failed.connect(errors.append)
    table = RecordsTableModel(runner.start, max_rows=1000, first_page_rows=50, more_page_rows=200)
    yield table
    assert not errors
    shutdown = asyncio.ensure_future(runner.shutdown())
    qtbot.waitUntil(shutdown.done)


def test_first_page_only_then_more_on_demand(qtbot: QtBot, model: RecordsTableModel) -> None:
    source = MemorySource(records(1000))
    with qtbot.waitSignal(model.first_page_loaded):
        model.load(source)
    assert model.rowCount() == 50
    assert source.asked == [(None, 50)]
    assert model.columns == (
        "guid",
        "system_id",
        "name",
        "total",
        "tags",
        "version",
        "updated",
        "deleted",
    )
    assert model.index(3, 2).data() == "n3"
    assert model.index(3, 4).data() == '["a"]'
    assert model.index(3, 0).data(RECORD_ROLE).guid == "r-000003"
    assert model.canFetchMore(QModelIndex())
    with qtbot.waitSignal(model.page_loaded):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == 250
    assert source.asked[-1] == ("50", 200)


def test_answer_for_an_older_query_is_never_shown(qtbot: QtBot, model: RecordsTableModel) -> None:
    slow = MemorySource(records(10, "old"), gate=asyncio.Event())
    fast = MemorySource(records(10, "new"))
    model.load(slow)
    qtbot.waitUntil(lambda: len(slow.asked) == 1)
    with qtbot.waitSignal(model.first_page_loaded):
        model.load(fast)
    assert slow.gate is not None
    slow.gate.set()  # the old query's request was cancelled: even if it answered, dropped
    qtbot.waitUntil(lambda: slow.finished == 1)
    qtbot.wait(10)  # a late answer would be applied in the turns right after it
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == [
        f"new-{i:06d}" for i in range(10)
    ]


def test_memory_is_bounded_and_dropped_pages_come_back_by_their_cursor(
    qtbot: QtBot, model: RecordsTableModel
) -> None:
    source = MemorySource(records(5000))
    with qtbot.waitSignal(model.first_page_loaded):
        model.load(source)
    while model.canFetchMore(QModelIndex()):
        with qtbot.waitSignal(model.page_loaded):
            model.fetchMore(QModelIndex())
        assert model.rows_held <= model.max_rows + model.more_page_rows
    assert model.rowCount() == 5000
    assert model.at_end
    # The first page was dropped long ago: reading it shows a placeholder and asks again
    # with the cursor that first fetched it.
    assert model.index(10, 0).data() == PLACEHOLDER
    with qtbot.waitSignal(model.page_loaded):
        pass
    assert model.index(10, 0).data() == "r-000010"
    assert source.asked[-1] == (None, 50)
    assert model.stats.refills == 1
    assert model.rows_held <= model.max_rows + model.more_page_rows


def test_update_record_changes_the_row_in_place(qtbot: QtBot, model: RecordsTableModel) -> None:
    source = MemorySource(records(20))
    with qtbot.waitSignal(model.first_page_loaded):
        model.load(source)
    archived = replace(source.records[4], deleted=True)
    with qtbot.waitSignal(model.dataChanged):
        assert model.update_record(archived)
    deleted_column = model.columns.index("deleted")
    assert model.index(4, deleted_column).data() == "archived"
    assert model.index(4, 0).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert not model.update_record(FakeRecord("elsewhere", None, {}))
