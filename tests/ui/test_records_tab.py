"""The Records tab against the real sandbox: filters, selection, archive/restore, edits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.feeds import FeedsApi
from console.api.records import Record, RecordQuery, RecordsApi
from console.api.transport import ApiClient
from tests.conftest import run

pytestmark = pytest.mark.gui


def seed_feed(
    url: str,
    key: str,
    feed_id: str,
    count: int,
    *,
    method: str = "ingest",
    make: Callable[[int], dict[str, Any]] | None = None,
) -> list[Record]:
    """Create a feed and `count` records in it through the API layer (oldest first)."""

    def item(i: int) -> dict[str, Any]:
        return {"id": f"S{i:03d}", "status": "open" if i % 2 else "shipped", "total": i}

    async def seed() -> list[Record]:
        client = ApiClient(url, key)
        try:
            await FeedsApi(client).create(feed_id, feed_id.title(), method=method)
            api = RecordsApi(client)
            made = []
            for i in range(count):
                data = (make or item)(i)
                made.append((await api.upsert(feed_id, system_id=data["id"], data=data)).record)
            return made
        finally:
            await client.aclose()

    return run(seed())


def history_of(url: str, key: str, feed_id: str, guid: str) -> list[Any]:
    """The record's history as the server keeps it, newest first."""

    async def read() -> list[Any]:
        client = ApiClient(url, key)
        try:
            return list((await RecordsApi(client).history(feed_id, guid)).items)
        finally:
            await client.aclose()

    return run(read())


def open_records(qtbot: QtBot, window: Any, feed_id: str | None = None) -> Any:
    """Show the Records tab and wait for its first page (of `feed_id` if given)."""
    tab = window.records_tab
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        window.tabs.setCurrentWidget(tab)
    if feed_id is not None and tab.feed.id != feed_id:
        with qtbot.waitSignal(tab.records_loaded, timeout=15000):
            assert tab.select_feed(feed_id)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=15000)
    return tab


def shown_system_ids(tab: Any) -> list[str | None]:
    return [tab.model.record_at(row).system_id for row in range(tab.model.rowCount())]


def filter_by(qtbot: QtBot, tab: Any, edit: Any, text: str) -> None:
    """Type into a filter field and press Enter, as a user would; wait for the answer."""
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        edit.clear()
        qtbot.keyClicks(edit, text)
        qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_filtering_by_system_id_shows_that_one_record(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 30)
    tab = open_records(qtbot, window, "orders")
    assert tab.model.rowCount() == 30
    assert shown_system_ids(tab)[0] == "S029"  # newest first
    filter_by(qtbot, tab, tab.filter_bar.system_id_edit, "S007")
    assert shown_system_ids(tab) == ["S007"]
    assert "1 record match" in tab.summary_label.text()
    filter_by(qtbot, tab, tab.filter_bar.system_id_edit, "S999")
    assert tab.model.rowCount() == 0
    assert "No record matches" in tab.summary_label.text()


def test_field_filter_and_order_are_asked_of_the_server(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 12)
    tab = open_records(qtbot, window, "orders")
    bar = tab.filter_bar
    qtbot.waitUntil(lambda: bar.field_combo.findText("status") >= 0, timeout=10000)
    bar.field_combo.setCurrentText("status")
    qtbot.keyClicks(bar.value_edit, "open")
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        qtbot.mouseClick(bar.add_field_button, Qt.MouseButton.LeftButton)
    assert tab.query.fields == (("status", "open"),)
    assert shown_system_ids(tab) == [f"S{i:03d}" for i in (11, 9, 7, 5, 3, 1)]
    header = tab.table.horizontalHeader()
    updated = tab.model.columns.index("updated")
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        header.sectionClicked.emit(updated)  # what a click on the header sends
    assert tab.query.order == "updated_at"
    assert shown_system_ids(tab) == [f"S{i:03d}" for i in (1, 3, 5, 7, 9, 11)]
    assert header.sortIndicatorSection() == updated
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder


