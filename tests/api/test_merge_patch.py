"""JSON merge patch (RFC 7396): properties against the RFC's own pseudo-code, its examples,
and documents deeper than Python's stack would allow a recursive walk."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.api.records import (
    Record,
    UnrepresentableNullError,
    apply_merge_patch,
    edit_patch,
    merge_patch,
    same_json,
)


def reference_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2, line by line (recursive; only for the tests' small documents)."""
    if isinstance(patch, dict):
        # "Ignore the contents and set it to an empty Object" (a copy: inputs stay as they were)
        target = dict(target) if isinstance(target, dict) else {}
        for name, value in patch.items():
            if value is None:
                if name in target:
                    del target[name]
            else:
                target[name] = reference_merge_patch(target.get(name), value)
        return target
    return patch


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal as JSON texts: Python's == takes True for 1 and 0.0 for -0.0."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
# Few distinct keys, so that originals, edits and patches overlap often.
KEYS = st.sampled_from(["a", "b", "c", "ü", "", "x/y~"])
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)


def has_member_null(value: Any) -> bool:
    """A null reachable through objects only (what a merge patch cannot set)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for member in item.values():
                if member is None:
                    return True
                stack.append(member)
    return False


def get_path(document: Any, pointer: str) -> Any:
    """The member a JSON Pointer (RFC 6901) names."""
    assert pointer.startswith("/")
    for name in pointer[1:].split("/"):
        document = document[name.replace("~1", "/").replace("~0", "~")]
    return document


@settings(max_examples=400)
@given(target=JSON, patch=JSON)
def test_apply_matches_the_rfc_pseudo_code_and_changes_no_input(target: Any, patch: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = apply_merge_patch(target, patch)
    assert strictly_equal(result, reference_merge_patch(target_before, patch_before))
    assert strictly_equal(target, target_before)
    assert strictly_equal(patch, patch_before)


@settings(max_examples=400)
@given(original=JSON, edited=JSON)
def test_diff_then_apply_gives_the_edit_or_names_the_nulls_it_cannot_set(
    original: Any, edited: Any
) -> None:
    original_before, edited_before = copy.deepcopy(original), copy.deepcopy(edited)
    refused: UnrepresentableNullError | None = None
    try:
        patch = merge_patch(original, edited)
    except UnrepresentableNullError as error:
        refused = error
    assert strictly_equal(original, original_before)
    assert strictly_equal(edited, edited_before)
    if refused is not None:
        assert refused.paths
        for path in refused.paths:
            assert get_path(edited, path) is None
        return
    assert strictly_equal(apply_merge_patch(original, patch), edited)
    assert strictly_equal(reference_merge_patch(original, patch), edited)


@settings(max_examples=400)
@given(original=OBJECTS, edited=OBJECTS)
def test_diff_of_objects_holds_only_the_changed_members(
    original: dict[str, Any], edited: dict[str, Any]
) -> None:
    try:
        patch = merge_patch(original, edited)
    except UnrepresentableNullError:
        assert has_member_null(edited)
        return
    assert isinstance(patch, dict)
    for name, value in patch.items():
        if value is None:
            assert name in original
            assert name not in edited
        else:
            assert name not in original or not same_json(original[name], edited[name])
    for name in set(original) | set(edited):
        if name not in patch:
            assert name in original
            assert name in edited
            assert same_json(original[name], edited[name])
    if same_json(original, edited):
        assert patch == {}


@settings(max_examples=200)
@given(original=OBJECTS, edited=OBJECTS)
def test_an_edit_without_new_nulls_always_has_a_patch(
    original: dict[str, Any], edited: dict[str, Any]
) -> None:
    if has_member_null(edited) or has_member_null(original):
        return
    assert strictly_equal(apply_merge_patch(original, merge_patch(original, edited)), edited)


# RFC 7396 appendix A: original, patch, result.
APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_rfc_appendix_a(original: Any, patch: Any, result: Any) -> None:
    assert strictly_equal(apply_merge_patch(original, patch), result)
    assert strictly_equal(apply_merge_patch(original, merge_patch(original, result)), result)


def test_rfc_section_3_example_gives_exactly_the_rfc_patch() -> None:
    original = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    result = {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }
    assert apply_merge_patch(original, patch) == result
    assert merge_patch(original, result) == patch


def test_setting_a_field_to_null_is_refused_with_its_path() -> None:
    with pytest.raises(UnrepresentableNullError) as caught:
        merge_patch({"a": {"b": 1}, "c": 1}, {"a": {"b": None}, "c": None, "d": [None]})
    assert caught.value.paths == ("/a/b", "/c")
    assert isinstance(caught.value, ValueError)
    assert "null" in str(caught.value)
    # A null that was already there is unchanged, so needs no patch.
    assert merge_patch({"a": None, "b": 1}, {"a": None, "b": 2}) == {"b": 2}


def test_types_that_python_equates_still_count_as_changes() -> None:
    assert merge_patch({"a": 1}, {"a": True}) == {"a": True}
    assert merge_patch({"a": 1}, {"a": 1.0}) == {"a": 1.0}
    assert merge_patch({"a": 0.0}, {"a": -0.0}) == {"a": -0.0}
    assert merge_patch({"a": [1]}, {"a": [True]}) == {"a": [True]}
    assert merge_patch({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 2}]}}) == {}


def _nested(depth: int, leaf: Any) -> dict[str, Any]:
    document: Any = leaf
    for _ in range(depth):
        document = {"k": document, "keep": 1}
    return dict(document)


def _leaf(document: Any) -> Any:
    while isinstance(document, dict) and "k" in document:
        document = document["k"]
    return document


@pytest.mark.parametrize("depth", [64, 20_000])
def test_deep_documents_need_no_recursion(depth: int) -> None:
    # 64 levels is the server's limit; 20,000 would overflow any recursive walk.
    original = _nested(depth, "old")
    edited = _nested(depth, "new")
    patch = merge_patch(original, edited)
    assert _leaf(patch) == "new"
    assert "keep" not in patch  # only the changed path is sent
    result = apply_merge_patch(original, patch)
    assert _leaf(result) == "new"
    assert _leaf(original) == "old"
    assert same_json(result, edited)
    assert not same_json(result, original)
    if depth == 64:
        assert result == edited


def test_edit_patch_sends_only_the_changed_parts_of_a_record() -> None:
    record = Record(
        guid="0190c0de-0000-7000-8000-000000000001",
        system_id="A-1",
        deleted=False,
        version=1,
        created_at=1.0,
        updated_at=1.0,
        data={"id": "A-1", "status": "new", "total": 10, "lines": [1, 2]},
        last_correlation_id=None,
    )
    edited = {"id": "A-1", "status": "shipped", "lines": [1]}
    assert edit_patch(record, edited) == {
        "data": {"status": "shipped", "total": None, "lines": [1]}
    }
    assert edit_patch(record, dict(record.data)) == {}
    assert edit_patch(record, dict(record.data), deleted=True) == {"deleted": 1}
    with pytest.raises(ValueError, match="JSON object"):
        edit_patch(record, [1])
