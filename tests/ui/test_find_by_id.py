"""Find by ID: paste an ID in the window's field (or press Ctrl+K from anywhere) and see its
trace: log entries with their timelines, items with their outcomes, records touched.

Real window, real sandbox: the data comes from real ingest requests (`IngestApi.send` with
an Idempotency-Key), processed by the server's worker before the test looks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.api.errors import ApiError
from console.api.ingest import IngestApi, IngestReceipt
from console.api.intents import IntentOutcome, IntentsApi
from console.api.transport import ApiClient
from console.ui.trace.view import TracePage
from tests.conftest import run

FEED = "shop"
CTRL = Qt.KeyboardModifier.ControlModifier


def ingest(
    url: str, key: str, items: list[dict[str, Any]], idempotency_key: str
) -> tuple[IngestReceipt, IntentOutcome]:
    """Post `items` to the feed's stream and wait until the worker has applied them."""

    async def send() -> tuple[IngestReceipt, IntentOutcome]:
        client = ApiClient(url, key)
        try:
            receipt = await IngestApi(client).send(FEED, items, idempotency_key=idempotency_key)
            assert receipt.correlation_id is not None
            async with asyncio.timeout(30):
                outcome = await IntentsApi(client).wait(receipt.correlation_id, interval=0.05)
            return receipt, outcome
        finally:
            await client.aclose()

    return run(send())


@pytest.fixture
def seeded(
    window: Any, sandbox_url: str, admin_key: str, account: str, mint_key: Callable[..., str]
) -> tuple[IngestReceipt, IntentOutcome, str]:
    """Two records ingested in one request (its receipt, outcome and Idempotency-Key)."""
    mint_key(account, "ingest", FEED)  # the feed `shop`, id field `id`
    idempotency_key = f"idem-{uuid.uuid4().hex[:10]}"
    items = [{"id": "sku-1", "name": "Kettle"}, {"id": "sku-2", "name": "Teapot"}]
    receipt, outcome = ingest(sandbox_url, admin_key, items, idempotency_key)
    assert outcome.status == "succeeded"
    assert len(outcome.records) == 2
    return receipt, outcome, idempotency_key


def paste(qtbot: QtBot, window: Any, text: str) -> TracePage:
    """Put `text` in the field and press Enter, as the user does; the trace shown."""
    finder = window.finder
    field = window.find_field
    with qtbot.waitSignal(finder.trace_opened, timeout=15000) as opened:
        field.setText(text)
        qtbot.keyClick(field, Qt.Key.Key_Return)
    page = opened.args[1]
    assert isinstance(page, TracePage)
    return page


