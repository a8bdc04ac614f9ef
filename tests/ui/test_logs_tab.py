"""The Ingest Logs tab against a real sandbox seeded with connector log entries.

Every expectation is checked against the server's own answer (the entries read through
the API layer), not against the buffer the tab filled.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from console.api.errors import ApiError
from console.api.ingest import IngestApi
from console.api.logs import LogEntry, LogsApi
from console.api.transport import ApiClient
from console.sandbox.process import SandboxProcess
from console.ui.screenshots import save_tab_screenshots
from tests.conftest import SUITE_RATE_LIMIT, run

pytestmark = pytest.mark.gui

DEMO_LOGS = 3000
LAST_7_DAYS = 3  # the filter bar's preset index
LATE_MS = 10_000  # a live entry not shown by then is lost (the latency is asserted apart)


@pytest.fixture(scope="module")
def logs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A sandbox whose demo account holds DEMO_LOGS entries over 7 days; (url, admin key)."""
    from console.sandbox.storage.sqlite import mint_key

    data_dir = tmp_path_factory.mktemp("logs-sandbox")
    server = SandboxProcess(
        data_dir,
        rate_limit=SUITE_RATE_LIMIT,
        extra_args=["--demo-logs", str(DEMO_LOGS)],
    )
    server.start(timeout=60)
    assert server.base_url is not None
    key = mint_key(data_dir, account="demo", kind="admin")
    yield server.base_url, key
    server.stop()


def server_entries(url: str, key: str, **filters: Any) -> list[LogEntry]:
    """Every entry the server lists for `filters`, newest first (the test's oracle)."""

    async def read() -> list[LogEntry]:
        client = ApiClient(url, key)
        try:
            api = LogsApi(client)
            entries: list[LogEntry] = []
            cursor = None
            while True:
                page = await api.query(limit=1000, cursor=cursor, **filters)
                entries.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    return entries
        finally:
            await client.aclose()

    return run(read())


def send_ingest(url: str, key: str, feed: str, body: bytes) -> str | None:
    """POST one ingest request (its request id; None when the server refused it)."""

    async def send() -> str | None:
        client = ApiClient(url, key)
        try:
            receipt = await IngestApi(client).send_body(feed, body)
            return receipt.request_id
        except ApiError:
            return None
        finally:
            await client.aclose()

    return run(send())


def open_logs(qtbot: QtBot, window: Any, preset: int = LAST_7_DAYS) -> Any:
    """Show the Ingest Logs tab, load the range `preset` and wait until it is loaded."""
    tab = window.logs_tab
    with qtbot.waitSignal(tab.loaded, timeout=30000):
        window.tabs.setCurrentWidget(tab)
    if tab.filter_bar.range_combo.currentIndex() != preset:
        with qtbot.waitSignal(tab.loaded, timeout=30000):
            tab.filter_bar.set_preset(preset)
    qtbot.waitUntil(lambda: tab.selection is not None and not tab.loading, timeout=10000)
    return tab


def shown_ids(tab: Any) -> list[int]:
    model = tab.model
    return [model.entry_id_at(row) for row in range(model.rowCount())]


def loaded_oracle(tab: Any, url: str, key: str) -> list[LogEntry]:
    """The server's entries of the loaded range."""
    since, until = tab.loaded_range
    entries = server_entries(url, key, since=since, until=until)
    held = set(shown_ids(tab)) if tab.filter.is_empty() else None
    if held is not None:
        # Entries written after the load are the live tail's, not the load's.
        assert {e.id for e in entries} >= held
    return entries


@pytest.fixture
def logs_window(make_window: Callable[[str, str], Any], logs_server: tuple[str, str]) -> Any:
    return make_window(*logs_server)


