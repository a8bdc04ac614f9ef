"""Intent outcomes, import statuses and dry runs parse what servers send, or omit."""

from __future__ import annotations

from console.api.imports import DryRun, DryRunRow, ImportRowError, ImportStatus
from console.api.intents import IntentItemError, IntentOutcome, IntentRecord


def test_intent_outcome_parses_errors_records_and_key() -> None:
    outcome = IntentOutcome.from_json(
        {
            "correlation_id": "corr_1",
            "feed": "orders",
            "intent": "patch",
            "key": {"id": "key_1", "shown": "ik_live_…ab12"},
            "status": "partially_failed",
            "received_at": 10.5,
            "started_at": 10.6,
            "finished_at": 10.75,
            "items_received": 2,
            "errors": [{"item": 1, "field": "id", "message": "no record with system_id X"}],
            "records": [{"guid": "g-1", "system_id": 7, "action": "updated"}],
        }
    )
    assert outcome.is_finished
    assert outcome.errors == (IntentItemError(1, "id", "no record with system_id X"),)
    assert outcome.records == (IntentRecord("g-1", "7", "updated"),)
    assert (outcome.key_id, outcome.key, outcome.started_at) == ("key_1", "ik_live_…ab12", 10.6)


def test_a_queued_outcome_with_little_in_it_parses() -> None:
    outcome = IntentOutcome.from_json(
        {"correlation_id": "corr_2", "status": "queued", "key": None, "errors": None}
    )
    assert not outcome.is_finished
    assert outcome.finished_at is None
    assert outcome.errors == ()
    assert outcome.records == ()
    assert outcome.key is None


def test_the_contract_only_202_answer_is_a_queued_status() -> None:
    status = ImportStatus.from_json({"import_id": "imp_1", "correlation_id": "corr_3"})
    assert (status.import_id, status.correlation_id, status.status) == ("imp_1", "corr_3", "queued")
    assert (status.total, status.processed, status.last_row, status.errors) == (0, 0, 0, ())
    assert not status.is_finished


def test_a_cancelled_import_says_where_to_resume() -> None:
    status = ImportStatus.from_json(
        {
            "import_id": "imp_1",
            "status": "cancelled",
            "total": None,
            "processed": 5000,
            "failed": 2,
            "last_row": 5000,
            "errors": [
                {"row": 17, "field": "id", "message": "missing"},
                {"row": None, "field": None, "message": "file-level"},
            ],
            "errors_omitted": 0,
        }
    )
    assert status.is_finished
    assert status.is_resumable
    assert status.resume_row == 5001
    assert status.total == 0
    assert status.errors == (
        ImportRowError(17, "id", "missing"),
        ImportRowError(None, None, "file-level"),
    )


def test_dry_run_parses_rows() -> None:
    dry = DryRun.from_json(
        {
            "would_create": 1,
            "would_update": 1,
            "would_reject": 1,
            "rows": [
                {"row": 1, "action": "create", "system_id": "A"},
                {"row": 2, "action": "update", "system_id": 2},
                {"row": 3, "action": "reject", "system_id": None, "field": "id", "message": "x"},
            ],
        }
    )
    assert dry.rows == (
        DryRunRow(1, "create", "A"),
        DryRunRow(2, "update", "2"),
        DryRunRow(3, "reject", None, "id", "x"),
    )
