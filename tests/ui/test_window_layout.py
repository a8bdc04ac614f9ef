"""A long name never resizes the window: it elides, and every tab fits in 1024×640."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRect, QSize
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from console.api.errors import ApiError
from console.config.profiles import ConnectionProfile
from tests.ui.server_setup import create_pipelines
from tests.ui.test_selection_and_filters import _click_row, show_pipelines

SMALL_SCREEN = QSize(1024, 640)
LONG_NAME = "Nightly " + "customer-ledger-" * 12  # 200 characters (the most), few breaks


def _inside_window(window: Any, widget: QWidget) -> bool:
    top_left = widget.mapTo(window, QPoint(0, 0))
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


def _laid_out() -> None:
    """Run the layout passes Qt has queued (they would resize the window), no waiting."""
    for _ in range(4):  # a child's pass queues its parent's
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)


def _fits(hint: QSize) -> bool:
    return hint.width() <= SMALL_SCREEN.width() and hint.height() <= SMALL_SCREEN.height()


def test_a_200_character_name_elides_and_leaves_the_window_alone(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    assert len(LONG_NAME) == 200
    long_one, short_one = create_pipelines(sandbox_url, admin_key, [LONG_NAME, "Short one"])
    window.tabs.setCurrentWidget(window.pipelines_tab)
    _laid_out()
    width = window.width()
    tab = show_pipelines(qtbot, window, [short_one, long_one])
    assert tab.panel.pipeline.name == "Short one"
    _laid_out()
    divider = tab.splitter.sizes()

    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        _click_row(qtbot, tab.table, LONG_NAME)
    assert tab.panel.pipeline.name == LONG_NAME
    _laid_out()
    assert window.width() == width
    assert tab.splitter.sizes() == divider  # the list/editor divider stays where it was
    assert _inside_window(window, tab.panel.apply_button)
    for title in (tab.panel.title, tab.name_label):
        assert LONG_NAME in title.text()
        assert LONG_NAME in title.toolTip()  # elided on screen, whole in the tooltip
        assert title.width() < title.fontMetrics().horizontalAdvance(LONG_NAME)
    assert _fits(window.minimumSizeHint())

    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        _click_row(qtbot, tab.table, "Short one")
    _laid_out()
    assert tab.splitter.sizes() == divider
    assert window.width() == width


def test_every_tab_fits_a_1024_by_640_window(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, secrets: Any
) -> None:
    tab = show_pipelines(qtbot, window, create_pipelines(sandbox_url, admin_key, [LONG_NAME]))
    # A long profile name in the picker and the status bar must not widen the window either.
    long_profile = "Production " + "eu-west-" * 30
    window.settings.upsert(ConnectionProfile(long_profile, base_url="https://api.example.com"))
    window._profiles_saved()
    window.status.set_connection_state("connected", f"Connected to {long_profile}")
    # Nor does a message quoting a long URL or name in the error banner.
    far_away = "https://" + "x" * 250 + ".example.com"  # no place to break a line
    window.banner.show_error(
        ApiError(0, "NETWORK_ERROR", f"could not reach {far_away}"),
        context=f"Could not connect to “{long_profile}”",
    )

    window.resize(SMALL_SCREEN)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        page = window.tabs.widget(index)
        qtbot.waitUntil(page.isVisible)
        _laid_out()
        hint = window.minimumSizeHint()
        assert _fits(hint), f"{window.tabs.tabText(index)} needs {hint.width()}×{hint.height()}"
        assert window.width() <= SMALL_SCREEN.width()
        assert window.height() <= SMALL_SCREEN.height()
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(tab.panel.apply_button.isVisible)
    for button in (tab.panel.apply_button, tab.start_button, tab.archive_button, tab.new_button):
        assert _inside_window(window, button), button.text()
