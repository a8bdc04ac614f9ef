"""Find by ID's Items tab: what became of each item, from outcomes and from entries."""

from __future__ import annotations

from typing import Any

from console.api.intents import IntentOutcome
from console.api.logs import Trace
from console.ui.trace.view import item_rows


def _entry(n: int, **fields: Any) -> dict[str, Any]:
    entry = {
        "id": n,
        "timestamp": 1_790_000_000 + n,
        "request_id": f"req_{n}",
        "correlation_id": f"corr_{n}",
        "feed": "shop",
        "intent": "ingest",
        "http_status": 202,
        "items_received": 3,
        "processing_status": "succeeded",
        "errors": [],
    }
    entry.update(fields)
    return entry


def _outcome(corr: str) -> IntentOutcome:
    return IntentOutcome.from_json(
        {
            "correlation_id": corr,
            "feed": "shop",
            "intent": "upsert",
            "status": "partially_failed",
            "items_received": 3,
            "errors": [{"item": 2, "field": "price", "message": "not a number"}],
            "records": [
                {"guid": "g-1", "system_id": "a", "action": "created"},
                {"guid": "g-2", "system_id": "b", "action": "updated"},
            ],
        }
    )


def test_an_intents_outcome_gives_a_row_per_record_and_per_failed_item() -> None:
    trace = Trace.from_json({"id": "corr_1", "matched": ["correlation_id"], "entries": [_entry(1)]})
    rows, counts = item_rows(trace, {"corr_1": _outcome("corr_1")})
    assert [(r.outcome, r.record, r.item, r.field) for r in rows] == [
        ("created", "a", None, ""),
        ("updated", "b", None, ""),
        ("failed", "", 2, "price"),
    ]
    assert counts == {"created": 1, "updated": 1, "failed": 1}
    assert {r.request_id for r in rows} == {"req_1"}


def test_without_an_outcome_the_entry_says_it_rejections_duplicates_and_pending() -> None:
    rejected = _entry(
        4,
        processing_status="rejected",
        http_status=400,
        errors=[{"item": None, "field": "[0].id", "message": "missing"}],
        error_count=150,
    )
    trace = Trace.from_json(
        {
            "id": "idem",
            "matched": ["idempotency_key"],
            "entries": [
                rejected,
                _entry(3, processing_status="duplicate"),
                _entry(2, processing_status="queued"),
                _entry(1),
                _entry(0, correlation_id="corr_1"),  # the same intent again: listed once
            ],
        }
    )
    rows, counts = item_rows(trace, {"corr_1": _outcome("corr_1")})
    by_request: dict[str, list[str]] = {}
    for row in rows:
        by_request.setdefault(row.request_id, []).append(row.outcome)
    assert by_request["req_4"] == ["rejected", "more errors"]
    assert "149 more errors" in rows[1].message
    assert by_request["req_3"] == ["duplicate"]
    assert "applied once" in rows[2].message
    assert by_request["req_2"] == ["queued"]
    assert by_request["req_1"] == ["created", "updated", "failed"]
    assert by_request["req_0"] == ["succeeded"]
    assert counts["failed"] == 1


def test_a_duplicate_names_the_request_it_repeats_and_records_their_item_index() -> None:
    original = _entry(1, idempotency_key="batch-7", key={"id": "key_1", "shown": "ik_…abcd"})
    repeat = _entry(
        2,
        processing_status="duplicate",
        idempotency_key="batch-7",
        key={"id": "key_1", "shown": "ik_…abcd"},
        correlation_id="corr_2",
    )
    other_key = _entry(
        3,
        processing_status="duplicate",
        idempotency_key="batch-7",
        key={"id": "key_9", "shown": "ik_…zzzz"},
        correlation_id="corr_3",
    )
    trace = Trace.from_json(
        {"id": "batch-7", "matched": ["idempotency_key"], "entries": [other_key, repeat, original]}
    )
    outcome = IntentOutcome.from_json(
        {
            "correlation_id": "corr_1",
            "feed": "shop",
            "intent": "ingest",
            "status": "succeeded",
            "items_received": 2,
            "errors": [],
            "records": [
                {"item": 0, "guid": "g-1", "system_id": "a", "action": "created"},
                {"item": 1, "guid": "g-2", "system_id": "b", "action": "created"},
            ],
        }
    )
    rows, _counts = item_rows(trace, {"corr_1": outcome})
    by_request = {row.request_id: row for row in rows if row.outcome == "duplicate"}
    assert by_request["req_2"].link == "req_1"
    assert "a repeat of req_1" in by_request["req_2"].message
    # Another key's idempotency key is another request's: the trace does not hold its first.
    assert by_request["req_3"].link is None
    assert "an earlier request" in by_request["req_3"].message
    # What its timeline names wins.
    rows, _counts = item_rows(trace, {"corr_1": outcome}, {"req_3": "req_0"})
    assert next(r for r in rows if r.request_id == "req_3").link == "req_0"
    assert [(r.item, r.record) for r in rows if r.outcome == "created"] == [(0, "a"), (1, "b")]
