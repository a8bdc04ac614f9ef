"""The command palette and the F1 sheet, both written from the one action registry."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QApplication
from pytestqt.qtbot import QtBot

from console.ui.palette import fuzzy_score, rank
from tests.ui.server_setup import create_keys
from tests.ui.test_keyboard import _active, _focus
from tests.ui.test_selection_and_filters import _click_row

pytestmark = pytest.mark.gui

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
PORTABLE = QKeySequence.SequenceFormat.PortableText


def _open_palette_by_key(qtbot: QtBot, window: Any) -> Any:
    """Ctrl+Shift+P where the focus is, as the user's keyboard sends it."""
    _active(qtbot, window)
    before = getattr(window, "command_palette", None)
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, Qt.Key.Key_P, CTRL | SHIFT)
    qtbot.waitUntil(lambda: getattr(window, "command_palette", None) is not before, timeout=5000)
    palette = window.command_palette
    qtbot.waitUntil(palette.isVisible, timeout=5000)
    return palette


def _keys_with(qtbot: QtBot, window: Any, url: str, key: str, names: list[str]) -> Any:
    create_keys(url, key, names)
    keys = window.keys_tab
    with qtbot.waitSignal(keys.keys_loaded, timeout=10000):
        keys.refresh()
    return keys


def test_the_fuzzy_match_ranks_word_starts_and_runs_first() -> None:
    assert fuzzy_score("rotate", "Rotate the selected key…") is not None
    assert fuzzy_score("rotate", "Revoke the selected key…") is None
    assert fuzzy_score("xyz", "Rotate the selected key…") is None
    # "np" starts both words of "New pipeline", but is scattered in "Open a … pipeline".
    assert (fuzzy_score("np", "New pipeline") or 0) > (fuzzy_score("np", "Unpause") or 0)
    assert (fuzzy_score("exp", "Export records…") or 0) > (
        fuzzy_score("exp", "Show the edits as a diff, expanded") or 0
    )


def test_the_palette_finds_rotate_and_runs_it_on_the_selected_key(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    keys = _keys_with(qtbot, window, sandbox_url, admin_key, ["Alpha", "Beta"])
    window.tabs.setCurrentWidget(window.pipelines_tab)  # the palette shows the Keys tab
    window.tabs.setCurrentWidget(keys)
    _click_row(qtbot, keys.table, "Beta")
    beta = keys.selected_key()
    assert beta is not None
    assert beta.name == "Beta"
    window.tabs.setCurrentWidget(window.pipelines_tab)
    _focus(qtbot, window.pipelines_tab.search_edit)

    palette = _open_palette_by_key(qtbot, window)
    qtbot.waitUntil(palette.query_edit.hasFocus, timeout=5000)  # typing goes there
    qtbot.keyClicks(palette.query_edit, "rotate")
    assert palette.shown_ids()[0] == "keys.rotate"
    entry = palette.current_entry()
    assert entry.refusal is None
    assert palette.list.currentItem().text(1) == "Keys"  # its category is shown
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: getattr(keys, "rotate_dialog", None) is not None, timeout=5000)
    qtbot.waitUntil(keys.rotate_dialog.isVisible, timeout=5000)
    assert keys.rotate_dialog.key.id == beta.id  # the key selected in the Keys tab
    assert window.tabs.currentWidget() is keys
    assert not palette.isVisible()
    keys.rotate_dialog.reject()


def test_an_unavailable_entry_says_why_and_runs_nothing(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    keys = _keys_with(qtbot, window, sandbox_url, admin_key, ["Only"])
    keys.clear_selection()
    palette = _open_palette_by_key(qtbot, window)
    qtbot.keyClicks(palette.query_edit, "rotate")
    entry = palette.current_entry()
    assert entry.action.id == "keys.rotate"
    assert entry.refusal  # no key selected: it says so
    assert entry.refusal in palette.list.currentItem().text(0)
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
    assert palette.isVisible()  # still open, saying why
    assert entry.refusal in palette.why_label.text()
    assert getattr(keys, "rotate_dialog", None) is None
    # Arrows move through the list from the search field; Esc closes.
    palette.query_edit.clear()
    first = palette.current_entry().action.id
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Down)
    assert palette.current_entry().action.id != first
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not palette.isVisible(), timeout=5000)


def test_every_action_in_the_registry_is_reachable_from_the_palette(
    qtbot: QtBot, window: Any
) -> None:
    registry = window.action_registry
    ids = [action.id for action in registry]
    assert len(ids) >= 30
    for needed in (
        "tab.keys",
        "tab.pipelines",
        "tab.records",
        "tab.logs",
        "profile.switch",
        "connections.manage",
        "view.refresh",
        "keys.add",
        "keys.rotate",
        "keys.revoke",
        "pipelines.new",
        "pipelines.apply",
        "pipelines.import",
        "records.import",
        "records.export",
        "logs.export",
        "bulk.ingest",
        "find_by_id",
        "logs.live_tail",
        "writes.unlock",
        "writes.lock",
        "palette.open",
        "help.shortcuts",
    ):
        assert needed in registry, needed
    palette = _open_palette_by_key(qtbot, window)
    listed = palette.shown_ids()
    assert set(ids) <= set(listed)
    assert "profile.switch.Test sandbox" in listed  # each saved profile, by name
    for action in registry:
        palette.query_edit.setText(action.title)
        assert action.id in palette.shown_ids(), action.title
        palette.query_edit.setText(action.title.lower().replace(" ", "")[:12])
        assert action.id in palette.shown_ids(), action.title
    # Each entry shows its shortcut.
    palette.query_edit.setText("command palette")
    assert palette.list.currentItem().text(2) == QKeySequence("Ctrl+Shift+P").toString(
        QKeySequence.SequenceFormat.NativeText
    )
    palette.reject()


