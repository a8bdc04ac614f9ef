"""Found by walking the Records tab as a new user (real window, real sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.feeds import FeedsApi
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from console.ui.records.export import start_export
from tests.conftest import run
from tests.ui.test_records_export import _export, _feed
from tests.ui.test_records_import import _close, _feed_with_records, _open, _write_csv
from tests.ui.test_records_tab import open_records, seed_feed

pytestmark = pytest.mark.gui


def seed_archived_then_one_active(url: str, key: str, feed_id: str, archived: int) -> None:
    """`archived` archived records, then one active record (the newest)."""

    async def seed() -> None:
        client = ApiClient(url, key)
        try:
            await FeedsApi(client).create(feed_id, feed_id.title(), method="ingest")
            api = RecordsApi(client)
            for i in range(archived + 1):
                data = {"id": f"S{i:03d}"}
                await api.upsert(feed_id, system_id=data["id"], data=data, deleted=i < archived)
        finally:
            await client.aclose()

    run(seed())


def button_words(tab: Any) -> str:
    return tab.detail.archive_correlation.button.text().replace("&", "").lower()


def test_a_restored_records_copy_button_names_the_restore_it_copies(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    target = seed_feed(sandbox_url, admin_key, "orders", 3)[1]
    tab = open_records(qtbot, window, "orders")
    assert tab.select_guid(target.guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    for button in (tab.archive_button, tab.restore_button):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        with qtbot.waitSignal(tab.action_done, timeout=15000) as done:
            tab.confirm_box.action_button.click()
        qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
        copied = tab.detail.archive_correlation.value
        assert copied == done.args[0].correlation_id
        # The button says whose correlation ID it copies: the archive's, then the restore's.
        expected = "archive" if button is tab.archive_button else "restore"
        assert expected in button_words(tab), button_words(tab)


def test_an_active_record_in_the_archived_view_is_hidden_by_the_filter_not_by_paging(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    # More archived records than a first page, so the Archived list has more to load;
    # the newest record (current on the first look) is active.
    seed_archived_then_one_active(sandbox_url, admin_key, "orders", 120)
    tab = open_records(qtbot, window, "orders")
    current = tab.detail.record
    assert current is not None
    assert current.system_id == "S120"
    assert not current.deleted
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        tab.filter_bar.status_combo.setCurrentIndex(1)  # Archived
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    assert not tab.model.at_end
    # An active record can never be listed among archived ones: the filter hides it.
    assert tab.detail.not_listed.text() == "not in the list with this filter"


def test_exporting_one_record_says_one_row(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    feed = _feed(sandbox_url, admin_key, [{"id": "R001", "status": "open"}], archive=set())
    dialog = start_export(window, window.session, feed, RecordQuery(system_id="R001"))
    target = tmp_path / "one.csv"
    assert _export(qtbot, dialog, target, "csv") == [str(target), 1]
    assert dialog.progress_label.text() == f"Exported 1 row to {target}."
    dialog.close()


def test_enter_in_the_import_file_field_previews_without_opening_the_chooser(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    feed = _feed_with_records(sandbox_url, admin_key, [])
    path = _write_csv(tmp_path / "small.csv", 5, bad={2, 4})
    dialog = _open(qtbot, window, feed, tmp_path)
    qtbot.mouseClick(dialog.file_edit, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        qtbot.keyClicks(dialog.file_edit, str(path))
        qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    qtbot.wait(50)
    # Enter finished typing the name: the preview shows; no chooser pops up over it.
    assert dialog.file_dialog is None
    # Another name and Enter: the new file's preview, still no chooser and no import.
    other = _write_csv(tmp_path / "other.csv", 3, bad=set())
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        dialog.file_edit.clear()
        qtbot.keyClicks(dialog.file_edit, str(other))
        qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    assert dialog.file_dialog is None
    assert dialog.pages.currentIndex() == 0
    _close(qtbot, dialog)


def test_an_archive_updates_the_feed_counts_and_a_feed_switch_clears_the_result_line(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    target = seed_feed(sandbox_url, admin_key, "orders", 4)[1]
    seed_feed(sandbox_url, admin_key, "returns", 2)
    tab = open_records(qtbot, window, "orders")
    assert "4 records" in tab.feed_combo.currentText()
    assert tab.select_guid(target.guid)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(tab.counts_refreshed, timeout=15000):
        tab.confirm_box.action_button.click()
    # The picker and the summary count active records: one fewer, without a Refresh.
    assert "3 records" in tab.feed_combo.currentText()
    qtbot.waitUntil(lambda: "feed holds 3 active" in tab.summary_label.text(), timeout=10000)
    assert tab.result_line.isVisibleTo(tab)
    # The result line speaks of the feed it acted on: another feed does not show it.
    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        assert tab.select_feed("returns")
    assert not tab.result_line.isVisibleTo(tab)
