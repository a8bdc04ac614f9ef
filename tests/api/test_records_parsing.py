"""Records module without a server: query strings, and parsing what servers send (or omit)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from console.api.records import (
    ArchiveMark,
    HistoryEntry,
    Record,
    RecordQuery,
    RecordsApi,
)
from console.api.transport import ApiClient
from tests.conftest import run

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


def _client(handler: Any) -> ApiClient:
    return ApiClient(
        "http://platform.test", "fdk_" + "x" * 40, transport=httpx.MockTransport(handler)
    )


def test_writes_read_created_and_the_correlation_id_from_the_response() -> None:
    # A scripted transport: the real sandbox tests cover the routes; this one checks that
    # the status decides `created` and the header (not the body) gives the correlation id.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = 201 if request.method == "POST" else 200
        return httpx.Response(
            status, json=CONTRACT_RECORD, headers={"X-Correlation-Id": f"corr_{request.method}"}
        )

    async def scenario() -> None:
        client = _client(handler)
        try:
            records = RecordsApi(client)
            created = await records.upsert("orders", system_id="A-1", data={"id": "A-1"})
            archived = await records.archive("orders", "g/1")
        finally:
            await client.aclose()
        assert created.created is True
        assert created.correlation_id == "corr_POST"
        assert archived.created is False
        assert archived.correlation_id == "corr_PATCH"

    run(scenario())
    assert seen[0].url.path == "/api/public/v1/feeds/orders/records"
    assert seen[0].content == b'{"system_id":"A-1","data":{"id":"A-1"}}'
    assert seen[1].url.raw_path == b"/api/public/v1/feeds/orders/records/g%2F1"
    assert seen[1].content == b'{"deleted":1}'


def test_page_sends_the_query_and_field_filters() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"data": [CONTRACT_RECORD], "pagination": {"next_cursor": None}}
        )

    async def scenario() -> None:
        client = _client(handler)
        try:
            page = await RecordsApi(client).page(
                "orders", RecordQuery(q="x", fields=(("status", "shipped"),)), limit=5
            )
        finally:
            await client.aclose()
        assert [r.guid for r in page.items] == [CONTRACT_RECORD["guid"]]
        assert page.next_cursor is None

    run(scenario())
    assert dict(seen[0].url.params) == {
        "q": "x",
        "deleted": "0",
        "order": "-updated_at",
        "data.status": "shipped",
        "limit": "5",
    }
