"""Property tests of the three-way merge (console.definition.merge).

Random definition-like documents and two random edit sets on disjoint paths: the merge
of the two edits equals applying both, with no conflict; an unchanged side gives the
other side exactly; two different edits of one path are a conflict there; and the text
written back keeps the user's comments wherever the server's changes are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from console.definition import dump_yaml, validate_text
from console.definition.merge import ABSENT, Item, Path, Side, canonical, merge, value_at
from console.definition.merge_text import merged_text

TABLES = ("public.orders", "public.customers", "public.items", "sales.refunds", "ops.audit")
NEW_FOR_A = ("a.one", "a.two")
NEW_FOR_B = ("b.one", "b.two")
COLUMNS = ("id", "total", "created_at", "email", "sku")

names = st.text(alphabet="abcdefgh XYZ-_.é:#'\"[{*&!|>%@`", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)
column_lists = st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4, unique=True)


@st.composite
def tables(draw: st.DrawFn, name: str) -> dict[str, Any]:
    table: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        table["append_only"] = draw(st.booleans())
    if draw(st.booleans()):
        table["columns"] = {draw(st.sampled_from(("include", "exclude"))): draw(column_lists)}
    return table


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=5, unique=True))
    sync: dict[str, Any] = {"frequency": draw(st.integers(1, 1440))}
    if draw(st.booleans()):
        sync["auto_sync_new_tables"] = draw(st.booleans())
    return {
        "definition_version": 1,
        "name": draw(names),
        "source": {"connection": {"id": draw(st.integers(1, 9))}},
        "destination": {"connection": {"id": draw(st.integers(1, 9))}},
        "sync": sync,
        "tables": [draw(tables(name)) for name in chosen],
    }


Edit = tuple[Path, Any]  # the value at the path becomes this (ABSENT: removed)


def _slots(
    draw: Callable[[st.SearchStrategy[Any]], Any],
    document: dict[str, Any],
    new_names: tuple[str, ...],
) -> list[Edit]:
    """Every edit one side could make to `document` (one per path)."""
    edits: list[Edit] = [
        (("name",), draw(names)),
        (("sync", "frequency"), draw(st.integers(1, 1440))),
        (("sync", "auto_sync_new_tables"), draw(st.sampled_from((True, False, ABSENT)))),
        (("source", "connection", "id"), draw(st.integers(1, 9))),
    ]
    table_names = [t["name"] for t in document["tables"]]
    for name in table_names:
        item = ("tables", Item("name", name))
        edits.append(((*item, "append_only"), draw(st.sampled_from((True, False, ABSENT)))))
        edits.append(((*item, "columns"), {"include": draw(column_lists)}))
        if len(table_names) > 1:
            edits.append((item, ABSENT))
    for name in new_names:
        edits.append((("tables", Item("name", name)), draw(tables(name))))
    return edits


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


@st.composite
def disjoint_edits(draw: st.DrawFn) -> tuple[dict[str, Any], list[Edit], list[Edit]]:
    """A base document and two edit sets whose paths never contain one another."""
    base = draw(documents())
    pool_a = _slots(draw, base, NEW_FOR_A)
    pool_b = _slots(draw, base, NEW_FOR_B)
    a: list[Edit] = []
    for edit in draw(st.lists(st.sampled_from(pool_a), max_size=4)):
        if not any(_overlaps(edit[0], other[0]) for other in a):
            a.append(edit)
    b: list[Edit] = []
    for edit in draw(st.lists(st.sampled_from(pool_b), max_size=4)):
        if not any(_overlaps(edit[0], other[0]) for other in a + b):
            b.append(edit)
    # Keep at least one table on both sides together (a definition needs one).
    removed = {e[0][1] for e in a + b if len(e[0]) == 2 and e[1] is ABSENT}
    kept = [t for t in base["tables"] if Item("name", t["name"]) not in removed]
    if not kept:
        a = [e for e in a if not (len(e[0]) == 2 and e[1] is ABSENT)]
        b = [e for e in b if not (len(e[0]) == 2 and e[1] is ABSENT)]
    return base, a, b


def apply_edits(document: dict[str, Any], edits: list[Edit]) -> dict[str, Any]:
    """The reference: each edit made to a copy, in order (written apart from the merge)."""
    out: Any = json.loads(json.dumps(document))
    for path, value in edits:
        parent: Any = out
        for segment in path[:-1]:
            if isinstance(segment, Item):
                parent = next(t for t in parent if t[segment.key] == segment.value)
            else:
                parent = parent[segment]
        last = path[-1]
        if isinstance(last, Item):
            index = next((i for i, t in enumerate(parent) if t[last.key] == last.value), None)
            if value is ABSENT:
                if index is not None:
                    del parent[index]
            elif index is None:
                parent.append(json.loads(json.dumps(value)))
            else:
                parent[index] = json.loads(json.dumps(value))
        elif value is ABSENT:
            parent.pop(last, None)
        else:
            parent[last] = json.loads(json.dumps(value))
    result: dict[str, Any] = out
    return result


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(disjoint_edits())
def test_non_overlapping_edits_merge_to_both_edits_applied(
    case: tuple[dict[str, Any], list[Edit], list[Edit]],
) -> None:
    base, a, b = case
    mine, theirs = apply_edits(base, a), apply_edits(base, b)
    result = merge(base, mine, theirs)
    assert result.conflicts == ()
    assert canonical(result.document()) == canonical(apply_edits(mine, b))


@FAST
@given(disjoint_edits())
def test_an_unchanged_side_gives_the_other_side_exactly(
    case: tuple[dict[str, Any], list[Edit], list[Edit]],
) -> None:
    base, a, b = case
    edited = apply_edits(base, a + b)
    only_mine = merge(base, edited, base)
    assert only_mine.conflicts == ()
    assert only_mine.taken == ()
    assert canonical(only_mine.document()) == canonical(edited)
    only_theirs = merge(base, base, edited)
    assert only_theirs.conflicts == ()
    assert canonical(only_theirs.document()) == canonical(edited)
    same_on_both = merge(base, edited, edited)
    assert same_on_both.conflicts == ()
    assert same_on_both.taken == ()


@FAST
@given(documents(), st.data())
def test_different_edits_of_one_path_are_a_conflict_at_that_path(
    base: dict[str, Any], data: st.DataObject
) -> None:
    slots = _slots(data.draw, base, ())
    path, mine_value = data.draw(st.sampled_from(slots))
    their_edits = [e for e in _slots(data.draw, base, ()) if e[0] == path]
    their_value = their_edits[0][1]
    if canonical_or_absent(mine_value) == canonical_or_absent(their_value):
        return  # the same edit on both sides: not a conflict (the test above)
    mine = apply_edits(base, [(path, mine_value)])
    theirs = apply_edits(base, [(path, their_value)])
    if canonical(mine) == canonical(base) or canonical(theirs) == canonical(base):
        return  # one side made no change after all
    result = merge(base, mine, theirs)
    # One conflict, at the edited path (or the one value inside it both edits changed).
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert conflict.path[: len(path)] == path
    assert canonical_or_absent(conflict.mine) == canonical_or_absent(value_at(mine, conflict.path))
    assert canonical_or_absent(conflict.theirs) == canonical_or_absent(
        value_at(theirs, conflict.path)
    )
    # Choosing a side gives that side's value there.
    assert canonical(result.document({conflict.path: Side.THEIRS})) == canonical(theirs)
    assert canonical(result.document({conflict.path: Side.MINE})) == canonical(mine)
    # The other way round, the same conflict with the sides swapped.
    swapped = merge(base, theirs, mine)
    assert [(c.path, c.mine, c.theirs) for c in swapped.conflicts] == [
        (conflict.path, conflict.theirs, conflict.mine)
    ]


def canonical_or_absent(value: Any) -> str:
    return "ABSENT" if value is ABSENT else canonical(value)


@FAST
@given(disjoint_edits())
def test_the_text_keeps_every_comment_and_the_key_order_of_the_users_edit(
    case: tuple[dict[str, Any], list[Edit], list[Edit]],
) -> None:
    base, a, b = case
    mine, theirs = apply_edits(base, a), apply_edits(base, b)
    text = _with_comments(dump_yaml(mine))
    result = merge(base, mine, theirs)
    written = merged_text(text, result.changes(), result.document())
    note(f"text={text!r}\nchanges={result.changes()!r}")
    assert written.layout_kept
    parsed = validate_text(written.text).document
    assert parsed is not None
    assert canonical(parsed) == canonical(apply_edits(mine, b))
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    kept = [line.strip() for line in written.text.splitlines() if line.strip().startswith("#")]
    assert kept == comments  # the server's changes touched only their own lines
    assert list(parsed) == list(mine)  # the top-level keys stay in the user's order


def _with_comments(text: str) -> str:
    """A comment line above every top-level key and every table (as people annotate)."""
    out = []
    for number, line in enumerate(text.splitlines(keepends=True)):
        if line[:1].isalpha() or line.startswith("  - "):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# note {number}\n")
        out.append(line)
    return "".join(out)
