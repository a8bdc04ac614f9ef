"""Completion in the definition editor: what fits where, and what gets inserted."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.definition import HOOK_EVENTS, TRANSFORMATION_TYPES
from console.ui.widgets.definition_completion import CompletionContext, detect_context
from console.ui.widgets.definition_editor import DefinitionEditor

pytestmark = pytest.mark.gui

CONNECTIONS = [(3, "Orders DB", "source"), (5, "Warehouse", "destination"), (4, "CRM", "source")]
HOOKS = [(1, "Slack alerts"), (2, "Pager")]
TRANSFORMATION_ITEM = "transformations:\n  - table: t\n    type: ren"


@pytest.fixture
def editor(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> DefinitionEditor:
    """A shown editor with a completion catalogue."""
    widget = DefinitionEditor()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    widget.set_completion_catalog(CONNECTIONS, HOOKS, HOOK_EVENTS, TRANSFORMATION_TYPES)
    return widget


def _start_with(editor: DefinitionEditor, text: str) -> None:
    editor.setPlainText(text)
    editor.moveCursor(editor.textCursor().MoveOperation.End)


def _context(document: str) -> CompletionContext | None:
    lines = document.split("\n")
    return detect_context(lines[-1], reversed(lines[:-1]))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("hooks:\n  - id: 1\n    events:\n      - pip", CompletionContext("event", "pip")),
        ("hooks:\n- id: 1\n  events:\n  - ", CompletionContext("event", "")),
        ("hooks:\n  - id: 1\n    events: [pipeline_failed, sy", CompletionContext("event", "sy")),
        ("hooks:\n  - events: [sync_failed]\n    id: 2", CompletionContext("hook", "2")),
        ("source:\n  connection:\n    id: ", CompletionContext("source", "")),
        ("destination:\n  connection:\n    id:", CompletionContext("destination", "")),
        (
            "transformations:\n  - table: t\n    type: ren",
            CompletionContext("transformation", "ren"),
        ),
        ("tables:\n  - name: t\n    type: ", None),
        ("name: x\nid: ", None),
        ("source:\n  connection:\n    id: 3 # comment ", None),
    ],
)
def test_context_detection(document: str, expected: CompletionContext | None) -> None:
    assert _context(document) == expected


def test_events_list_item_offers_hook_events_and_inserts_the_choice(
    qtbot: QtBot, editor: DefinitionEditor
) -> None:
    _start_with(editor, "hooks:\n  - id: 1\n    events:\n      ")
    qtbot.keyClicks(editor, "- ")
    popup = editor.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    assert editor.completion_candidates() == list(HOOK_EVENTS)

    qtbot.keyClicks(editor, "sync_f")  # narrows while typing
    assert editor.completion_candidates() == ["sync_failed"]
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=2000)
    assert editor.toPlainText().splitlines()[-1] == "      - sync_failed"


def test_type_under_transformations_offers_transformation_types(
    qtbot: QtBot, editor: DefinitionEditor
) -> None:
    _start_with(editor, "transformations:\n  - table: orders\n    ")
    qtbot.keyClicks(editor, "type: ")
    popup = editor.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    assert editor.completion_candidates() == list(TRANSFORMATION_TYPES)


def test_ctrl_space_offers_connections_of_the_role_and_inserts_the_id(
    qtbot: QtBot, editor: DefinitionEditor
) -> None:
    _start_with(editor, "source:\n  connection:\n    id: Ord")
    qtbot.keyClick(editor, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    popup = editor.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    assert editor.completion_candidates() == ["3 — Orders DB (source)"]
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert editor.toPlainText().splitlines()[-1] == "    id: 3"


def test_hook_ids_and_no_popup_where_nothing_fits(qtbot: QtBot, editor: DefinitionEditor) -> None:
    _start_with(editor, "hooks:\n  ")
    qtbot.keyClicks(editor, "- id: ")
    popup = editor.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    assert editor.completion_candidates() == ["1 — Slack alerts", "2 — Pager"]
    qtbot.keyClick(popup, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=2000)

    _start_with(editor, "tables:\n  - name: orders\n    ")
    qtbot.keyClicks(editor, "type: ")
    assert not popup.isVisible()
    assert not editor.show_completions()


def test_json_mode_offers_no_yaml_completion(qtbot: QtBot, editor: DefinitionEditor) -> None:
    editor.set_format("json")
    _start_with(editor, "transformations:\n  - ")
    assert editor.completion_context() is None
