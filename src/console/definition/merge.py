"""Three-way merge of parsed definition documents: base, mine (the edit), theirs (the server).

No Qt here. The walk is iterative (an explicit stack) and refuses documents nested deeper
than MAX_DEPTH, so no user document can make it recurse or run away.

Semantics (docs/console.md, "Conflicts merge by field"):
- Mappings merge key by key. A key changed, added or removed on one side only takes that
  side's change; the same change on both sides is no conflict.
- Lists of mappings that all carry a unique `name` (else a unique `id`), in every version,
  merge item by item by that identity (tables by name, hooks by id): two edits to two
  different tables never clash. An item keeps its place in your edit; items only the
  server added go at the end, in the server's order.
- Every other list (column names, hook events, transformations) is one value: changed on
  one side, that side wins; changed differently on both, it is a conflict.
- Anything else changed differently on both sides is a conflict at its path, with the
  base, mine and theirs values (ABSENT where a side has no such key or item).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from console.definition.limits import MAX_DEPTH

IDENTITY_KEYS = ("name", "id")


class _Marker:
    """A value no document holds: a missing key or item, or a base nobody knows."""

    __slots__ = ("_label",)

    def __init__(self, label: str) -> None:
        self._label = label

    def __repr__(self) -> str:
        return self._label


ABSENT: Any = _Marker("ABSENT")
# The base of a draft kept before the console remembered base texts: every difference
# between mine and theirs is then a question, since nobody knows who changed what.
UNKNOWN: Any = _Marker("UNKNOWN")


@dataclass(frozen=True)
class Item:
    """A path segment naming a list item by its identity, e.g. the table `orders`."""

    key: str
    value: str | int

    def __str__(self) -> str:
        return f"[{self.value}]"


Segment = str | Item
Path = tuple[Segment, ...]


def format_path(path: Path) -> str:
    """`tables[orders].columns.include`; the whole document is `(the whole document)`."""
    if not path:
        return "(the whole document)"
    out = ""
    for segment in path:
        if isinstance(segment, Item):
            out += str(segment)
        else:
            out += f".{segment}" if out else segment
    return out


class Side(StrEnum):
    """Which version a conflict takes."""

    MINE = "mine"
    THEIRS = "theirs"
    BASE = "base"


@dataclass(frozen=True)
class Conflict:
    """Both sides changed `path` differently."""

    path: Path
    base: Any
    mine: Any
    theirs: Any

    def value(self, side: Side) -> Any:
        """The value `side` has here (ABSENT: no such key or item)."""
        return {Side.MINE: self.mine, Side.THEIRS: self.theirs, Side.BASE: self.base}[side]


@dataclass(frozen=True)
class Change:
    """The value at `path` goes from `before` (in mine) to `after`; ABSENT adds or removes."""

    path: Path
    before: Any
    after: Any


@dataclass(frozen=True)
class MergeResult:
    """The merge: changes taken from theirs, and the conflicts left to decide."""

    mine: dict[str, Any]
    taken: tuple[Change, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def clean(self) -> bool:
        """Everything merged on its own."""
        return not self.conflicts

    def changes(self, choices: Mapping[Path, Side] | None = None) -> list[Change]:
        """Every change to make to mine: the ones taken from theirs, then each conflict's
        chosen side (a conflict with no choice keeps mine)."""
        chosen = dict(choices or {})
        out = list(self.taken)
        for conflict in self.conflicts:
            side = chosen.get(conflict.path, Side.MINE)
            value = conflict.value(side)
            if value is UNKNOWN:
                raise ValueError(f"{format_path(conflict.path)}: the base is not known")
            if not same(value, conflict.mine):
                out.append(Change(conflict.path, conflict.mine, value))
        return out

    def document(self, choices: Mapping[Path, Side] | None = None) -> dict[str, Any]:
        """The merged document: mine with every change applied."""
        return apply_changes(self.mine, self.changes(choices))


def canonical(value: Any) -> str:
    """Equal values give equal text; `true` and `1`, `1` and `1.0` stay apart."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def same(a: Any, b: Any) -> bool:
    """Whether two values (or markers) are the same document value, key order aside."""
    if isinstance(a, _Marker) or isinstance(b, _Marker):
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list):
        return canonical(a) == canonical(b)
    return bool(a == b)


