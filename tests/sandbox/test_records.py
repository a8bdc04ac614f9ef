"""Records over HTTP: upsert by guid and system id, patch, soft delete, filters, paging."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

FEEDS = "/api/public/v1/feeds"


def records_url(feed: str) -> str:
    return f"{FEEDS}/{feed}/records"


@pytest.fixture
def feed(api: httpx.Client) -> str:
    """A fresh ingest feed whose id field is `order_id`."""
    created = api.post(
        FEEDS, json={"id": "orders", "name": "Orders", "method": "ingest", "id_field": "order_id"}
    )
    assert created.status_code == 201, created.text
    return "orders"


def post(api: httpx.Client, feed: str, body: dict[str, Any]) -> httpx.Response:
    return api.post(records_url(feed), json=body)


def record_count(api: httpx.Client, feed: str) -> int:
    response = api.get(f"{FEEDS}/{feed}")
    assert response.status_code == 200, response.text
    return int(response.json()["record_count"])


def test_post_with_only_a_system_id_creates_then_updates(api: httpx.Client, feed: str) -> None:
    created = post(api, feed, {"system_id": "A-1", "data": {"status": "new", "total": 5}})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["system_id"] == "A-1"
    assert record["data"] == {"status": "new", "total": 5, "order_id": "A-1"}
    assert record["deleted"] == 0
    assert record["version"] == int(record["updated_at"])
    assert record["last_correlation_id"] == created.headers["X-Correlation-Id"]
    assert record["archived"] is None

    updated = post(api, feed, {"system_id": "A-1", "data": {"status": "paid", "total": 5}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["guid"] == record["guid"]
    assert updated.json()["data"]["status"] == "paid"
    assert updated.json()["last_correlation_id"] == updated.headers["X-Correlation-Id"]
    assert record_count(api, feed) == 1


def test_post_with_a_guid_updates_that_record(api: httpx.Client, feed: str) -> None:
    first = post(api, feed, {"system_id": "A-1", "data": {"status": "new"}}).json()
    post(api, feed, {"system_id": "A-2", "data": {"status": "new"}})
    by_guid = post(api, feed, {"guid": first["guid"], "data": {"status": "shipped"}})
    assert by_guid.status_code == 200, by_guid.text
    assert by_guid.json()["guid"] == first["guid"]
    # The record keeps its system id though the new data left the id field out.
    assert by_guid.json()["data"] == {"status": "shipped", "order_id": "A-1"}
    unknown = post(api, feed, {"guid": "0190b2c4-0000-7000-8000-000000000000", "data": {}})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert record_count(api, feed) == 2


def test_another_records_system_id_is_409(api: httpx.Client, feed: str) -> None:
    first = post(api, feed, {"system_id": "A-1", "data": {}}).json()
    post(api, feed, {"system_id": "A-2", "data": {}})
    clash = post(api, feed, {"guid": first["guid"], "system_id": "A-2"})
    assert clash.status_code == 409, clash.text
    assert clash.json()["error"]["code"] == "DUPLICATE_SYSTEM_ID"
    patched = api.patch(f"{records_url(feed)}/{first['guid']}", json={"data": {"order_id": "A-2"}})
    assert (patched.status_code, patched.json()["error"]["code"]) == (409, "DUPLICATE_SYSTEM_ID")
    # Nothing changed.
    assert api.get(f"{records_url(feed)}/{first['guid']}").json()["system_id"] == "A-1"


def test_integer_ids_are_system_ids_in_decimal(api: httpx.Client, feed: str) -> None:
    created = post(api, feed, {"data": {"order_id": 42, "x": 1}})
    assert created.status_code == 201, created.text
    assert created.json()["system_id"] == "42"
    again = post(api, feed, {"system_id": "42", "data": {"order_id": 42, "x": 2}})
    assert again.status_code == 200
    assert again.json()["guid"] == created.json()["guid"]


def test_patch_is_a_merge_patch_and_unknown_feeds_and_records_are_404(
    api: httpx.Client, feed: str
) -> None:
    record = post(
        api, feed, {"system_id": "A-1", "data": {"a": 1, "b": {"c": 1, "d": 2}, "l": [1, 2]}}
    ).json()
    url = f"{records_url(feed)}/{record['guid']}"
    patched = api.patch(url, json={"data": {"a": None, "b": {"c": 3}, "l": [9]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"] == {"b": {"c": 3, "d": 2}, "l": [9], "order_id": "A-1"}
    assert patched.json()["last_correlation_id"] == patched.headers["X-Correlation-Id"]
    removes_id = api.patch(url, json={"data": {"order_id": None}})
    assert (removes_id.status_code, removes_id.json()["error"]["field"]) == (400, "data.order_id")
    assert (
        api.patch(url, content=b"", headers={"Content-Type": "application/json"}).status_code == 422
    )
    not_object = api.patch(url, json={"data": [1]})
    assert not_object.status_code == 422
    missing = api.get(f"{FEEDS}/nope/records")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "FEED_NOT_FOUND")
    assert api.get(f"{FEEDS}/nope").json()["error"]["code"] == "FEED_NOT_FOUND"
    gone = api.get(f"{records_url(feed)}/0190b2c4-0000-7000-8000-000000000000")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "NOT_FOUND")


def test_delete_is_405_and_soft_delete_keeps_who_and_when(
    api: httpx.Client, feed: str, admin_key: str
) -> None:
    record = post(api, feed, {"system_id": "A-1", "data": {"status": "new"}}).json()
    url = f"{records_url(feed)}/{record['guid']}"
    refused = api.delete(url)
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert set(refused.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH"}
    assert record_count(api, feed) == 1

    archived = api.patch(url, json={"deleted": 1})
    assert archived.status_code == 200, archived.text
    mark = archived.json()["archived"]
    assert mark["correlation_id"] == archived.headers["X-Correlation-Id"]
    assert mark["key_id"].startswith("key_")
    assert mark["key"] == f"fdk_…{admin_key[-4:]}"
    assert archived.json()["updated_at"] - 5 < mark["at"] <= archived.json()["updated_at"]
    assert record_count(api, feed) == 0
    # Gone from the default list, there with deleted=all and deleted=1, with the mark.
    assert api.get(records_url(feed)).json()["data"] == []
    for deleted in ("all", "1"):
        listed = api.get(records_url(feed), params={"deleted": deleted}).json()["data"]
        assert [item["guid"] for item in listed] == [record["guid"]]
        assert listed[0]["archived"] == mark
    assert api.get(url).json()["deleted"] == 1

    restored = api.patch(url, json={"deleted": 0})
    assert restored.json()["restored"]["correlation_id"] == restored.headers["X-Correlation-Id"]
    assert restored.json()["archived"] == mark
    assert record_count(api, feed) == 1


def test_an_unchanged_upsert_keeps_version_and_time(api: httpx.Client, feed: str) -> None:
    first = post(api, feed, {"system_id": "A-1", "data": {"s": 1}}).json()
    again = post(api, feed, {"system_id": "A-1", "data": {"s": 1}})
    assert again.status_code == 200
    assert again.json()["updated_at"] == first["updated_at"]
    assert again.json()["last_correlation_id"] == first["last_correlation_id"]


def test_version_filter_returns_exactly_the_records_changed_at_or_after_a_second(
    api: httpx.Client, feed: str
) -> None:
    guids = [post(api, feed, {"system_id": f"A-{n}", "data": {"n": n}}).json() for n in range(30)]
    # Touch some later: their version moves.
    for record in guids[::3]:
        api.patch(f"{records_url(feed)}/{record['guid']}", json={"data": {"touched": True}})
    listed = api.get(records_url(feed), params={"limit": 1000}).json()["data"]
    versions = {item["guid"]: item["version"] for item in listed}
    for version in [*sorted(set(versions.values())), max(versions.values()) + 1]:
        expected = {guid for guid, v in versions.items() if v >= version}
        got = api.get(records_url(feed), params={"version": version, "limit": 1000}).json()
        assert {item["guid"] for item in got["data"]} == expected
    # The boundary is exact: version V keeps a record updated at V.999 and V.0.
    oldest = min(listed, key=lambda item: item["updated_at"])
    got = api.get(records_url(feed), params={"version": int(oldest["updated_at"])}).json()
    assert oldest["guid"] in {item["guid"] for item in got["data"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"version": "-1"}, "version"),
        ({"version": "1" * 40}, "version"),
        ({"version": "1.5"}, "version"),
        ({"deleted": "2"}, "deleted"),
        ({"order": "updated"}, "order"),
        ({"q": "x" * 201}, "q"),
        ({"guid": "g" * 65}, "guid"),
        ({"system_id": "s" * 256}, "system_id"),
        ({"cursor": "AAAA"}, "cursor"),
        ({"data.x": "v" * 201}, "data.x"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(
    api: httpx.Client, feed: str, params: dict[str, str], field: str
) -> None:
    response = api.get(records_url(feed), params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_too_many_field_filters_are_400(api: httpx.Client, feed: str) -> None:
    params = {f"data.f{n}": "v" for n in range(6)}
    response = api.get(records_url(feed), params=params)
    assert response.status_code == 400


def test_a_tampered_cursor_is_400(api: httpx.Client, feed: str) -> None:
    for n in range(3):
        post(api, feed, {"system_id": f"A-{n}", "data": {}})
    cursor = api.get(records_url(feed), params={"limit": 1}).json()["pagination"]["next_cursor"]
    assert cursor
    assert api.get(records_url(feed), params={"limit": 1, "cursor": cursor}).status_code == 200
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (flipped, cursor + "A", cursor[1:]):
        response = api.get(records_url(feed), params={"limit": 1, "cursor": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["field"] == "cursor"
    # A cursor of one order is refused with the other.
    other = api.get(records_url(feed), params={"cursor": cursor, "order": "updated_at"})
    assert other.status_code == 400
    # A cursor of another feed is refused too, not read as a position in this one.
    created = api.post(FEEDS, json={"id": "returns", "name": "Returns", "method": "ingest"})
    assert created.status_code == 201, created.text
    post(api, "returns", {"system_id": "R-1", "data": {}})
    foreign = api.get(records_url("returns"), params={"limit": 1, "cursor": cursor})
    assert foreign.status_code == 400, foreign.text
    assert foreign.json()["error"]["field"] == "cursor"


def _pages(api: httpx.Client, feed: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(records_url(feed), params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        yield body["data"]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return


@pytest.mark.parametrize("order", ["-updated_at", "updated_at"])
def test_cursor_paging_returns_every_record_once_while_others_are_written(
    api: httpx.Client, sandbox_url: str, admin_key: str, feed: str, order: str
) -> None:
    originals = [
        post(api, feed, {"system_id": f"A-{n}", "data": {"n": n}}).json()["guid"]
        for n in range(120)
    ]
    stop = threading.Event()
    wrote = threading.Event()
    written: list[str] = []

    def writer() -> None:
        headers = {"Authorization": f"Bearer {admin_key}"}
        with httpx.Client(base_url=sandbox_url, headers=headers, timeout=10) as other:
            n = 0
            while not stop.is_set():
                response = other.post(
                    records_url(feed), json={"system_id": f"B-{n}", "data": {"n": n}}
                )
                assert response.status_code == 201
                written.append(response.json()["guid"])
                wrote.set()
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    try:
        for page in _pages(api, feed, limit=7, order=order):
            seen += [item["guid"] for item in page]
            # Between pages, wait until the writer has written again (a condition, not a
            # fixed sleep), so every page is read with new records in the feed.
            wrote.clear()
            assert wrote.wait(10), "the writer stopped writing"
    finally:
        stop.set()
        thread.join()
    assert written, "the writer wrote nothing while paging"
    assert len(seen) == len(set(seen)), "a record came twice"
    assert set(originals) <= set(seen), "a record was missed"
    assert set(seen) <= set(originals) | set(written)


def test_system_id_and_guid_filters(api: httpx.Client, feed: str) -> None:
    records = [post(api, feed, {"system_id": f"A-{n}", "data": {}}).json() for n in range(5)]
    by_id = api.get(records_url(feed), params={"system_id": "A-3"}).json()["data"]
    assert [item["guid"] for item in by_id] == [records[3]["guid"]]
    by_guid = api.get(records_url(feed), params={"guid": records[1]["guid"]}).json()["data"]
    assert [item["system_id"] for item in by_guid] == ["A-1"]
    ordered = api.get(records_url(feed), params={"order": "updated_at"}).json()["data"]
    assert [item["system_id"] for item in ordered] == [f"A-{n}" for n in range(5)]
    newest = api.get(records_url(feed)).json()["data"]
    assert [item["system_id"] for item in newest] == [f"A-{n}" for n in reversed(range(5))]


def test_bad_bodies(api: httpx.Client, feed: str) -> None:
    url = records_url(feed)
    assert post(api, feed, {"unknown": 1}).status_code == 422
    assert post(api, feed, {"deleted": 2}).status_code == 400
    assert post(api, feed, {"deleted": True}).status_code == 422
    assert post(api, feed, {"system_id": 1.5}).status_code == 422
    assert post(api, feed, {"system_id": ""}).status_code == 400
    assert post(api, feed, {"data": [1]}).status_code == 422
    assert post(api, feed, {"data": {"order_id": None}}).status_code == 400
    differ = post(api, feed, {"system_id": "A", "data": {"order_id": "B"}})
    assert (differ.status_code, differ.json()["error"]["field"]) == (400, "system_id")
    assert (
        api.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert api.post(url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415


def test_an_ingest_key_cannot_read_records(
    client: httpx.Client, mint_key: Any, account: str
) -> None:
    key = mint_key(account, "ingest", "stream")
    response = client.get(records_url("stream"), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_history_lists_every_change_newest_first(
    api: httpx.Client, feed: str, admin_key: str
) -> None:
    created = post(api, feed, {"system_id": "A-1", "data": {"status": "new", "total": 5}})
    guid = created.json()["guid"]
    url = f"{records_url(feed)}/{guid}"
    unchanged = post(api, feed, {"guid": guid, "data": {"status": "new", "total": 5}})
    assert unchanged.status_code == 200
    patched = api.patch(url, json={"data": {"status": "paid", "note": "x"}})
    archived = api.patch(url, json={"deleted": 1})
    restored = post(api, feed, {"guid": guid, "deleted": 0})
    entries = api.get(f"{url}/history").json()
    assert entries["pagination"] == {"next_cursor": None}
    data = entries["data"]
    assert [(e["intent"], e["changed"]) for e in data] == [
        ("record-post", ["deleted"]),
        ("record-patch", ["deleted"]),
        ("record-patch", ["status", "note"]),
        ("record-post", ["status", "total", "order_id"]),
    ]
    assert [e["correlation_id"] for e in data] == [
        response.headers["X-Correlation-Id"] for response in (restored, archived, patched, created)
    ]
    assert all(e["key"]["shown"] == f"fdk_…{admin_key[-4:]}" for e in data)
    assert data[0]["timestamp"] == restored.json()["updated_at"]
    first = api.get(f"{url}/history", params={"limit": 3}).json()
    rest = api.get(f"{url}/history", params={"cursor": first["pagination"]["next_cursor"]})
    assert first["data"] + rest.json()["data"] == data
    missing = api.get(f"{records_url(feed)}/0190b2c4-0000-7000-8000-000000000000/history")
    assert missing.status_code == 404


def _found(api: httpx.Client, feed: str, **params: Any) -> list[str]:
    response = api.get(records_url(feed), params={"deleted": "all", **params})
    assert response.status_code == 200, response.text
    return sorted(item["system_id"] for item in response.json()["data"])


def test_q_finds_words_inside_data_within_the_documented_freshness(
    api: httpx.Client, feed: str
) -> None:
    from console.sandbox.records.indexer import FRESHNESS_SECONDS

    post(api, feed, {"system_id": "A-1", "data": {"note": "Blue whale", "tags": ["ocean"]}})
    written = post(
        api, feed, {"system_id": "A-2", "data": {"customer": {"name": "Zoë Quimby"}, "n": 7}}
    )
    started = time.monotonic()
    deadline = started + FRESHNESS_SECONDS
    while _found(api, feed, q="quimby") != ["A-2"]:
        assert time.monotonic() < deadline, "q did not find the record in time"
    assert _found(api, feed, q="whale") == ["A-1"]
    assert _found(api, feed, q="ocean blue") == ["A-1"]  # words ANDed, any order
    assert _found(api, feed, q="ocean quimby") == []
    assert _found(api, feed, q="zoe") == ["A-2"]  # diacritics folded
    assert _found(api, feed, q="quim*") == ["A-2"]  # a prefix
    # Prefixes are bounded: each expands to every indexed word it starts.
    for broad in ("q*", "ab* cd* ef* gh*"):
        refused = api.get(records_url(feed), params={"q": broad})
        assert refused.status_code == 400, broad
        assert refused.json()["error"]["field"] == "q"
    assert _found(api, feed, q="qu* zo* quim*") == ["A-2"]  # three are fine
    assert _found(api, feed, q="quim") == []
    assert _found(api, feed, q="A-2") == ["A-2"]  # words of the id field's value
    assert _found(api, feed, q="customer") == []  # keys are not searched
    assert _found(api, feed, q="!!!") == ["A-1", "A-2"]  # no word: no text filter
    # An update is searched by its new words, not its old ones.
    guid = written.json()["guid"]
    api.patch(f"{records_url(feed)}/{guid}", json={"data": {"customer": {"name": "Kim"}}})
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while _found(api, feed, q="kim") != ["A-2"]:
        assert time.monotonic() < deadline, "q did not find the update in time"
    assert _found(api, feed, q="quimby") == []
    # Archived records are searched with deleted=1 or all, not by default.
    api.patch(f"{records_url(feed)}/{guid}", json={"deleted": 1})
    assert api.get(records_url(feed), params={"q": "kim"}).json()["data"] == []
    assert _found(api, feed, q="kim", deleted="1") == ["A-2"]


def test_field_filters_match_top_level_scalars_exactly_with_and(
    api: httpx.Client, feed: str
) -> None:
    from console.sandbox.records.indexer import FRESHNESS_SECONDS

    rows = [
        ("A-1", {"status": "shipped", "total": 5, "paid": True}),
        ("A-2", {"status": "shipped", "total": 7, "paid": False}),
        ("A-3", {"status": "new", "total": 5, "paid": True, "deep": {"status": "shipped"}}),
        ("A-4", {"status": "Shipped", "total": 5.5, "note": None}),
    ]
    for system_id, data in rows:
        post(api, feed, {"system_id": system_id, "data": data})
    deadline = time.monotonic() + FRESHNESS_SECONDS
    # The indexer goes in write order: once the last record is found, all are.
    while _found(api, feed, **{"data.total": "5.5"}) != ["A-4"]:
        assert time.monotonic() < deadline, "field filter did not find the records in time"
    assert _found(api, feed, **{"data.status": "shipped"}) == ["A-1", "A-2"]
    assert _found(api, feed, **{"data.status": "shipped", "data.total": "5"}) == ["A-1"]
    assert _found(api, feed, **{"data.total": "5"}) == ["A-1", "A-3"]
    assert _found(api, feed, **{"data.paid": "true"}) == ["A-1", "A-3"]
    assert _found(api, feed, **{"data.note": "null"}) == ["A-4"]
    assert _found(api, feed, **{"data.order_id": "A-3"}) == ["A-3"]
    assert _found(api, feed, **{"data.deep": "shipped"}) == []
    assert _found(api, feed, **{"data.status": "shipped", "q": "7"}) == ["A-2"]
    # A changed record leaves its old value's results and joins its new one's.
    guid = api.get(records_url(feed), params={"system_id": "A-2"}).json()["data"][0]["guid"]
    api.patch(f"{records_url(feed)}/{guid}", json={"data": {"status": "returned"}})
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while _found(api, feed, **{"data.status": "returned"}) != ["A-2"]:
        assert time.monotonic() < deadline, "field filter did not follow the update in time"
    assert _found(api, feed, **{"data.status": "shipped"}) == ["A-1"]
    # Paging through a field filter: every match once, in order.
    newest = api.get(records_url(feed), params={"data.total": "5", "limit": 1}).json()
    rest = api.get(
        records_url(feed),
        params={"data.total": "5", "limit": 1, "cursor": newest["pagination"]["next_cursor"]},
    ).json()
    assert [r["system_id"] for r in newest["data"] + rest["data"]] == ["A-3", "A-1"]
    assert rest["pagination"]["next_cursor"] is None


def test_keys_lists_the_data_keys_seen(api: httpx.Client, feed: str) -> None:
    from console.sandbox.records.indexer import FRESHNESS_SECONDS

    post(api, feed, {"system_id": "A-1", "data": {"status": "x", "total": 1}})
    post(api, feed, {"system_id": "A-2", "data": {"zone": "y"}})
    url = f"{records_url(feed)}/keys"
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while api.get(url).json()["data"] != ["order_id", "status", "total", "zone"]:
        assert time.monotonic() < deadline, "keys did not appear in time"
    assert api.get(f"{FEEDS}/nope/records/keys").status_code == 404


def test_the_demo_feeds_hold_records_with_archives_and_histories(
    sandbox_url: str, mint_key: Any
) -> None:
    headers = {"Authorization": f"Bearer {mint_key('demo')}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=10) as demo:
        feeds = {feed["id"]: feed for feed in demo.get(FEEDS).json()["data"]}
        assert {feeds[slug]["method"] for slug in ("orders", "inventory", "shipments")} == {
            "ingest",
            "polling",
            "trigger",
        }
        for slug in ("orders", "customers", "inventory", "shipments"):
            assert feeds[slug]["record_count"] >= 800, slug
            archived = demo.get(records_url(slug), params={"deleted": "1", "limit": 5}).json()
            assert archived["data"], slug
            mark = archived["data"][0]["archived"]
            assert mark["key"].startswith(("fdk_…", "ik_live_…"))
            guid = archived["data"][0]["guid"]
            history = demo.get(f"{records_url(slug)}/{guid}/history").json()["data"]
            assert history[-1]["changed"]
            assert "deleted" in [name for entry in history for name in entry["changed"]]
        active = demo.get(records_url("orders"), params={"limit": 1000}).json()["data"]
        assert len(active) == 1000
        assert all(item["deleted"] == 0 for item in active)
        # Seeded index rows: q and field filters work at once.
        shipped = demo.get(records_url("orders"), params={"data.status": "shipped"}).json()
        assert shipped["data"]
        assert all(item["data"]["status"] == "shipped" for item in shipped["data"])
        city = shipped["data"][0]["data"]["city"]
        assert demo.get(records_url("orders"), params={"q": city}).json()["data"]


def test_demo_records_seeds_a_bulk_feed(make_sandbox: Any) -> None:
    from console.sandbox.storage.sqlite import mint_key as store_mint_key

    server = make_sandbox(demo=False, extra_args=["--demo-records", "2500"])
    key = store_mint_key(server.data_dir, account="demo")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=10) as demo:
        feed = demo.get(f"{FEEDS}/demo-records").json()
        assert feed["record_count"] == 2500
        page = demo.get(records_url("demo-records"), params={"order": "updated_at"}).json()
        guids = [item["guid"] for item in page["data"]]
        assert guids == sorted(guids)  # UUIDv7-style: time-ordered
        assert all(guid[14] == "7" for guid in guids)
        first = page["data"][0]
        found = demo.get(records_url("demo-records"), params={"q": first["data"]["email"]})
        assert first["guid"] in [item["guid"] for item in found.json()["data"]]


def test_demo_histories_name_only_keys_that_could_have_made_each_change(sandbox: Any) -> None:
    """The record routes take admin keys only, and an ingest key writes only to its feed:
    the demo's histories and archive marks tell no story the API could not."""
    from console.sandbox.storage.sqlite import database_path

    conn = sqlite3.connect(f"file:{database_path(sandbox.data_dir)}?mode=ro", uri=True)
    try:
        impossible = conn.execute(
            "SELECT h.intent, h.key_shown, f.slug, k.kind, k.feed FROM record_history h"
            " JOIN records r ON r.seq = h.record_seq JOIN feeds f ON f.seq = r.feed_seq"
            " JOIN api_keys k ON k.id = h.key_id"
            " WHERE (h.intent LIKE 'record-%' AND k.kind != 'admin')"
            " OR (k.kind = 'ingest' AND k.feed != f.slug) LIMIT 5"
        ).fetchall()
        seeded = conn.execute(
            "SELECT count(*) FROM record_history h JOIN api_keys k ON k.id = h.key_id"
            " WHERE k.kind = 'ingest'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert impossible == []
    assert seeded > 0  # ingest keys do appear, on their own feeds
