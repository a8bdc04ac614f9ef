"""Found by walking the Records tab as a new user (real window, real sandbox)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.ui.test_records_tab import open_records, seed_feed

pytestmark = pytest.mark.gui


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
