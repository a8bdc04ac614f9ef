"""JSON merge patch (RFC 7396, section 2), applied to a record's data.

Bodies are depth-checked before parsing (http/payload.py, 64 levels), so the recursion
below is bounded by the patch's own depth.
"""

from __future__ import annotations

from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 MergePatch(target, patch): null removes a member, arrays and scalars
    replace whole, objects merge member by member. Neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result
