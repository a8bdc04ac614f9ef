"""Records module without a server: query strings, and parsing what servers send (or omit)."""

from __future__ import annotations

from typing import Any

import pytest

from console.api.records import (
    ArchiveMark,
    HistoryEntry,
    Record,
    RecordQuery,
)

CONTRACT_RECORD: dict[str, Any] = {
    "guid": "0190c0de-0000-7000-8000-000000000001",
    "system_id": "A-1",
    "deleted": 0,
    "version": 1454453901,
    "created_at": 1454453900.5,
    "updated_at": 1454453901.012,
    "data": {"id": "A-1", "status": "new"},
    "last_correlation_id": "corr_abc",
}


def test_query_params_carry_every_filter() -> None:
    query = RecordQuery(
        q="blue shoes",
        guid="g-1",
        system_id="A-1",
        version=1454453901,
        deleted="all",
        order="updated_at",
        fields=(("status", "shipped"), ("country", "NL")),
    )
    assert query.params() == {
        "q": "blue shoes",
        "guid": "g-1",
        "system_id": "A-1",
        "version": 1454453901,
        "deleted": "all",
        "order": "updated_at",
        "data.status": "shipped",
        "data.country": "NL",
    }


def test_default_query_is_active_records_newest_first() -> None:
    assert RecordQuery().params() == {"deleted": "0", "order": "-updated_at"}
    assert RecordQuery(version=0).params()["version"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"deleted": "yes"}, "deleted"),
        ({"order": "guid"}, "order"),
        ({"version": -1}, "version"),
        ({"version": True}, "version"),
        ({"fields": (("", "x"),)}, "field name"),
        ({"fields": (("status", "a"), ("status", "b"))}, "once"),
    ],
)
def test_query_refuses_what_the_server_would(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecordQuery(**kwargs)


def test_a_contract_record_without_extension_fields_parses() -> None:
    record = Record.from_json(CONTRACT_RECORD)
    assert record.system_id == "A-1"
    assert record.deleted is False
    assert record.version == 1454453901
    assert record.updated_at == 1454453901.012
    assert record.archived is None
    assert record.restored is None


def test_extension_fields_parse_and_null_means_none() -> None:
    mark = {"at": 1.5, "key_id": "key_1", "key": "fdk_…ab12", "correlation_id": "corr_x"}
    record = Record.from_json(
        {**CONTRACT_RECORD, "deleted": 1, "system_id": 42, "archived": mark, "restored": None}
    )
    assert record.deleted is True
    assert record.system_id == "42"
    assert record.archived == ArchiveMark(1.5, "key_1", "fdk_…ab12", "corr_x")
    assert record.restored is None


def test_history_entry_parses_and_tolerates_missing_parts() -> None:
    entry = HistoryEntry.from_json(
        {
            "timestamp": 2.25,
            "intent": "record-patch",
            "correlation_id": "corr_y",
            "key": {"id": "key_1", "shown": "fdk_…ab12"},
            "changed": ["status", "deleted"],
        }
    )
    assert entry == HistoryEntry(
        2.25, "record-patch", "corr_y", "key_1", "fdk_…ab12", ("status", "deleted")
    )
    bare = HistoryEntry.from_json({"timestamp": 3})
    assert bare.key_id == ""
    assert bare.changed == ()