def test_typing_a_profiles_name_switches_to_it(
    qtbot: QtBot, window: Any, sandbox_url: str, mint_key: Any, account: str
) -> None:
    from console.config.profiles import ConnectionProfile
    from console.config.secrets import profile_account

    other = f"{account}-other"
    window.settings.upsert(ConnectionProfile("Second server", base_url=sandbox_url))
    window.secrets.set(profile_account("Second server"), mint_key(other))
    palette = _open_palette_by_key(qtbot, window)
    palette.query_edit.setText("switch conn")
    assert palette.current_entry().action.id == "profile.switch"
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.command_palette is not palette, timeout=5000)
    chooser = window.command_palette
    assert all(i.startswith("profile.switch.") for i in chooser.shown_ids())
    qtbot.keyClicks(chooser.query_edit, "second")
    assert chooser.current_entry().action.id == "profile.switch.Second server"
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        qtbot.keyClick(chooser.query_edit, Qt.Key.Key_Return)
    assert window.session.profile.name == "Second server"


def test_write_actions_are_refused_in_the_palette_while_writes_are_locked(
    qtbot: QtBot, window: Any
) -> None:
    protection = window.session.protection
    registry = window.action_registry
    palette = _open_palette_by_key(qtbot, window)
    by_id = {e.action.id: e for e in palette.entries}
    assert by_id["writes.unlock"].refusal  # only production profiles are locked
    assert by_id["keys.add"].refusal is None
    palette.reject()

    protection.set_profile(dataclasses.replace(window.session.profile, environment="production"))
    refusal = protection.refusal()
    assert refusal
    palette = _open_palette_by_key(qtbot, window)
    by_id = {e.action.id: e for e in palette.entries}
    writes = [a.id for a in registry if a.writes]
    assert {"keys.add", "keys.rotate", "keys.revoke", "pipelines.apply", "bulk.ingest"} <= set(
        writes
    )
    for action_id in writes:
        assert by_id[action_id].refusal == refusal, action_id
    assert by_id["view.refresh"].refusal is None  # reading is never refused
    assert by_id["writes.lock"].refusal  # locked already
    palette.query_edit.setText("add a key")
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
    assert getattr(window.keys_tab, "add_dialog", None) is None
    palette.query_edit.setText("unlock writes")
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)  # runs session.protection.unlock()
    assert protection.writes_allowed
    palette = _open_palette_by_key(qtbot, window)
    by_id = {e.action.id: e for e in palette.entries}
    assert by_id["keys.add"].refusal is None
    palette.query_edit.setText("lock writes")
    assert palette.current_entry().action.id == "writes.lock"
    qtbot.keyClick(palette.query_edit, Qt.Key.Key_Return)
    assert not protection.writes_allowed


def _bound_keys(window: Any) -> dict[str, str]:
    """Every key sequence bound in the window and the windows it owns → what binds it."""
    bound: dict[str, str] = {}
    for shortcut in window.findChildren(QShortcut):
        if shortcut.isEnabled():
            bound[shortcut.key().toString(PORTABLE)] = f"QShortcut of {shortcut.parent()}"
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            bound[sequence.toString(PORTABLE)] = f"QAction {action.text()}"
    for button in window.findChildren(QAbstractButton):
        sequence = button.shortcut()
        mnemonic = QKeySequence.mnemonic(button.text())
        if not sequence.isEmpty() and sequence != mnemonic:
            bound[sequence.toString(PORTABLE)] = f"button {button.text()}"
    bound.pop("", None)
    return bound


def test_the_f1_sheet_lists_every_shortcut_bound_in_the_app(qtbot: QtBot, window: Any) -> None:
    for index in range(window.tabs.count()):  # every tab built
        window.tabs.setCurrentIndex(index)
    window.finder._primary()  # a trace window binds its own keys
    bound = _bound_keys(window)
    assert {"Ctrl+Shift+P", "F1", "F5", "Ctrl+K", "Ctrl+S", "Ctrl+W"} <= set(bound)
    window.tabs.setCurrentIndex(0)
    _focus(qtbot, window.keys_tab.search_edit)
    qtbot.keyClick(window.keys_tab.search_edit, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: getattr(window, "shortcuts_sheet", None) is not None, timeout=5000)
    sheet = window.shortcuts_sheet
    qtbot.waitUntil(sheet.isVisible, timeout=5000)
    listed = sheet.listed_keys()
    missing = {key: what for key, what in bound.items() if key not in listed}
    assert not missing
    # Grouped by category, and nothing on the sheet that the registry lacks.
    assert sheet.categories()[:2] == ["Window", "Connection"]
    assert {"Pipelines", "Trace window"} <= set(sheet.categories())
    registry_keys = {
        QKeySequence(k).toString(PORTABLE) for a in window.action_registry for k in a.shortcuts
    }
    assert listed == registry_keys
    sheet.reject()


def test_f5_refreshes_the_tab_shown(qtbot: QtBot, window: Any) -> None:
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    _active(qtbot, window)
    _focus(qtbot, tab.search_edit)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        qtbot.keyClick(tab.search_edit, Qt.Key.Key_F5)
    window.tabs.setCurrentWidget(window.keys_tab)
    _focus(qtbot, window.keys_tab.search_edit)
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        qtbot.keyClick(window.keys_tab.search_edit, Qt.Key.Key_F5)


def test_ranking_keeps_registration_order_for_an_empty_query(window: Any) -> None:
    actions = list(window.action_registry)
    assert rank("", actions) == actions
