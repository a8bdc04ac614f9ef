"""Write a merge back as text: the changes spliced into the user's own YAML text.

Each change replaces, removes or adds only the lines of the value it concerns, so your
comments, blank lines, key order and quoting stay everywhere else. A change that cannot
be spliced safely (a flow-style `{...}` parent, the last key of a mapping, an anchor)
widens to its parent value, and so on up; the spliced text is parsed again and must give
exactly the merged document, else the whole document is written out afresh (then comments
are lost, and the result says so). JSON text is always written out afresh, in the merged
document's key order (JSON has no comments to keep).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.definition.dumping import dump_json, dump_yaml
from console.definition.merge import (
    ABSENT,
    UNKNOWN,
    Change,
    Item,
    MergeResult,
    Path,
    canonical,
    merge,
    value_at,
)
from console.definition.parsing import DefinitionSyntaxError, ParsedDocument, parse_text
from console.definition.validator import validate_parsed


@dataclass(frozen=True)
class MergedText:
    """The merged text, and whether the user's comments and layout were kept."""

    text: str
    layout_kept: bool


class _Unspliceable(Exception):
    """This change cannot be spliced where it is: widen it to its parent."""


class _BlockDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*( [A-Za-z0-9_./-]+)*")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _scalar(value: Any) -> str:
    """A scalar as YAML flow text: plain where unambiguous, else JSON (valid YAML)."""
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _block(value: Any, column: int) -> str:
    """A non-empty collection in block style, its later lines indented to `column`."""
    text: str = yaml.dump(
        value,
        Dumper=_BlockDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return text.rstrip("\n").replace("\n", "\n" + " " * column)


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _inline(value: Any) -> str:
    """A value written inside a flow collection, or a scalar or empty collection."""
    if isinstance(value, dict | list):
        flow: str = yaml.dump(
            value,
            Dumper=yaml.SafeDumper,
            default_flow_style=True,
            sort_keys=False,
            allow_unicode=True,
            width=1_000_000,
        )
        return flow.strip()
    return _scalar(value)


def merged_text(text: str, changes: Sequence[Change], merged: dict[str, Any]) -> MergedText:
    """`text` (the user's edit) with `changes` made; `merged` is what it must parse to."""
    try:
        parsed = parse_text(text)
    except DefinitionSyntaxError:
        return _afresh(merged, "yaml")
    if parsed.format == "json" or not changes:
        if not changes and _parses_to(text, merged):
            return MergedText(text, True)
        return _afresh(merged, parsed.format)
    document = validate_parsed(parsed).document
    if document is None:
        return _afresh(merged, "yaml")
    paths = _outermost([c.path for c in changes])
    for _attempt in range(len(paths) * 70 + 1):  # each round widens one path one level
        edits: list[tuple[int, int, str, int]] = []
        widen: Path | None = None
        for path in paths:
            if not path:
                return _afresh(merged, "yaml")
            try:
                start, end, replacement = _splice(parsed, document, path, value_at(merged, path))
                edits.append((start, end, replacement, len(path)))
            except _Unspliceable:
                widen = path
                break
        if widen is not None:
            paths = _outermost([p for p in paths if p != widen] + [widen[:-1]])
            continue
        # Two additions at one place: the deeper one belongs inside the last item, so it
        # goes first; at one depth they keep the order of the changes (a stable sort).
        edits.sort(key=lambda edit: (edit[0], -edit[3]))
        if any(a[1] > b[0] for a, b in itertools.pairwise(edits)):
            return _afresh(merged, "yaml")
        out = text
        for start, end, replacement, _depth in reversed(edits):
            out = out[:start] + replacement + out[end:]
        if _parses_to(out, merged):
            return MergedText(out, True)
        return _afresh(merged, "yaml")
    return _afresh(merged, "yaml")


def _afresh(merged: dict[str, Any], fmt: str) -> MergedText:
    return MergedText(dump_json(merged) if fmt == "json" else dump_yaml(merged), False)


def _parses_to(text: str, merged: dict[str, Any]) -> bool:
    try:
        document = validate_parsed(parse_text(text)).document
    except DefinitionSyntaxError:
        return False
    return document is not None and canonical(document) == canonical(merged)


def _outermost(paths: list[Path]) -> list[Path]:
    """The paths no other path contains (a widened change covers its descendants)."""
    unique = list(dict.fromkeys(paths))  # in the order of the changes
    return [
        path
        for path in unique
        if not any(other != path and path[: len(other)] == other for other in unique)
    ]


@dataclass
class _Located:
    """A path's node in the text, with its parent and (for a mapping value) its key."""

    parent: Node | None
    key: Node | None
    node: Node | None  # None: not in the text (an addition)


def _locate(document: Any, root: Node, path: Path) -> _Located:
    value: Any = document
    node: Node = root
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(segment, Item):
            if not isinstance(node, SequenceNode) or not isinstance(value, list):
                raise _Unspliceable
            index = next(
                (
                    i
                    for i, item in enumerate(value)
                    if isinstance(item, dict)
                    and type(item.get(segment.key)) is type(segment.value)
                    and item.get(segment.key) == segment.value
                ),
                None,
            )
            if len(node.value) != len(value):
                raise _Unspliceable
            if index is None:
                if last:
                    return _Located(node, None, None)
                raise _Unspliceable
            if last:
                return _Located(node, None, node.value[index])
            value, node = value[index], node.value[index]
        else:
            if not isinstance(node, MappingNode) or not isinstance(value, dict):
                raise _Unspliceable
            pairs = [
                (k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == segment
            ]
            if len(pairs) > 1:
                raise _Unspliceable  # a duplicate key: the server refuses it anyway
            if not pairs:
                if last:
                    return _Located(node, None, None)
                raise _Unspliceable
            key_node, child = pairs[0]
            if last:
                return _Located(node, key_node, child)
            value, node = value[segment], child
    return _Located(None, None, root)


def _start(node: Node) -> int:
    return int(node.start_mark.index)


def _end(node: Node, text: str) -> int:
    """Where a node's own text ends (a block collection's marks reach past its last line)."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        node = node.value[-1][1] if isinstance(node, MappingNode) else node.value[-1]
    end = int(node.end_mark.index)
    while end > 0 and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _after_line(text: str, offset: int) -> int:
    """The offset just past the line break ending the line at `offset` (or the text's end)."""
    newline = text.find("\n", offset)
    return len(text) if newline < 0 else newline + 1


def _is_flow(node: Node | None) -> bool:
    return isinstance(node, MappingNode | SequenceNode) and bool(node.flow_style)


def _splice(parsed: ParsedDocument, document: Any, path: Path, after: Any) -> tuple[int, int, str]:
    """One edit (start, end, replacement) that makes the value at `path` become `after`."""
    text = parsed.text
    if parsed.root is None or ("*" in text and _has_alias(parsed.root)):
        raise _Unspliceable  # an anchor's value is shared: changing it changes its aliases
    found = _locate(document, parsed.root, path)
    parent, key, node = found.parent, found.key, found.node
    if parent is None or _is_flow(parent):
        raise _Unspliceable
    if node is None:
        return _insert(text, parent, path[-1], after)
    if after is ABSENT:
        return _remove(text, parent, key, node)
    return _replace(text, key, node, after)


def _has_alias(root: Node) -> bool:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return False


def _replace(text: str, key: Node | None, node: Node, after: Any) -> tuple[int, int, str]:
    start, end = _start(node), _end(node, text)
    column = int(node.start_mark.column)
    if not _is_block(after) or _is_flow(node):
        return start, end, _inline(after)
    if isinstance(node, MappingNode | SequenceNode) and node.value:
        return start, end, _block(after, column)
    if key is not None:
        # A scalar becomes a block collection: it starts on a line of its own under its key.
        colon = text.find(":", int(key.end_mark.index))
        if colon < 0 or colon > start:
            raise _Unspliceable
        indent = int(key.start_mark.column) + 2
        return colon + 1, end, "\n" + " " * indent + _block(after, indent)
    return start, end, _block(after, column)  # a list item: the block starts after its `- `


def _remove(text: str, parent: Node, key: Node | None, node: Node) -> tuple[int, int, str]:
    if len(parent.value) < 2:
        raise _Unspliceable  # an emptied block collection must become `{}` or `[]`
    first = key if key is not None else node
    line = _line_start(text, _start(first))
    lead = text[line : _start(first)]
    if key is None:
        lead = lead.rstrip()
        if not lead.endswith("-"):
            raise _Unspliceable
        lead = lead[:-1]
    if lead.strip():
        raise _Unspliceable  # shares its line with something else
    return line, _after_line(text, _end(node, text)), ""


def _insert(text: str, parent: Node, segment: Any, after: Any) -> tuple[int, int, str]:
    if after is ABSENT or not parent.value:
        raise _Unspliceable
    if isinstance(parent, MappingNode):
        last_key, last_value = parent.value[-1]
        column = int(last_key.start_mark.column)
        if not isinstance(segment, str):
            raise _Unspliceable
        head = " " * column + _scalar(segment) + ":"
        if _is_block(after):
            body = "\n" + " " * (column + 2) + _block(after, column + 2)
        else:
            body = " " + _inline(after)
        at = _after_line(text, _end(last_value, text))
        line = head + body
    else:
        column = int(parent.start_mark.column)  # the column of the items' dashes
        at = _after_line(text, _end(parent.value[-1], text))
        value = _block(after, column + 2) if _is_block(after) else _inline(after)
        line = " " * column + "- " + value
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return at, at, prefix + line + "\n"


class MergeInputError(ValueError):
    """One of the texts to merge is not a definition document; says which and why."""


def document_of(text: str, which: str) -> dict[str, Any]:
    """The plain document of `text`, or MergeInputError naming `which` text failed."""
    try:
        document = validate_parsed(parse_text(text)).document
    except DefinitionSyntaxError as exc:
        raise MergeInputError(f"{which} does not parse: {exc}") from None
    if document is None:
        raise MergeInputError(f"{which} is not a mapping of definition keys")
    return document


def merge_texts(base: str | None, mine: str, theirs: str) -> MergeResult:
    """Merge three texts; a base that is unknown or unreadable counts as UNKNOWN."""
    base_document: Any = UNKNOWN
    if base is not None:
        try:
            base_document = document_of(base, "the revision your edit started from")
        except MergeInputError:
            base_document = UNKNOWN
    return merge(
        base_document,
        document_of(mine, "your edit"),
        document_of(theirs, "the server's revision"),
    )


def describe_value(value: Any) -> str:
    """A value as short YAML for the review ("(none)" where a side has no such key or item)."""
    if value is ABSENT:
        return "(none)"
    if value is UNKNOWN:
        return "(not known)"
    if _is_block(value):
        return _block(value, 0)
    return _inline(value)
