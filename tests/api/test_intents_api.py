"""The intents module of the API layer against the real sandbox server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from console.api.errors import ApiError
from console.api.feeds import FeedsApi
from console.api.intents import IntentOutcome, IntentsApi
from console.api.keys import KeysApi
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from tests.conftest import run

Scenario = Callable[[IntentsApi, RecordsApi, ApiClient], Awaitable[None]]


def _run(url: str, key: str, scenario: Scenario) -> None:
    async def main() -> None:
        client = ApiClient(url, key)
        try:
            feeds = FeedsApi(client)
            await feeds.create("shop", "Shop", method="ingest", id_field="sku")
            await feeds.create("source", "Source", method="trigger")
            await scenario(IntentsApi(client), RecordsApi(client), client)
        finally:
            await client.aclose()

    run(main())


async def _finished(intents: IntentsApi, correlation_id: str) -> IntentOutcome:
    async with asyncio.timeout(20):
        return await intents.wait(correlation_id, interval=0.05)


def test_push_intents_change_records_and_their_outcomes_say_how(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(intents: IntentsApi, records: RecordsApi, client: ApiClient) -> None:
        upsert = await intents.upsert("shop", [{"sku": "A", "n": 1}, {"sku": 2, "n": 2}])
        assert upsert.startswith("corr_")
        outcome = await _finished(intents, upsert)
        assert outcome.status == "succeeded"
        assert outcome.correlation_id == upsert
        assert (outcome.feed, outcome.intent, outcome.items_received) == ("shop", "upsert", 2)
        assert [(r.system_id, r.action) for r in outcome.records] == [
            ("A", "created"),
            ("2", "created"),
        ]
        patch = await intents.patch("shop", [{"sku": "A", "n": None}, {"sku": "ghost", "n": 3}])
        outcome = await _finished(intents, patch)
        assert outcome.status == "partially_failed"
        assert [(e.item, e.field) for e in outcome.errors] == [(1, "sku")]
        assert "ghost" in outcome.errors[0].message
        [record] = (await records.page("shop", RecordQuery(system_id="A"))).items
        assert record.data == {"sku": "A"}
        assert record.last_correlation_id == patch
        delete = await intents.delete("shop", "A")
        assert (await _finished(intents, delete)).status == "succeeded"
        [archived] = (await records.page("shop", RecordQuery(system_id="A", deleted="all"))).items
        assert archived.deleted is True
        assert archived.archived is not None
        assert archived.archived.correlation_id == delete
        several = await intents.delete("shop", ["2"])
        assert [r.action for r in (await _finished(intents, several)).records] == ["archived"]

    _run(sandbox_url, admin_key, scenario)


def test_generic_route_and_fetches_on_a_trigger_feed(sandbox_url: str, admin_key: str) -> None:
    async def scenario(intents: IntentsApi, records: RecordsApi, client: ApiClient) -> None:
        generic = await intents.send("shop", "upsert", {"sku": "G"}, generic=True)
        assert (await _finished(intents, generic)).intent == "upsert"
        fetch = await intents.fetch("source", "f1")
        fetched = await _finished(intents, fetch)
        assert fetched.status == "succeeded"
        assert [r.system_id for r in fetched.records] == ["f1"]
        many = await intents.fetch_list("source", ["f2", "f3"])
        assert {r.system_id for r in (await _finished(intents, many)).records} == {"f2", "f3"}
        page = await records.page("source", RecordQuery())
        assert {r.system_id for r in page.items} >= {"f1", "f2", "f3"}

    _run(sandbox_url, admin_key, scenario)


def test_refusals_are_typed_errors(sandbox_url: str, admin_key: str) -> None:
    async def scenario(intents: IntentsApi, records: RecordsApi, client: ApiClient) -> None:
        cases = [
            (intents.fetch("shop", "x"), 409, "FEED_METHOD_MISMATCH"),
            (intents.upsert("nowhere", {"sku": "x"}), 404, "FEED_NOT_FOUND"),
            (intents.upsert("shop", [{"sku": "x"}, {"n": 1}]), 400, "INVALID_PAYLOAD"),
            (intents.outcome("corr_unknown"), 404, "NOT_FOUND"),
        ]
        for call, status, code in cases:
            with pytest.raises(ApiError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (status, code)
        with pytest.raises(ApiError) as missing:
            await intents.upsert("shop", [{"sku": "x"}, {"n": 1}])
        assert missing.value.field is not None
        assert "1" in missing.value.field
        with pytest.raises(ValueError, match="intent must be"):
            await intents.send("shop", "purge", {})

    _run(sandbox_url, admin_key, scenario)


def test_an_ingest_key_of_the_feed_can_send(sandbox_url: str, admin_key: str) -> None:
    async def scenario(intents: IntentsApi, records: RecordsApi, client: ApiClient) -> None:
        created = await KeysApi(client).create("Shop relay", "ingest", feed="shop")
        ingest = ApiClient(sandbox_url, created.secret)
        try:
            correlation_id = await IntentsApi(ingest).upsert("shop", {"sku": "K"})
            with pytest.raises(ApiError) as other_feed:
                await IntentsApi(ingest).fetch("source", "f1")
            assert other_feed.value.code == "FEED_NOT_FOUND"
        finally:
            await ingest.aclose()
        outcome = await _finished(intents, correlation_id)
        assert outcome.key == created.key.masked
        assert outcome.key_id == created.key.id

    _run(sandbox_url, admin_key, scenario)
