"""At 1024×640 every column, title and message a user needs is readable (issue 10)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytestqt.qtbot import QtBot

from tests.ui.server_setup import create_keys, create_pipelines
from tests.ui.test_selection_and_filters import show_pipelines
from tests.ui.test_window_layout import SMALL_SCREEN, _laid_out

PIPELINE = "Customer 360 to BigQuery"
LAST_ERROR = (
    "Source connection timed out after 300 s while reading public.orders; the sync will be "
    "retried at the next scheduled run"
)


def test_every_keys_column_is_in_view_at_1024(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    create_keys(sandbox_url, admin_key, ["Nightly export to the analytics warehouse"])
    tab = window.keys_tab
    with qtbot.waitSignal(tab.keys_loaded, timeout=10000):
        tab.refresh()
    window.resize(SMALL_SCREEN)
    qtbot.waitUntil(lambda: window.width() == SMALL_SCREEN.width())
    _laid_out()
    header = tab.table.horizontalHeader()
    viewport = tab.table.viewport().width()
    for column in range(tab.model.columnCount()):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        name = tab.model.headerData(column, header.orientation())
        assert right <= viewport, f"{name} ends at {right} of {viewport}"
    assert not tab.table.horizontalScrollBar().isVisible()
    assert header.sectionSize(0) >= 150  # the name gets the room that is left


def test_the_pipelines_tab_keeps_names_and_errors_readable_at_1024(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    created = create_pipelines(sandbox_url, admin_key, [PIPELINE, "Orders to warehouse"])
    tab = show_pipelines(qtbot, window, created)
    window.resize(SMALL_SCREEN)
    qtbot.waitUntil(lambda: window.width() == SMALL_SCREEN.width())
    _laid_out()

    # The editor's title names the pipeline Apply changes: whole, not "Custo…ion 1".
    title = tab.panel.title
    assert title.text() == f"{PIPELINE}: revision 1"
    assert title.shown_text() == title.text()
    assert title.toolTip() == title.text()

    # The list's Name column gets the stretch; the others are as wide as their content.
    header = tab.table.horizontalHeader()
    name_width = header.sectionSize(0)
    assert name_width >= 120, name_width
    assert name_width >= max(header.sectionSize(c) for c in range(1, tab.model.columnCount()))
    viewport = tab.table.viewport().width()
    last = tab.model.columnCount() - 1
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= viewport

    # A long last error wraps within the metadata box instead of being cut off.
    failed = dataclasses.replace(tab._shown, status="failed", last_error=LAST_ERROR)
    tab._reselect(failed)
    _laid_out()
    label = tab.meta_labels["Last error"]
    assert label.text() == LAST_ERROR
    assert label.toolTip() == LAST_ERROR
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()))
    assert label.heightForWidth(label.width()) > label.fontMetrics().lineSpacing() * 1.5
    box = tab.meta_box
    assert label.mapTo(box, label.rect().bottomRight()).y() <= box.height()
    assert label.mapTo(box, label.rect().bottomRight()).x() <= box.width()
