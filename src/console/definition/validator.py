"""Validate a definition document: every problem, each at its node, in one pass.

Shape checks (unknown, missing and mistyped keys) walk the composed nodes once and build
the plain document as they go; semantic checks then read the plain document and look a
node up only to place a problem. Nothing is quadratic: 1,000 tables cost a few ms on
top of parsing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.definition.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_INTEGER,
    MAX_NUMBER_CHARS,
    MIN_INTEGER,
    utf8_length_exceeds,
)
from console.definition.model import Catalog, Problem, ProblemKind, Severity, ValidationResult
from console.definition.parsing import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    MAP_TAG,
    NULL_TAG,
    SEQ_TAG,
    STR_TAG,
    DefinitionSyntaxError,
    Format,
    ParsedDocument,
    parse_text,
)
from console.definition.schema import (
    BOOL,
    DOCUMENT,
    INT,
    OBJECT,
    STR,
    ListOf,
    MapOf,
    Spec,
)
from console.definition.semantics import check_semantics

TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Far above any real definition (1,000 tables are ~12k nodes); stops alias bombs.
MAX_NODES = 500_000

_SAFE = SafeConstructor()
_TAG_NAMES = {
    STR_TAG: "a string",
    INT_TAG: "an integer",
    FLOAT_TAG: "a number",
    BOOL_TAG: "a boolean",
    NULL_TAG: "null (no value)",
    TIMESTAMP_TAG: "a date",
}
_EXPECTED = {STR: "a string", INT: "an integer", BOOL: "true or false", OBJECT: "a mapping"}
_PLAIN_BOOLS = {"true": True, "false": False}
_SCALAR_TAGS = {STR: STR_TAG, INT: INT_TAG, BOOL: BOOL_TAG}
# Plain decimal digits shorter than this are below 10**18: int() is cheap and in range.
_SHORT_INT = 19


class _TooLarge(Exception):
    pass


def validate_text(
    text: str,
    *,
    format: Format | None = None,
    catalog: Catalog | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ValidationResult:
    """Every problem of a definition text; connection and hook ids checked when given a catalog.

    `should_stop` makes it abandon stale work (raising ValidationCancelled) when it turns
    True: the live editor passes one so a keystroke never waits for a useless validation.
    """
    if utf8_length_exceeds(text, MAX_DOCUMENT_BYTES):
        return ValidationResult((too_large_problem(),))
    try:
        parsed = parse_text(text, format, should_stop=should_stop)
    except DefinitionSyntaxError as exc:
        problem = Problem("", str(exc), exc.line, exc.column, ProblemKind.PARSE)
        return ValidationResult((problem,))
    return validate_parsed(parsed, catalog=catalog)


def too_large_problem() -> Problem:
    """The problem of a document over the server's 1 MiB body limit (413 there)."""
    message = f"the document is larger than 1 MiB ({MAX_DOCUMENT_BYTES:,} bytes as UTF-8)"
    return Problem("", message, 1, 1, ProblemKind.PARSE)


