"""Export of a selection: exactly its rows, in display order, strict, in chunks."""

from __future__ import annotations

import csv
import io
import json

from console.logbuffer.buffer import BufferFilter, LogBuffer
from tests.logbuffer.entries import make_entry, page


def test_csv_writes_exactly_the_selected_rows_in_order_with_a_header() -> None:
    buffer = LogBuffer(capacity=1000)
    buffer.add_older(page(1, 300))
    sel = buffer.select(BufferFilter(feeds=frozenset({"orders"})))
    seen: list[tuple[int, int]] = []
    out = io.BytesIO()
    written = buffer.write_csv(sel, out, chunk_rows=20, progress=lambda d, t: seen.append((d, t)))
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert written == len(sel) == 75
    assert [int(r["id"]) for r in rows] == [e.id for e in page(1, 300) if e.feed == "orders"]
    assert rows[0]["key"] == "ik_live_…a1b2"
    assert rows[0]["time"].endswith("Z")
    assert seen[-1] == (75, 75)
    assert len(seen) == 4  # one report per chunk


def test_ndjson_is_strict_json_and_stops_when_cancelled() -> None:
    buffer = LogBuffer(capacity=1000)
    buffer.add_older([make_entry(2, duration_ms=None), make_entry(1, idempotency_key="=cmd")])
    out = io.BytesIO()
    assert buffer.write_ndjson(buffer.select(BufferFilter()), out) == 2
    lines = [
        json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        for line in out.getvalue().decode().splitlines()
    ]
    assert [line["id"] for line in lines] == [2, 1]
    assert lines[0]["duration_ms"] is None  # NaN inside, null outside
    assert lines[1]["idempotency_key"] == "=cmd"
    csv_out = io.BytesIO()
    buffer.write_csv(buffer.select(BufferFilter()), csv_out)
    assert "'=cmd" in csv_out.getvalue().decode()  # not a formula for a spreadsheet

    buffer.add_older([make_entry(0)])
    calls = iter([False, True])
    out = io.BytesIO()
    written = buffer.write_ndjson(
        buffer.select(BufferFilter()), out, chunk_rows=1, cancelled=lambda: next(calls)
    )
    assert written == 1
    assert len(out.getvalue().splitlines()) == 1
