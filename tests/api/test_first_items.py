"""`first_items`: the preview reads a file's first items with the uploader's own parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.api.ingest_sources import SourceError, first_items


def test_first_items_of_each_format_with_their_problems(tmp_path: Path) -> None:
    ndjson = tmp_path / "a.ndjson"
    ndjson.write_text('{"id": 1}\n\n[1, 2]\n{"id": 2, "x": NaN}\nnot json\n{"id": 3}\n{"id": 4}\n')
    found = first_items(ndjson, "ndjson", 5)
    assert [(n, item) for n, item, _ in found] == [
        (0, {"id": 1}),
        (1, None),
        (2, None),
        (3, None),
        (4, {"id": 3}),
    ]
    assert found[1][2] == "the item is not a JSON object"
    assert found[2][2] is not None
    assert "NaN" in found[2][2]
    assert found[3][2] is not None
    assert "not valid JSON" in found[3][2]

    array = tmp_path / "a.json"
    array.write_text('[{"id": "a"}, 7, {"id": "b", "n": 1.5}, {"id": "c"}]')
    assert first_items(array, "json", 3) == [
        (0, {"id": "a"}, None),
        (1, None, "the item is not a JSON object"),
        (2, {"id": "b", "n": 1.5}, None),
    ]

    table = tmp_path / "a.csv"
    table.write_text('id,name\n1,"a, b"\n2\n3,c\n')
    assert first_items(table, "csv", 10) == [
        (0, {"id": "1", "name": "a, b"}, None),
        (1, None, "the row has 1 fields; the header has 2"),
        (2, {"id": "3", "name": "c"}, None),
    ]
    assert first_items(table, "csv", 0) == []


def test_a_file_that_is_not_its_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"id": 1}')
    with pytest.raises(SourceError, match="must start with"):
        first_items(path, "json", 20)


def test_deep_nesting_is_a_problem_of_the_item_or_file_not_a_crash(tmp_path: Path) -> None:
    deep = '{"id": 1, "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    ndjson = tmp_path / "deep.ndjson"
    ndjson.write_text(deep + '\n{"id": 2}\n')
    found = first_items(ndjson, "ndjson", 5)
    assert [(n, item) for n, item, _ in found] == [(0, None), (1, {"id": 2})]
    assert found[0][2] is not None
    assert "nests deeper" in found[0][2]

    array = tmp_path / "deep.json"
    array.write_text('[{"id": 0}, ' + deep + "]")
    with pytest.raises(SourceError, match="nests deeper"):
        first_items(array, "json", 5)


def test_first_items_stop_at_a_byte_budget_with_at_least_one_item(tmp_path: Path) -> None:
    from console.ui.bulk.preview import PREVIEW_BYTES, read_bulk_preview

    big = tmp_path / "big.ndjson"
    line = json.dumps({"id": 0, "blob": "x" * (PREVIEW_BYTES // 2)}) + "\n"
    big.write_text(line * 20)
    assert len(first_items(big, "ndjson", 20, PREVIEW_BYTES)) == 2
    assert len(first_items(big, "ndjson", 20, 10)) == 1
    assert len(first_items(big, "ndjson", 20)) == 20
    assert len(read_bulk_preview(big, "ndjson", "id").items) == 2