def not_utf8_problem(raw: bytes, error: UnicodeDecodeError) -> Problem:
    """The problem of a document that is not UTF-8 (400 on the server), at its first bad
    byte: lines and columns counted as the server's parse errors count them."""
    before = raw[: error.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
    bad = raw[error.start : error.start + 1].hex()
    message = f"the document is not UTF-8 text (byte 0x{bad} cannot start a character here)"
    return Problem("", message, line, column, ProblemKind.PARSE)


def validate_parsed(parsed: ParsedDocument, *, catalog: Catalog | None = None) -> ValidationResult:
    """Validate an already parsed document (the editor keeps the nodes for hints)."""
    checker = _Checker(parsed)
    try:
        document = checker.run(catalog)
    except _TooLarge:
        problem = Problem(
            "", f"the document expands to more than {MAX_NODES:,} values", 1, 1, ProblemKind.PARSE
        )
        return ValidationResult((problem,), extra={"format": parsed.format})
    problems = sorted(checker.problems, key=lambda p: (p.line, p.column))
    return ValidationResult(tuple(problems), document, extra={"format": parsed.format})


def describe(node: Node) -> str:
    """What a node is, in words: 'a list', 'a string', ..."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, f"a value tagged {node.tag}")


class _Checker:
    """One validation run: the problems found so far and the node budget."""

    def __init__(self, parsed: ParsedDocument) -> None:
        self.parsed = parsed
        self.problems: list[Problem] = []
        self.budget = MAX_NODES

    def add(
        self,
        kind: ProblemKind,
        path: str,
        message: str,
        node: Node | None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        """Record a problem at `node` (the top of the text when None)."""
        if node is None:
            self.problems.append(Problem(path, message, 1, 1, kind, severity))
            return
        line, column = self.parsed.position(node)
        end = self.parsed.end_position(node)
        end_line, end_column = end if end is not None else (None, None)
        self.problems.append(
            Problem(path, message, line, column, kind, severity, end_line, end_column)
        )

    def run(self, catalog: Catalog | None) -> dict[str, Any] | None:
        root = self.parsed.root
        if root is None or not isinstance(root, MappingNode):
            got = "an empty document" if root is None else describe(root)
            self.add(ProblemKind.SHAPE, "", f"the document must be a mapping, got {got}", root)
            if root is not None:
                self.plain(root, "")  # still report parse-level issues such as duplicates
            return None
        document: dict[str, Any] = self.walk(root, DOCUMENT, "")
        check_semantics(document, root, catalog, self)
        return document

    def walk(self, node: Node, spec: Spec, path: str) -> Any:
        """Check `node` against `spec`; return its plain value either way."""
        if type(spec) is str:
            tag = _SCALAR_TAGS.get(spec)
            if tag is not None and node.tag == tag and isinstance(node, ScalarNode):
                return self.scalar(node, path)
            if spec == OBJECT and isinstance(node, MappingNode):
                return self.plain(node, path)
            return self._wrong_type(node, _EXPECTED[spec], path)
        if type(spec) is ListOf:
            if not isinstance(node, SequenceNode):
                return self._wrong_type(node, "a list", path)
            self._spend(node)
            item = spec.item
            if item == STR:  # inline: lists of names are the most common lists
                return [
                    child.value
                    if child.tag == STR_TAG and isinstance(child, ScalarNode)
                    else self.walk(child, item, f"{path}[{i}]")
                    for i, child in enumerate(node.value)
                ]
            return [self.walk(child, item, f"{path}[{i}]") for i, child in enumerate(node.value)]
        assert isinstance(spec, MapOf)
        if not isinstance(node, MappingNode):
            return self._wrong_type(node, "a mapping", path)
        self.budget -= len(node.value) + 1
        if self.budget < 0:
            raise _TooLarge
        fields = spec.fields
        prefix = f"{path}." if path else ""
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == STR_TAG and isinstance(key_node, ScalarNode):
                key: str = key_node.value
                if key in out:
                    self.add(ProblemKind.SHAPE, prefix + key, f"duplicate key {key!r}", key_node)
            else:
                self.bad_key(key_node, prefix)
                self.plain(value_node, prefix + "?")
                continue
            sub = fields.get(key)
            if sub is None:
                self.add(ProblemKind.SHAPE, prefix + key, f"unknown key {key!r}", key_node)
                out[key] = self.plain(value_node, prefix + key)
                continue
            # Inline fast path for the most common case, a string or number of the right
            # type: it saves a call per key on large documents.
            tag = _SCALAR_TAGS.get(sub) if type(sub) is str else None
            if tag is not None and value_node.tag == tag and isinstance(value_node, ScalarNode):
                value = value_node.value
                if tag == STR_TAG:
                    out[key] = value
                    continue
                if (
                    tag == INT_TAG
                    and len(value) < _SHORT_INT
                    and value.isascii()
                    and value.isdigit()
                    and value[0] != "0"
                ):
                    out[key] = int(value)
                    continue
                if tag == BOOL_TAG and value in _PLAIN_BOOLS:
                    out[key] = _PLAIN_BOOLS[value]
                    continue
            out[key] = self.walk(value_node, sub, prefix + key)
        for key in spec.required:
            if key not in out:
                message = f"missing required key {key!r}"
                self.add(ProblemKind.SHAPE, prefix + key, message, node)
        if node.tag != MAP_TAG:
            self.add(ProblemKind.SHAPE, path, f"unsupported tag {node.tag}", node)
        return out

    def _spend(self, node: Node) -> None:
        # Aliases can make a small text expand enormously: bound the work, not the text.
        self.budget -= len(node.value) + 1
        if self.budget < 0:
            raise _TooLarge

    def bad_key(self, key_node: Node, prefix: str) -> None:
        """Report a key that is not a plain string (a number, a list, a `<<` merge)."""
        what = "'<<' merge keys" if key_node.tag.endswith(":merge") else describe(key_node)
        message = f"keys must be strings; {what} cannot be a key"
        self.add(ProblemKind.SHAPE, prefix.rstrip("."), message, key_node)

    def plain(self, node: Node, path: str) -> Any:
        """The plain value of a free-form subtree (still refusing odd keys and tags)."""
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self._spend(node)
        if isinstance(node, SequenceNode):
            if node.tag != SEQ_TAG:
                self.add(ProblemKind.SHAPE, path, f"unsupported tag {node.tag}", node)
            return [self.plain(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        if node.tag != MAP_TAG:
            self.add(ProblemKind.SHAPE, path, f"unsupported tag {node.tag}", node)
        prefix = f"{path}." if path else ""
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag != STR_TAG or not isinstance(key_node, ScalarNode):
                self.bad_key(key_node, prefix)
                self.plain(value_node, prefix + "?")
                continue
            key: str = key_node.value
            if key in out:
                self.add(ProblemKind.SHAPE, prefix + key, f"duplicate key {key!r}", key_node)
            out[key] = self.plain(value_node, prefix + key)
        return out

    def scalar(self, node: ScalarNode, path: str) -> Any:
        """A scalar's value by its resolved tag, as PyYAML's safe loader would build it."""
        tag = node.tag
        value: str = node.value
        if tag == STR_TAG:
            return value
        if (
            tag == INT_TAG
            and len(value) < _SHORT_INT
            and value.isascii()
            and value.isdigit()
            and value[:1] != "0"
        ):
            return int(value)  # the common case, without PyYAML's slower parsing
        if tag == BOOL_TAG and value in _PLAIN_BOOLS:
            return _PLAIN_BOOLS[value]
        if tag in (INT_TAG, FLOAT_TAG):
            return self.number(node, path)
        try:
            if tag == BOOL_TAG:
                return _SAFE.construct_yaml_bool(node)
        except (ValueError, KeyError):
            self.add(ProblemKind.SHAPE, path, f"{value!r} is not {_TAG_NAMES[tag]}", node)
            return value
        if tag == NULL_TAG:
            return None
        if tag != TIMESTAMP_TAG:
            # Dates stay text so YAML and JSON give the same document.
            self.add(ProblemKind.SHAPE, path, f"unsupported tag {tag}", node)
        return value

    def number(self, node: ScalarNode, path: str) -> int | float | None:
        """A number's value, or None with a 400 problem when it is too long, beyond 64-bit
        integers or not finite: nothing stored or served may hold such a number."""
        value: str = node.value
        if len(value) > MAX_NUMBER_CHARS:
            # Refused before conversion: int() of 100,000 digits is slow or raises.
            message = (
                f"a number of {len(value):,} characters is too long; "
                f"numbers may have at most {MAX_NUMBER_CHARS}"
            )
            self.add(ProblemKind.SEMANTICS, path, message, node)
            return None
        try:
            number: int | float = (
                _SAFE.construct_yaml_int(node)
                if node.tag == INT_TAG
                else _SAFE.construct_yaml_float(node)
            )
        except (ValueError, KeyError):
            self.add(ProblemKind.SHAPE, path, f"{value!r} is not {_TAG_NAMES[node.tag]}", node)
            return None
        if isinstance(number, float) and not math.isfinite(number):
            message = f"{value} is not a finite number; use a number such as 1.5"
            self.add(ProblemKind.SEMANTICS, path, message, node)
            return None
        if isinstance(number, int) and not MIN_INTEGER <= number <= MAX_INTEGER:
            message = f"{value} does not fit in a 64-bit integer (-2**63 to 2**63-1)"
            self.add(ProblemKind.SEMANTICS, path, message, node)
            return None
        return number

    def _wrong_type(self, node: Node, expected: str, path: str) -> Any:
        self.add(ProblemKind.SHAPE, path, f"expected {expected}, got {describe(node)}", node)
        return self.plain(node, path)
