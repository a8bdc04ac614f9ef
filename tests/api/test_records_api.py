"""The feeds and records modules of the API layer against the real sandbox server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from console.api.errors import ApiError
from console.api.feeds import FeedsApi
from console.api.records import Record, RecordQuery, RecordsApi, edit_patch, merge_patch
from console.api.transport import ApiClient
from tests.conftest import run

Scenario = Callable[[RecordsApi, FeedsApi, ApiClient], Awaitable[None]]


def _run(url: str, key: str, scenario: Scenario) -> None:
    async def main() -> None:
        client = ApiClient(url, key)
        try:
            await scenario(RecordsApi(client), FeedsApi(client), client)
        finally:
            await client.aclose()

    run(main())


def test_feed_get_has_the_contract_fields_and_counts_records(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders", method="trigger", id_field="order_no")
        await records.upsert("orders", data={"order_no": "A-1"})
        await records.upsert("orders", data={"order_no": "A-2"})
        feed = await feeds.get("orders")
        assert (feed.id, feed.method, feed.id_field, feed.record_count) == (
            "orders",
            "trigger",
            "order_no",
            2,
        )
        assert feed.can_fetch
        assert feed.created_at > 0
        with pytest.raises(ApiError) as missing:
            await feeds.get("nope")
        assert missing.value.status == 404

    _run(sandbox_url, admin_key, scenario)


def test_upsert_creates_then_updates_and_reports_its_correlation_id(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        created = await records.upsert("orders", system_id="A-1", data={"status": "new"})
        assert created.created is True
        assert created.correlation_id.startswith("corr_")
        assert created.correlation_id == created.record.last_correlation_id
        assert created.record.system_id == "A-1"
        assert created.record.data == {"status": "new", "id": "A-1"}
        by_system_id = await records.upsert("orders", system_id="A-1", data={"status": "paid"})
        assert by_system_id.created is False
        assert by_system_id.record.guid == created.record.guid
        assert by_system_id.correlation_id != created.correlation_id
        by_guid = await records.upsert(
            "orders", guid=created.record.guid, data={"id": "A-1", "status": "shipped"}
        )
        assert by_guid.created is False
        assert by_guid.record.data["status"] == "shipped"
        other = await records.upsert("orders", system_id="B-1", data={})
        with pytest.raises(ApiError) as duplicate:
            await records.upsert("orders", guid=other.record.guid, system_id="A-1")
        assert duplicate.value.status == 409
        assert duplicate.value.code == "DUPLICATE_SYSTEM_ID"
        assert (await records.get("orders", created.record.guid)) == by_guid.record

    _run(sandbox_url, admin_key, scenario)


def test_an_edit_sends_the_merge_patch_and_the_server_agrees(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        original = {
            "id": "A-1",
            "status": "new",
            "customer": {"name": "Ada", "email": "ada@example.com", "tier": 1},
            "lines": [{"sku": "X", "qty": 1}],
            "note": "call first",
        }
        record = (await records.upsert("orders", data=original)).record
        edited = {
            "id": "A-1",
            "status": "shipped",
            "customer": {"name": "Ada", "email": "ada@example.org", "tier": True},
            "lines": [{"sku": "X", "qty": 2}],
        }
        patch = edit_patch(record, edited)
        assert patch == {
            "data": {
                "status": "shipped",
                "customer": {"email": "ada@example.org", "tier": True},
                "lines": [{"sku": "X", "qty": 2}],
                "note": None,
            }
        }
        written = await records.patch("orders", record.guid, patch)
        assert written.record.data == edited
        assert written.created is False
        assert written.correlation_id == written.record.last_correlation_id
        # Nothing changed: an empty patch leaves the data as it is.
        assert merge_patch(written.record.data, edited) == {}

    _run(sandbox_url, admin_key, scenario)


def test_archive_and_restore_keep_who_and_which_request(sandbox_url: str, admin_key: str) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        record = (await records.upsert("orders", system_id="A-1", data={})).record
        archived = await records.archive("orders", record.guid)
        assert archived.record.deleted is True
        assert archived.record.archived is not None
        assert archived.record.archived.correlation_id == archived.correlation_id
        assert archived.record.archived.key == f"{client.key_prefix}…{client.key_last4}"
        assert archived.record.archived.key_id.startswith("key_")
        active = await records.page("orders", RecordQuery())
        assert record.guid not in {r.guid for r in active.items}
        trash = await records.page("orders", RecordQuery(deleted="1"))
        assert [r.guid for r in trash.items] == [record.guid]
        restored = await records.restore("orders", record.guid)
        assert restored.record.deleted is False
        assert restored.record.restored is not None
        assert restored.record.restored.correlation_id == restored.correlation_id
        assert restored.record.archived == archived.record.archived  # the last archive stays

    _run(sandbox_url, admin_key, scenario)


async def _seed(records: RecordsApi, count: int) -> list[Record]:
    written = []
    for index in range(count):
        status = "shipped" if index % 3 == 0 else "new"
        result = await records.upsert(
            "orders", system_id=f"S-{index:03}", data={"status": status, "n": index}
        )
        written.append(result.record)
    return written


def test_filters_reach_the_server(sandbox_url: str, admin_key: str) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        seeded = await _seed(records, 9)

        async def guids(query: RecordQuery) -> list[str]:
            return [r.guid for r in (await records.page("orders", query, limit=100)).items]

        assert await guids(RecordQuery(system_id="S-004")) == [seeded[4].guid]
        assert await guids(RecordQuery(guid=seeded[7].guid)) == [seeded[7].guid]
        newest_first = await guids(RecordQuery())
        assert newest_first == [r.guid for r in reversed(seeded)]
        assert await guids(RecordQuery(order="updated_at")) == [r.guid for r in seeded]
        since = seeded[-1].version
        changed = await guids(RecordQuery(version=since))
        assert seeded[-1].guid in changed
        assert all(r.version >= since for r in seeded if r.guid in changed)
        assert await guids(RecordQuery(version=since + 1)) == []

    _run(sandbox_url, admin_key, scenario)


def test_iterate_pages_through_every_record_once(sandbox_url: str, admin_key: str) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        seeded = await _seed(records, 25)
        pages = [page async for page in records.iterate("orders", RecordQuery(), limit=10)]
        assert [len(page.items) for page in pages] == [10, 10, 5]
        assert pages[-1].next_cursor is None
        seen = [r.guid for page in pages for r in page.items]
        assert sorted(seen) == sorted(r.guid for r in seeded)
        first = await records.page("orders", limit=10)
        second = await records.page("orders", limit=10, cursor=first.next_cursor)
        assert [r.guid for r in first.items + second.items] == seen[:20]

    _run(sandbox_url, admin_key, scenario)


def test_concurrent_writes_each_get_their_own_correlation_id(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        writes = [
            records.upsert("orders", system_id=f"C-{index}", data={"n": index})
            for index in range(20)
        ]
        results = await asyncio.gather(*writes)
        assert all(result.created for result in results)
        assert len({result.correlation_id for result in results}) == 20

    _run(sandbox_url, admin_key, scenario)


def test_history_lists_each_change_newest_first_with_its_request(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        created = await records.upsert("orders", system_id="A-1", data={"status": "new"})
        guid = created.record.guid
        patched = await records.patch("orders", guid, {"data": {"status": "paid", "n": 1}})
        archived = await records.archive("orders", guid)
        page = await records.history("orders", guid)
        assert [entry.correlation_id for entry in page.items] == [
            archived.correlation_id,
            patched.correlation_id,
            created.correlation_id,
        ]
        assert [entry.intent for entry in page.items] == [
            "record-patch",
            "record-patch",
            "record-post",
        ]
        assert page.items[0].changed == ("deleted",)
        assert set(page.items[1].changed) == {"status", "n"}
        assert page.items[0].key == f"{client.key_prefix}…{client.key_last4}"
        assert page.items[0].key_id.startswith("key_")
        assert page.items[0].timestamp >= page.items[1].timestamp >= page.items[2].timestamp
        first = await records.history("orders", guid, limit=2)
        rest = await records.history("orders", guid, limit=2, cursor=first.next_cursor)
        assert [e.correlation_id for e in first.items + rest.items] == [
            e.correlation_id for e in page.items
        ]
        assert rest.next_cursor is None

    _run(sandbox_url, admin_key, scenario)


def test_text_search_field_filters_and_data_keys_once_indexed(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(records: RecordsApi, feeds: FeedsApi, client: ApiClient) -> None:
        await feeds.create("orders", "Orders")
        seeded = await _seed(records, 9)
        await records.upsert("orders", system_id="T-1", data={"note": "fragile turquoise vase"})

        async def guids(query: RecordQuery) -> list[str]:
            return [r.guid for r in (await records.page("orders", query, limit=100)).items]

        # The server indexes in the background (docs/api.md gives the freshness bound).
        async with asyncio.timeout(10):
            while True:
                if len(await guids(RecordQuery(q="turquoise"))) == 1:
                    break
                await asyncio.sleep(0.05)
        assert sorted(await records.data_keys("orders")) == ["id", "n", "note", "status"]
        shipped = await guids(RecordQuery(fields=(("status", "shipped"),)))
        assert sorted(shipped) == sorted(r.guid for r in seeded[::3])
        both = RecordQuery(fields=(("status", "shipped"), ("n", "3")))
        assert await guids(both) == [seeded[3].guid]
        assert await guids(RecordQuery(q="turquoise", fields=(("status", "new"),))) == []

    _run(sandbox_url, admin_key, scenario)
