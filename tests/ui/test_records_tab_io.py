"""The Records tab's Import… and Export… buttons open the dialogs on its feed and filter."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.ui.records.export import ExportDialog
from console.ui.records.import_dialog import ImportDialog
from tests.ui.test_records_tab import open_records, seed_feed


def test_the_tab_imports_into_its_feed_and_exports_its_filter(
    qtbot: QtBot,
    window: Any,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dialog keeps resume points under the console's state directory: the test's own.
    monkeypatch.setenv("INTEGRATION_CONSOLE_HOME", str(tmp_path / "home"))
    feed_id = f"io-{uuid.uuid4().hex[:8]}"
    seed_feed(sandbox_url, admin_key, feed_id, 3)
    tab = open_records(qtbot, window, feed_id)

    qtbot.mouseClick(tab.import_button, Qt.MouseButton.LeftButton)
    dialog = tab.import_dialog
    assert isinstance(dialog, ImportDialog)
    assert dialog.isVisible()
    assert dialog.feed.id == feed_id
    source = tmp_path / "more.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "status"])
        writer.writerows([["S000", "returned"], ["N001", "open"], ["N002", "open"]])
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000) as ready:
        dialog.set_file(source)
    assert (ready.args[0].would_update, ready.args[0].would_create) == (1, 2)
    with qtbot.waitSignals([dialog.import_finished, tab.records_loaded], timeout=30000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert (dialog.status.created, dialog.status.updated) == (2, 1)
    # The tab reloads the feed after the import: the new records are listed.
    qtbot.waitUntil(lambda: tab.is_settled, timeout=15000)
    assert tab.model.rowCount() == 5
    dialog.close()

    with qtbot.waitSignal(tab.records_loaded, timeout=15000):
        tab.filter_bar.system_id_edit.setText("N002")
        qtbot.keyClick(tab.filter_bar.system_id_edit, Qt.Key.Key_Return)
    qtbot.mouseClick(tab.export_button, Qt.MouseButton.LeftButton)
    export = tab.export_dialog
    assert isinstance(export, ExportDialog)
    assert export.query == tab.query
    assert export.query.system_id == "N002"
    target = tmp_path / "one.ndjson"
    export.format_combo.setCurrentIndex(export.format_combo.findData("ndjson"))
    export.file_edit.setText(str(target))
    with qtbot.waitSignal(export.export_finished, timeout=15000) as exported:
        qtbot.mouseClick(export.export_button, Qt.MouseButton.LeftButton)
    assert exported.args == [str(target), 1]
    assert '"system_id": "N002"' in target.read_text(encoding="utf-8")
    assert list((tmp_path / "home" / "state" / "imports").iterdir()) == []  # it finished
    export.close()
