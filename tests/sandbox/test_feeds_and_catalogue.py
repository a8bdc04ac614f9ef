"""Feeds, connections and hooks over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

FEEDS = "/api/public/v1/feeds"


def test_create_and_list_feeds(api: httpx.Client) -> None:
    created = api.post(FEEDS, json={"id": "orders", "name": "Orders", "method": "ingest"})
    assert created.status_code == 201
    feed = created.json()
    assert feed["id"] == "orders"
    assert (feed["method"], feed["id_field"], feed["record_count"]) == ("ingest", "id", 0)
    assert isinstance(feed["created_at"], float)
    api.post(FEEDS, json={"id": "stock", "name": "Stock", "method": "polling", "id_field": "sku"})
    listed = api.get(FEEDS).json()
    assert [item["id"] for item in listed["data"]] == ["stock", "orders"]
    assert listed["data"][0]["id_field"] == "sku"
    assert listed["pagination"] == {"next_cursor": None}


def test_duplicate_feed_is_409_and_bad_values_are_400(api: httpx.Client) -> None:
    body = {"id": "orders", "name": "Orders", "method": "ingest"}
    assert api.post(FEEDS, json=body).status_code == 201
    again = api.post(FEEDS, json=body)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "CONFLICT")
    bad = api.post(FEEDS, json={"id": "Bad Slug", "name": "x", "method": "push"})
    assert bad.status_code == 400
    assert [problem["field"] for problem in bad.json()["errors"]] == ["id", "method"]


def test_feeds_are_per_account(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    api.post(FEEDS, json={"id": "mine", "name": "Mine", "method": "trigger"})
    other = mint_key(account + "-other")
    theirs = client.get(FEEDS, headers={"Authorization": f"Bearer {other}"}).json()["data"]
    assert theirs == []


def test_every_account_has_its_own_catalogue(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    connections = api.get("/api/public/v1/connections").json()["data"]
    hooks = api.get("/api/public/v1/hooks").json()["data"]
    roles = {connection["role"] for connection in connections}
    assert roles == {"source", "destination"}
    assert {"postgres", "snowflake"} <= {connection["type"] for connection in connections}
    assert all(isinstance(item["id"], int) for item in connections + hooks)
    assert all(set(item) == {"id", "name"} for item in hooks)
    assert len(hooks) >= 2

    headers = {"Authorization": f"Bearer {mint_key(account + '-b')}"}
    other = client.get("/api/public/v1/connections", headers=headers).json()["data"]
    assert [c["type"] for c in other] == [c["type"] for c in connections]
    assert not {c["id"] for c in other} & {c["id"] for c in connections}
