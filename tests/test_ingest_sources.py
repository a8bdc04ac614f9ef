"""Splitting files for the bulk uploader: byte ranges, limits, local checks (no server)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.api.ingest_sources import (
    Batch,
    SourceError,
    batches,
    batches_of_items,
    content_sha256,
    excluded_tag,
    format_for,
    idempotency_key,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _items(batch: Batch) -> list[object]:
    return list(json.loads(batch.body))


def _check_ranges(all_batches: list[Batch], data: bytes) -> None:
    """Contiguous ranges from 0; each item's text lies inside its batch's range."""
    position = 0
    for index, batch in enumerate(all_batches):
        assert batch.index == index
        assert batch.start == position
        assert batch.end > batch.start
        chunk = data[batch.start : batch.end]
        for encoded in batch.encoded:
            if encoded.startswith(b"{") and b"\n" not in encoded:
                assert encoded in chunk or json.loads(encoded) is not None
        position = batch.end


def test_ndjson_batches_by_bytes_and_items_with_exact_ranges(tmp_path: Path) -> None:
    lines = [json.dumps({"sku": f"S{i}", "pad": "x" * (i % 7)}) for i in range(1000)]
    data = ("\n".join(lines[:500]) + "\n\n   \n" + "\n".join(lines[500:]) + "\n").encode()
    path = _write(tmp_path, "items.ndjson", data)
    found = list(batches(path, "ndjson", max_bytes=4000, max_items=64, item_key="sku"))
    _check_ranges(found, data)
    assert all(len(b.body) <= 4000 and len(b.numbers) <= 64 for b in found)
    # every batch is as long as the limits allow: adding the next item would break one
    for batch, following in itertools.pairwise(found):
        nxt = following.encoded[0]
        assert len(batch.body) + 1 + len(nxt) > 4000 or len(batch.numbers) == 64
    every = [item for b in found for item in _items(b)]
    assert [i["sku"] for i in every] == [f"S{i}" for i in range(1000)]  # type: ignore[index]
    assert [n for b in found for n in b.numbers] == list(range(1000))
    assert found[-1].end == len(data)
    for batch in found:  # each batch's text is exactly its byte range's items
        text = data[batch.start : batch.end].decode()
        assert [json.loads(x) for x in text.split("\n") if x.strip()] == _items(batch)


def test_ndjson_bad_lines_are_rejected_locally_with_their_index(tmp_path: Path) -> None:
    data = b'{"sku": 1}\n[1, 2]\n{"sku": \n{"name": "no key"}\n{"sku": ""}\n{"sku": true}\n'
    data += b'{"sku": NaN}\n{"sku": "ok"}\n'
    path = _write(tmp_path, "bad.ndjson", data)
    [batch] = list(batches(path, "ndjson", item_key="sku"))
    assert batch.numbers == (0, 7)
    reasons = dict(batch.rejected)
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "not a JSON object" in reasons[1]
    assert "not valid JSON" in reasons[2]
    # In the server's words for the same problem (a 400 names it so).
    assert reasons[3] == "[3].sku is missing: every record carries the feed's id field."
    assert "non-empty string or an integer" in reasons[4]
    assert "non-empty string or an integer" in reasons[5]
    assert "not valid JSON" in reasons[6]
    assert batch.item_count == 8


def test_json_array_with_brackets_inside_strings_and_nesting(tmp_path: Path) -> None:
    items = [
        {"sku": f"A{i}", "note": '] , [ } { " \\ ]', "nested": {"list": [[1], {"x": "]"}]}}
        for i in range(300)
    ]
    items[7]["note"] = "ünïcödé – 漢字 \u2028 line sep"
    text = "[\n" + ",\n  ".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n]\n"
    data = text.encode()
    path = _write(tmp_path, "items.json", data)
    found = list(batches(path, "json", max_bytes=5000, max_items=10_000, item_key="sku"))
    _check_ranges(found, data)
    assert len(found) > 3
    assert [i for b in found for i in _items(b)] == items
    for batch in found:  # byte offsets (not character offsets) despite multi-byte text
        chunk = data[batch.start : batch.end].decode().strip().lstrip("[").strip().lstrip(",")
        assert json.loads("[" + chunk + "]") == _items(batch)


def test_json_array_split_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.api.ingest_sources as sources

    monkeypatch.setattr(sources, "_CHUNK", 7)  # numbers and strings cut by every read
    items = [{"sku": i, "n": 123456789.25, "t": "é" * (i % 5), "b": True} for i in range(50)]
    data = json.dumps(items, ensure_ascii=False).encode()
    path = _write(tmp_path, "x.json", data)
    found = list(batches(path, "json", max_bytes=300, item_key="sku"))
    assert [i for b in found for i in _items(b)] == items
    _check_ranges(found, data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"sku": 1}', "must start with '['"),
        ('[{"sku": 1}, {"sku": 2]', "not valid JSON"),
        ('[{"sku": 1} {"sku": 2}]', "expected ',' or ']'"),
        ('[{"sku": 1}', "not closed"),
        ('[{"sku": 1}] x', "goes on after"),
    ],
)
def test_json_array_that_is_not_one_is_a_source_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, "bad.json", text.encode())
    with pytest.raises(SourceError, match=re.escape(message)):
        list(batches(path, "json", item_key="sku"))


def test_json_array_empty_and_non_objects(tmp_path: Path) -> None:
    assert list(batches(_write(tmp_path, "e.json", b" [ ] \n"), "json")) == []
    [batch] = list(batches(_write(tmp_path, "m.json", b'[1, {"id": 2}, "s"]'), "json"))
    assert batch.numbers == (1,)
    assert [n for n, _ in batch.rejected] == [0, 2]


def test_csv_quoted_newlines_stay_in_one_record(tmp_path: Path) -> None:
    rows = ["sku,name,note\r\n"]
    for i in range(200):
        rows.append(f'S{i},"Name {i}","line one\nline ""two"", with comma"\r\n')
    rows.insert(50, "\r\n")  # a blank line is no record
    rows.append("S-short,only two\r\n")
    data = "".join(rows).encode()
    path = _write(tmp_path, "items.csv", data)
    found = list(batches(path, "csv", max_bytes=3000, item_key="sku"))
    _check_ranges(found, data)
    items = [i for b in found for i in _items(b)]
    assert len(items) == 200
    assert items[3] == {"sku": "S3", "name": "Name 3", "note": 'line one\nline "two", with comma'}
    assert found[-1].rejected == ((200, "the row has 2 fields; the header has 3"),)
    for batch in found[1:]:  # each range starts at the beginning of a record's line
        assert data[batch.start : batch.start + 1] == b"S"


def test_csv_with_bom_and_missing_key_values(tmp_path: Path) -> None:
    data = "\ufeffsku,n\nA,1\n,2\n".encode()
    [batch] = list(batches(_write(tmp_path, "b.csv", data), "csv", item_key="sku"))
    assert _items(batch) == [{"sku": "A", "n": "1"}]
    assert [n for n, _ in batch.rejected] == [1]


def test_an_item_larger_than_a_batch_is_rejected_not_sent(tmp_path: Path) -> None:
    data = b'{"id": 1}\n{"id": 2, "big": "' + b"x" * 2000 + b'"}\n{"id": 3}\n'
    found = list(batches(_write(tmp_path, "b.ndjson", data), "ndjson", max_bytes=1000))
    assert [n for b in found for n in b.numbers] == [0, 2]
    assert [n for b in found for n, _ in b.rejected] == [1]


def test_boundaries_depend_only_on_bytes_and_limits(tmp_path: Path) -> None:
    data = "".join(json.dumps({"id": i, "v": "y" * (i % 13)}) + "\n" for i in range(3000))
    path = _write(tmp_path, "a.ndjson", data.encode())
    first = [(b.start, b.end) for b in batches(path, "ndjson", max_bytes=20_000)]
    again = [(b.start, b.end) for b in batches(path, "ndjson", max_bytes=20_000)]
    assert first == again
    assert [(b.start, b.end) for b in batches(path, "ndjson", max_bytes=15_000)] != first


def test_default_limits_hold_the_server_caps(tmp_path: Path) -> None:
    data = "".join(json.dumps({"id": i}) + "\n" for i in range(25_000)).encode()
    found = list(batches(_write(tmp_path, "n.ndjson", data), "ndjson"))
    assert [len(b.numbers) for b in found] == [10_000, 10_000, 5_000]
    big = "".join(json.dumps({"id": i, "p": "z" * 300}) + "\n" for i in range(5000)).encode()
    found = list(batches(_write(tmp_path, "b.ndjson", big), "ndjson"))
    assert all(len(b.body) <= 1_000_000 for b in found)
    assert len(found) == 2


def test_keys_are_deterministic_readable_and_bounded() -> None:
    sha = "ab" * 32
    assert idempotency_key("shop", sha, 0, 1000) == f"ic1:shop:{'ab' * 16}:0-1000"
    assert idempotency_key("shop", sha, 0, 10, excluded_tag([3, 1])).endswith(
        ":0-10:x" + excluded_tag([1, 3])
    )
    long_key = idempotency_key("f" * 300, sha, 10**12, 10**13, "deadbeef")
    assert len(long_key) <= 255
    assert all(0x20 <= ord(c) <= 0x7E for c in idempotency_key("magasin-é", sha, 0, 1))


def test_content_hash_and_format_by_extension(tmp_path: Path) -> None:
    path = _write(tmp_path, "A.JSONL", b"{}\n")
    assert format_for(path) == "ndjson"
    assert format_for(tmp_path / "x.csv") == "csv"
    assert format_for(tmp_path / "x.txt") is None
    import hashlib

    assert content_sha256(path) == hashlib.sha256(b"{}\n").hexdigest()


def test_iterables_get_a_running_digest_per_batch() -> None:
    items = [{"id": i, "v": "q" * (i % 11)} for i in range(500)]
    found = list(batches_of_items(items, max_bytes=2000, item_key="id"))
    assert [i for b in found for i in _items(b)] == items
    assert found[0].start == 0
    assert found[-1].end == 500
    digests = [b.digest for b in found]
    assert len(set(digests)) == len(digests)
    assert [b.digest for b in batches_of_items(items, max_bytes=2000, item_key="id")] == digests
    changed = [*items[:-1], {"id": 499, "v": "other"}]
    assert [b.digest for b in batches_of_items(changed, max_bytes=2000)][-1] != digests[-1]
    odd = list(batches_of_items([{"id": 1, "x": float("nan")}, {"id": 2}]))
    assert odd[0].numbers == (1,)
    assert "cannot be sent as JSON" in odd[0].rejected[0][1]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "a", "b", "[", "\n"]),
            st.one_of(st.integers(), st.text(max_size=30), st.booleans()),
            min_size=1,
        ),
        max_size=60,
    ),
    st.integers(min_value=40, max_value=400),
    st.integers(min_value=1, max_value=7),
)
def test_any_array_splits_into_its_items_in_order(
    tmp_path_factory: pytest.TempPathFactory,
    items: list[dict[str, object]],
    max_bytes: int,
    max_items: int,
) -> None:
    data = json.dumps(items, indent=1, ensure_ascii=False).encode()
    path = tmp_path_factory.mktemp("h") / "h.json"
    path.write_bytes(data)
    found = list(batches(path, "json", max_bytes=max_bytes, max_items=max_items))
    sent = [n for b in found for n in b.numbers]
    left_out = [n for b in found for n, _ in b.rejected]
    assert sorted(sent + left_out) == list(range(len(items)))
    assert [i for b in found for i in _items(b)] == [items[n] for n in sent]
    assert all(len(b.body) <= max_bytes and len(b.numbers) <= max_items for b in found)
    _check_ranges(found, data)


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_line_without_end_is_never_read_whole(tmp_path: Path, fmt: str) -> None:
    # A 64 MiB line (a file without newlines, or a wrong format) used to be read into
    # memory whole by line iteration; it is read in bounded pieces and refused instead.
    import tracemalloc

    from console.api import ingest_sources

    huge = b'{"id":"x' + b"x" * (64 << 20) + b'"}\n'
    head = b"id\n1\n" if fmt == "csv" else b'{"id":"a"}\n'
    path = _write(
        tmp_path, f"big.{fmt}", head + huge + (b"2\n" if fmt == "csv" else b'{"id":"b"}\n')
    )
    tracemalloc.start()
    try:
        if fmt == "csv":
            with pytest.raises(ingest_sources.SourceError, match="over 8 MiB"):
                list(batches(path, "csv", content_sha="0" * 64))
        else:
            found = list(batches(path, "ndjson", content_sha="0" * 64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20
    if fmt == "ndjson":
        assert [b.numbers for b in found] == [(0, 2)]
        assert [(n, reason) for n, reason in found[0].rejected] == [(1, "the line is over 8 MiB")]
        assert found[0].end == path.stat().st_size


def test_a_json_array_with_a_bom_has_ranges_in_the_files_own_bytes(tmp_path: Path) -> None:
    # Walking the build, the BOM was decoded away uncounted: every range ended 3 bytes
    # early, so keys, resumes and saved rejected items named the wrong bytes.
    data = b"\xef\xbb\xbf" + b'[{"id": 1, "v": "a\xc3\xa9"},\n {"id": 2, "v": "bbbb"}]\n'
    path = _write(tmp_path, "bom.json", data)
    cut = list(batches(path, "json", max_items=1))
    _check_ranges(cut, data)
    assert [data[b.end - 1 : b.end] for b in cut] == [b"}", b"}"]
    assert data[cut[1].start : cut[1].end] == b',\n {"id": 2, "v": "bbbb"}'
    assert [_items(b) for b in cut] == [[{"id": 1, "v": "aé"}], [{"id": 2, "v": "bbbb"}]]
