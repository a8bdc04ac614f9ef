"""The Records tab's import and export files, without Qt: row numbers, rejects, resume state."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from console.ui.records.import_resume import ImportResumeStore, fingerprint, new_point
from console.ui.records.io_files import (
    ExportStopped,
    ExportWriter,
    RateMeter,
    detect_format,
    read_preview,
    write_rejected_rows,
)

CSV_TEXT = (
    "\ufeffsku,name,note\r\n"
    "A1,Apple,plain\r\n"
    "\r\n"  # a blank line is not a row
    'A2,"Pear, green","two\r\nlines"\r\n'
    ",,\r\n"  # empty cells are a row (the server rejects it: no sku)
    'A4,"Fig ""dried""",x\r\n'
)


def test_format_follows_the_extension() -> None:
    assert detect_format("rows.CSV") == "csv"
    assert detect_format("rows.ndjson") == "ndjson"
    assert detect_format("rows.jsonl") == "ndjson"
    assert detect_format("rows.txt") == "csv"


def test_preview_numbers_data_rows_as_the_server_does(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_bytes(CSV_TEXT.encode("utf-8"))
    preview = read_preview(source, "csv", limit=3)
    assert preview.columns == ("sku", "name", "note")
    assert [number for number, _ in preview.rows] == [1, 2, 3]
    assert preview.rows[1][1] == ("A2", "Pear, green", "two\r\nlines")
    assert preview.rows[2][1] == ("", "", "")
    later = read_preview(source, "csv", limit=2, start_row=3)
    assert [number for number, _ in later.rows] == [3, 4]
    assert later.columns == ("sku", "name", "note")


def test_rejects_file_holds_exactly_the_bad_csv_rows_with_the_header(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_bytes(CSV_TEXT.encode("utf-8") + b"A5,\xff\xfe,bad\r\nA6,ok,ok")
    target = tmp_path / "rows.rejected.csv"
    assert write_rejected_rows(source, "csv", [5, 2, 6, 3], target) == 4
    assert (
        target.read_bytes()
        == ('\ufeffsku,name,note\r\nA2,"Pear, green","two\r\nlines"\r\n,,\r\n').encode("utf-8")
        + b"A5,\xff\xfe,bad\r\nA6,ok,ok\r\n"
    )
    with target.open(encoding="utf-8", errors="replace", newline="") as handle:
        assert next(csv.reader(handle)) == ["\ufeffsku", "name", "note"]
    assert list(tmp_path.glob(".*.part")) == []


def test_rejects_file_copies_ndjson_lines_byte_for_byte(tmp_path: Path) -> None:
    lines = [
        b'{"id": "1"}\r\n',
        b" \t\n",  # blank: not a row
        b'{"id": 2.5, "x": "\xc3\xa9"}\n',
        b'{"id": "\xff"}\n',  # not UTF-8: still a row (the server rejects it)
        b'{"id": "4"}',
    ]
    source = tmp_path / "rows.ndjson"
    source.write_bytes(b"".join(lines))
    target = tmp_path / "bad.ndjson"
    assert write_rejected_rows(source, "ndjson", [2, 3, 4], target) == 3
    assert target.read_bytes() == lines[2] + lines[3] + lines[4] + b"\n"


def test_resume_point_matches_only_the_same_file_version(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("id\n1\n2\n", encoding="utf-8")
    store = ImportResumeStore(tmp_path / "state")
    file = fingerprint(source)
    store.save("Profile A", "orders", file, new_point("imp_1", 1, 2, "csv", "id", "cancelled"))
    point = store.load("Profile A", "orders", fingerprint(source))
    assert point is not None
    assert (point.import_id, point.start_row) == ("imp_1", 2)
    assert store.load("Profile B", "orders", file) is None
    assert store.load("Profile A", "other-feed", file) is None
    (state_file,) = (tmp_path / "state").iterdir()
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert "Profile A" not in state_file.name

    source.write_text("id\n1\n3\n", encoding="utf-8")  # same size, other content
    os.utime(source, ns=(file.mtime_ns, file.mtime_ns))
    assert store.load("Profile A", "orders", fingerprint(source)) is None

    store.forget("Profile A", "orders", file)
    assert store.load("Profile A", "orders", file) is None
    assert not state_file.exists()


def _record(guid: str, data: dict[str, Any], *, deleted: bool = False) -> Any:
    return SimpleNamespace(
        guid=guid,
        system_id=str(data.get("id", "")),
        version=1700000000,
        updated_at=1700000000.125,
        deleted=deleted,
        data=data,
    )


def test_csv_export_flattens_arrays_and_objects_so_they_import_again(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    writer = ExportWriter(target, "csv")
    writer.write_page([_record("g1", {"id": "1", "tags": ["a"], "dims": {"w": 2}})])
    second = {"id": 2, "tags": ["b", "c", "d"], "version": "v9", "ok": True}
    writer.write_page([_record("g2", second, deleted=True)])
    assert not target.exists()  # nothing at the target until the export completes
    writer.finish()
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "guid", "system_id", "version", "updated_at", "deleted",
        "id", "tags[0]", "tags[1]", "tags[2]", "dims", "data.version", "ok",
    ]  # fmt: skip
    assert (rows[0]["tags[0]"], rows[0]["tags[1]"]) == ("a", "")
    assert rows[0]["dims"] == '{"w":2}'
    assert rows[1]["tags[2]"] == "d"
    assert (rows[1]["id"], rows[1]["deleted"], rows[1]["ok"]) == ("2", "1", "true")
    assert rows[1]["data.version"] == "v9"
    assert rows[1]["updated_at"] == "1700000000.125"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_csv_export_writes_a_key_with_arrays_and_scalars_as_one_column(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    writer = ExportWriter(target, "csv")
    writer.write_page([_record("g1", {"id": "1", "t": ["a", 1]}), _record("g2", {"t": "x"})])
    writer.finish()
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["t"] for row in rows] == ['["a",1]', "x"]


def test_ndjson_export_writes_one_object_per_record(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    writer = ExportWriter(target, "ndjson")
    writer.write_page([_record("g1", {"id": "1", "tags": ["a"]})])
    writer.finish()
    (line,) = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "guid": "g1", "system_id": "1", "version": 1700000000,
        "updated_at": 1700000000.125, "deleted": 0, "id": "1", "tags": ["a"],
    }  # fmt: skip


def test_aborted_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    writer = ExportWriter(target, "csv")
    writer.write_page([_record("g1", {"id": "1"})])
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportStopped):
        writer.write_page([_record("g2", {"id": "2"})])


def test_rate_meter_measures_the_recent_rate() -> None:
    meter = RateMeter(window_seconds=5)
    assert meter.rate is None
    for second in range(11):
        meter.add(second * 100, at=float(second))
    assert meter.rate == pytest.approx(100)
    assert meter.seconds_left(500) == pytest.approx(5)
