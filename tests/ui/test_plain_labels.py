"""Text a user pasted or a server sent is shown as it is: never read as markup by a label."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from console.api.logs import LogEntry
from console.ui.logs.detail import LogDetailPane
from console.ui.trace.find_field import FindNotice

MARKUP = '<img src="/etc/hostname"><h1>big</h1>'


def test_the_find_notice_and_the_log_detail_show_markup_as_text(qtbot: QtBot) -> None:
    notice = FindNotice()
    qtbot.addWidget(notice)
    notice.say(f"Nothing matched “{MARKUP}”.")
    assert notice.label.textFormat() == Qt.TextFormat.PlainText

    pane = LogDetailPane(None)
    qtbot.addWidget(pane)
    entry = LogEntry.from_json(
        {"id": 1, "request_id": MARKUP, "correlation_id": MARKUP, "path": MARKUP, "method": "POST"}
    )
    pane.show_entry(entry)
    assert pane.title.textFormat() == Qt.TextFormat.PlainText
    assert pane.values["Request"].textFormat() == Qt.TextFormat.PlainText
    assert pane.ids["correlation"].label.textFormat() == Qt.TextFormat.PlainText
    assert pane.error.textFormat() == Qt.TextFormat.PlainText


def markup_read_by(root: Any) -> list[str]:
    """The labels under `root` that would read MARKUP as markup (none should)."""
    return [
        f"{label.objectName() or type(label.parent()).__name__}: {label.text()[:80]}"
        for label in root.findChildren(QLabel)
        if MARKUP in label.text() and label.textFormat() != Qt.TextFormat.PlainText
    ]


def test_server_text_in_records_keys_logs_filters_and_the_trace_is_never_markup(
    qtbot: QtBot,
) -> None:
    """Feed names, record values, key names, error messages and pasted IDs come from the
    server or the user: shown as they are, escaped where a label needs markup."""
    from console.api.keys import ApiKey, CreatedKey
    from console.api.logs import Trace
    from console.api.records import Record
    from console.logbuffer.buffer import BufferFilter
    from console.ui.keys.dialogs import RotateDialog, SecretDialog
    from console.ui.logs.filters import LogFilterBar
    from console.ui.records.detail import RecordDetail
    from console.ui.trace.view import TracePage

    detail = RecordDetail()
    qtbot.addWidget(detail)
    mark = {"at": 1.0, "key_id": MARKUP, "key": MARKUP, "correlation_id": "corr_1"}
    detail.show_record(
        Record.from_json(
            {
                "guid": MARKUP,
                "system_id": MARKUP,
                "deleted": True,
                "version": 1,
                "created_at": 1.0,
                "updated_at": 2.0,
                "data": {"name": MARKUP},
                "archived": mark,
            }
        )
    )
    assert markup_read_by(detail) == []

    bar = LogFilterBar()
    qtbot.addWidget(bar)
    bar.set_filter(BufferFilter(keys=frozenset({MARKUP}), errors=frozenset({MARKUP})), emit=False)
    assert len(bar.chips) == 2
    assert markup_read_by(bar) == []

    page = TracePage(MARKUP, session=None, runner=None)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.show_trace(Trace.from_json({"id": MARKUP, "matched": [MARKUP], "entries": []}))
    assert MARKUP in page.summary.text()
    assert markup_read_by(page) == []
    page.close_page()

    key = ApiKey(
        "key_x", MARKUP, "admin", "fdk_", "WXYZ", None, 0.0, None, None, None, None, "active"
    )
    secret_dialog = SecretDialog(
        CreatedKey(key, "fdk_" + "a" * 36 + "WXYZ"), keychain_reason=MARKUP
    )
    qtbot.addWidget(secret_dialog)
    rotate = RotateDialog(key, is_own_key=True)
    qtbot.addWidget(rotate)
    for dialog in (secret_dialog, rotate):
        assert markup_read_by(dialog) == []
        # The rich labels (bold headings) quote the key's name escaped.
        assert any(html.escape(MARKUP) in label.text() for label in dialog.findChildren(QLabel))
