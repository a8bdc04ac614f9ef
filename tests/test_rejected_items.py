"""Saving a finished upload's rejected items themselves: each exact item from the source,
in its format, with the reasons next to it, streamed by index."""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.api.ingest_sources import SourceFormat, batches
from console.api.rejected_items import reasons_path_for, rejected_sources, save_rejected
from console.api.upload_rejects import RejectedItems, RejectsFile


def _rejects(tmp_path: Path, entries: list[tuple[int, str]]) -> RejectedItems:
    sidecar = RejectsFile(tmp_path / "uploads" / "m.rejects.ndjson")
    (tmp_path / "uploads").mkdir(exist_ok=True)
    sidecar.keep(0)
    # As batches finish out of order: two sorted runs.
    half = len(entries) // 2
    sidecar.append(sorted(entries[half:]))
    sidecar.append(sorted(entries[:half]))
    sidecar.close()
    return sidecar.hand_over(len(entries), [list(e) for e in sorted(entries)[:100]])


SOURCES: dict[SourceFormat, bytes] = {
    "ndjson": b'\xef\xbb\xbf{"id": 0}\n\n{"name": "no id", "n": 1}\n  {"id": 2}\r\nnot json\n'
    b'{"id": 4}\n{"n": 5}',
    "json": b'[ {"name": "no id", "n": 0} ,\n {"id": 1}, [1, 2],{"id":3},\n {"n": 4}\n]\n',
    "csv": b'name,id\r\n"a, quoted\nnewline",\r\nb,1\r\n\r\nc,\r\n',
}
WANTED: dict[SourceFormat, list[int]] = {"ndjson": [1, 3, 5], "json": [0, 2, 4], "csv": [0, 2]}
EXPECTED: dict[SourceFormat, bytes] = {
    "ndjson": b'{"name": "no id", "n": 1}\nnot json\n{"n": 5}\n',
    "json": b'[\n{"name": "no id", "n": 0},\n[1, 2],\n{"n": 4}\n]\n',
    "csv": b'name,id\r\n"a, quoted\nnewline",\r\nc,\r\n',
}


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_the_saved_items_are_the_sources_own_and_upload_again(
    tmp_path: Path, fmt: SourceFormat
) -> None:
    source = tmp_path / f"items.{fmt}"
    source.write_bytes(SOURCES[fmt])
    rejects = _rejects(tmp_path, [(i, f"[{i}].id is missing") for i in WANTED[fmt]])
    target = tmp_path / f"rejected.{fmt}"
    saved = save_rejected(rejects, source, fmt, target)
    assert saved.count == len(WANTED[fmt])
    assert target.read_bytes() == EXPECTED[fmt]
    assert saved.reasons == reasons_path_for(target) == tmp_path / "rejected.reasons.ndjson"
    reasons = [json.loads(line) for line in saved.reasons.read_text().splitlines()]
    assert reasons == [{"item": i, "reason": f"[{i}].id is missing"} for i in WANTED[fmt]]
    for path in (target, saved.reasons):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The saved file reads as the uploader reads its format: fixed, it can be sent again.
    again = list(batches(target, fmt))
    assert sum(b.item_count for b in again) == len(WANTED[fmt])
    if fmt == "csv":
        rows = list(csv.reader(target.read_text().splitlines(keepends=True)))
        assert rows[1] == ["a, quoted\nnewline", ""]
    rejects.discard()


def test_a_large_file_streams_each_rejected_item_in_order(tmp_path: Path) -> None:
    source = tmp_path / "big.ndjson"
    bad = set(range(5, 20_000, 7))
    with source.open("w") as out:
        for n in range(20_000):
            out.write(json.dumps({"n": n} if n in bad else {"id": n, "n": n}) + "\n")
    found = list(rejected_sources(source, "ndjson", iter(sorted(bad))))
    assert [n for n, _ in found] == sorted(bad)
    assert all(json.loads(text) == {"n": n} for n, text in found)


def test_ndjson_spans_number_items_as_the_uploader_does(tmp_path: Path) -> None:
    from console.api.ingest_sources import batches, item_spans

    source = tmp_path / "mixed.ndjson"
    source.write_bytes(SOURCES["ndjson"] + b"\n\n  \n{}\n")
    numbers = sorted(
        [n for b in batches(source, "ndjson", item_key="id") for n in b.numbers]
        + [n for b in batches(source, "ndjson", item_key="id") for n, _ in b.rejected]
    )
    assert [n for n, _start, _end in item_spans(source, "ndjson")] == numbers == list(range(7))


