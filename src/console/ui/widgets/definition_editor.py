"""The definition editor: highlighting, line numbers, squiggles, completion.

Problems arrive with code-point line/column marks (PyYAML's); every conversion to
Qt's UTF-16 positions goes through text_positions, so emoji never shift a squiggle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from PySide6.QtCore import QEvent, QRect, QStringListModel, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QHelpEvent,
    QKeyEvent,
    QResizeEvent,
    QTextBlock,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QPlainTextEdit,
    QTextEdit,
    QToolTip,
    QWidget,
)

from console.definition.model import Problem, Severity
from console.ui.widgets.definition_completion import (
    CompletionCatalog,
    CompletionContext,
    detect_context,
)
from console.ui.widgets.line_numbers import SEVERITY_COLOURS, LineNumberGutter
from console.ui.widgets.text_positions import code_point_index, utf16_offset
from console.ui.widgets.yaml_highlighter import DefinitionFormat, DefinitionHighlighter

# The rest of a plain token; quoted strings and flow collections are handled apart.
_TOKEN = re.compile(r"[^\s:,\[\]{}#]+")
# Typing the space after these (or after a list dash) opens completion by itself.
_AUTO_TRIGGER = re.compile(r"(?:(?:^|[\s-])(?:type|id)[ ]*:|^[ ]*-)[ ]$")
_INDENT = "  "


def token_end(text: str, index: int) -> int:
    """Code point index just past the token starting at `index` of `text`."""
    if index >= len(text):
        return index
    char = text[index]
    if char in "\"'":
        closing = text.find(char, index + 1)
        return len(text) if closing < 0 else closing + 1
    if char in "[{":
        depth = 0
        for position in range(index, len(text)):
            if text[position] in "[{":
                depth += 1
            elif text[position] in "]}":
                depth -= 1
                if depth == 0:
                    return position + 1
        return len(text)
    match = _TOKEN.match(text, index)
    return match.end() if match else index + 1


def _underline(colour: str) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SpellCheckUnderline)
    fmt.setUnderlineColor(QColor(colour))
    return fmt


class DefinitionEditor(QPlainTextEdit):
    """A monospace YAML/JSON editor that shows validation problems where they are."""

    problems_changed = Signal(int)  # how many problems are shown

    def __init__(
        self, parent: QWidget | None = None, text_format: DefinitionFormat = "yaml"
    ) -> None:
        super().__init__(parent)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * len(_INDENT))
        self.highlighter = DefinitionHighlighter(self.document(), text_format)
        self._formats = {severity: _underline(c) for severity, c in SEVERITY_COLOURS.items()}
        self._problems: list[Problem] = []
        # Selection cursors move with edits, so squiggles and markers stay on their text
        # until the next validation replaces them.
        self._spans: list[tuple[QTextCursor, Problem]] = []
        self._markers: dict[int, Severity] | None = None
        self.document().contentsChanged.connect(self._forget_markers)

        self.gutter = LineNumberGutter(self, self._marker_lines, self.line_messages)
        self._gutter_state: tuple[int | float, ...] = ()
        self.blockCountChanged.connect(self._fit_gutter)
        self.updateRequest.connect(self._scroll_gutter)
        self._fit_gutter()

        self._catalog = CompletionCatalog()
        self._completion_options: dict[str, str] = {}
        self._completion_model = QStringListModel(self)
        self.completer = QCompleter(self._completion_model, self)
        self.completer.setWidget(self)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.activated.connect(self.insert_completion)

    # -- format ---------------------------------------------------------------------

    def set_format(self, text_format: DefinitionFormat) -> None:
        """Highlight as "yaml" or "json" (the text itself is not converted)."""
        self.highlighter.set_format(text_format)

    def text_format(self) -> DefinitionFormat:
        """The syntax being edited."""
        return self.highlighter.text_format

    # -- problems -------------------------------------------------------------------

    def set_problems(self, problems: Sequence[Problem]) -> None:
        """Underline each problem (red errors, amber warnings) and mark its line."""
        self._problems = list(problems)
        document = self.document()
        selections: list[QTextEdit.ExtraSelection] = []
        spans: list[tuple[QTextCursor, Problem]] = []
        # Warnings first, so an error's red wins where both underline the same text.
        for problem in sorted(self._problems, key=lambda p: p.severity is Severity.ERROR):
            start, end = self._span_positions(problem)
            cursor = QTextCursor(document)
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor
            selection.format = self._formats[problem.severity]
            selections.append(selection)
            spans.append((cursor, problem))
        self._spans = spans
        self._markers = None
        self.setExtraSelections(selections)
        self.gutter.update()
        self.problems_changed.emit(len(self._problems))

    def problems(self) -> list[Problem]:
        """The problems last set."""
        return list(self._problems)

    def problem_span(self, problem_index: int) -> tuple[int, int]:
        """Current (start, end) UTF-16 document positions of the `problem_index`-th span."""
        cursor = self._spans[problem_index][0]
        return cursor.selectionStart(), cursor.selectionEnd()

    def problems_at(self, position: int) -> list[Problem]:
        """Problems whose underline covers UTF-16 document `position`."""
        return [p for c, p in self._spans if c.selectionStart() <= position <= c.selectionEnd()]

    def line_messages(self, line: int) -> list[str]:
        """Messages of the problems marked on 1-based `line`."""
        document = self.document()
        return [
            p.message
            for c, p in self._spans
            if document.findBlock(c.selectionStart()).blockNumber() + 1 == line
        ]

    def _span_positions(self, problem: Problem) -> tuple[int, int]:
        block = self._block(problem.line)
        text = block.text()
        column = min(max(problem.column - 1, 0), len(text))
        start = block.position() + utf16_offset(text, column)
        if problem.end_line is not None and problem.end_column is not None:
            end_block = self._block(problem.end_line)
            end = end_block.position() + utf16_offset(end_block.text(), problem.end_column - 1)
            if end > start:
                return start, end
        end = block.position() + utf16_offset(text, token_end(text, column))
        if end == start and column > 0:  # nothing left on the line: mark the last character
            start = block.position() + utf16_offset(text, column - 1)
        return start, end

    def _block(self, line: int) -> QTextBlock:
        block = self.document().findBlockByNumber(max(line, 1) - 1)
        return block if block.isValid() else self.document().lastBlock()

    def _marker_lines(self) -> dict[int, Severity]:
        if self._markers is None:
            document = self.document()
            markers: dict[int, Severity] = {}
            for cursor, problem in self._spans:
                line = document.findBlock(cursor.selectionStart()).blockNumber() + 1
                if markers.get(line) is not Severity.ERROR:
                    markers[line] = problem.severity
            self._markers = markers
        return self._markers

    def _forget_markers(self) -> None:
        if self._spans:
            self._markers = None

    # -- cursor ---------------------------------------------------------------------

    def jump_to(self, line: int, column: int) -> None:
        """Put the cursor at 1-based `line` and code-point `column`, centred."""
        block = self._block(line)
        text = block.text()
        cursor = QTextCursor(block)
        column_index = min(max(column - 1, 0), len(text))
        cursor.setPosition(block.position() + utf16_offset(text, column_index))
        self.setTextCursor(cursor)
        self.centerCursor()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def cursor_line_column(self) -> tuple[int, int]:
        """The cursor's 1-based line and code-point column, as problems count them."""
        cursor = self.textCursor()
        block = cursor.block()
        index = code_point_index(block.text(), cursor.positionInBlock())
        return block.blockNumber() + 1, index + 1

    # -- gutter ---------------------------------------------------------------------

    def _fit_gutter(self) -> None:
        self.setViewportMargins(self.gutter.width_hint(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        elif rect.contains(self.viewport().rect()):
            # QSyntaxHighlighter makes every keystroke repaint the whole viewport; the
            # gutter only needs it when what it shows changed (a third of a keystroke).
            state = (
                self.firstVisibleBlock().blockNumber(),
                self.contentOffset().y(),
                self.blockCount(),
                self.textCursor().blockNumber(),
            )
            if state != self._gutter_state:
                self._gutter_state = state
                self.gutter.update()
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep the gutter beside the viewport."""
        super().resizeEvent(event)
        contents = self.contentsRect()
        self.gutter.setGeometry(
            QRect(contents.left(), contents.top(), self.gutter.width_hint(), contents.height())
        )

    def viewportEvent(self, event: QEvent) -> bool:
        """Hovering an underlined span shows its problems."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            position = self.cursorForPosition(event.pos()).position()
            messages = [p.message for p in self.problems_at(position)]
            if messages:
                QToolTip.showText(event.globalPos(), "\n".join(messages), self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    # -- completion -----------------------------------------------------------------

    def set_completion_catalog(
        self,
        connections: Sequence[tuple[int, str, str]],
        hook_ids: Sequence[tuple[int, str]],
        hook_events: Sequence[str],
        transformation_types: Sequence[str],
    ) -> None:
        """Candidates: connections (id, name, role), hooks (id, name), events, types."""
        self._catalog = CompletionCatalog.build(
            connections, hook_ids, hook_events, transformation_types
        )

    def completion_context(self) -> CompletionContext | None:
        """What completion fits at the cursor (YAML only)."""
        if self.text_format() != "yaml":
            return None
        cursor = self.textCursor()
        block = cursor.block()
        before = block.text()[: code_point_index(block.text(), cursor.positionInBlock())]
        return detect_context(before, _lines_above(block))

    def show_completions(self) -> bool:
        """Open the completion popup for the cursor's context; False when nothing fits."""
        context = self.completion_context()
        options = self._catalog.candidates(context.kind) if context else []
        popup = self._popup()
        if context is None or not options:
            popup.hide()
            return False
        self._completion_options = dict(options)
        self._completion_model.setStringList([shown for shown, _ in options])
        self.completer.setCompletionPrefix(context.prefix)
        if self.completer.completionCount() == 0:
            popup.hide()
            return False
        popup.setCurrentIndex(self.completer.completionModel().index(0, 0))
        rect = self.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width())
        self.completer.complete(rect)
        return True

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # QCompleter creates its popup on first use
        return popup

    def completion_candidates(self) -> list[str]:
        """The shown texts the popup currently offers."""
        model = self.completer.completionModel()
        return [str(model.index(row, 0).data()) for row in range(model.rowCount())]

    def insert_completion(self, shown: str) -> None:
        """Replace the partial word at the cursor with the completion shown as `shown`."""
        context = self.completion_context()
        inserted = self._completion_options.get(shown, shown)
        cursor = self.textCursor()
        if context is not None and context.prefix:
            partial = utf16_offset(context.prefix, len(context.prefix))
            cursor.movePosition(
                QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, partial
            )
        cursor.insertText(inserted)
        self.setTextCursor(cursor)
        self._popup().hide()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Completion keys, two-space indentation, and auto-indent on Enter."""
        key, modifiers = event.key(), event.modifiers()
        popup_visible = self._popup().isVisible()
        if popup_visible and key in (
            Qt.Key.Key_Enter,
            Qt.Key.Key_Return,
            Qt.Key.Key_Escape,
            Qt.Key.Key_Tab,
            Qt.Key.Key_Backtab,
        ):
            event.ignore()  # the completer's own event filter chooses or closes
            return
        if key == Qt.Key.Key_Space and modifiers & Qt.KeyboardModifier.ControlModifier:
            self.show_completions()
            return
        if key == Qt.Key.Key_Tab and not modifiers:
            self.insertPlainText(_INDENT)  # YAML forbids tabs in indentation
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not modifiers:
            line = self.textCursor().block().text()
            indent = line[: len(line) - len(line.lstrip(" "))]
            if line.rstrip().endswith(":") and self.text_format() == "yaml":
                indent += _INDENT
            self.textCursor().insertText("\n" + indent)
            self.ensureCursorVisible()
            return
        super().keyPressEvent(event)
        if popup_visible:
            self.show_completions()  # narrow (or close) as the partial word changes
        elif event.text() == " " and self._catalog.options:
            cursor = self.textCursor()
            line = cursor.block().text()
            # positionInBlock counts UTF-16 units; the string is indexed by code points.
            before = line[: code_point_index(line, cursor.positionInBlock())]
            if _AUTO_TRIGGER.search(before):
                self.show_completions()


def _lines_above(block: QTextBlock) -> Iterator[str]:
    previous = block.previous()
    while previous.isValid():
        yield previous.text()
        previous = previous.previous()
