"""The three-way merge on real definition texts: identities, conflicts, the text kept."""

from __future__ import annotations

from typing import Any

import pytest

from console.definition import validate_text
from console.definition.limits import MAX_DEPTH
from console.definition.merge import (
    ABSENT,
    UNKNOWN,
    Item,
    Side,
    canonical,
    format_path,
    merge,
)
from console.definition.merge_text import MergeInputError, merge_texts, merged_text

BASE = """\
# Orders into the warehouse: owned by the data team
definition_version: 1
name: Orders to warehouse   # shown in the list
source:
  connection:
    id: 1
destination:
  connection:
    id: 5
sync:
  frequency: 60   # hourly is enough
tables:
  # the big one: only the columns the reports read
  - name: public.orders
    columns:
      include: [id, total]
  - name: public.customers   # everything
"""


def _doc(text: str) -> dict[str, Any]:
    document = validate_text(text).document
    assert document is not None
    return document


def test_edits_to_two_tables_merge_and_the_text_keeps_comments_and_key_order() -> None:
    mine = BASE.replace("include: [id, total]", "include: [id, total, created_at]  # for SLAs")
    theirs = BASE.replace(
        "  - name: public.customers   # everything\n",
        "  - name: public.customers   # everything\n    append_only: true\n",
    ).replace("frequency: 60   # hourly is enough", "frequency: 30")
    result = merge(_doc(BASE), _doc(mine), _doc(theirs))
    assert result.clean
    assert [format_path(c.path) for c in result.taken] == [
        "sync.frequency",
        "tables[public.customers].append_only",
    ]
    written = merged_text(mine, result.changes(), result.document())
    assert written.layout_kept
    assert written.text == mine.replace(
        "frequency: 60   # hourly is enough", "frequency: 30   # hourly is enough"
    ).replace(
        "  - name: public.customers   # everything\n",
        "  - name: public.customers   # everything\n    append_only: true\n",
    )
    merged = _doc(written.text)
    assert merged["tables"][0]["columns"]["include"] == ["id", "total", "created_at"]
    assert merged["tables"][1]["append_only"] is True


def test_a_table_the_server_added_goes_at_the_end_and_one_it_removed_goes() -> None:
    mine = BASE.replace("frequency: 60", "frequency: 15")
    theirs = BASE.replace("  - name: public.customers   # everything\n", "  - name: public.items\n")
    result = merge(_doc(BASE), _doc(mine), _doc(theirs))
    assert result.clean
    written = merged_text(mine, result.changes(), result.document())
    assert written.layout_kept
    assert "# the big one" in written.text
    assert [t["name"] for t in _doc(written.text)["tables"]] == ["public.orders", "public.items"]
    assert _doc(written.text)["sync"]["frequency"] == 15


def test_two_different_edits_of_one_field_list_are_one_conflict_with_all_three_values() -> None:
    mine = BASE.replace("include: [id, total]", "include: [id, total, email]")
    theirs = BASE.replace("include: [id, total]", "include: [id, sku]")
    result = merge(_doc(BASE), _doc(mine), _doc(theirs))
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert format_path(conflict.path) == "tables[public.orders].columns.include"
    assert (conflict.base, conflict.mine, conflict.theirs) == (
        ["id", "total"],
        ["id", "total", "email"],
        ["id", "sku"],
    )
    chosen = result.changes({conflict.path: Side.THEIRS})
    written = merged_text(mine, chosen, result.document({conflict.path: Side.THEIRS}))
    assert written.layout_kept
    assert "include: [id, sku]" in written.text
    assert "# the big one" in written.text


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    both = BASE.replace("frequency: 60", "frequency: 5")
    result = merge(_doc(BASE), _doc(both), _doc(both))
    assert result.clean
    assert result.taken == ()


def test_removed_on_one_side_and_changed_on_the_other_is_a_conflict() -> None:
    mine = BASE.replace("  - name: public.customers   # everything\n", "")
    theirs = BASE.replace(
        "  - name: public.customers   # everything\n",
        "  - name: public.customers\n    append_only: true\n",
    )
    result = merge(_doc(BASE), _doc(mine), _doc(theirs))
    [conflict] = result.conflicts
    assert conflict.path == ("tables", Item("name", "public.customers"))
    assert conflict.mine is ABSENT
    assert conflict.theirs == {"name": "public.customers", "append_only": True}


def test_an_unknown_base_asks_about_every_difference() -> None:
    mine = BASE.replace("frequency: 60", "frequency: 5")
    theirs = BASE.replace("name: Orders to warehouse", "name: Orders")
    result = merge(UNKNOWN, _doc(mine), _doc(theirs))
    assert [format_path(c.path) for c in result.conflicts] == ["name", "sync.frequency"]
    with pytest.raises(ValueError, match="base is not known"):
        result.changes({result.conflicts[0].path: Side.BASE})


def test_a_document_nested_beyond_the_limit_is_refused_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"x": deep}
    with pytest.raises(ValueError, match="nested more than"):
        merge({"a": 1}, {"a": deep}, {"a": 2})


def test_json_text_is_written_afresh_in_the_users_key_order() -> None:
    base = _doc(BASE)
    mine_doc = {**base, "name": "Mine"}
    theirs_doc = {**base, "sync": {"frequency": 10}}
    import json

    mine_text = json.dumps(mine_doc, indent=4)
    result = merge(base, mine_doc, theirs_doc)
    written = merged_text(mine_text, result.changes(), result.document())
    assert not written.layout_kept
    assert canonical(_doc(written.text)) == canonical({**mine_doc, "sync": {"frequency": 10}})
    assert list(_doc(written.text)) == list(mine_doc)


def test_a_server_revision_that_does_not_parse_is_said_and_an_unreadable_base_is_unknown() -> None:
    with pytest.raises(MergeInputError, match="the server's revision does not parse"):
        merge_texts(BASE, BASE, "tables: [unclosed\n")
    mine = BASE.replace("frequency: 60", "frequency: 5")
    result = merge_texts("{not: [a definition", mine, BASE)
    assert [format_path(c.path) for c in result.conflicts] == ["sync.frequency"]
    assert result.conflicts[0].base is UNKNOWN
