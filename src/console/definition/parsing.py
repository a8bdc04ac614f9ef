"""Parse YAML or JSON definition text into composed nodes that keep every node's position.

YAML goes through `yaml.compose` (libyaml's C parser when present, STACK_NOTES point 8),
which keeps marks and skips PyYAML's slow Python constructor. JSON goes through a small
strict parser that builds the same node classes, so one validator walks both.
"""

from __future__ import annotations

import bisect
import json.decoder
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.definition.cancellable import compose_cancellable
from console.definition.graph import GraphProblem, check_depth, check_graph
from console.definition.limits import MAX_DEPTH

Format = Literal["yaml", "json"]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# libyaml composes in C under its own nesting limit; PyYAML's Python composer recurses
# once per level, so without libyaml every text goes through the iterative composer.
_HAS_LIBYAML = _LOADER is not yaml.SafeLoader

STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"

# What yaml's reader refuses; searched for ourselves because the C reader reports a
# byte offset, not a position in the text.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class DefinitionSyntaxError(ValueError):
    """The text is not well-formed YAML or JSON; line and column are 1-based code points."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.reason = message
        self.line = line
        self.column = column


@dataclass
class ParsedDocument:
    """The composed root node (None for an empty text) and how to locate any node."""

    format: Format
    text: str
    root: Node | None
    _line_starts: list[int] | None = field(default=None, repr=False)

    def position(self, node: Node) -> tuple[int, int]:
        """1-based line and column (code points) where `node` starts."""
        offset = getattr(node, "offset", None)
        if offset is None:
            mark = node.start_mark
            return mark.line + 1, mark.column + 1
        return self.offset_position(offset)

    def end_position(self, node: Node) -> tuple[int, int] | None:
        """Where a scalar ends (exclusive), for underlining it; None for collections."""
        if not isinstance(node, ScalarNode):
            return None  # a mapping spans many lines: the editor marks its start only
        offset = getattr(node, "offset", None)
        if offset is None:
            mark = node.end_mark
            return mark.line + 1, mark.column + 1
        if node.tag == STR_TAG:
            end = _scanstring(self.text, offset + 1, True)[1]
        else:  # numbers and literals are written as their value's text
            end = offset + len(node.value)
        return self.offset_position(end)

    def offset_position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a code-point offset into the text."""
        if self._line_starts is None:
            # Built on first use only: clean documents never need a position.
            self._line_starts = [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1


def sniff_format(text: str) -> Format:
    """`json` when the first non-space character is `{`, else `yaml`."""
    stripped = text.lstrip(" \t\r\n\ufeff")
    return "json" if stripped.startswith("{") else "yaml"


def parse_text(
    text: str,
    format: Format | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> ParsedDocument:
    """Compose `text` into nodes with positions; raises DefinitionSyntaxError.

    Recursive aliases, nesting deeper than MAX_DEPTH and aliases that expand the text
    beyond the 1 MiB size limit are syntax errors too, at the node they concern: nothing
    downstream ever walks an unbounded graph. With `should_stop`, YAML is composed event
    by event and ValidationCancelled is raised as soon as it returns True (the editor's
    worker, when the text changed meanwhile).
    """
    fmt = format or sniff_format(text)
    if fmt == "json":
        return ParsedDocument("json", text, _JsonParser(text).parse())
    parsed = ParsedDocument("yaml", text, _compose_yaml(text, should_stop))
    if parsed.root is not None:
        try:
            if "*" in text:  # an alias is written `*name`: only then can nodes be shared
                check_graph(parsed.root, len(text))
            else:
                check_depth(parsed.root)
        except GraphProblem as problem:
            line, column = parsed.position(problem.node)
            raise DefinitionSyntaxError(problem.message, line, column) from None
    return parsed


def _compose_yaml(text: str, should_stop: Callable[[], bool] | None = None) -> Node | None:
    try:
        root: Node | None = (
            yaml.compose(text, Loader=_LOADER)
            if should_stop is None and _HAS_LIBYAML
            else compose_cancellable(text, _LOADER, should_stop or _never)
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.problem:
            reason = f"{exc.problem} ({exc.context})"
        raise DefinitionSyntaxError(reason, line, column) from None
    except yaml.reader.ReaderError as exc:
        bad = _NON_PRINTABLE.search(text)
        offset = bad.start() if bad else 0
        line, column = ParsedDocument("yaml", text, None).offset_position(offset)
        raise DefinitionSyntaxError(
            f"special character {exc.character!r} is not allowed", line, column
        ) from None
    return root


def _never() -> bool:
    return False


class _JScalar(ScalarNode):
    """A JSON scalar: value is the string or the literal's text, `offset` its start."""

    __slots__ = ("offset",)
    start_mark = end_mark = style = None

    def __init__(self, tag: str, value: str, offset: int) -> None:
        # No super().__init__: this runs for every scalar of large documents.
        self.tag = tag
        self.value = value
        self.offset = offset


class _JMapping(MappingNode):
    __slots__ = ("offset",)
    start_mark = end_mark = flow_style = None

    def __init__(self, value: list[tuple[Node, Node]], offset: int) -> None:
        self.tag = MAP_TAG
        self.value = value
        self.offset = offset


class _JSequence(SequenceNode):
    __slots__ = ("offset",)
    start_mark = end_mark = flow_style = None

    def __init__(self, value: list[Node], offset: int) -> None:
        self.tag = SEQ_TAG
        self.value = value
        self.offset = offset


# Always matches (possibly nothing), hence the cast away from Optional.
_WS = cast("Callable[[str, int], re.Match[str]]", re.compile(r"[ \t\n\r]*").match)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match
# json's own string scanner (its C version when available); the stubs do not declare it.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = vars(json.decoder)["scanstring"]
_LITERALS = (("true", BOOL_TAG), ("false", BOOL_TAG), ("null", NULL_TAG))


class _JsonParser:
    """Strict RFC 8259 JSON (no NaN, no trailing commas) into position-keeping nodes."""

    def __init__(self, text: str) -> None:
        self.text = text

    def parse(self) -> Node:
        text = self.text
        start = 1 if text.startswith("\ufeff") else 0
        node, end = self._value(_WS(text, start).end(), 1)
        end = _WS(text, end).end()
        if end != len(text):
            self._fail("extra data after the document", end)
        return node

    def _fail(self, message: str, offset: int) -> NoReturn:
        line, column = ParsedDocument("json", self.text, None).offset_position(offset)
        raise DefinitionSyntaxError(message, line, column)

    def _string(self, offset: int) -> tuple[str, int]:
        try:
            value, end = _scanstring(self.text, offset + 1, True)
        except json.JSONDecodeError as exc:
            self._fail(exc.msg.lower(), exc.pos)
        if _LONE_SURROGATE.search(value):
            # `\ud83d` without its pair is no character: YAML refuses it too, and it
            # cannot be stored or sent on as UTF-8.
            self._fail("a \\u escape names half of a surrogate pair", offset)
        return value, end

    def _value(self, offset: int, depth: int) -> tuple[Node, int]:
        """The value at `offset`; `depth` counts the objects and arrays it would open."""
        text = self.text
        char = text[offset : offset + 1]
        if char == "{" or char == "[":
            # Checked before descending: the recursion below is never deeper than this.
            if depth > MAX_DEPTH:
                self._fail(f"the document is nested more than {MAX_DEPTH} levels deep", offset)
            return self._object(offset, depth) if char == "{" else self._array(offset, depth)
        if char == '"':
            value, end = self._string(offset)
            return _JScalar(STR_TAG, value, offset), end
        number = _NUMBER(text, offset)
        if number is not None:
            tag = FLOAT_TAG if number.group(1) or number.group(2) else INT_TAG
            return _JScalar(tag, number.group(), offset), number.end()
        for literal, tag in _LITERALS:
            if text.startswith(literal, offset):
                return _JScalar(tag, literal, offset), offset + len(literal)
        for constant in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(constant, offset):
                self._fail(f"{constant} is not a JSON number; numbers must be finite", offset)
        self._fail("expecting a value" if char else "unexpected end of the document", offset)

    def _object(self, start: int, depth: int) -> tuple[Node, int]:
        text = self.text
        pairs: list[tuple[Node, Node]] = []
        offset = _WS(text, start + 1).end()
        if text.startswith("}", offset):
            return _JMapping(pairs, start), offset + 1
        while True:
            if not text.startswith('"', offset):
                self._fail("expecting a property name in double quotes", offset)
            key_start = offset
            key, offset = self._string(offset)
            key_node = _JScalar(STR_TAG, key, key_start)
            offset = _WS(text, offset).end()
            if not text.startswith(":", offset):
                self._fail("expecting ':' after the property name", offset)
            value, offset = self._value(_WS(text, offset + 1).end(), depth + 1)
            pairs.append((key_node, value))
            offset = _WS(text, offset).end()
            if text.startswith(",", offset):
                offset = _WS(text, offset + 1).end()
                continue
            if text.startswith("}", offset):
                return _JMapping(pairs, start), offset + 1
            self._fail("expecting ',' or '}'", offset)

    def _array(self, start: int, depth: int) -> tuple[Node, int]:
        text = self.text
        items: list[Node] = []
        offset = _WS(text, start + 1).end()
        if text.startswith("]", offset):
            return _JSequence(items, start), offset + 1
        while True:
            value, offset = self._value(offset, depth + 1)
            items.append(value)
            offset = _WS(text, offset).end()
            if text.startswith(",", offset):
                offset = _WS(text, offset + 1).end()
                continue
            if text.startswith("]", offset):
                return _JSequence(items, start), offset + 1
            self._fail("expecting ',' or ']'", offset)
