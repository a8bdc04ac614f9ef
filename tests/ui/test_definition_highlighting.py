"""Syntax highlighting of definitions in YAML and JSON."""

from __future__ import annotations

import asyncio

import pytest
from pytestqt.qtbot import QtBot

from console.ui.widgets.definition_editor import DefinitionEditor

pytestmark = pytest.mark.gui


def _coloured(editor: DefinitionEditor, line: int) -> dict[str, str]:
    """Text of each formatted range of `line`, mapped to its foreground colour."""
    block = editor.document().findBlockByNumber(line)
    layout = block.layout()
    assert layout is not None
    text = block.text()
    # Formats count UTF-16 units; slice the UTF-16 encoding to get their text back.
    units = text.encode("utf-16-le")
    return {
        units[r.start * 2 : (r.start + r.length) * 2].decode("utf-16-le"): (
            r.format.foreground().color().name()
        )
        for r in layout.formats()
    }


@pytest.fixture
def editor(qtbot: QtBot, qloop: asyncio.AbstractEventLoop) -> DefinitionEditor:
    """A shown editor."""
    widget = DefinitionEditor()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_yaml_tokens_get_their_colours(editor: DefinitionEditor) -> None:
    editor.setPlainText(
        "name: 'Orders # not a comment'  # a comment\n"
        "sync:\n"
        "  frequency: 60\n"
        "  auto_sync_new_tables: true\n"
        "tables:\n"
        '  - name: 🚀 "rocket"\n'
        "    append_only: null\n"
    )
    colours = editor.highlighter.formats
    key = colours["key"].foreground().color().name()
    first = _coloured(editor, 0)
    assert first["name"] == key
    assert first["'Orders # not a comment'"] == colours["string"].foreground().color().name()
    assert first["# a comment"] == colours["comment"].foreground().color().name()
    assert _coloured(editor, 2)["60"] == colours["number"].foreground().color().name()
    assert _coloured(editor, 3)["true"] == colours["constant"].foreground().color().name()
    item = _coloured(editor, 5)
    assert item["-"] == colours["dash"].foreground().color().name()
    assert item['"rocket"'] == colours["string"].foreground().color().name()  # after an emoji
    assert _coloured(editor, 6)["null"] == colours["constant"].foreground().color().name()


def test_json_mode_highlights_json(editor: DefinitionEditor) -> None:
    editor.setPlainText('{"name": "Orders", "sync": {"frequency": 60}, "x": [true, null]}')
    editor.set_format("json")
    assert editor.text_format() == "json"
    colours = {k: f.foreground().color().name() for k, f in editor.highlighter.formats.items()}
    line = _coloured(editor, 0)
    assert line['"name"'] == colours["key"]
    assert line['"Orders"'] == colours["string"]
    assert line['"frequency"'] == colours["key"]
    assert line["60"] == colours["number"]
    assert line["true"] == colours["constant"]
    assert line["null"] == colours["constant"]

    editor.setPlainText("name: value")  # YAML, not JSON: no key in JSON's eyes
    assert "name" not in _coloured(editor, 0)
    editor.set_format("yaml")
    assert _coloured(editor, 0)["name"] == colours["key"]  # re-highlighted on switching
    with pytest.raises(ValueError, match="unknown definition format"):
        editor.set_format("toml")  # type: ignore[arg-type]