def test_clicking_a_histogram_bar_filters_to_it_and_dragging_picks_a_time_range(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    oracle = loaded_oracle(tab, url, key)
    histogram = tab.histogram
    assert histogram.bins >= 20
    assert tab.model.rowCount() == len(oracle) >= DEMO_LOGS - 100

    # A click on one status's segment of a bar: that bar's time and that status.
    index = max(range(histogram.bins), key=histogram.total)
    since, until = histogram.histogram.bin_range(index)
    segment = histogram.segment_rect(index, "succeeded")
    assert not segment.isEmpty()
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        qtbot.mouseClick(histogram, Qt.MouseButton.LeftButton, pos=segment.center().toPoint())
    assert (tab.filter.since, tab.filter.until) == (since, until)
    assert tab.filter.statuses == {"succeeded"}
    expected = [
        e.id for e in oracle if since <= e.timestamp < until and e.processing_status == "succeeded"
    ]
    assert expected
    assert sorted(shown_ids(tab)) == sorted(expected)

    # Back to everything; a click in a bar's column above its bar: the bar's time only.
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.filter_bar.clear_filters()
    lower = next(
        i for i in range(histogram.bins) if 0 < histogram.total(i) < histogram.total(index)
    )
    column = histogram.bar_rect(lower)
    above_bar = QPoint(round(column.center().x()), round(column.top()) + 2)
    since, until = histogram.histogram.bin_range(lower)
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        qtbot.mouseClick(histogram, Qt.MouseButton.LeftButton, pos=above_bar)
    assert (tab.filter.since, tab.filter.until, tab.filter.statuses) == (since, until, set())
    assert sorted(shown_ids(tab)) == sorted(e.id for e in oracle if since <= e.timestamp < until)

    # A drag across bars picks the time range under it.
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.filter_bar.clear_filters()
    start = QPoint(round(histogram.bar_rect(5).left()) + 1, histogram.height() // 2)
    end = QPoint(round(histogram.bar_rect(40).right()) - 1, histogram.height() // 2)
    picked_since, picked_until = histogram.time_at(start.x()), histogram.time_at(end.x())
    qtbot.mousePress(histogram, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(histogram, QPoint(start.x() + 30, start.y()))
    qtbot.mouseMove(histogram, end)
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        qtbot.mouseRelease(histogram, Qt.MouseButton.LeftButton, pos=end)
    assert tab.filter.since == pytest.approx(picked_since)
    assert tab.filter.until == pytest.approx(picked_until)
    assert tab.filter.statuses == set()
    inside = [e.id for e in oracle if tab.filter.since <= e.timestamp < tab.filter.until]
    assert 0 < len(inside) < len(oracle)
    assert sorted(shown_ids(tab)) == sorted(inside)
    # The histogram now spans the picked range; the chip names it and removes it.
    assert histogram.histogram.start <= tab.filter.since < histogram.histogram.start + 3600
    [chip] = tab.filter_bar.chips
    assert chip.label.text().startswith("time ")
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        qtbot.mouseClick(chip.close_button, Qt.MouseButton.LeftButton)
    assert tab.model.rowCount() == len(oracle)


def test_alt_clicking_a_value_in_the_table_filters_on_it_and_keeps_the_selection(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    oracle = loaded_oracle(tab, url, key)
    table, model = tab.table, tab.model
    # The user picks an entry: it is current and shown in the detail.
    qtbot.mouseClick(
        table.viewport(),
        Qt.MouseButton.LeftButton,
        pos=table.visualRect(model.index(2, 0)).center(),
    )
    picked = model.entry_id_at(2)
    assert tab.current_id == picked
    feed = model.index(2, 2).data(Qt.ItemDataRole.DisplayRole)
    # Alt+click on the feed cell of another row filters on that feed; the selection stays.
    other = next(r for r in range(3, 12) if model.index(r, 2).data() not in (feed, ""))
    other_feed = model.index(other, 2).data()
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        qtbot.mouseClick(
            table.viewport(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.AltModifier,
            table.visualRect(model.index(other, 2)).center(),
        )
    assert tab.filter.feeds == {other_feed}
    assert sorted(shown_ids(tab)) == sorted(e.id for e in oracle if e.feed == other_feed)
    assert tab.current_id == picked  # the click filtered; it picked nothing
    assert tab.model.row_of_id(picked) is None
    assert table.selectionModel().selectedRows() == []
    assert tab.current_hidden
    # The right-click menu filters a status the same way (and the feed filter stays).
    status_index = model.index(0, 1)
    status = status_index.data(Qt.ItemDataRole.UserRole + 1)
    menu = tab.cell_menu(status_index)
    [filter_action] = [a for a in menu.actions() if a.text().startswith("Filter on status")]
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        filter_action.trigger()
    assert tab.filter.statuses == {status}
    assert sorted(shown_ids(tab)) == sorted(
        e.id for e in oracle if e.feed == other_feed and e.processing_status == status
    )
    # Clearing shows the picked entry again, selected again.
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.filter_bar.clear_filters()
    row = tab.model.row_of_id(picked)
    assert row is not None
    assert [i.row() for i in table.selectionModel().selectedRows()] == [row]
    assert not tab.current_hidden


def test_the_text_filter_runs_off_the_ui_thread_and_drops_stale_answers(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    oracle = loaded_oracle(tab, url, key)
    wanted = oracle[7].request_id
    applied: list[int] = []
    tab.view_applied.connect(applied.append)
    base = tab.filter
    tab.show_filter(type(base)(text="no-such-entry-anywhere"))
    assert applied == []  # not computed on the UI thread
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.show_filter(type(base)(text=wanted.upper()))  # case-insensitive
    qtbot.waitUntil(lambda: "logs.select" not in tab.runner.names, timeout=5000)
    assert applied == [1]  # the first answer, stale when it came, was dropped
    assert shown_ids(tab) == [oracle[7].id]


def _export(qtbot: QtBot, tab: Any, target: Path, fmt: str) -> Any:
    dialog = tab.open_export()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    dialog.file_edit.setText(str(target))
    with qtbot.waitSignal(dialog.export_finished, timeout=20000) as finished:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    dialog.close()
    return finished.args


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_writes_exactly_the_filtered_rows(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str], tmp_path: Path, fmt: str
) -> None:
    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    oracle = loaded_oracle(tab, url, key)
    feed = next(e.feed for e in oracle if e.feed)
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.show_filter(
            type(tab.filter)(feeds=frozenset({feed}), statuses=frozenset({"succeeded"}))
        )
    expected = [
        e.request_id for e in oracle if e.feed == feed and e.processing_status == "succeeded"
    ]
    assert 0 < len(expected) < len(oracle)
    out_dir = tmp_path / "export"
    out_dir.mkdir()
    target = out_dir / f"logs.{fmt}"
    path, rows = _export(qtbot, tab, target, fmt)
    assert (Path(path), rows) == (target, len(expected))
    text = target.read_text(encoding="utf-8")
    if fmt == "csv":
        records = list(csv.DictReader(text.splitlines()))
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert [r["request_id"] for r in records] == expected  # the same rows, newest first
    assert {r["feed"] for r in records} == {feed}
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in out_dir.iterdir()] == [target.name]  # no temporary left


def test_building_the_tab_imports_neither_numpy_nor_the_buffer() -> None:
    """The tab is built after the first paint; numpy waits for its first load."""
    code = textwrap.dedent(
        """
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from console.ui.logs.tab import IngestLogsTab
        from console.ui.session import ConsoleSession
        from console.ui.tasks import TaskRunner
        tab = IngestLogsTab(ConsoleSession(), TaskRunner())
        tab.resize(1280, 800)
        tab.show()
        app.processEvents()
        heavy = [m for m in sys.modules if m == "numpy" or m.startswith("console.logbuffer")]
        print("imported:", sorted(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "imported: []"


def test_the_loaded_tab_fits_a_1024_by_640_window(qtbot: QtBot, logs_window: Any) -> None:
    from tests.ui.test_window_layout import SMALL_SCREEN, _fits, _laid_out

    tab = open_logs(qtbot, logs_window)
    assert tab.detail is not None  # built, and showing the newest entry
    assert tab.detail.request_id is not None
    logs_window.resize(SMALL_SCREEN)
    _laid_out()
    hint = logs_window.minimumSizeHint()
    assert _fits(hint), f"needs {hint.width()}×{hint.height()}"
    assert logs_window.height() <= SMALL_SCREEN.height()


def test_ctrl_f_puts_the_cursor_in_the_logs_text_filter(qtbot: QtBot, window: Any) -> None:
    tab = window.logs_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(tab.filter_bar.text_edit.hasFocus, timeout=5000)


def test_the_screenshot_of_ingest_logs_shows_entries_the_histogram_and_error_groups(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str], tmp_path: Path
) -> None:
    url, key = logs_server
    # A refused request a moment ago: the last hour has at least one error group.
    assert send_ingest(url, key, "orders", b"{not json") is None
    window = logs_window
    grab = window.grab
    seen: list[dict[str, Any]] = []

    def grab_and_note(*args: Any) -> Any:
        tab = window.tabs.currentWidget()
        if tab is window.logs_tab:
            histogram = tab.histogram
            seen.append(
                {
                    "rows": tab.model.rowCount(),
                    "table": tab.table.isVisible(),
                    "histogram": histogram.isVisible(),
                    "bars": sum(histogram.total(i) for i in range(histogram.bins)),
                    "groups": tab.groups_model.rowCount(),
                    "groups_view": tab.groups_view.isVisible(),
                    "loading": tab.loading,
                }
            )
        return grab(*args)

    window.grab = grab_and_note
    task = asyncio.ensure_future(save_tab_screenshots(window, tmp_path / "shots"))
    qtbot.waitUntil(task.done, timeout=60000)
    saved = task.result()
    assert saved[3].name == "04-ingest-logs.png"
    assert saved[3].stat().st_size > 10_000
    [shot] = seen
    assert shot["rows"] > 0
    assert shot["bars"] == shot["rows"]  # every entry shown is in a bar
    assert shot["groups"] >= 1
    assert shot["table"]
    assert shot["histogram"]
    assert shot["groups_view"]
    assert not shot["loading"]


def test_live_tail_shows_a_new_request_within_a_second_and_keeps_selection_and_scroll(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    from console.ui.logs.tab import ROW_HEIGHT

    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    qtbot.waitUntil(lambda: tab.tail_state == "live", timeout=10000)
    table, model = tab.table, tab.model
    bar = table.verticalScrollBar()

    def newest(count: int) -> list[str]:
        return [model.index(row, 6).data() for row in range(count)]

    # Scrolled away from the top, part of a row out of view; the user picks a row in view.
    bar.setValue(40 * ROW_HEIGHT + 7)
    first_row = table.rowAt(0)
    first_id, first_y = model.entry_id_at(first_row), table.rowViewportPosition(first_row)
    picked_row = first_row + 3
    qtbot.mouseClick(
        table.viewport(),
        Qt.MouseButton.LeftButton,
        pos=table.visualRect(model.index(picked_row, 0)).center(),
    )
    picked = model.entry_id_at(picked_row)
    assert tab.current_id == picked
    rows_before = model.rowCount()

    request_id = send_ingest(url, key, "orders", b'[{"order_id": "tail-1"}]')
    assert request_id is not None
    sent = time.monotonic()
    qtbot.waitUntil(lambda: request_id in newest(5), timeout=LATE_MS)
    latencies = [time.monotonic() - sent]
    arrived = model.rowCount() - rows_before  # with the demo pipelines' own events
    # The same entry is first in view, at the same pixel; the same entry is selected.
    assert model.entry_id_at(table.rowAt(0)) == first_id
    assert table.rowViewportPosition(table.rowAt(0)) == first_y
    assert tab.current_id == picked
    [selected] = table.selectionModel().selectedRows()
    assert model.entry_id_at(selected.row()) == picked
    # "1 new" says what arrived above; clicking it shows the top.
    assert tab.new_button.isVisible()
    assert tab.new_count == arrived >= 1
    assert tab.new_button.text() == f"↑ {arrived} new"
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    assert bar.value() == 0
    assert not tab.new_button.isVisible()

    # At the top, the next request appears in view at once; the selection stays.
    second = send_ingest(url, key, "orders", b'[{"order_id": "tail-2"}]')
    sent = time.monotonic()
    qtbot.waitUntil(lambda: second in newest(5), timeout=LATE_MS)
    latencies.append(time.monotonic() - sent)
    assert bar.value() == 0
    assert tab.current_id == picked
    [selected] = table.selectionModel().selectedRows()
    assert model.entry_id_at(selected.row()) == picked
    assert not tab.new_button.isVisible()

    # Within a second of the server's answer (typically ~0.3 s: the server's 100 ms log
    # flush, the tail's 100 ms batch). Both must show; on a machine shared by many test
    # runs one can miss the second, so the faster of the two is held to it.
    assert min(latencies) <= 1.0, latencies

    # What the tail could not show is said, with its count.
    assert not tab.dropped_label.isVisible()
    tab.tail.dropped_changed.emit(7)
    assert tab.dropped_label.isVisible()
    assert tab.dropped_label.text().startswith("7 new entries not shown")


def test_a_big_selections_histogram_and_groups_come_from_a_worker_and_stale_ones_drop(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str], monkeypatch: Any
) -> None:
    import console.ui.logs.tab as tab_module

    monkeypatch.setattr(tab_module, "SUMMARY_IN_WORKER_ABOVE", 10)  # as if 1M rows
    url, key = logs_server
    tab = open_logs(qtbot, logs_window)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    oracle = loaded_oracle(tab, url, key)
    feeds = sorted({e.feed for e in oracle if e.feed})
    shown: list[int] = []
    tab.summaries_shown.connect(lambda: shown.append(tab.histogram.bins))
    first = type(tab.filter)(feeds=frozenset({feeds[0]}))
    second = type(tab.filter)(feeds=frozenset({feeds[1]}))
    tab.show_filter(first)
    assert shown == []  # not on the UI thread: the table first
    with qtbot.waitSignal(tab.summaries_shown, timeout=10000):
        tab.show_filter(second)  # the first one's answer, if it comes, is stale
    qtbot.waitUntil(lambda: tab.is_settled, timeout=10000)
    assert len(shown) == 1
    wanted = [e for e in oracle if e.feed == feeds[1]]
    histogram = tab.histogram
    assert sum(histogram.total(i) for i in range(histogram.bins)) == len(wanted)
    groups = tab.groups_model.groups
    assert all(g.feed == feeds[1] for g in groups)
    assert sum(g.count for g in groups) == sum(
        1 for e in wanted if e.error_count or (e.http_status or 0) >= 400
    )


def test_every_control_has_a_name_and_tab_walks_the_filters_then_the_views(
    qtbot: QtBot, logs_window: Any
) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QComboBox,
        QHeaderView,
        QLineEdit,
        QWidget,
    )

    tab = open_logs(qtbot, logs_window)
    detail_parts = set(tab.detail.findChildren(QWidget))  # the detail pane's own test
    controls = [
        w
        for w in tab.findChildren(QWidget)
        if isinstance(w, QAbstractButton | QLineEdit | QComboBox | QAbstractItemView)
        and not isinstance(w, QHeaderView)
        and w.isVisibleTo(tab)
        and w not in detail_parts
        and not isinstance(w.parent(), QComboBox | QLineEdit)  # their own inner parts
    ]
    assert controls
    nameless = [
        f"{type(w).__name__} {w.objectName()} {w.parent().objectName()}"
        for w in controls
        if not w.accessibleName() and not (isinstance(w, QAbstractButton) and w.text())
    ]
    assert nameless == []
    assert tab.histogram.accessibleName() == "Entries over time"

    order = [tab.filter_bar.text_edit]
    while len(order) < 1000 and order[-1] is not tab.groups_view:
        order.append(order[-1].nextInFocusChain())
    walked = [w for w in order if w.focusPolicy() & Qt.FocusPolicy.TabFocus]
    positions = {w: i for i, w in enumerate(walked)}
    chain = [
        tab.filter_bar.text_edit,
        tab.refresh_button,
        tab.live_button,
        tab.export_button,
        tab.filter_bar.facet_buttons["statuses"],
        tab.histogram,
        tab.table,
        tab.groups_view,
    ]
    assert [positions[w] for w in chain] == sorted(positions[w] for w in chain)


def test_the_error_groups_title_stays_put_when_no_group_shows(
    qtbot: QtBot, logs_window: Any
) -> None:
    from console.logbuffer.buffer import BufferFilter

    tab = open_logs(qtbot, logs_window)
    title = tab.groups_title
    qtbot.waitUntil(lambda: tab.groups_view.isVisible(), timeout=10000)
    before = title.geometry()
    # Walking the build, the title dropped to the middle of the pane once a filter left no
    # error group (the note under it took no stretch, so both labels grew).
    tab.show_filter(BufferFilter(statuses=frozenset({"succeeded"})))
    qtbot.waitUntil(
        lambda: tab.groups_model.rowCount() == 0 and tab.groups_empty.isVisible(), timeout=10000
    )
    assert title.geometry() == before
    empty = tab.groups_empty
    assert empty.alignment() & Qt.AlignmentFlag.AlignTop
    assert empty.geometry().top() <= before.bottom() + 8


def test_picking_custom_before_load_leaves_the_shown_ranges_live_tail_alone(
    qtbot: QtBot, logs_window: Any
) -> None:
    from console.logbuffer.buffer import BufferFilter
    from console.ui.logs.filters import CUSTOM_INDEX

    tab = open_logs(qtbot, logs_window)
    qtbot.waitUntil(lambda: tab.tail_state == "live", timeout=10000)
    # Walking the build: Custom picked (not loaded yet), then a status filter, greyed out
    # the Live button while the preset's entries were still shown and tailed.
    tab.filter_bar.set_preset(CUSTOM_INDEX)
    tab.show_filter(BufferFilter(statuses=frozenset({"succeeded"})))
    qtbot.waitUntil(lambda: tab.filter.statuses == frozenset({"succeeded"}), timeout=10000)
    assert tab.loaded_range is not None
    assert tab.loaded_range[1] is None
    assert tab.live_button.isEnabled()
    # Live off and on again: the tail follows the range shown, not the picker's.
    tab.live_button.setChecked(False)
    qtbot.waitUntil(lambda: tab.tail_state == "stopped", timeout=10000)
    tab.live_button.setChecked(True)
    qtbot.waitUntil(lambda: tab.tail_state == "live", timeout=10000)
    tab.show_filter(BufferFilter())


def test_the_n_new_button_and_a_loads_cancel_do_not_move_the_table(
    qtbot: QtBot, logs_window: Any
) -> None:
    from tests.ui.test_window_layout import _laid_out

    tab = open_logs(qtbot, logs_window)
    table, histogram = tab.table, tab.histogram
    _laid_out()
    before = (histogram.mapTo(tab, QPoint(0, 0)), table.mapTo(tab, QPoint(0, 0)))
    # Walking the build, "↑ 4 new" appearing pushed the histogram and table down 7 px.
    tab.new_button.setText("↑ 4 new")
    tab.new_button.show()
    _laid_out()
    assert (histogram.mapTo(tab, QPoint(0, 0)), table.mapTo(tab, QPoint(0, 0))) == before
    tab.new_button.hide()
    tab.progress_bar.show()
    tab.cancel_button.show()
    _laid_out()
    assert (histogram.mapTo(tab, QPoint(0, 0)), table.mapTo(tab, QPoint(0, 0))) == before
    tab.progress_bar.hide()
    tab.cancel_button.hide()


def test_a_backwards_custom_range_cannot_be_loaded_and_says_why(
    qtbot: QtBot, logs_window: Any
) -> None:
    from PySide6.QtCore import QDateTime

    from console.ui.logs.filters import CUSTOM_INDEX

    tab = open_logs(qtbot, logs_window)
    bar = tab.filter_bar
    bar.set_preset(CUSTOM_INDEX)
    assert bar.load_button.isVisible()
    assert bar.load_button.isEnabled()
    # Walking the build, "To" before "From" loaded one minute after "From", silently.
    bar.until_edit.setDateTime(bar.since_edit.dateTime().addSecs(-3600))
    assert not bar.load_button.isEnabled()
    assert "“To” must be after “From”" in bar.load_button.toolTip()
    bar.until_edit.setDateTime(QDateTime.currentDateTime())
    assert bar.load_button.isEnabled()


def test_a_status_the_tail_refreshes_reaches_the_detail_of_the_current_entry(
    qtbot: QtBot, logs_window: Any
) -> None:
    import dataclasses

    from console.logbuffer.buffer import Column

    tab = open_logs(qtbot, logs_window)
    qtbot.waitUntil(lambda: tab.current_id is not None, timeout=5000)
    detail = tab.detail
    qtbot.waitUntil(lambda: detail.detail is not None and not detail.fetching, timeout=10000)
    buffer = tab.buffer
    slot = buffer.slot_of(tab.current_id)
    shown = buffer.entry(slot)
    moved_on = "failed" if shown.processing_status != "failed" else "succeeded"
    buffer.update([dataclasses.replace(shown, processing_status=moved_on)])
    # What the live tail's status refresh says after applying a page.
    tab._tail_updated([slot])
    assert detail.value_buttons[Column.STATUS].text() == moved_on
    assert detail.fetching  # its timeline and errors are read again


def test_the_text_field_holds_any_id_a_click_filters_on(qtbot: QtBot) -> None:
    from console.logbuffer.buffer import BufferFilter
    from console.ui.logs.filters import LogFilterBar

    bar = LogFilterBar()
    qtbot.addWidget(bar)
    longest_id = "k" * 255  # the server's bound on an idempotency key
    bar.set_filter(BufferFilter(text=longest_id), emit=False)
    assert bar.text_edit.text() == bar.filter.text == longest_id


def test_a_cell_menu_filters_on_the_value_it_named_even_after_rows_moved(
    qtbot: QtBot, logs_window: Any
) -> None:
    from console.logbuffer.buffer import Column

    tab = open_logs(qtbot, logs_window)
    model = tab.model
    # A row with a feed (the newest rows may be pipeline events, which have none).
    row = next(r for r in range(model.rowCount()) if model.index(r, 2).data())
    feed = model.index(row, 2).data()
    menu = tab.cell_menu(model.index(row, 2))
    [action] = [a for a in menu.actions() if a.text().startswith("Filter on feed")]
    # While the menu is open, the rows move (a filter here; the live tail does the same).
    feeds = (model.index(r, 2).data() for r in range(model.rowCount()))
    other = next(f for f in feeds if f not in (feed, ""))
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        tab.show_filter(tab.filter.with_value(Column.FEED, other))
    assert model.index(row, 2).data() == other
    with qtbot.waitSignal(tab.view_applied, timeout=5000):
        action.trigger()
    assert feed in tab.filter.feeds


def test_an_entry_the_full_view_drops_for_the_tail_says_it_left_the_view(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    # It read "hidden by the current filter", which no filter was doing.
    url, key = logs_server
    logs_window.logs_tab.buffer_capacity = 50
    tab = open_logs(qtbot, logs_window)
    qtbot.waitUntil(lambda: tab.tail_state == "live", timeout=10000)
    assert tab.model.rowCount() == 50
    oldest_row = tab.model.rowCount() - 1
    tab.table.selectRow(oldest_row)
    oldest = tab.model.entry_id_at(oldest_row)
    assert tab.current_id == oldest
    assert send_ingest(url, key, "orders", b'[{"order_id": "evict-1"}]') is not None
    qtbot.waitUntil(lambda: not tab.buffer.has_id(oldest), timeout=LATE_MS)
    qtbot.waitUntil(lambda: "left the view" in tab.hidden_note.text(), timeout=5000)
    assert "50 entries" in tab.hidden_note.text()
    assert "filter" not in tab.hidden_note.text()


def test_all_nine_columns_fit_at_1280_and_a_click_never_scrolls_the_table_sideways(
    qtbot: QtBot, logs_window: Any
) -> None:
    from PySide6.QtGui import QClipboard
    from PySide6.QtWidgets import QApplication

    from console.ui.logs.model import COLUMNS
    from tests.ui.test_window_layout import _laid_out

    tab = open_logs(qtbot, logs_window)
    assert logs_window.width() == 1280
    _laid_out()
    table, header = tab.table, tab.table.horizontalHeader()
    viewport = table.viewport().width()
    for column in range(len(COLUMNS)):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= viewport, f"{COLUMNS[column][0]} ends at {right} of {viewport}"
    assert table.horizontalScrollBar().maximum() == 0
    # A long ID is elided in the middle; its tooltip and Copy give it whole.
    corr = next(c for c, (_t, name, _f) in enumerate(COLUMNS) if name == "CORRELATION_ID")
    index = next(
        i for row in range(tab.model.rowCount()) if (i := tab.model.index(row, corr)).data()
    )
    full = index.data()
    assert table.fontMetrics().horizontalAdvance(full) > header.sectionSize(corr)
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert index.data(Qt.ItemDataRole.ToolTipRole).startswith(full + "\n")
    menu = tab.cell_menu(index)
    [copy] = [a for a in menu.actions() if a.text() == "Copy correlation id"]
    copy.trigger()
    assert QApplication.clipboard().text(QClipboard.Mode.Clipboard) == full
    menu.deleteLater()

    # Narrower (the detail pane dragged wider): the table scrolls sideways, and a click on
    # a cell cut by the right edge selects its row without moving the table under the
    # pointer (Qt brought the cell's column into view).
    tab.splitter.setSizes([520, 740])
    _laid_out()
    sideways = table.horizontalScrollBar()
    qtbot.waitUntil(lambda: sideways.maximum() > 0, timeout=5000)
    sideways.setValue(0)
    edge = table.viewport().width() - 4
    cut = header.logicalIndexAt(edge)
    assert header.sectionViewportPosition(cut) + header.sectionSize(cut) > edge + 4
    y = table.rowViewportPosition(2) + 5
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(edge, y))
    assert table.currentIndex().row() == 2
    assert table.currentIndex().column() == cut
    # Qt brings the pressed cell into view a double-click interval after the press (when
    # no double click came): the same call, made now rather than waited for.
    table.scrollTo(table.currentIndex())
    assert sideways.value() == 0
    # The arrow keys move the current row the same way.
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert table.currentIndex().row() == 3
    assert sideways.value() == 0


def test_choosing_custom_prefills_the_span_shown_ending_now_not_at_app_start(
    qtbot: QtBot,
) -> None:
    import time as clock

    from PySide6.QtCore import QDateTime

    from console.ui.logs.filters import CUSTOM_INDEX, LogFilterBar

    bar = LogFilterBar()
    qtbot.addWidget(bar)
    # As the fields stood when the app started, three hours ago.
    started = QDateTime.currentDateTime().addSecs(-3 * 3600)
    bar.since_edit.setDateTime(started.addSecs(-3600))
    bar.until_edit.setDateTime(started)
    bar.set_preset(2)  # the last 24 hours
    bar.set_preset(CUSTOM_INDEX)
    since, until = bar.time_range().since, bar.time_range().until
    assert since is not None
    assert until is not None
    assert abs(until - clock.time()) < 120
    assert abs((until - since) - 86_400) < 120
    assert bar.load_button.isEnabled()
    # Custom again (a range of the user's own): left as it is.
    bar.since_edit.setDateTime(started)
    bar.set_preset(CUSTOM_INDEX)
    assert bar.since_edit.dateTime() == started


def test_a_typed_path_of_an_existing_file_is_replaced_only_when_the_user_says_so(
    qtbot: QtBot, logs_window: Any, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QMessageBox

    tab = open_logs(qtbot, logs_window)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "logs.csv"
    target.write_text("keep me\n", encoding="utf-8")
    dialog = tab.open_export()
    dialog.file_edit.setText(str(target))
    exported: list[Any] = []
    dialog.export_finished.connect(lambda *args: exported.append(args))

    # Enter in the path field: a question, not a silent overwrite; Cancel keeps the file.
    qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    question = dialog.replace_question
    assert isinstance(question, QMessageBox)
    qtbot.waitUntil(question.isVisible, timeout=5000)
    assert target.name in question.text()
    assert dialog.runner.running == 0
    question.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: not question.isVisible(), timeout=5000)
    assert dialog.runner.running == 0
    assert target.read_text(encoding="utf-8") == "keep me\n"

    # Asked again; Replace writes the export, atomically and private.
    qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    question = dialog.replace_question
    qtbot.waitUntil(question.isVisible, timeout=5000)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        question.action_button.click()
    assert "request_id" in target.read_text(encoding="utf-8").splitlines()[0]
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == [target.name]  # no temporary left

    # The same file again: the user already agreed, so no second question.
    asked = dialog.replace_question
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.replace_question is asked
    assert len(exported) == 2
    dialog.close()


def test_a_file_chosen_in_the_save_dialog_is_not_asked_about_twice(
    qtbot: QtBot, logs_window: Any, tmp_path: Path
) -> None:
    tab = open_logs(qtbot, logs_window)
    target = tmp_path / "chosen.ndjson"
    target.write_text("old\n", encoding="utf-8")
    dialog = tab.open_export()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("ndjson"))
    chooser = dialog.choose_file()
    # What Qt's save dialog says once the user confirmed replacing the existing file there.
    chooser.fileSelected.emit(str(target))
    chooser.close()
    assert dialog.file_edit.text() == str(target)
    with qtbot.waitSignal(dialog.export_finished, timeout=20000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.replace_question is None
    assert target.read_text(encoding="utf-8") != "old\n"
    # Typed by hand to another existing file: that one is asked about.
    other = tmp_path / "other.ndjson"
    other.write_text("other\n", encoding="utf-8")
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=5000)
    dialog.file_edit.setText(str(other))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.replace_question is not None
    qtbot.waitUntil(dialog.replace_question.isVisible, timeout=5000)
    assert other.read_text(encoding="utf-8") == "other\n"
    dialog.replace_question.reject()
    dialog.close()


def test_refused_batches_missing_the_id_at_different_items_make_one_error_group(
    qtbot: QtBot, logs_window: Any, logs_server: tuple[str, str]
) -> None:
    import uuid

    from console.api.feeds import FeedsApi

    url, key = logs_server
    feed = f"grp-{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        client = ApiClient(url, key)
        try:
            await FeedsApi(client).create(feed, "Groups")
        finally:
            await client.aclose()

    run(create())
    missing = (7, 699, 3, 41)
    for at in missing:
        items = [{"n": n} if n == at else {"id": f"i{n}"} for n in range(700)]
        assert send_ingest(url, key, feed, json.dumps(items).encode()) is None
    tab = open_logs(qtbot, logs_window, preset=1)  # the last hour

    def groups_of_feed() -> list[Any]:
        return [g for g in tab.groups_model.groups if g.feed == feed]

    qtbot.waitUntil(lambda: sum(g.count for g in groups_of_feed()) == len(missing), timeout=15000)
    [group] = groups_of_feed()
    assert group.count == len(missing)
    assert group.error.startswith("400 INVALID_PAYLOAD: [*].id is missing")
    assert not group.error.endswith("(id)")  # the message names the field already


def test_every_status_keeps_its_legend_entry_however_narrow_the_histogram(
    qtbot: QtBot,
) -> None:
    import numpy as np

    from console.logbuffer.buffer import STATUSES, Histogram
    from console.ui.logs.histogram import LEFT_MARGIN, LogHistogram

    histogram = LogHistogram()
    qtbot.addWidget(histogram)
    counts = np.ones((len(STATUSES), 10), dtype=np.int64)
    histogram.set_histogram(Histogram(0.0, 600.0, 60.0, counts), STATUSES)
    for width in (1200, 640, 420):
        histogram.resize(width, 124)
        entries = histogram.legend_entries()
        assert [status for status, _label, _rect in entries] == list(STATUSES), width
        for status, label, rect in entries:
            assert rect.left() >= LEFT_MARGIN, (width, status)  # clear of the count axis
            assert rect.right() <= width, (width, status)
            assert label, (width, status)
        lefts = [rect.left() for _s, _l, rect in entries]
        assert lefts == sorted(lefts)
        for (_s, _l, one), (_s2, _l2, two) in itertools.pairwise(entries):
            assert one.right() <= two.left()  # none drawn over another
        if width == 1200:
            assert [label for _s, label, _r in entries] == [s.replace("_", " ") for s in STATUSES]
    assert any(label.endswith("…") for _s, label, _r in histogram.legend_entries())
    assert "succeeded: 10" in histogram.legend_tip()
    assert "partially failed: 10" in histogram.legend_tip()


def test_times_are_as_short_as_the_range_and_ids_get_the_width_saved(
    qtbot: QtBot, logs_window: Any
) -> None:
    from console.ui.logs.model import COLUMNS
    from tests.ui.test_window_layout import _laid_out

    tab = open_logs(qtbot, logs_window)  # the last 7 days: month and day, then the time
    _laid_out()
    time_column = 0
    corr = next(c for c, (_t, name, _f) in enumerate(COLUMNS) if name == "CORRELATION_ID")
    header = tab.table.horizontalHeader()
    index = tab.model.index(0, time_column)
    text = index.data()
    assert len(text) == len("12-31 23:59:59.999"), text
    full = index.data(Qt.ItemDataRole.ToolTipRole)
    assert full.endswith(text)
    assert len(full) == len("2026-12-31 23:59:59.999")
    week_id_width = header.sectionSize(corr)
    week_time_width = header.sectionSize(time_column)
    full_time_width = tab.table.fontMetrics().horizontalAdvance(full)
    assert week_time_width < full_time_width

    with qtbot.waitSignal(tab.loaded, timeout=30000):
        tab.filter_bar.set_preset(1)  # the last hour
    qtbot.waitUntil(lambda: tab.selection is not None and not tab.loading, timeout=10000)
    _laid_out()
    assert tab.model.rowCount() > 0
    index = tab.model.index(0, time_column)
    assert len(index.data()) == len("23:59:59.999")
    assert index.data(Qt.ItemDataRole.ToolTipRole).endswith(index.data())
    hour_time_width = header.sectionSize(time_column)
    assert hour_time_width < week_time_width
    # What the Time column gave up went to the two ID columns; all nine still fit.
    assert header.sectionSize(corr) - week_id_width >= (week_time_width - hour_time_width) // 2 - 1
    viewport = tab.table.viewport().width()
    for column in range(len(COLUMNS)):
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= viewport
    assert tab.table.horizontalScrollBar().maximum() == 0
    # Ctrl+C copies the current cell whole: an ID as the server wrote it, a time with its date.
    from PySide6.QtWidgets import QApplication

    row_id = tab.model.index(0, corr).data()
    tab.table.setCurrentIndex(tab.model.index(0, corr))
    qtbot.keyClick(tab.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == row_id
    tab.table.setCurrentIndex(tab.model.index(0, time_column))
    qtbot.keyClick(tab.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == tab.model.index(0, time_column).data(
        Qt.ItemDataRole.ToolTipRole
    )