def tree_rows(page: TracePage) -> list[list[str]]:
    tree = page.entries_tree
    return [
        [tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
        for i in range(tree.topLevelItemCount())
    ]


def table_column(table: Any, column: int) -> list[str]:
    return [table.item(row, column).text() for row in range(table.rowCount())]


def wait_timeline(qtbot: QtBot, page: TracePage, request_id: str) -> Any:
    qtbot.waitUntil(lambda: page.timeline(request_id) is not None, timeout=15000)
    return page.timeline(request_id)


def test_a_correlation_id_opens_its_entries_timeline_items_and_records(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, outcome, _idem = seeded
    assert receipt.correlation_id is not None
    page = paste(qtbot, window, f"  {receipt.correlation_id}\n")  # as pasted: spaces, newline
    assert page.any_id == receipt.correlation_id
    trace_window = window.finder.windows[0]
    assert trace_window.isVisible()
    assert trace_window.current_page is page
    assert [page.tabs.tabText(i).split(" (")[0] for i in range(page.tabs.count())] == [
        "Log entries",
        "Items",
        "Records",
    ]
    assert "correlation ID" in page.summary.text()
    # Shown from the trace alone: the timeline is asked for after this first paint.
    assert page.timeline(receipt.request_id) is None
    [row] = tree_rows(page)
    assert row[1] == "succeeded"
    assert (row[2], row[3], row[4], row[5]) == (FEED, "ingest", "202", "2")
    assert row[6] == receipt.request_id
    # The timeline, fetched after the first paint: received, queued, processing, done.
    events = wait_timeline(qtbot, page, receipt.request_id)
    assert [e.stage for e in events] == ["received", "queued", "processing", "succeeded"]
    entry_item = page.entries_tree.topLevelItem(0)
    assert entry_item.isExpanded()
    lines = [entry_item.child(i).text(0) for i in range(entry_item.childCount())]
    stages = ["received", "queued", "processing", "succeeded"]
    assert len(lines) == len(stages)
    for line, stage in zip(lines, stages, strict=True):
        assert f"   {stage}" in line, lines
    assert "+" in lines[-1]  # milliseconds since it was received
    # Items: the intent's outcome, one row per record it created.
    qtbot.waitUntil(lambda: bool(page.outcomes), timeout=15000)
    assert sorted(table_column(page.items_table, 2)) == ["created", "created"]
    assert sorted(table_column(page.items_table, 3)) == ["sku-1", "sku-2"]
    assert "2 created" in page.items_summary.text()
    # Records: both, with the change this request made.
    guids = sorted(r.guid for r in outcome.records if r.guid)
    assert sorted(table_column(page.records_table, 1)) == guids
    page.records_table.selectRow(0)
    assert table_column(page.changes_table, 3) == [receipt.correlation_id]
    assert table_column(page.changes_table, 4) == [receipt.request_id]


def test_an_idempotency_key_opens_the_trace_of_its_request(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, idempotency_key = seeded
    page = paste(qtbot, window, idempotency_key)
    assert page.trace is not None
    assert "idempotency_key" in page.trace.matched
    assert "idempotency key" in page.summary.text()
    assert [row[6] for row in tree_rows(page)] == [receipt.request_id]
    events = wait_timeline(qtbot, page, receipt.request_id)
    assert events[0].stage == "received"
    assert sorted(table_column(page.records_table, 2)) == ["sku-1", "sku-2"]


def test_a_guid_opens_the_record_and_the_request_that_wrote_it(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, outcome, _idem = seeded
    record = next(r for r in outcome.records if r.system_id == "sku-2")
    assert record.guid is not None
    page = paste(qtbot, window, record.guid)
    assert page.trace is not None
    assert page.trace.matched == ("guid",)
    assert table_column(page.records_table, 1) == [record.guid]
    assert table_column(page.records_table, 2) == ["sku-2"]
    assert [row[6] for row in tree_rows(page)] == [receipt.request_id]
    # Opening the record goes to the Records tab, filtered to it, the record current.
    tab = window.records_tab
    page.records_table.selectRow(0)
    qtbot.mouseClick(page.open_record_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is tab
    qtbot.waitUntil(lambda: tab.current_guid == record.guid, timeout=15000)
    assert tab.feed is not None
    assert tab.feed.id == FEED
    assert tab.filter_bar.guid_edit.text() == record.guid


def test_a_paste_looks_up_at_once_without_enter(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, _idem = seeded
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    field = window.find_field
    field.setText("something typed before")
    qtbot.keyClick(window.keys_tab.table, Qt.Key.Key_K, CTRL)
    assert field.hasFocus()
    QApplication.clipboard().setText(receipt.request_id)
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as opened:
        qtbot.keyClick(field, Qt.Key.Key_V, CTRL)  # replaces the selected text
    assert opened.args[0] == receipt.request_id
    page = opened.args[1]
    assert "request ID" in page.summary.text()
    # The trace window has its own field and Ctrl+K; Ctrl+W closes the trace shown.
    trace_window = window.finder.windows[0]
    trace_window.activateWindow()
    qtbot.waitUntil(trace_window.isActiveWindow, timeout=5000)
    qtbot.keyClick(page.entries_tree, Qt.Key.Key_K, CTRL)
    assert trace_window.find_field.hasFocus()
    qtbot.keyClick(trace_window.find_field, Qt.Key.Key_W, CTRL)
    assert trace_window.pages() == []


def test_the_same_id_again_refreshes_its_tab_and_another_opens_a_second(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, idempotency_key = seeded
    assert receipt.correlation_id is not None
    first = paste(qtbot, window, receipt.correlation_id)
    second = paste(qtbot, window, idempotency_key)
    again = paste(qtbot, window, receipt.correlation_id)
    assert again is first
    trace_window = window.finder.windows[0]
    assert [p.any_id for p in trace_window.pages()] == [receipt.correlation_id, idempotency_key]
    assert trace_window.current_page is first
    # Side by side: the current trace moves to a window of its own.
    qtbot.mouseClick(trace_window.detach_button, Qt.MouseButton.LeftButton)
    assert [p.any_id for p in trace_window.pages()] == [idempotency_key]
    other = window.finder.windows[1]
    assert other.pages() == [first]
    assert other.isVisible()
    assert second in trace_window.pages()


def test_a_second_paste_while_the_first_loads_shows_only_the_second(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, idempotency_key = seeded
    assert receipt.correlation_id is not None
    finder = window.finder
    first = finder.find(receipt.correlation_id)
    assert first is not None
    with qtbot.waitSignal(finder.trace_opened, timeout=15000) as opened:
        finder.find(idempotency_key)
    assert opened.args[0] == idempotency_key
    qtbot.waitUntil(first.done, timeout=15000)
    assert [page.any_id for page in finder.pages] == [idempotency_key]


def test_an_unknown_id_says_plainly_that_nothing_matched_and_what_was_searched(
    qtbot: QtBot, window: Any
) -> None:
    finder = window.finder
    with qtbot.waitSignal(finder.not_found, timeout=15000):
        window.find_field.setText("corr_doesnotexist0000000000")
        qtbot.keyClick(window.find_field, Qt.Key.Key_Return)
    notice = window.find_notice
    assert notice.isVisible()
    text = notice.label.text()
    assert "Nothing matched “corr_doesnotexist0000000000”" in text
    for kind in ("request IDs", "correlation IDs", "idempotency keys", "GUIDs", "system ids"):
        assert kind in text
    assert finder.pages == []
    # The next good find clears it.
    finder.find("")
    assert not notice.isVisible()


def test_a_pasted_key_is_never_sent_nor_shown_whole(qtbot: QtBot, window: Any) -> None:
    secret = "fdk_" + "a1B2c3D4e5" * 3 + "f6G7h8" + "WXYZ"
    assert len(secret) == 44
    sent: list[Any] = []
    window.session.request_finished.connect(sent.append)
    field = window.find_field
    field.setText(secret)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert field.text() == ""  # the secret does not stay on screen
    text = window.find_notice.label.text()
    assert "fdk_…WXYZ" in text
    assert secret not in text
    assert "a1B2c3D4e5" not in text
    assert window.runner.names.isdisjoint({"trace.find"})
    # Cut short, it is still a key's secret in part: masked the same, never sent.
    cut = "ik_live_" + "Qr5tUv7wXy" * 2 + "LMNO"
    field.setText(f"Bearer {cut}")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert field.text() == ""
    text = window.find_notice.label.text()
    assert "ik_live_…LMNO" in text
    assert "Qr5tUv7wXy" not in text
    assert window.runner.names.isdisjoint({"trace.find"})
    assert sent == []


def test_ctrl_k_focuses_the_field_from_another_tab_and_the_definition_editor(
    qtbot: QtBot, window: Any
) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.find_field.setText("corr_earlier")
    window.tabs.setCurrentWidget(window.records_tab)
    table = window.records_tab.table
    table.setFocus()
    qtbot.waitUntil(table.hasFocus, timeout=5000)
    qtbot.keyClick(table, Qt.Key.Key_K, CTRL)
    assert window.find_field.hasFocus()
    assert window.find_field.selectedText() == "corr_earlier"  # a paste replaces it

    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    editor = tab.panel.editor
    editor.setPlainText("name: kept\n")
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus, timeout=5000)
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    assert window.find_field.hasFocus()
    assert editor.toPlainText() == "name: kept\n"  # Ctrl+K did not delete to the line's end


def test_a_correlation_id_link_in_the_records_tab_opens_its_trace(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, _idem = seeded
    tab = window.records_tab
    with qtbot.waitSignal(tab.history_loaded, timeout=15000):
        window.tabs.setCurrentWidget(tab)
    link = tab.detail.last_change.label
    assert link.value == receipt.correlation_id
    qtbot.waitUntil(link.isVisible, timeout=5000)
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as opened:
        qtbot.mouseClick(link, Qt.MouseButton.LeftButton, pos=QPoint(6, link.height() // 2))
    assert opened.args[0] == receipt.correlation_id
    page = opened.args[1]
    assert [row[6] for row in tree_rows(page)] == [receipt.request_id]
    # The history's row does the same through its button.
    history = tab.detail.history
    history.selectRow(0)
    page.close_page()
    window.finder.windows[0].close_all()
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as again:
        qtbot.mouseClick(tab.detail.find_history_button, Qt.MouseButton.LeftButton)
    assert again.args[0] == receipt.correlation_id


def test_the_error_banners_correlation_id_links_to_its_trace(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    from console.api.errors import ApiError

    receipt, _outcome, _idem = seeded
    assert receipt.correlation_id is not None
    banner = window.banner
    banner.show_error(ApiError(400, "INVALID", "Refused", correlation_id=receipt.correlation_id))
    label = banner.correlation_label
    qtbot.waitUntil(label.isVisible, timeout=5000)
    prefix = label.fontMetrics().horizontalAdvance("Correlation ID: ")
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as opened:
        qtbot.mouseClick(
            label, Qt.MouseButton.LeftButton, pos=QPoint(prefix + 8, label.height() // 2)
        )
    assert opened.args[0] == receipt.correlation_id
    assert QApplication.activeModalWidget() is None  # the trace window is not modal


def test_timelines_load_for_the_first_entries_then_for_any_entry_expanded(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, account: str, mint_key: Any
) -> None:
    from console.ui.trace.view import PREFETCH_TIMELINES

    mint_key(account, "ingest", FEED)
    idempotency_key = f"idem-many-{uuid.uuid4().hex[:8]}"
    sends = PREFETCH_TIMELINES + 3

    async def send_again() -> None:
        client = ApiClient(sandbox_url, admin_key)
        try:
            for _ in range(sends):  # each replay is an entry of its own (duplicate)
                await IngestApi(client).send(FEED, {"id": "many"}, idempotency_key=idempotency_key)
        finally:
            await client.aclose()

    run(send_again())
    page = paste(qtbot, window, idempotency_key)
    tree = page.entries_tree
    count = tree.topLevelItemCount()
    assert count >= sends  # a refused try the client sent again (a 429) is an entry too
    assert not tree.topLevelItem(0).isExpanded()  # too many to open them all
    ids = [tree.topLevelItem(i).text(6) for i in range(count)]
    qtbot.waitUntil(
        lambda: all(page.timeline(r) is not None for r in ids[:PREFETCH_TIMELINES]), timeout=15000
    )
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=15000)
    later = ids[PREFETCH_TIMELINES:]
    assert [page.timeline(r) for r in later] == [None] * len(later)  # not asked
    last = tree.topLevelItem(count - 1)
    with qtbot.waitSignal(page.timeline_loaded, timeout=15000) as loaded:
        last.setExpanded(True)
    assert loaded.args == [ids[-1]]
    events = page.timeline(ids[-1])
    assert not isinstance(events, str)
    assert events is not None
    assert events[0].stage == "received"
    assert "   received" in last.child(0).text(0)


def test_find_by_id_in_the_ingest_logs_detail_pane_opens_its_trace(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, _idem = seeded
    tab = window.logs_tab
    with qtbot.waitSignal(tab.loaded, timeout=30000):
        window.tabs.setCurrentWidget(tab)
    # The entry of the seeded request becomes the tab's current one (found by its ID).
    tab.filter_bar.text_edit.setText(receipt.request_id)
    qtbot.waitUntil(
        lambda: (
            tab.detail is not None and tab.detail.ids["correlation"].value == receipt.correlation_id
        ),
        timeout=15000,
    )
    button = tab.detail.ids["correlation"].find_button
    qtbot.waitUntil(button.isVisible, timeout=5000)
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as opened:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert opened.args[0] == receipt.correlation_id
    assert [row[6] for row in tree_rows(opened.args[1])] == [receipt.request_id]


def test_a_records_id_puts_its_own_item_first_among_its_requests_items(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, account: str, mint_key: Any
) -> None:
    # Walking the build, a system id written by a 3,000-item request listed the request's
    # items in file order: the one looked up was not in view (nor listed, past 1,000 rows).
    mint_key(account, "ingest", FEED)
    items = [{"id": f"walk-{n}", "name": f"Item {n}"} for n in range(8)]
    receipt, outcome = ingest(sandbox_url, admin_key, items, f"idem-{uuid.uuid4().hex[:10]}")
    assert outcome.status == "succeeded"
    page = paste(qtbot, window, "walk-6")
    table = page.items_table
    qtbot.waitUntil(lambda: table.rowCount() == 8, timeout=15000)
    records = table_column(table, 3)
    assert records[0] == "walk-6"
    assert sorted(records) == sorted(f"walk-{n}" for n in range(8))
    assert [index.row() for index in table.selectionModel().selectedRows()] == [0]
    assert table_column(table, 0) == [receipt.request_id] * 8


def test_outcomes_that_fail_to_read_say_what_failed_and_offer_a_retry(
    qtbot: QtBot,
    window: Any,
    seeded: tuple[IngestReceipt, IntentOutcome, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A non-404 failure of the outcome route (the sandbox never gives one: the first read
    is made to fail) used to leave "reading outcomes…" for good."""
    receipt, _outcome, _idem = seeded
    assert receipt.correlation_id is not None
    real_outcome = IntentsApi.outcome
    failures = [ApiError(503, "UNAVAILABLE", "The outcome store is busy")]

    async def outcome(self: IntentsApi, correlation_id: str) -> IntentOutcome:
        if failures:
            raise failures.pop()
        return await real_outcome(self, correlation_id)

    monkeypatch.setattr(IntentsApi, "outcome", outcome)
    page = paste(qtbot, window, receipt.correlation_id)
    qtbot.waitUntil(lambda: not page.retry_outcomes_button.isHidden(), timeout=15000)
    text = page.items_summary.text()
    assert "reading outcomes" not in text
    assert "could not be read" in text
    assert "The outcome store is busy (HTTP 503 UNAVAILABLE)" in text
    assert not page.retry_outcomes_button.isHidden()
    assert page.outcomes == {}
    with qtbot.waitSignal(page.outcomes_loaded, timeout=15000):
        qtbot.mouseClick(page.retry_outcomes_button, Qt.MouseButton.LeftButton)
        assert page.items_summary.text().endswith("2 changed · reading outcomes…")
    assert page.retry_outcomes_button.isHidden()
    assert "could not be read" not in page.items_summary.text()
    assert "2 created" in page.items_summary.text()
    assert sorted(table_column(page.items_table, 3)) == ["sku-1", "sku-2"]


def test_the_trace_lists_each_entrys_correlation_id_and_esc_closes_the_window(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, idempotency_key = seeded
    page = paste(qtbot, window, idempotency_key)
    header = page.entries_tree.headerItem()
    names = [header.text(c) for c in range(page.entries_tree.columnCount())]
    assert names[6:8] == ["Request ID", "Correlation ID"]
    [row] = tree_rows(page)
    assert (row[6], row[7]) == (receipt.request_id, receipt.correlation_id)
    trace_window = window.finder.windows[0]
    trace_window.activateWindow()
    qtbot.waitUntil(trace_window.isActiveWindow, timeout=5000)
    page.entries_tree.setFocus()
    qtbot.keyClick(page.entries_tree, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not trace_window.isVisible(), timeout=5000)


def test_a_key_pasted_in_the_trace_windows_field_is_said_there_and_goes_with_it(
    qtbot: QtBot, window: Any, seeded: tuple[IngestReceipt, IntentOutcome, str]
) -> None:
    receipt, _outcome, _idem = seeded
    paste(qtbot, window, receipt.request_id)
    trace_window = window.finder.windows[0]
    assert trace_window.isVisible()
    secret = "fdk_" + "Zq9Wx8Vu7T" * 4
    field = trace_window.find_field
    field.setText(secret)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert field.text() == ""
    assert "looks like an API key" in trace_window.notice.label.text()
    assert trace_window.notice.isVisible()
    # Said where it was asked: the main window shows nothing of it, now or after closing.
    assert window.find_notice.isHidden()
    qtbot.keyClick(trace_window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not trace_window.isVisible(), timeout=5000)
    assert window.find_notice.isHidden()
    assert "API key" not in window.find_notice.label.text()
    # Opened again for another trace: no stale notice either.
    paste(qtbot, window, receipt.request_id)
    assert trace_window.isVisible()
    assert trace_window.notice.isHidden()


def test_a_duplicate_links_to_the_request_it_repeats_and_items_name_their_index(
    qtbot: QtBot,
    window: Any,
    sandbox_url: str,
    admin_key: str,
    seeded: tuple[IngestReceipt, IntentOutcome, str],
) -> None:
    receipt, _outcome, idempotency_key = seeded

    async def replay() -> IngestReceipt:
        client = ApiClient(sandbox_url, admin_key)
        try:
            items = [{"id": "sku-1"}, {"id": "sku-2"}]
            return await IngestApi(client).send(FEED, items, idempotency_key=idempotency_key)
        finally:
            await client.aclose()

    assert run(replay()).replayed  # answered with the first request's body
    page = paste(qtbot, window, idempotency_key)
    rows = tree_rows(page)
    assert sorted(row[1] for row in rows) == ["duplicate", "succeeded"]
    [repeat_id] = [row[6] for row in rows if row[1] == "duplicate"]
    assert {row[6] for row in rows} == {receipt.request_id, repeat_id}
    # Items: the ingest items by their index in the request, beside their key value.
    qtbot.waitUntil(lambda: bool(page.outcomes), timeout=15000)
    table = page.items_table
    created = [r for r in range(table.rowCount()) if table.item(r, 2).text() == "created"]
    assert sorted((table.item(r, 1).text(), table.item(r, 3).text()) for r in created) == [
        ("0", "sku-1"),
        ("1", "sku-2"),
    ]
    # The duplicate's row names the request it repeats, as a link that selects it.
    [row] = [r for r in range(table.rowCount()) if table.item(r, 2).text() == "duplicate"]
    message = table.item(row, 5)
    assert receipt.request_id in message.text()
    assert message.font().underline()
    page.tabs.setCurrentIndex(1)
    rect = table.visualItemRect(message)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.tabs.currentIndex() == 0
    current = page.entries_tree.currentItem()
    assert current is not None
    assert current.text(6) == receipt.request_id
    # Its timeline's duplicate step links the same way.
    wait_timeline(qtbot, page, repeat_id)
    repeat_item = next(
        page.entries_tree.topLevelItem(i)
        for i in range(page.entries_tree.topLevelItemCount())
        if page.entries_tree.topLevelItem(i).text(6) == repeat_id
    )
    [step] = [
        repeat_item.child(i)
        for i in range(repeat_item.childCount())
        if "duplicate" in repeat_item.child(i).text(0)
    ]
    assert f"replay of {receipt.request_id}" in step.text(0)
    page.entries_tree.setCurrentItem(repeat_item)
    page.entries_tree.itemClicked.emit(step, 0)
    assert page.entries_tree.currentItem().text(6) == receipt.request_id
    # Traced by the duplicate's own request ID, the original is not in the trace: the link
    # opens the original's trace.
    alone = paste(qtbot, window, repeat_id)
    wait_timeline(qtbot, alone, repeat_id)
    with qtbot.waitSignal(window.finder.trace_opened, timeout=15000) as opened:
        alone.show_request(receipt.request_id)
    assert opened.args[0] == receipt.request_id
