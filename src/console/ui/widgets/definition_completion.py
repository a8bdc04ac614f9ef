"""Completion of connection ids, hook ids, hook events and transformation types.

Context detection reads only the current line and walks upwards to the nearest
less-indented parent keys: enough for the definition's fixed shape, and O(distance to
the parent) rather than a parse of the whole document on every keystroke.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

ContextKind = Literal["source", "destination", "hook", "event", "transformation"]

# `key: partial` (optionally a list item `- key: partial`), up to the cursor.
_KEY_LINE = re.compile(
    r"^(?P<indent>[ ]*)(?P<dash>-[ ]+)?(?P<key>[A-Za-z_][\w]*)[ ]*:[ ]*(?P<value>.*)$"
)
# `- partial`: a scalar list item.
_ITEM_LINE = re.compile(r"^(?P<indent>[ ]*)-[ ]+(?P<value>[^:#]*)$")
# Any line that opens a key, for the upward walk.
_ANY_KEY = re.compile(
    r"^(?P<indent>[ ]*)(?P<dash>(?:-[ ]+)*)(?P<key>[^\s#:'\"-][^:#]*?)[ ]*:(?:\s|$)"
)
# A flow list being typed: `events: [a, b, par`.
_FLOW_EVENTS = re.compile(r"^[ ]*(?:-[ ]+)?events[ ]*:[ ]*\[(?:[^\]]*,)?[ ]*(?P<value>[^,\]]*)$")
_WALK_LIMIT = 2000  # lines; a parent further up than this is not worth finding


@dataclass(frozen=True)
class CompletionContext:
    """What fits at the cursor, and the partial word the completion replaces."""

    kind: ContextKind
    prefix: str


@dataclass(frozen=True)
class CompletionCatalog:
    """The candidates, as (shown text, inserted text) pairs per context."""

    options: dict[ContextKind, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        connections: Sequence[tuple[int, str, str]],
        hook_ids: Sequence[tuple[int, str]],
        hook_events: Sequence[str],
        transformation_types: Sequence[str],
    ) -> CompletionCatalog:
        """Turn the account's catalogue into completion candidates."""
        options: dict[ContextKind, list[tuple[str, str]]] = {
            "source": [],
            "destination": [],
            "hook": [(f"{hook_id} — {name}", str(hook_id)) for hook_id, name in hook_ids],
            "event": [(event, event) for event in hook_events],
            "transformation": [(kind, kind) for kind in transformation_types],
        }
        for connection_id, name, role in connections:
            if role in ("source", "destination"):
                shown = f"{connection_id} — {name} ({role})"
                options[role].append((shown, str(connection_id)))  # type: ignore[index]
        return cls(options)

    def candidates(self, kind: ContextKind) -> list[tuple[str, str]]:
        """(shown, inserted) pairs for a context."""
        return self.options.get(kind, [])


def _parents(previous_lines: Iterable[str], limit: int, after_dash: bool) -> list[str]:
    """Keys of the enclosing mappings, nearest first.

    `limit` is the indent a parent must be left of; right after a list item a parent
    may also sit at the dash's own indent (YAML's compact `key:\\n- item`).
    """
    parents: list[str] = []
    for count, line in enumerate(previous_lines):
        if count > _WALK_LIMIT or (limit == 0 and not after_dash):
            break
        match = _ANY_KEY.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        key_indent = indent + len(match["dash"])
        if match["dash"]:
            if key_indent < limit:  # we sit inside this item's key
                parents.append(match["key"])
            if key_indent <= limit:  # this item holds us: its list's key is the parent
                limit, after_dash = indent, True
        elif indent < limit or (after_dash and indent == limit):
            parents.append(match["key"])
            limit, after_dash = indent, False
    return parents


def detect_context(
    line_before_cursor: str, previous_lines: Iterable[str]
) -> CompletionContext | None:
    """The completion context at the cursor, given the lines above it nearest first."""
    flow = _FLOW_EVENTS.match(line_before_cursor)
    if flow is not None:
        return CompletionContext("event", flow["value"].strip())
    key_line = _KEY_LINE.match(line_before_cursor)
    if key_line is not None:
        key, value = key_line["key"], key_line["value"]
        if key not in ("id", "type") or " " in value.strip():
            return None
        indent = len(key_line["indent"])
        parents = (
            _parents(previous_lines, indent, True)
            if key_line["dash"]
            else _parents(previous_lines, indent, False)
        )
        if key == "type" and parents[:1] == ["transformations"]:
            return CompletionContext("transformation", value.strip())
        if key == "id" and parents[:1] == ["hooks"]:
            return CompletionContext("hook", value.strip())
        if key == "id" and parents[:1] == ["connection"] and len(parents) > 1:
            role = parents[1]
            if role in ("source", "destination"):
                return CompletionContext(role, value.strip())  # type: ignore[arg-type]
        return None
    item = _ITEM_LINE.match(line_before_cursor)
    if item is not None:
        parents = _parents(previous_lines, len(item["indent"]), True)
        if parents[:1] == ["events"]:
            return CompletionContext("event", item["value"].strip())
    return None
