"""`--screenshots` waits for each tab's data, its paint and settled validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.ui.screenshots import (
    ScreenshotTimeoutError,
    save_tab_screenshots,
    wait_for_paint,
    wait_until_settled,
)
from tests.ui.test_pipelines_tab import _create_on_server, _open_pipeline


def _finish(qtbot: QtBot, coro: Any, timeout: int = 30000) -> Any:
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


def test_the_pipelines_screenshot_shows_the_checked_definition(
    qtbot: QtBot, make_window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    window = make_window(sandbox_url, admin_key)  # opens the pipeline by itself
    panel = window.pipelines_tab.panel
    qtbot.waitUntil(
        lambda: panel.state_label.text() == "Matches the server." and not panel.validator.pending,
        timeout=10000,
    )
    assert panel.pipeline.id == pipeline.id
    grabbed: list[tuple[str, list[str], list[str], str]] = []
    grab = window.grab

    def grab_and_note(*args: Any) -> Any:
        if window.tabs.currentWidget() is window.pipelines_tab:
            grabbed.append(
                (
                    panel.editor.toPlainText(),
                    [p.path for p in panel.problems.problems("local")],
                    [p.path for p in panel.problems.problems("server")],
                    panel.problems.summary(),
                )
            )
        return grab(*args)

    window.grab = grab_and_note
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(panel.editor, "colour: blue")  # both checks of this text are due
    typed = panel.editor.toPlainText()
    saved = _finish(qtbot, save_tab_screenshots(window, tmp_path / "shots"))
    assert [path.name for path in saved][1] == "02-pipelines.png"
    assert grabbed == [(typed, ["colour"], ["colour"], "2 problems")]


def test_the_wait_returns_only_once_the_panel_has_settled(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(panel.editor, "colour: blue")  # starts a local check and a dry-run
    assert not panel.is_settled
    checked: list[object] = []
    panel.server_checked.connect(checked.append)
    _finish(qtbot, wait_until_settled(panel, 20))
    assert panel.is_settled
    assert checked  # the server's dry-run answered before the wait ended
    assert [p.path for p in panel.problems.problems("local")] == ["colour"]
    assert [p.path for p in panel.problems.problems("server")] == ["colour"]


def test_a_wait_that_never_ends_fails_loudly(qtbot: QtBot, window: Any) -> None:
    page = window.tabs.widget(2)
    assert not page.isVisible()  # a tab that is not current is never painted
    with pytest.raises(ScreenshotTimeoutError, match=r"did not paint within 0\.2 s"):
        _finish(qtbot, wait_for_paint(page, 0.2))


def test_the_production_band_is_connected_and_grabbed_while_the_tab_pngs_encode(
    qtbot: QtBot, window: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from console.ui import screenshots

    connecting = threading.Event()
    seen_by_writes: list[bool] = []
    write_png = screenshots._write_png

    def slow_write(image: Any, path: Any) -> bool:
        # An encoder still busy when the tabs are all grabbed: it goes on only once the
        # production connection has started (or after 5 s, remembering that it had not).
        seen_by_writes.append(connecting.wait(5))
        return write_png(image, path)

    connect_url = window.connect_url

    def noting_connect(*args: Any) -> None:
        connecting.set()
        connect_url(*args)

    monkeypatch.setattr(screenshots, "_write_png", slow_write)
    window.connect_url = noting_connect
    saved = _finish(qtbot, save_tab_screenshots(window, tmp_path / "shots"))
    assert [path.name for path in saved][-1] == "05-production-band.png"
    assert seen_by_writes == [True] * 5  # the four tabs, then the band
    assert window.session.profile.environment == "production"


FULL_KEY = "fdk_" + "k" * 36 + "LAST"


def _long_table(qtbot: QtBot) -> tuple[Any, Any]:
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTableView

    model = QStandardItemModel(1000, 3)
    for row in range(1000):
        for column in range(3):
            model.setItem(row, column, QStandardItem(f"cell {row}.{column}"))
    view = QTableView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    return view, model


def test_the_secret_check_reads_the_cells_a_grab_shows_not_the_whole_model(
    qtbot: QtBot,
) -> None:
    from PySide6.QtGui import QStandardItem

    from console.ui.screenshots import SecretOnScreenError, assert_no_secret_on_screen
    from console.ui.screenshots import visible_texts as texts_of

    view, model = _long_table(qtbot)
    cells = [text for text in texts_of(view) if text.startswith("cell ")]
    # A page, not 3,000 cells (reading each was most of a secret check on a long table).
    assert "cell 0.0" in cells
    assert "cell 0.2" in cells
    assert 3 * 5 <= len(cells) <= 3 * 40
    last_shown = view.rowAt(view.viewport().height() - 1)
    assert f"cell {last_shown}.2" in cells
    # A key in the last row the viewport shows (even in part) is on screen.
    model.setItem(last_shown, 1, QStandardItem(FULL_KEY))
    with pytest.raises(SecretOnScreenError):
        assert_no_secret_on_screen(view)
    # Scrolled to the end, the last rows are the ones read; a moved column still counts.
    model.setItem(last_shown, 1, QStandardItem("cleared"))
    view.horizontalHeader().moveSection(2, 0)
    view.scrollToBottom()
    model.setItem(999, 2, QStandardItem(FULL_KEY))
    with pytest.raises(SecretOnScreenError):
        assert_no_secret_on_screen(view)
    assert "cell 0.0" not in texts_of(view)
