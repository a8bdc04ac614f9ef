"""The streamed multipart body: what a form parser reads back, its length, its progress."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from pathlib import Path

import pytest

from console.api.imports import prefix_length
from console.api.multipart import MultipartFile, form_fields

# Bytes a careless encoder could break: CR, LF, a fake boundary, NUL, non-UTF-8.
AWKWARD = b'id,name\r\n1,"a\r\n--console-x"\r\n2,\x00\xff\xfe\n--\r\n'


def collect(body: MultipartFile) -> bytes:
    """The whole body (for small test files only)."""

    async def read() -> bytes:
        return b"".join([chunk async for chunk in body])

    return asyncio.run(read())


def parse_form(body: MultipartFile, raw: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name, content) of each part, as a standard MIME parser reads them."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.headers['Content-Type']}\r\n\r\n".encode() + raw
    )
    assert message.is_multipart()
    parts: list[tuple[str, str | None, bytes]] = []
    for part in message.iter_parts():
        assert part.get_content_disposition() == "form-data"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append(
            (part.get_param("name", header="content-disposition"), part.get_filename(), payload)
        )
    return parts  # type: ignore[return-value]


def test_fields_arrays_and_file_parse_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(AWKWARD)
    fields = form_fields({"format": "csv", "dry_run": True, "start_row": 3, "tags": ["a", "b c"]})
    body = MultipartFile(fields, "file", path, content_type="text/csv", chunk_size=7)
    raw = collect(body)
    assert len(raw) == body.content_length == int(body.headers["Content-Length"])
    assert parse_form(body, raw) == [
        ("format", None, b"csv"),
        ("dry_run", None, b"true"),
        ("start_row", None, b"3"),
        ("tags[0]", None, b"a"),
        ("tags[1]", None, b"b c"),
        ("file", "orders.csv", AWKWARD),
    ]
    # The body can be sent again (a retried request) and is the same.
    assert collect(body) == raw


def test_quotes_and_line_breaks_in_names_cannot_forge_a_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id\n1\n")
    body = MultipartFile([], "file", path, filename='evil".csv\r\nX-Injected: 1')
    raw = collect(body)
    assert raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n") == [
        f"--{body.boundary}".encode(),
        b'Content-Disposition: form-data; name="file"; filename="evil%22.csv%0D%0AX-Injected: 1"',
        b"Content-Type: application/octet-stream",
    ]
    [(name, filename, content)] = parse_form(body, raw)
    assert name == "file"
    assert filename == "evil%22.csv%0D%0AX-Injected: 1"
    assert content == b"id\n1\n"


def test_progress_rises_to_the_total_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    path.write_bytes(b'{"id": 1}\n' * 100_000)  # 1 MB: four 256 KiB chunks
    seen: list[tuple[int, int]] = []
    body = MultipartFile(
        [("format", "ndjson")],
        "file",
        path,
        progress=lambda sent, total: seen.append((sent, total)),
    )
    raw = collect(body)
    totals = {total for _, total in seen}
    assert totals == {len(raw)}
    sent = [s for s, _ in seen]
    assert sent == sorted(sent)
    assert sent[-1] == len(raw)
    assert 5 <= len(seen) <= 8


def test_a_file_that_shrinks_while_sent_fails_rather_than_lying_about_its_length(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id\n" + b"1\n" * 1000)
    body = MultipartFile([], "file", path, chunk_size=100)
    path.write_bytes(b"id\n")
    with pytest.raises(OSError, match="shorter"):
        collect(body)


def test_a_byte_range_sends_only_the_start_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id\n1\n2\n3\n")
    body = MultipartFile([], "file", path, length=5)
    [(_, _, content)] = parse_form(body, collect(body))
    assert content == b"id\n1\n"


@pytest.mark.parametrize(
    ("text", "format", "rows", "expected"),
    [
        (b"id,n\n1,a\n2,b\n3,c\n", "csv", 2, b"id,n\n1,a\n2,b\n"),
        (
            b'id,n\r\n1,"x\r\ny"\r\n\r\n2,"say ""hi""\n"\r\n3,c\r\n',
            "csv",
            2,
            b'id,n\r\n1,"x\r\ny"\r\n\r\n2,"say ""hi""\n"\r\n',
        ),
        (b"id\n1\n", "csv", 100, b"id\n1\n"),
        (b"id\n1", "csv", 100, b"id\n1"),
        (
            b'{"id": 1}\n\n{"id": "a\\nb"}\n{"id": 3}\n',
            "ndjson",
            2,
            b'{"id": 1}\n\n{"id": "a\\nb"}\n',
        ),
    ],
)
def test_prefix_ends_after_the_wanted_data_rows(
    tmp_path: Path, text: bytes, format: str, rows: int, expected: bytes
) -> None:
    path = tmp_path / "file"
    path.write_bytes(text)
    assert prefix_length(path, format, rows) == len(expected)


def test_prefix_scan_reads_rows_across_chunk_boundaries(tmp_path: Path) -> None:
    row = b'1,"' + b"x" * 300_000 + b'\n",end\n'  # a quoted newline in a row longer than a chunk
    path = tmp_path / "wide.csv"
    path.write_bytes(b"id,text,tail\n" + row * 3)
    assert prefix_length(path, "csv", 2) == len(b"id,text,tail\n") + 2 * len(row)