BOM = b"\xef\xbb\xbf"
# Each source with a BOM, CRLF line ends and (CSV) a quoted newline: (bytes, the items by index).
BOM_SOURCES: dict[SourceFormat, tuple[bytes, list[bytes]]] = {
    "json": (
        BOM + b'[{"id": 1, "v": "aaaa"},\n {"id": 2, "v": "bbbb"}]',
        [b'{"id": 1, "v": "aaaa"}', b'{"id": 2, "v": "bbbb"}'],
    ),
    "ndjson": (
        BOM + b'{"id": 1, "v": "aaaa"}\r\n{"id": 2, "v": "bbbb"}\r\n',
        [b'{"id": 1, "v": "aaaa"}\n', b'{"id": 2, "v": "bbbb"}\n'],
    ),
    "csv": (
        BOM + b'id,v\r\n1,"aa\r\naa"\r\n2,bbbb\r\n',
        [b'1,"aa\r\naa"\r\n', b"2,bbbb\r\n"],
    ),
}


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_items_of_a_file_with_a_bom_read_back_byte_exact(tmp_path: Path, fmt: SourceFormat) -> None:
    from console.api.ingest_sources import item_spans

    data, items = BOM_SOURCES[fmt]
    source = tmp_path / f"bom.{fmt}"
    source.write_bytes(data)
    assert list(rejected_sources(source, fmt, [0, 1])) == list(enumerate(items))
    # The batches' ranges (their Idempotency-Keys, and a resume's "done") are the file's own
    # bytes: the last one ends where the last item's span does, within the file.
    spans = list(item_spans(source, fmt))
    cut = list(batches(source, fmt, max_items=1))
    assert [b.end for b in cut] == [end for _n, _start, end in spans]
    assert cut[-1].end <= len(data)
    if fmt == "json":
        assert data[cut[0].end - 1 : cut[0].end] == b"}"
    target = tmp_path / f"rejected.{fmt}"
    rejects = _rejects(tmp_path, [(0, "bad"), (1, "bad")])
    save_rejected(rejects, source, fmt, target)
    again = list(batches(target, fmt))
    assert [json.loads(e) for b in again for e in b.encoded] == [
        json.loads(e) for b in batches(source, fmt) for e in b.encoded
    ]
    rejects.discard()


def test_a_rejected_line_of_many_mib_is_read_bounded_and_saved_whole(tmp_path: Path) -> None:
    import tracemalloc

    huge = b'{"id": 1, "v": "' + b"x" * (9 << 20) + b'"}'
    source = tmp_path / "huge.ndjson"
    source.write_bytes(b'{"id": 0}\n' + huge + b'\r\n{"id": 2}\n')
    limit = 1200
    tracemalloc.start()
    try:
        shown = list(rejected_sources(source, "ndjson", [1], limit=limit))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shown == [(1, huge[:limit])]
    assert peak < 4 << 20  # the walk and the read hold chunks, never the 9 MiB line

    rejects = _rejects(tmp_path, [(1, "the line is over 8 MiB")])
    target = tmp_path / "rejected.ndjson"
    tracemalloc.start()
    try:
        saved = save_rejected(rejects, source, "ndjson", target)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert saved.count == 1
    assert target.read_bytes() == huge + b"\n"
    assert peak < 4 << 20
    rejects.discard()


def test_a_source_changed_since_the_upload_is_refused_with_nothing_written(
    tmp_path: Path,
) -> None:
    from console.api.rejected_items import SourceChanged

    source = tmp_path / "items.ndjson"
    source.write_bytes(SOURCES["ndjson"])
    uploaded = source.stat()
    source.write_bytes(b'{"id": "new"}\n' + SOURCES["ndjson"])  # a line prepended
    rejects = _rejects(tmp_path, [(1, "bad"), (3, "bad")])
    target = tmp_path / "rejected.ndjson"
    with pytest.raises(SourceChanged, match="changed since the upload"):
        save_rejected(
            rejects,
            source,
            "ndjson",
            target,
            size=uploaded.st_size,
            mtime_ns=uploaded.st_mtime_ns,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.ndjson", "uploads"]
    rejects.discard()


def test_a_discard_during_the_save_still_writes_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dialog closed while its save ran in a thread: `discard` removed the upload's
    # rejected-items file after the items were cut, before the reasons were copied.
    import console.api.rejected_items as rejected_items

    source = tmp_path / "items.ndjson"
    source.write_bytes(SOURCES["ndjson"])
    rejects = _rejects(tmp_path, [(1, "one"), (3, "three"), (5, "five")])
    real_spans = rejected_items.item_spans

    def spans_then_closed(path: Path, fmt: SourceFormat) -> Iterator[tuple[int, int, int]]:
        yield from real_spans(path, fmt)
        rejects.discard()

    monkeypatch.setattr(rejected_items, "item_spans", spans_then_closed)
    target = tmp_path / "rejected.ndjson"
    saved = save_rejected(rejects, source, "ndjson", target)
    assert rejects.path is not None
    assert not rejects.path.exists()
    assert target.read_bytes() == EXPECTED["ndjson"]
    reasons = [json.loads(line) for line in saved.reasons.read_text().splitlines()]
    assert [(r["item"], r["reason"]) for r in reasons] == [(1, "one"), (3, "three"), (5, "five")]


def test_a_source_changed_during_the_save_leaves_neither_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.api.rejected_items as rejected_items
    from console.api.rejected_items import SourceChanged

    source = tmp_path / "items.ndjson"
    source.write_bytes(SOURCES["ndjson"])
    uploaded = source.stat()
    rejects = _rejects(tmp_path, [(1, "one"), (5, "five")])  # 5: the last item
    real_spans = rejected_items.item_spans

    def spans_then_changed(path: Path, fmt: SourceFormat) -> Iterator[tuple[int, int, int]]:
        yield from real_spans(path, fmt)
        with source.open("ab") as out:
            out.write(b'{"id": 9}\n')

    monkeypatch.setattr(rejected_items, "item_spans", spans_then_changed)
    with pytest.raises(SourceChanged):
        save_rejected(
            rejects,
            source,
            "ndjson",
            tmp_path / "rejected.ndjson",
            size=uploaded.st_size,
            mtime_ns=uploaded.st_mtime_ns,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.ndjson", "uploads"]
    rejects.discard()