def test_archive_then_restore_changes_the_row_and_archived_view_says_who(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    records = seed_feed(sandbox_url, admin_key, "orders", 5)
    target = records[2]
    tab = open_records(qtbot, window, "orders")
    assert tab.select_guid(target.guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    assert tab.archive_button.isEnabled()
    assert not tab.restore_button.isEnabled()
    assert "Only archived" in tab.restore_button.toolTip()

    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    box = tab.confirm_box
    assert "S002" in box.text()
    assert target.guid in box.informativeText()
    with qtbot.waitSignal(tab.action_done, timeout=15000) as done:
        box.action_button.click()
    archived = done.args[0]
    assert archived.correlation_id.startswith("corr_")
    assert archived.correlation_id in tab.result_line.label.text()
    deleted_column = tab.model.columns.index("deleted")
    row = tab.model.row_of_guid(target.guid)
    assert tab.model.index(row, deleted_column).data() == "archived"
    assert tab.restore_button.isEnabled()
    assert not tab.archive_button.isEnabled()

    # The trash view: only archived records, and who archived this one.
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        tab.filter_bar.status_combo.setCurrentIndex(1)
    assert shown_system_ids(tab) == ["S002"]
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    assert tab.detail.archive_box.isVisibleTo(tab)
    text = tab.detail.archived_label.text()
    assert "Archived" in text
    assert "fdk_…" + admin_key[-4:] in text
    assert tab.detail.archive_correlation.value == archived.correlation_id

    qtbot.mouseClick(tab.restore_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(tab.action_done, timeout=15000) as done:
        tab.confirm_box.action_button.click()
    restored = done.args[0]
    assert restored.correlation_id != archived.correlation_id
    assert tab.model.index(tab.model.row_of_guid(target.guid), deleted_column).data() == ""
    qtbot.waitUntil(lambda: len(tab.detail.history_entries()) >= 3, timeout=10000)
    intents = [entry.changed for entry in tab.detail.history_entries()[:2]]
    assert intents == [("deleted",), ("deleted",)]
    correlations = [entry.correlation_id for entry in tab.detail.history_entries()[:2]]
    assert correlations == [restored.correlation_id, archived.correlation_id]


def test_an_edit_shows_the_exact_patch_first_and_sends_only_the_changed_fields(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    records = seed_feed(
        sandbox_url,
        admin_key,
        "orders",
        3,
        make=lambda i: {"id": f"S{i:03d}", "status": "open", "note": "x", "tags": [1, 2], "n": i},
    )
    target = records[1]
    tab = open_records(qtbot, window, "orders")
    assert tab.select_guid(target.guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    qtbot.mouseClick(tab.edit_button, Qt.MouseButton.LeftButton)
    dialog = tab.record_dialog
    edited = dict(target.data)
    edited["status"] = "shipped"
    del edited["note"]
    edited["tags"] = [1]
    dialog.editor.setPlainText(json.dumps(edited, indent=2))
    qtbot.mouseClick(dialog.primary_button, Qt.MouseButton.LeftButton)  # Review changes…
    assert dialog.pages.currentIndex() == 1
    shown = json.loads(dialog.patch_view.toPlainText())
    assert shown == {"data": {"status": "shipped", "note": None, "tags": [1]}}
    assert dialog.changed_label.text() == "Changed fields: note, status, tags (removed: note)"
    with qtbot.waitSignal(tab.action_done, timeout=15000) as done:
        qtbot.mouseClick(dialog.primary_button, Qt.MouseButton.LeftButton)  # Send patch
    result = done.args[0]
    assert result.record.data == {"id": "S001", "status": "shipped", "tags": [1], "n": 1}
    newest = history_of(sandbox_url, admin_key, "orders", target.guid)[0]
    assert sorted(newest.changed) == ["note", "status", "tags"]
    assert newest.correlation_id == result.correlation_id
    assert tab.detail.last_change.value == result.correlation_id


def test_edit_refuses_an_unchanged_record_and_a_changed_id_field(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    records = seed_feed(sandbox_url, admin_key, "orders", 2)
    tab = open_records(qtbot, window, "orders")
    assert tab.select_guid(records[0].guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    qtbot.mouseClick(tab.edit_button, Qt.MouseButton.LeftButton)
    dialog = tab.record_dialog
    qtbot.mouseClick(dialog.primary_button, Qt.MouseButton.LeftButton)
    assert dialog.pages.currentIndex() == 0
    assert "Nothing changed" in dialog.error_label.text()
    dialog.editor.setPlainText(json.dumps({**records[0].data, "id": "other"}))
    dialog.validate()
    assert not dialog.primary_button.isEnabled()
    assert "cannot change" in dialog.status_label.text()
    dialog.reject()


def test_new_record_validates_as_you_type_and_shows_its_correlation_id(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 2)
    tab = open_records(qtbot, window, "orders")
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    dialog = tab.record_dialog
    dialog.editor.setPlainText('{\n  "id": "N1",\n  "status": "open",,\n}')
    qtbot.waitUntil(lambda: "Line 3, column" in dialog.status_label.text(), timeout=5000)
    assert not dialog.primary_button.isEnabled()
    dialog.editor.setPlainText('{"status": "open"}')
    qtbot.waitUntil(lambda: "“id” is missing" in dialog.status_label.text(), timeout=5000)
    dialog.editor.setPlainText('{"id": "N1", "status": "open"}')
    qtbot.waitUntil(dialog.primary_button.isEnabled, timeout=5000)
    with (
        qtbot.waitSignal(tab.records_loaded, timeout=15000),
        qtbot.waitSignal(tab.action_done, timeout=15000) as done,
    ):
        qtbot.mouseClick(dialog.primary_button, Qt.MouseButton.LeftButton)
    result = done.args[0]
    assert result.text == "Created record N1"
    assert result.correlation_id.startswith("corr_")
    assert shown_system_ids(tab)[0] == "N1"
    assert tab.selected_record() is not None
    assert tab.selected_record().system_id == "N1"
    assert tab.current_guid == result.record.guid


def test_a_later_filter_wins_over_an_earlier_answer(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 10)
    tab = open_records(qtbot, window, "orders")
    real_page = RecordsApi.page
    held = asyncio.Event()
    answered: list[str] = []

    started: list[str] = []
    finished: list[str] = []

    async def page(self: RecordsApi, feed_id: str, query: RecordQuery, **kwargs: Any) -> Any:
        started.append(query.system_id)
        try:
            result = await real_page(self, feed_id, query, **kwargs)
            if query.system_id == "S001":
                await held.wait()  # the earlier filter's answer comes last
            answered.append(query.system_id)
            return result
        finally:
            finished.append(query.system_id)

    inserted: list[str | None] = []
    tab.model.rowsInserted.connect(
        lambda _parent, first, last: inserted.extend(
            tab.model.record_at(row).system_id for row in range(first, last + 1)
        )
    )
    RecordsApi.page = page  # type: ignore[method-assign]
    try:
        tab.filter_bar.system_id_edit.setText("S001")
        tab.apply_filters()
        qtbot.waitUntil(lambda: "S001" in started, timeout=10000)  # its request is out
        tab.filter_bar.system_id_edit.setText("S002")
        with qtbot.waitSignal(tab.records_loaded, timeout=15000):
            tab.apply_filters()
        held.set()
        qtbot.waitUntil(lambda: "S001" in finished, timeout=10000)
        qtbot.wait(50)  # a late answer would be applied in the turns right after it
    finally:
        RecordsApi.page = real_page  # type: ignore[method-assign]
    assert shown_system_ids(tab) == ["S002"]
    assert inserted == ["S002"]
    assert "S001" not in answered  # the earlier request was cancelled


def test_selection_survives_a_refresh_and_a_filter_that_hides_it(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    records = seed_feed(sandbox_url, admin_key, "orders", 8)
    target = records[3]
    tab = open_records(qtbot, window, "orders")
    assert tab.select_guid(target.guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        qtbot.mouseClick(tab.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    assert tab.selected_record() is not None
    assert tab.selected_record().guid == target.guid
    assert tab.detail.record.guid == target.guid

    filter_by(qtbot, tab, tab.filter_bar.system_id_edit, "S000")
    assert shown_system_ids(tab) == ["S000"]
    assert tab.selected_record() is None  # the row is not shown; nothing else is chosen
    assert tab.current_guid == target.guid
    assert tab.detail.record.guid == target.guid
    assert tab.detail.not_listed.isVisibleTo(tab)
    filter_by(qtbot, tab, tab.filter_bar.system_id_edit, "")
    assert tab.selected_record() is not None
    assert tab.selected_record().guid == target.guid


def test_fetch_buttons_apply_only_to_trigger_and_polling_feeds(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 1)
    tab = open_records(qtbot, window, "orders")
    assert not tab.fetch_button.isEnabled()
    assert "Only trigger and polling feeds" in tab.fetch_button.toolTip()
    assert not tab.fetch_list_button.isEnabled()


def test_trigger_fetch_shows_its_correlation_id_then_its_outcome(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "parcels", 1, method="trigger")
    tab = open_records(qtbot, window, "parcels")
    assert tab.fetch_button.isEnabled()
    assert tab.fetch_list_button.isEnabled()
    results: list[Any] = []
    tab.action_done.connect(results.append)

    qtbot.mouseClick(tab.fetch_button, Qt.MouseButton.LeftButton)
    dialog = tab.fetch_dialog
    assert not dialog.fetch_button.isEnabled()  # no id yet
    qtbot.keyClicks(dialog.id_edit, "P-77")
    qtbot.mouseClick(dialog.fetch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=20000)
    queued, finished = results
    assert queued.text == "Fetch of P-77 queued in Parcels"
    assert queued.correlation_id.startswith("corr_")
    assert finished.correlation_id == queued.correlation_id
    assert finished.text == "Fetch of P-77 succeeded: 1 created"
    assert not finished.failed
    assert tab.result_line.property("failed") is False
    assert queued.correlation_id in tab.result_line.label.text()
    qtbot.waitUntil(lambda: "P-77" in shown_system_ids(tab), timeout=15000)

    results.clear()
    qtbot.mouseClick(tab.fetch_list_button, Qt.MouseButton.LeftButton)
    dialog = tab.fetch_dialog
    dialog.ids_edit.setPlainText("P-1, P-2\nmissing-3\nP-1")
    assert dialog.ids() == ["P-1", "P-2", "missing-3"]
    qtbot.mouseClick(dialog.fetch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=20000)
    assert results[0].text == "Fetch list of 3 ids queued in Parcels"
    assert results[1].text.startswith("Fetch list of 3 ids partially failed: 2 created, 1 failed")
    # A failure does not look like a success: the line takes warning colours.
    assert results[1].failed
    assert tab.result_line.property("failed") is True


def test_the_records_screenshot_shows_a_populated_feed(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    from console.ui.screenshots import save_tab_screenshots

    seed_feed(sandbox_url, admin_key, "orders", 25)
    grabbed: list[tuple[int, str | None, str]] = []
    grab = window.grab

    def grab_and_note(*args: Any) -> Any:
        tab = window.tabs.currentWidget()
        if tab is window.records_tab:
            record = tab.detail.record
            grabbed.append(
                (
                    tab.model.rowCount(),
                    record.system_id if record else None,
                    tab.summary_label.text(),
                )
            )
        return grab(*args)

    window.grab = grab_and_note
    task = asyncio.ensure_future(save_tab_screenshots(window, tmp_path / "shots"))
    qtbot.waitUntil(task.done, timeout=30000)
    saved = task.result()
    assert saved[2].name == "03-records.png"
    assert saved[2].stat().st_size > 10_000
    assert grabbed == [(25, "S024", "25 records match · newest first · feed holds 25 active")]


def test_switching_feed_mid_fetch_never_shows_the_old_feeds_rows(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 6)
    seed_feed(sandbox_url, admin_key, "parcels", 3, make=lambda i: {"id": f"P{i}", "n": i})
    tab = open_records(qtbot, window, "orders")
    real_page = RecordsApi.page
    held = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def page(self: RecordsApi, feed_id: str, query: RecordQuery, **kwargs: Any) -> Any:
        started.append(feed_id)
        try:
            result = await real_page(self, feed_id, query, **kwargs)
            if feed_id == "orders":
                await held.wait()  # the old feed's answer comes last
            return result
        finally:
            finished.append(feed_id)

    RecordsApi.page = page  # type: ignore[method-assign]
    try:
        qtbot.mouseClick(tab.refresh_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "orders" in started, timeout=10000)
        with qtbot.waitSignal(tab.records_loaded, timeout=15000):
            assert tab.select_feed("parcels")
        held.set()
        qtbot.waitUntil(lambda: "orders" in finished, timeout=10000)
        qtbot.wait(50)  # a late answer would be applied in the turns right after it
    finally:
        RecordsApi.page = real_page  # type: ignore[method-assign]
    assert tab.feed.id == "parcels"
    assert shown_system_ids(tab) == ["P2", "P1", "P0"]
    assert tab.model.columns == ("guid", "system_id", "n", "version", "updated", "deleted")
    assert tab.detail.record.system_id == "P2"  # the new feed's newest, not an order


def test_typing_asks_once_after_a_pause(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    seed_feed(sandbox_url, admin_key, "orders", 12)
    tab = open_records(qtbot, window, "orders")
    before = tab.model.generation
    bar = tab.filter_bar
    qtbot.keyClicks(bar.system_id_edit, "S01")  # three keys, one query
    assert bar.pending
    assert tab.model.generation == before
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        pass
    assert tab.model.generation == before + 1
    assert tab.query.system_id == "S01"
