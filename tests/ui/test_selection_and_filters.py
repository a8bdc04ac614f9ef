"""A filter never changes what is selected; the Pipelines list, editor, metadata and
actions always speak of one pipeline, and only choosing another one asks about edits."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableView
from pytestqt.qtbot import QtBot

from console.api.pipelines import Pipeline
from console.ui.pipelines.dialogs import UnsavedEditsBox
from tests.ui.server_setup import create_keys, create_pipelines


def _click_row(qtbot: QtBot, table: QTableView, name: str) -> None:
    model = table.model()
    rows = [r for r in range(model.rowCount()) if model.index(r, 0).data() == name]
    assert rows, f"{name} is not listed"
    rect = table.visualRect(model.index(rows[0], 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _highlighted(table: QTableView) -> list[str]:
    return [index.data() for index in table.selectionModel().selectedRows()]


def _open_questions() -> list[UnsavedEditsBox]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, UnsavedEditsBox) and w.isVisible()
    ]


def test_the_keys_filter_clears_a_hidden_selection_and_never_moves_it(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    create_keys(sandbox_url, admin_key, ["Alpha export", "Beta export", "Gamma import"])
    tab = window.keys_tab
    with qtbot.waitSignal(tab.keys_loaded, timeout=10000):
        tab.refresh()
    _click_row(qtbot, tab.table, "Beta export")
    assert tab.selected_key().name == "Beta export"
    assert tab.revoke_button.isEnabled()

    qtbot.keyClicks(tab.search_edit, "Alpha")  # hides the selected key
    assert tab.proxy.rowCount() == 1
    assert tab.selected_key() is None
    assert _highlighted(tab.table) == []
    assert not tab.revoke_button.isEnabled()
    assert not tab.rotate_button.isEnabled()
    tab.revoke_selected()  # nothing is selected, so nothing can be revoked
    assert getattr(tab, "revoke_box", None) is None

    tab.search_edit.clear()
    assert tab.selected_key() is None  # cleared, not moved to another key
    assert not tab.revoke_button.isEnabled()

    # A filter that keeps the selected row shown keeps it selected, keystroke by keystroke.
    _click_row(qtbot, tab.table, "Gamma import")
    for typed in ("G", "a", "m"):
        qtbot.keyClicks(tab.search_edit, typed)
        assert tab.selected_key().name == "Gamma import"
    tab.search_edit.clear()
    tab.status_combo.setCurrentIndex(tab.status_combo.findData("revoked"))  # hides it
    assert tab.selected_key() is None
    assert not tab.revoke_button.isEnabled()


def show_pipelines(qtbot: QtBot, window: Any, created: list[Pipeline]) -> Any:
    """The Pipelines tab listing `created`, with the first of them open in the editor."""
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        tab.refresh()
    # The first list of a connection opens its newest pipeline by itself, unless that list
    # was still empty: open the wanted one either way.
    if tab.current_id != created[0].id:
        with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
            assert tab.select_pipeline(created[0].id)
    wanted = created[0].id
    qtbot.waitUntil(
        lambda: (
            tab.panel.pipeline is not None
            and tab.panel.pipeline.id == wanted
            and tab.panel.subject == "pipeline"
        ),  # its text has arrived
        timeout=10000,
    )
    return tab


def _pipelines_tab(qtbot: QtBot, window: Any, names: list[str], url: str, key: str) -> Any:
    created = create_pipelines(url, key, names)
    return show_pipelines(qtbot, window, created), {p.name: p for p in created}


def _choose(qtbot: QtBot, tab: Any, name: str) -> None:
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        _click_row(qtbot, tab.table, name)


def _all_speak_of(tab: Any, pipeline: Pipeline) -> None:
    """The list, the editor, the metadata and the actions name the same pipeline."""
    assert tab.current_id == pipeline.id
    assert tab.panel.pipeline.id == pipeline.id
    assert tab.meta_labels["Id"].text() == str(pipeline.id)
    assert tab.name_label.text() == pipeline.name
    proxy = tab.proxy
    listed = any(proxy.index(r, 0).data() == pipeline.name for r in range(proxy.rowCount()))
    assert _highlighted(tab.table) == ([pipeline.name] if listed else [])


def test_the_pipelines_filter_never_changes_the_open_pipeline(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab, made = _pipelines_tab(
        qtbot, window, ["Alpha sync", "Beta sync", "Gamma sync"], sandbox_url, admin_key
    )
    _choose(qtbot, tab, "Beta sync")
    beta = made["Beta sync"]
    assert _highlighted(tab.table) == ["Beta sync"]
    assert tab.start_button.isEnabled()

    qtbot.keyClicks(tab.search_edit, "Alpha")  # hides Beta
    assert _highlighted(tab.table) == []
    _all_speak_of(tab, beta)
    for button in (tab.start_button, tab.stop_button, tab.force_button, tab.archive_button):
        assert not button.isEnabled(), f"{button.text()} acts on a pipeline the list hides"

    tab.search_edit.clear()
    assert _highlighted(tab.table) == ["Beta sync"]  # the open pipeline is shown again
    assert tab.start_button.isEnabled()
    _all_speak_of(tab, beta)


def test_typing_in_the_filter_never_asks_about_edits_and_one_question_at_a_time(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab, made = _pipelines_tab(
        qtbot, window, ["Alpha sync", "Beta sync", "Gamma sync"], sandbox_url, admin_key
    )
    _choose(qtbot, tab, "Beta sync")
    beta = made["Beta sync"]
    edited = tab.panel.editor.toPlainText() + "# unapplied\n"
    tab.panel.editor.setPlainText(edited)
    assert tab.panel.is_dirty

    qtbot.keyClicks(tab.search_edit, "Alpha")
    assert _open_questions() == []
    assert tab.search_edit.text() == "Alpha"  # every keystroke reached the filter
    assert tab.panel.editor.toPlainText() == edited
    _all_speak_of(tab, beta)
    tab.search_edit.clear()
    assert _open_questions() == []
    assert _highlighted(tab.table) == ["Beta sync"]

    # Choosing another pipeline asks, once, however often it is asked for meanwhile.
    _click_row(qtbot, tab.table, "Alpha sync")
    questions = _open_questions()
    assert len(questions) == 1
    # The question names both: the pipeline with the edits and the one being opened.
    assert "“Beta sync”" in questions[0].text()
    assert "Before opening “Alpha sync”" in questions[0].informativeText()
    assert tab.select_pipeline(made["Gamma sync"].id)  # a second request meanwhile
    assert _open_questions() == questions
    assert "Before opening “Gamma sync”" in questions[0].informativeText()
    _all_speak_of(tab, beta)  # nothing changes until the answer

    # Cancel: the list highlights the open pipeline again and the actions act on it.
    with qtbot.waitSignal(questions[0].finished, timeout=5000):
        questions[0].reject()
    assert _open_questions() == []
    assert _highlighted(tab.table) == ["Beta sync"]
    _all_speak_of(tab, beta)
    assert tab.panel.editor.toPlainText() == edited
    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    assert "Beta sync" in tab.confirm_box.text()
    tab.confirm_box.reject()

    # Keep draft: the newest request wins, and everything moves to it together.
    _click_row(qtbot, tab.table, "Alpha sync")
    assert tab.select_pipeline(made["Gamma sync"].id)
    (question,) = _open_questions()
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        qtbot.mouseClick(question.keep_button, Qt.MouseButton.LeftButton)
    _all_speak_of(tab, made["Gamma sync"])
    assert _highlighted(tab.table) == ["Gamma sync"]
    assert _open_questions() == []
