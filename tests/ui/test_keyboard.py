"""The keyboard reaches everything: Tab leaves tables, Ctrl+Tab/Ctrl+PgDn switch tabs from
anywhere, Ctrl+F finds the filter, Ctrl+S applies, and mnemonics never clash."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from console.api.errors import ApiError
from tests.ui.server_setup import create_keys, create_pipelines
from tests.ui.test_selection_and_filters import _click_row, _highlighted, show_pipelines

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
ALT = Qt.KeyboardModifier.AltModifier


def _active(qtbot: QtBot, window: Any) -> None:
    """Shortcuts and focus need the window to be the active one."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def _focus(qtbot: QtBot, widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def _press(qtbot: QtBot, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """A key press where the focus is, as the user's keyboard sends it."""
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifiers)


def _pipelines(qtbot: QtBot, window: Any, url: str, key: str, names: list[str]) -> Any:
    return show_pipelines(qtbot, window, create_pipelines(url, key, names))


def test_tab_leaves_a_table_for_the_next_control(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    _active(qtbot, window)
    create_keys(sandbox_url, admin_key, ["Alpha", "Beta"])
    keys = window.keys_tab
    with qtbot.waitSignal(keys.keys_loaded, timeout=10000):
        keys.refresh()
    _click_row(qtbot, keys.table, "Alpha")
    _focus(qtbot, keys.table)
    qtbot.keyClick(keys.table, Qt.Key.Key_Tab)
    assert not keys.table.hasFocus()
    assert QApplication.focusWidget() is not None
    assert keys.selected_key().name == "Alpha"  # Tab moved no cell and chose nothing

    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["First", "Second"])
    current = tab.current_id
    _focus(qtbot, tab.table)
    qtbot.keyClick(tab.table, Qt.Key.Key_Tab)
    assert not tab.table.hasFocus()
    assert tab.current_id == current  # Tab never chooses the next pipeline
    assert _highlighted(tab.table) == [tab.panel.pipeline.name]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab, SHIFT)
    assert tab.table.hasFocus()  # and Shift+Tab comes back


def test_ctrl_tab_and_ctrl_page_keys_switch_tabs_from_anywhere(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["Edited here"])
    _active(qtbot, window)
    editor = tab.panel.editor
    text = editor.toPlainText()
    _focus(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_Tab, CTRL)  # the editor would take a tab for itself
    assert window.tabs.currentIndex() == 2
    assert editor.toPlainText() == text
    _press(qtbot, Qt.Key.Key_PageUp, CTRL)
    assert window.tabs.currentIndex() == 1
    _focus(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_PageDown, CTRL)
    assert window.tabs.currentIndex() == 2
    _press(qtbot, Qt.Key.Key_Backtab, CTRL | SHIFT)  # Ctrl+Shift+Tab
    _press(qtbot, Qt.Key.Key_Backtab, CTRL | SHIFT)
    assert window.tabs.currentIndex() == 0
    _press(qtbot, Qt.Key.Key_Backtab, CTRL | SHIFT)
    assert window.tabs.currentIndex() == 3  # round the end
    _press(qtbot, Qt.Key.Key_Tab, CTRL)
    assert window.tabs.currentIndex() == 0
    _focus(qtbot, window.keys_tab.table)  # a table takes Ctrl+PgDn for paging itself
    qtbot.keyClick(window.keys_tab.table, Qt.Key.Key_PageDown, CTRL)
    assert window.tabs.currentIndex() == 1
    assert editor.toPlainText() == text


def test_ctrl_f_focuses_the_current_tabs_filter(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["Find me"])
    _active(qtbot, window)
    _focus(qtbot, tab.panel.editor)
    qtbot.keyClick(tab.panel.editor, Qt.Key.Key_F, CTRL)
    assert tab.search_edit.hasFocus()
    window.tabs.setCurrentWidget(window.keys_tab)
    _focus(qtbot, window.keys_tab.table)
    qtbot.keyClick(window.keys_tab.table, Qt.Key.Key_F, CTRL)
    assert window.keys_tab.search_edit.hasFocus()
    window.tabs.setCurrentWidget(window.records_tab)  # its free-text filter
    _press(qtbot, Qt.Key.Key_F, CTRL)
    assert window.records_tab.filter_bar.text_edit.hasFocus()
    window.tabs.setCurrentIndex(3)  # Ingest Logs: no filter in this build, nothing happens
    _press(qtbot, Qt.Key.Key_F, CTRL)
    assert window.tabs.currentIndex() == 3


