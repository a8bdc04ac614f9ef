"""Import parsing without a server: the streaming multipart parser and the row reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.sandbox.imports import rows as import_rows
from console.sandbox.imports.multipart import (
    MultipartError,
    MultipartParser,
    PartHeaders,
    boundary_of,
)
from console.sandbox.imports.rows import FileProblem, RowError, batches, count_rows, csv_layout

BOUNDARY = b"----bound4ry"


class Collected:
    """A part handler keeping every part whole (fine for tests)."""

    def __init__(self) -> None:
        self.parts: list[tuple[PartHeaders, bytes]] = []
        self._current: PartHeaders | None = None
        self._data = bytearray()
        self.largest_chunk = 0

    def begin(self, part: PartHeaders) -> None:
        self._current = part
        self._data.clear()

    def data(self, chunk: bytes) -> None:
        self.largest_chunk = max(self.largest_chunk, len(chunk))
        self._data += chunk

    def end(self) -> None:
        assert self._current is not None
        self.parts.append((self._current, bytes(self._data)))


def form(parts: list[tuple[str, str | None, bytes]], boundary: bytes = BOUNDARY) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += b"--" + boundary + b"\r\n"
        body += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: text/csv\r\n"
        body += b"\r\n" + data + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def parse(body: bytes, chunk: int) -> Collected:
    collected = Collected()
    parser = MultipartParser(BOUNDARY, collected)
    for start in range(0, len(body), chunk):
        parser.feed(body[start : start + chunk])
    parser.close()
    return collected


PARTS = [
    ("format", None, b"csv"),
    ("file", "rows.csv", b"id,name\r\n1,a\r\n--not-the-boundary\r\n\r\n--" + BOUNDARY[:-1]),
    ("id_field", None, b""),
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 13, 64, 10_000])
def test_parts_survive_any_chunking(chunk: int) -> None:
    collected = parse(form(PARTS), chunk)
    assert [(p.name, p.filename, data) for p, data in collected.parts] == PARTS


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300),
    chunk=st.integers(min_value=1, max_value=50),
)
def test_any_file_bytes_come_back_exactly(data: bytes, chunk: int) -> None:
    collected = parse(form([("file", "f.csv", data)]), chunk)
    assert collected.parts[0][1] == data


def test_file_bytes_are_passed_on_not_gathered() -> None:
    data = b"x" * 1_000_000
    collected = parse(form([("file", "f.csv", data)]), 65536)
    assert collected.parts[0][1] == data
    assert collected.largest_chunk <= 65536 + len(BOUNDARY) + 4


@pytest.mark.parametrize(
    "body",
    [
        form(PARTS)[:-20],  # no closing boundary
        b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--" + BOUNDARY + b"\r\n" + b"X-Long: " + b"a" * 10_000 + b"\r\n\r\n",
        b"".join(form([("f", None, b"")])[: -len(BOUNDARY) - 6] for _ in range(40))
        + b"--"
        + BOUNDARY
        + b"--",
    ],
    ids=["unterminated", "no-disposition", "huge-headers", "too-many-parts"],
)
def test_malformed_forms_are_refused(body: bytes) -> None:
    with pytest.raises(MultipartError):
        parse(body, 100)


def test_the_boundary_comes_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="a;b"') == b"a;b"
    assert boundary_of("Multipart/Form-Data; charset=utf-8; boundary=xyz") == b"xyz"
    for bad in ("text/csv", "multipart/form-data", "multipart/form-data; boundary=" + "x" * 71):
        with pytest.raises(MultipartError):
            boundary_of(bad)


# --- rows ----------------------------------------------------------------------------


def written(tmp_path: Path, content: bytes, name: str = "rows") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def all_rows(path: Path, fmt: str, id_field: str = "id") -> list[tuple[int, Any, Any]]:
    return list(import_rows.rows(path, fmt, id_field))


def test_csv_array_columns_become_lists_in_index_order(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        b"tags[1],id,tags[0],n\r\n"
        b"b,1,a,x\r\n"  # index order, not column order
        b",2,a,y\r\n"  # trailing empties dropped
        b",3,,z\r\n"  # an empty list
        b"b,4,,w\r\n",  # a gap: the row is refused
    )
    got = all_rows(path, "csv")
    assert got[0] == (1, {"id": "1", "tags": ["a", "b"], "n": "x"}, None)
    assert got[1] == (2, {"id": "2", "tags": ["a"], "n": "y"}, None)
    assert got[2] == (3, {"id": "3", "tags": [], "n": "z"}, None)
    assert got[3] == (4, None, RowError(4, "tags[0]", "tags[0] is empty but a later item is not"))


def test_csv_values_stay_strings(tmp_path: Path) -> None:
    path = written(tmp_path, "\ufeffid,n,t,e\n007,1e3,true,\n".encode())
    assert all_rows(path, "csv") == [(1, {"id": "007", "n": "1e3", "t": "true", "e": ""}, None)]


def test_bad_csv_rows_are_reported_by_data_row_number(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        b'id,name\n1,"two\nlines"\n\n,empty id\n3\n4,\xff\n5,' + b"z" * 200_000 + b"\n6,ok\n",
    )
    got = all_rows(path, "csv")
    assert [row for row, _, _ in got] == [1, 2, 3, 4, 5, 6]  # blank lines are not rows
    assert got[0][1] == {"id": "1", "name": "two\nlines"}
    errors = {row: error for row, _, error in got if error is not None}
    assert set(errors) == {2, 3, 4, 5}
    assert errors[2].field == "id"
    assert "1 values" in errors[3].message
    assert "UTF-8" in errors[4].message
    assert got[5] == (6, {"id": "6", "name": "ok"}, None)
    assert count_rows(path, "csv") == 6


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ([""], "no header"),
        (["id", "id"], "twice"),
        (["a[0]", "a[2]"], "a[1]"),
        (["a", "a[0]"], "both"),
        ([f"c{i}" for i in range(1001)], "at most 1,000"),
    ],
)
def test_unusable_csv_headers_refuse_the_file(header: list[str], message: str) -> None:
    with pytest.raises(FileProblem, match=message.replace("[", r"\[").replace("]", r"\]")):
        csv_layout(header)


def test_ndjson_rows_and_their_errors(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": 1, "tags": ["a"], "n": 2.5}),
        "",
        "[1, 2]",
        json.dumps({"id": True}),
        "{not json",
        '{"id": "x", "v": NaN}',
        json.dumps({"name": "no id"}),
        json.dumps({"id": "7"}),
    ]
    path = written(tmp_path, "\n".join(lines).encode())
    got = all_rows(path, "ndjson")
    assert got[0] == (1, {"id": 1, "tags": ["a"], "n": 2.5}, None)
    assert [row for row, item, _ in got if item is None] == [2, 3, 4, 5, 6]
    assert got[-1] == (7, {"id": "7"}, None)
    assert got[5][2].field == "id"
    assert count_rows(path, "ndjson") == 7


def test_batches_cover_rows_from_the_start_row_once(tmp_path: Path) -> None:
    body = "id\n" + "".join(f"{i}\n" for i in range(1, 1001))
    path = written(tmp_path, body.encode())
    produced = list(batches(path, "csv", "id", start_row=101, size=300))
    assert [b.size for b in produced] == [300, 300, 300]
    assert [b.last_row for b in produced] == [400, 700, 1000]
    numbers = [row for b in produced for row in b.rows]
    assert numbers == list(range(101, 1001))
    assert [item["id"] for b in produced for item in b.items] == [str(n) for n in numbers]
