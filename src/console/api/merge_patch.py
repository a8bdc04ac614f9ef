"""JSON merge patch (RFC 7396): apply one, and compute one from an original and an edit.

Both walk the documents with an explicit stack, never by recursion, so a document of any
depth (the server accepts 64 levels) costs no Python stack.
"""

from __future__ import annotations

from typing import Any


class UnrepresentableNullError(ValueError):
    """The edit sets a member to `null`: a merge patch cannot say that (null removes).

    `paths` names every such member of the edited document as a JSON Pointer (RFC 6901,
    `/a/b`), so a caller can say which fields to remove instead of nulling them.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = tuple(paths)
        shown = ", ".join(self.paths[:5]) + (", …" if len(self.paths) > 5 else "")
        super().__init__(
            f"A merge patch cannot set a field to null (null removes the field): {shown}. "
            "Remove the field instead, or give it another value."
        )


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2: `target` with `patch` applied (neither argument is changed).

    Unchanged parts of the result may be the very objects of `target` or `patch`.
    """
    if not isinstance(patch, dict):
        return patch
    root: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(root, patch)]
    while stack:
        result, members = stack.pop()
        for name, value in members.items():
            if value is None:
                result.pop(name, None)
            elif isinstance(value, dict):
                existing = result.get(name)
                # A copy: the caller's target is never modified.
                child: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
                result[name] = child
                stack.append((child, value))
            else:
                result[name] = value
    return root


def merge_patch(original: Any, edited: Any) -> Any:
    """The smallest RFC 7396 merge patch turning `original` into `edited`.

    `apply_merge_patch(original, merge_patch(original, edited)) == edited` holds for any
    JSON values, with one inherent exception: a member whose value is `null` in `edited`
    (reached through objects only; nulls inside arrays are fine, arrays are replaced
    whole) cannot be expressed unless it was already `null` in `original`, because `null`
    in a merge patch means "remove". Then `UnrepresentableNullError` is raised naming
    every such member, rather than returning a patch that would remove them silently.
    Only changed members appear in the patch; `true` and `1`, and `1` and `1.0`, count as
    different values.
    """
    if not isinstance(edited, dict):
        return edited
    if not isinstance(original, dict):
        _refuse_nulls(edited, "")
        return edited
    root: dict[str, Any] = {}
    unrepresentable: list[str] = []
    # (original object, edited object, the patch between them, their path)
    stack: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]] = [
        (original, edited, root, "")
    ]
    # Object pairs are diffed member by member rather than compared first (comparing at
    # every level would make a deep document cost depth squared); the patches of pairs
    # that turn out equal come out empty and are dropped afterwards, deepest first.
    nested: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    while stack:
        before, after, patch, path = stack.pop()
        for name in before:
            if name not in after:
                patch[name] = None
        for name, value in after.items():
            member_path = _pointer(path, name)
            if name in before and isinstance(value, dict) and isinstance(before[name], dict):
                child: dict[str, Any] = {}
                patch[name] = child
                nested.append((patch, name, child))
                stack.append((before[name], value, child, member_path))
            elif name in before and same_json(before[name], value):
                continue
            elif value is None:
                unrepresentable.append(member_path)
            else:
                if isinstance(value, dict):
                    unrepresentable.extend(_null_members(value, member_path))
                patch[name] = value
    for parent, name, child in reversed(nested):
        if not child:
            del parent[name]
    if unrepresentable:
        raise UnrepresentableNullError(sorted(unrepresentable))
    return root


def same_json(left: Any, right: Any) -> bool:
    """Whether two JSON values are the same JSON (`true` is not `1`, `1` is not `1.0`)."""
    stack: list[tuple[Any, Any]] = [(left, right)]
    while stack:
        a, b = stack.pop()
        kind = _kind(a)
        if kind != _kind(b):
            return False
        if kind == "object":
            if a.keys() != b.keys():
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif kind == "array":
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif kind == "float":
            # repr tells -0.0 from 0.0 (JSON texts differ) and keeps a NaN equal to itself.
            if repr(a) != repr(b):
                return False
        elif a != b:
            return False
    return True


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, bool):  # before int: bool is an int subclass, true is not 1
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return type(value).__name__


def _null_members(value: dict[str, Any], path: str) -> list[str]:
    """Paths of members that are null, reached from `value` through objects only."""
    found: list[str] = []
    stack: list[tuple[dict[str, Any], str]] = [(value, path)]
    while stack:
        members, prefix = stack.pop()
        for name, item in members.items():
            item_path = _pointer(prefix, name)
            if item is None:
                found.append(item_path)
            elif isinstance(item, dict):
                stack.append((item, item_path))
    return found


def _pointer(parent: str, name: str) -> str:
    """The JSON Pointer of member `name` of the object at `parent`."""
    return f"{parent}/{name.replace('~', '~0').replace('/', '~1')}"


def _refuse_nulls(value: dict[str, Any], path: str) -> None:
    found = _null_members(value, path)
    if found:
        raise UnrepresentableNullError(sorted(found))
