"""Syntax highlighting of definition documents, in YAML or JSON.

Each line is highlighted on its own (no multi-line block state), so a keystroke
re-highlights only the line it changed: QSyntaxHighlighter moves on to the next
block only when a block's state changes, and ours never does.
"""

from __future__ import annotations

import re
from typing import Literal

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from console.ui.widgets.text_positions import utf16_map

DefinitionFormat = Literal["yaml", "json"]

# Alternatives are tried left to right at each position, so strings win over comments
# (a `#` inside quotes is text) and keys win over plain words.
_YAML_TOKENS = re.compile(
    r"""
    (?P<key>(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{}\[\],:-][^\s:#,\[\]{}]*
        (?:[ \t]+[^\s:#,\[\]{}]+)*|-[^\s:#,\[\]{}]+)(?=[ \t]*:(?:\s|$)))
    |(?P<string>"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)
    |(?P<comment>(?<!\S)\#.*)
    |(?P<number>(?<![\w.])[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    |(?P<constant>(?<![\w.])(?:true|false|null|yes|no|on|off|True|False|Null|TRUE|FALSE
        |NULL|Yes|No|On|Off|~)(?![\w.]))
    |(?P<dash>(?<!\S)-(?=\s|$))
    |(?P<plain>[^\s,\[\]{}\#:][^\s,\[\]{}]*)
    """,
    re.VERBOSE,
)

_JSON_TOKENS = re.compile(
    r"""
    (?P<key>"(?:[^"\\]|\\.)*")(?=\s*:)
    |(?P<string>"(?:[^"\\]|\\.)*"?)
    |(?P<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?)
    |(?P<constant>\b(?:true|false|null)\b)
    """,
    re.VERBOSE,
)


def _format(colour: str, *, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class DefinitionHighlighter(QSyntaxHighlighter):
    """Colours keys, strings, numbers, booleans/null, comments and list dashes."""

    def __init__(self, document: QTextDocument, text_format: DefinitionFormat = "yaml") -> None:
        super().__init__(document)
        self._text_format: DefinitionFormat = text_format
        self.formats: dict[str, QTextCharFormat] = {
            "key": _format("#1f4e9c", bold=True),
            "string": _format("#2e7d32"),
            "plain": _format("#2e5e31"),
            "number": _format("#b35c00"),
            "constant": _format("#8e24aa", bold=True),
            "comment": _format("#7a7a7a", italic=True),
            "dash": _format("#c2185b", bold=True),
        }

    @property
    def text_format(self) -> DefinitionFormat:
        """The syntax being highlighted."""
        return self._text_format

    def set_format(self, text_format: DefinitionFormat) -> None:
        """Switch between YAML and JSON (re-highlights the whole document once)."""
        if text_format not in ("yaml", "json"):
            raise ValueError(f"unknown definition format {text_format!r}")
        if text_format != self._text_format:
            self._text_format = text_format
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        """Colour one line."""
        if not text:
            return
        tokens = _YAML_TOKENS if self._text_format == "yaml" else _JSON_TOKENS
        # Qt positions count UTF-16 units; the regex counts code points.
        offsets = utf16_map(text)
        for match in tokens.finditer(text):
            kind = match.lastgroup
            if kind is None:
                continue
            start, end = match.span(kind)
            if offsets is not None:
                start, end = offsets[start], offsets[end]
            self.setFormat(start, end - start, self.formats[kind])