def check_depth(value: Any) -> None:
    """Raise ValueError for a value nested deeper than MAX_DEPTH (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the document is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def identity_key(*lists: Any) -> str | None:
    """The key that names each item in all of `lists` uniquely (`name`, else `id`), if any."""
    present = [items for items in lists if isinstance(items, list)]
    for key in IDENTITY_KEYS:
        ok = True
        for items in present:
            seen: set[tuple[type, Any]] = set()
            for item in items:
                if not isinstance(item, dict):
                    return None
                ident = item.get(key, ABSENT)
                if type(ident) not in (str, int) or (type(ident), ident) in seen:
                    ok = False
                    break
                seen.add((type(ident), ident))
            if not ok:
                break
        if ok:
            return key
    return None


def _by_identity(items: Any, key: str) -> dict[tuple[type, Any], Any]:
    if not isinstance(items, list):
        return {}
    return {(type(item[key]), item[key]): item for item in items}


def merge(base: Any, mine: dict[str, Any], theirs: dict[str, Any]) -> MergeResult:
    """Three-way merge of plain documents (`base` may be UNKNOWN); see the module docs."""
    for value in (base, mine, theirs):
        if not isinstance(value, _Marker):
            check_depth(value)
    taken: list[Change] = []
    conflicts: list[Conflict] = []
    stack: list[tuple[Path, Any, Any, Any]] = [((), base, mine, theirs)]
    while stack:
        path, b, m, t = stack.pop()
        if same(m, t):
            continue  # unchanged, or the same change on both sides
        if same(b, m):
            children = _children(path, b, m, t) if _keeps_order(m, t) else None
            if children is not None:
                # Value by value, so the review (and the text) names each one that changed.
                stack.extend(reversed(children))
            else:
                taken.append(Change(path, m, t))  # only theirs changed it
            continue
        if same(b, t):
            continue  # only mine changed it
        children = _children(path, b, m, t)
        if children is None:
            conflicts.append(Conflict(path, b, m, t))
        else:
            stack.extend(reversed(children))  # popped in document order
    return MergeResult(mine, tuple(taken), tuple(conflicts))


def _keeps_order(m: Any, t: Any) -> bool:
    """Whether merging item by item gives `t` in its own order (mine being unchanged)."""
    if isinstance(m, dict) and isinstance(t, dict):
        return True
    if not (isinstance(m, list) and isinstance(t, list)):
        return False
    key = identity_key(m, t)
    if key is None:
        return False
    mine_ids = [(type(item[key]), item[key]) for item in m]
    their_ids = [(type(item[key]), item[key]) for item in t]
    kept = [i for i in mine_ids if i in set(their_ids)]
    added = [i for i in their_ids if i not in set(mine_ids)]
    return their_ids == kept + added


def _children(path: Path, b: Any, m: Any, t: Any) -> list[tuple[Path, Any, Any, Any]] | None:
    """The pairs to compare one level down, or None when the values merge as a whole."""
    if isinstance(m, dict) and isinstance(t, dict) and isinstance(b, dict | _Marker):
        base = b if isinstance(b, dict) else {}
        child_base = UNKNOWN if b is UNKNOWN else ABSENT
        keys = (
            list(m) + [k for k in t if k not in m] + [k for k in base if k not in m and k not in t]
        )
        return [
            ((*path, k), base.get(k, child_base), m.get(k, ABSENT), t.get(k, ABSENT)) for k in keys
        ]
    if isinstance(m, list) and isinstance(t, list) and isinstance(b, list | _Marker):
        key = identity_key(b, m, t)
        if key is None or not (m or t):
            return None
        base_items = _by_identity(b, key)
        mine_items = _by_identity(m, key)
        their_items = _by_identity(t, key)
        idents = (
            list(mine_items)
            + [i for i in their_items if i not in mine_items]
            + [i for i in base_items if i not in mine_items and i not in their_items]
        )
        child_base = UNKNOWN if b is UNKNOWN else ABSENT
        return [
            (
                (*path, Item(key, ident[1])),
                base_items.get(ident, child_base),
                mine_items.get(ident, ABSENT),
                their_items.get(ident, ABSENT),
            )
            for ident in idents
        ]
    return None


def copy_value(value: Any) -> Any:
    """A deep copy of a plain value, without recursion."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in pairs:
            if isinstance(child, dict | list):
                copied: Any = {} if isinstance(child, dict) else []
                stack.append((child, copied))
            else:
                copied = child
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
    return root


def find_index(items: Sequence[Any], segment: Item) -> int | None:
    """The index of the list item `segment` names, if it is there."""
    for index, item in enumerate(items):
        if isinstance(item, dict):
            found = item.get(segment.key, ABSENT)
            if type(found) is type(segment.value) and found == segment.value:
                return index
    return None


def value_at(document: Any, path: Path) -> Any:
    """The value at `path` (ABSENT when some step is missing)."""
    node = document
    for segment in path:
        if isinstance(segment, Item):
            index = find_index(node, segment) if isinstance(node, list) else None
            if index is None:
                return ABSENT
            node = node[index]
        elif isinstance(node, dict) and segment in node:
            node = node[segment]
        else:
            return ABSENT
    return node


def apply_changes(document: dict[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """A copy of `document` with `changes` made: replaced in place, removed, or added at the
    end of their mapping or list."""
    result: Any = copy_value(document)
    for change in changes:
        if not change.path:
            result = copy_value(change.after)
            continue
        parent = value_at(result, change.path[:-1])
        last = change.path[-1]
        after = copy_value(change.after)
        if isinstance(last, Item):
            if not isinstance(parent, list):
                raise ValueError(f"{format_path(change.path)}: no list to change")
            index = find_index(parent, last)
            if after is ABSENT:
                if index is not None:
                    del parent[index]
            elif index is None:
                parent.append(after)
            else:
                parent[index] = after
        else:
            if not isinstance(parent, dict):
                raise ValueError(f"{format_path(change.path)}: no mapping to change")
            if after is ABSENT:
                parent.pop(last, None)
            else:
                parent[last] = after
    if not isinstance(result, dict):
        raise ValueError("the merged document is not a mapping")
    return result
