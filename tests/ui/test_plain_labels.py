"""Text a user pasted or a server sent is shown as it is: never read as markup by a label."""

from __future__ import annotations

from PySide6.QtCore import Qt
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
