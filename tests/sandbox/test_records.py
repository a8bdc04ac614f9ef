"""Records over HTTP: upsert by guid and system id, patch, soft delete, filters, paging."""

from __future__ import annotations

import threading
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
    assert removes_id.status_code == 400
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
