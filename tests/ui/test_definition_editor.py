"""The definition editor with live validation, driven through real widgets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip
from pytestqt.qtbot import QtBot

from console.definition import MINIMAL_EXAMPLE_YAML, Problem, ProblemKind, validate_text
from console.ui.widgets.definition_editor import DefinitionEditor
from console.ui.widgets.live_validation import (
    THREAD_NAME_PREFIX,
    LiveValidationLink,
    LiveValidator,
    attach_live_validation,
)
from console.ui.widgets.problems_list import ProblemsList

pytestmark = pytest.mark.gui
DEBOUNCE_MS = 150
# One debounce plus a generous allowance for the worker on a busy 2-core machine.
WITHIN_ONE_DEBOUNCE_MS = DEBOUNCE_MS + 1500


@dataclass
class Live:
    """An editor and problems list wired to a live validator."""

    editor: DefinitionEditor
    problems: ProblemsList
    validator: LiveValidator
    link: LiveValidationLink


def _validator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]


@pytest.fixture
def editor(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> DefinitionEditor:
    """A shown editor."""
    widget = DefinitionEditor()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


@pytest.fixture
def live(qtbot: QtBot, editor: DefinitionEditor) -> Iterator[Live]:
    """The editor holding the minimal example, validated once, with a problems list."""
    problems = ProblemsList()
    qtbot.addWidget(problems)
    problems.resize(600, 300)
    problems.show()
    validator = LiveValidator(validate_text, debounce_ms=DEBOUNCE_MS)
    with qtbot.waitSignal(validator.validated, timeout=5000):
        editor.setPlainText(MINIMAL_EXAMPLE_YAML)
        link = attach_live_validation(editor, validator, problems)
    yield Live(editor, problems, validator, link)
    validator.shutdown()
    assert not _validator_threads(), "the validator's worker thread outlived shutdown()"


def _type_at_end(qtbot: QtBot, editor: DefinitionEditor, text: str) -> None:
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(editor, text)


def test_minimal_example_is_clean(live: Live) -> None:
    assert live.editor.problems() == []
    assert live.problems.summary() == "No problems"


def test_typing_an_unknown_key_underlines_and_lists_it_then_fixing_clears_it(
    qtbot: QtBot, live: Live
) -> None:
    editor, problems = live.editor, live.problems
    with qtbot.waitSignal(live.validator.validated, timeout=WITHIN_ONE_DEBOUNCE_MS) as shown:
        _type_at_end(qtbot, editor, "colour: red")
    # The first result after typing already has it: one debounce, not several.
    assert [p.path for p in shown.args[0].problems] == ["colour"]
    [problem] = editor.problems()
    assert (problem.line, problem.column) == (13, 1)
    start, end = editor.problem_span(0)
    block = editor.document().findBlockByNumber(12)
    assert (start, end) == (block.position(), block.position() + len("colour"))
    assert editor.line_messages(13) == [problem.message]
    assert problems.summary() == "1 problem"
    assert problems.problems("local") == [problem]
    row = problems.row_item("local", 0)
    assert row is not None
    assert row.text(0) == f"13:1  error  {problem.message}  [colour]"

    with qtbot.waitSignal(live.validator.validated, timeout=WITHIN_ONE_DEBOUNCE_MS):
        for _ in "colour: red":
            qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    assert editor.problems() == []
    assert editor.line_messages(13) == []
    assert problems.summary() == "No problems"


def test_fast_typing_applies_only_the_last_generation(qtbot: QtBot, live: Live) -> None:
    applied: list[int] = []
    live.validator.validated.connect(lambda _result, generation: applied.append(generation))
    with qtbot.waitSignal(live.validator.validated, timeout=WITHIN_ONE_DEBOUNCE_MS):
        _type_at_end(qtbot, live.editor, "extra_key: 1")
    qtbot.waitUntil(lambda: not live.validator.pending, timeout=5000)
    assert applied == [live.validator.generation]
    assert [p.path for p in live.editor.problems()] == ["extra_key"]


def test_squiggle_after_an_emoji_starts_at_the_right_utf16_position(
    editor: DefinitionEditor,
) -> None:
    text = MINIMAL_EXAMPLE_YAML.replace(
        "  - name: public.orders", '  - {name: "😀 orders", colour: red}'
    )
    editor.setPlainText(text)
    problems = validate_text(text).problems
    editor.set_problems(problems)
    [index] = [i for i, p in enumerate(editor.problems()) if p.path.endswith("colour")]
    problem = editor.problems()[index]
    line_text = text.splitlines()[problem.line - 1]
    assert line_text[problem.column - 1 :].startswith("colour")  # code points
    start, end = editor.problem_span(index)
    block = editor.document().findBlockByNumber(problem.line - 1)
    # One more UTF-16 unit than code points: the emoji is a surrogate pair.
    assert start == block.position() + problem.column - 1 + 1
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, cursor.MoveMode.KeepAnchor)
    assert cursor.selectedText() == "colour"


def test_explicit_end_and_tooltip_on_hover(qtbot: QtBot, editor: DefinitionEditor) -> None:
    editor.setPlainText("name: 🚀 rocket\nsync:\n  frequency: -5\n")
    warning = Problem("sync.frequency", "must be positive", 3, 14, ProblemKind.SEMANTICS)
    ranged = Problem("name", "name is odd", 1, 7, ProblemKind.SEMANTICS, end_line=1, end_column=15)
    editor.set_problems([warning, ranged])
    spans = {p.message: editor.problem_span(i) for i, p in enumerate(editor.problems())}
    assert spans["must be positive"][1] - spans["must be positive"][0] == len("-5")
    assert spans["name is odd"] == (len("name: "), len("name: 🚀 rocket".encode("utf-16-le")) // 2)

    cursor = editor.textCursor()
    cursor.setPosition(spans["must be positive"][0] + 1)
    point = editor.cursorRect(cursor).center()
    event = QHelpEvent(QEvent.Type.ToolTip, point, editor.viewport().mapToGlobal(point))
    QApplication.sendEvent(editor.viewport(), event)
    qtbot.waitUntil(lambda: QToolTip.text() == "must be positive", timeout=2000)
    QToolTip.hideText()


def test_clicking_a_problem_moves_the_cursor_there(qtbot: QtBot, live: Live) -> None:
    editor, problems = live.editor, live.problems
    text = MINIMAL_EXAMPLE_YAML.replace("  frequency: 60", "  frequency: 60\n  colour: 😀 red")
    text += "hooks:\n  - id: 1\n    events: [pipeline_failed]\n    extra: 🚀\n"
    with qtbot.waitSignal(live.validator.validated, timeout=WITHIN_ONE_DEBOUNCE_MS):
        editor.setPlainText(text)
    assert problems.count("local") >= 2
    editor.moveCursor(editor.textCursor().MoveOperation.Start)
    for index in range(problems.count("local")):
        row = problems.row_item("local", index)
        assert row is not None
        wanted = problems.problems("local")[index]
        problems.scrollToItem(row)
        with qtbot.waitSignal(problems.problem_activated, timeout=2000):
            qtbot.mouseClick(
                problems.viewport(),
                Qt.MouseButton.LeftButton,
                pos=problems.visualItemRect(row).center(),
            )
        assert editor.cursor_line_column() == (wanted.line, wanted.column)


def test_enter_on_a_problem_activates_it(qtbot: QtBot, live: Live) -> None:
    live.problems.set_problems(
        "server", [Problem("tables", "bad tables", 11, 3, ProblemKind.SEMANTICS)]
    )
    row = live.problems.row_item("server", 0)
    assert row is not None
    live.problems.setCurrentItem(row)
    with qtbot.waitSignal(live.problems.problem_activated, timeout=2000) as activated:
        qtbot.keyClick(live.problems, Qt.Key.Key_Return)
    assert activated.args[0].message == "bad tables"
    assert live.editor.cursor_line_column() == (11, 3)


def test_thousands_of_problems_are_shown(editor: DefinitionEditor) -> None:
    lines = [f"key_{i}: value" for i in range(3000)]
    editor.setPlainText("\n".join(lines))
    many = [
        Problem(f"key_{i}", f"unknown key 'key_{i}'", i + 1, 1, ProblemKind.SHAPE)
        for i in range(0, 3000, 2)
    ]
    editor.set_problems(many)
    assert len(editor.extraSelections()) == 1500
    assert editor.problem_span(1499)[1] - editor.problem_span(1499)[0] == len("key_2998")
    editor.set_problems([])
    assert editor.extraSelections() == []