def test_ctrl_s_applies_an_edited_definition_and_nothing_else(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["Saved by key"])
    panel = tab.panel
    _active(qtbot, window)
    _focus(qtbot, panel.editor)
    qtbot.keyClick(panel.editor, Qt.Key.Key_S, CTRL)  # nothing edited: nothing applied
    assert not panel._applying
    panel.editor.setPlainText(panel.editor.toPlainText().replace("Saved by key", "Saved by Ctrl"))
    assert panel.is_dirty

    window.tabs.setCurrentWidget(window.keys_tab)  # Ctrl+S belongs to the Pipelines tab
    _press(qtbot, Qt.Key.Key_S, CTRL)
    assert not panel._applying

    window.tabs.setCurrentWidget(tab)
    _focus(qtbot, panel.editor)
    with qtbot.waitSignal(panel.applied, timeout=15000) as applied:
        qtbot.keyClick(panel.editor, Qt.Key.Key_S, CTRL)
    assert applied.args[0].revision == 2
    assert not panel.is_dirty


def _mnemonic(widget: QWidget) -> str | None:
    text = widget.text() if isinstance(widget, QAbstractButton | QLabel) else ""
    sequence = QKeySequence.mnemonic(text)
    return sequence.toString() if not sequence.isEmpty() else None


def _visible_mnemonics(window: Any) -> dict[str, list[str]]:
    """Alt+letter → the texts that claim it, among widgets shown in the window."""
    claims: dict[str, list[str]] = {}
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or (widget.isWindow() and widget is not window):
            continue
        if isinstance(widget, QLabel) and widget.buddy() is None:
            continue  # a plain label's "&" is not a shortcut
        key = _mnemonic(widget)
        if key is not None:
            claims.setdefault(key, []).append(widget.text())
    return claims


def test_buttons_have_mnemonics_and_none_clash_within_a_tab(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["Mnemonic check"])
    window.banner.show_error(ApiError(401, "UNAUTHORIZED", "Key refused", correlation_id="corr_x"))
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.waitUntil(window.tabs.widget(index).isVisible)
        claims = _visible_mnemonics(window)
        clashes = {key: texts for key, texts in claims.items() if len(texts) > 1}
        assert not clashes, f"{window.tabs.tabText(index)}: {clashes}"
        buttons = [
            b
            for b in window.findChildren(QAbstractButton)
            if b.isVisibleTo(window) and b.text() and not b.text().startswith("✕")
        ]
        missing = [b.text() for b in buttons if _mnemonic(b) is None]
        assert not missing, f"{window.tabs.tabText(index)}: no mnemonic on {missing}"

    keys = window.keys_tab
    assert [b.text() for b in (keys.add_button, keys.rotate_button, keys.revoke_button)] == [
        "&Add key…",
        "&Rotate…",
        "Re&voke…",
    ]
    assert [b.text() for b in (tab.start_button, tab.stop_button)] == ["&Start", "S&top"]
    assert tab.panel.apply_button.text() == "&Apply"

    # Apply becomes Create for a new pipeline: the same button keeps the same key.
    window.tabs.setCurrentWidget(tab)
    _active(qtbot, window)
    _focus(qtbot, tab.table)
    _press(qtbot, Qt.Key.Key_N, ALT)  # Alt+N: New pipeline (a mnemonic animates its click)
    qtbot.waitUntil(lambda: tab.panel.is_new, timeout=5000)
    assert _mnemonic(tab.panel.apply_button) == QKeySequence.mnemonic("&Apply").toString()
    assert not {k: t for k, t in _visible_mnemonics(window).items() if len(t) > 1}


def test_ctrl_s_closes_the_completion_popup_it_applies_over(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _pipelines(qtbot, window, sandbox_url, admin_key, ["Applied over a popup"])
    panel = tab.panel
    qtbot.waitUntil(lambda: panel.catalog is not None, timeout=10000)
    _active(qtbot, window)
    _focus(qtbot, panel.editor)
    editor = panel.editor
    editor.setPlainText(editor.toPlainText().replace("Applied over a popup", "Applied, popup shut"))
    # The cursor just after the source's "id: ": completion offers the source connections.
    position = editor.toPlainText().index("id: ") + len("id: ")
    cursor = editor.textCursor()
    cursor.setPosition(position)
    editor.setTextCursor(cursor)
    assert editor.show_completions()
    popup = editor.completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=10000)

    with qtbot.waitSignal(panel.applied, timeout=15000):
        qtbot.keyClick(editor, Qt.Key.Key_S, CTRL)
    assert not popup.isVisible()
    assert "Applied, popup shut" in editor.toPlainText()  # no completion was inserted
