"""A key's audit trail (GET /keys/{id}/events) and the `key` filter of /logs (extensions)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

KEYS = "/api/public/v1/keys"
LOGS = "/api/public/v1/logs"


def _events(api: httpx.Client, key_id: str, **params: object) -> list[dict[str, object]]:
    response = api.get(f"{KEYS}/{key_id}/events", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def _ingest(client: httpx.Client, secret: str, *, query: bool = False) -> httpx.Response:
    auth = {"params": {"apiKey": secret}} if query else {"headers": _bearer(secret)}
    response = client.post("/api/ingest", json={"id": "a-1"}, **auth)  # type: ignore[arg-type]
    assert response.status_code == 202, response.text
    return response


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_trail_lists_create_rotate_and_revoke_in_order_with_who_and_where(
    api: httpx.Client, admin_key: str
) -> None:
    old = api.post(KEYS, json={"name": "Loader", "kind": "admin"}).json()
    new = api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600}).json()
    assert api.delete(f"{KEYS}/{old['id']}").status_code == 200
    assert api.delete(f"{KEYS}/{old['id']}").status_code == 200  # a no-op: no second event

    trail = _events(api, old["id"])
    assert [event["event"] for event in trail] == ["created", "rotated", "revoked"]
    times = [event["at"] for event in trail]
    assert times == sorted(times)
    admin_shown = f"fdk_…{admin_key[-4:]}"
    for event in trail:
        assert event["by"] == {"id": event["by"]["id"], "shown": admin_shown}  # type: ignore[index]
        assert event["client_ip"] == "127.0.0.1"
        assert event["auth_via"] == "header"
    assert trail[1]["related_key_id"] == new["id"]
    assert trail[1]["route"] == f"POST {KEYS}/{old['id']}/rotate"
    assert trail[1]["expires_at"] == pytest.approx(new["created_at"] + 3600, abs=0.002)
    successor = _events(api, new["id"])
    assert [(e["event"], e["related_key_id"]) for e in successor] == [("created", old["id"])]
    text = api.get(f"{KEYS}/{old['id']}/events").text + json.dumps(successor)
    assert old["secret"] not in text
    assert new["secret"] not in text
    assert admin_key not in text


def test_first_use_is_recorded_once_with_route_feed_and_auth_via(
    api: httpx.Client,
    client: httpx.Client,
    mint_key: Callable[..., str],
    account: str,
    eventually: Callable[..., None],
) -> None:
    mint_key(account, "ingest", "orders")  # the feed
    created = api.post(KEYS, json={"name": "relay", "kind": "ingest", "feed": "orders"}).json()
    assert _events(api, created["id"])[-1]["event"] == "created"
    _ingest(client, created["secret"], query=True)
    eventually(lambda: _events(api, created["id"])[-1]["event"] == "first_used")
    first = _events(api, created["id"])[-1]
    assert first["by"] == {"id": created["id"], "shown": f"ik_live_…{created['secret'][-4:]}"}
    assert (first["auth_via"], first["route"], first["feed"], first["client_ip"]) == (
        "query",
        "POST /api/ingest",
        "orders",
        "127.0.0.1",
    )
    # Later uses stamp last_used_at (at most once a second) but add no event.
    used = api.get(f"{KEYS}/{created['id']}").json()["last_used_at"]
    eventually(lambda: time.time() > used + 1.1)
    _ingest(client, created["secret"])
    eventually(lambda: api.get(f"{KEYS}/{created['id']}").json()["last_used_at"] > used)
    assert [e["event"] for e in _events(api, created["id"])] == ["created", "first_used"]


def test_trail_is_paged_in_order_and_bounded(api: httpx.Client) -> None:
    key = api.post(KEYS, json={"name": "Paged", "kind": "admin"}).json()
    api.post(f"{KEYS}/{key['id']}/rotate", json={"grace_seconds": 60})
    api.delete(f"{KEYS}/{key['id']}")
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = api.get(f"{KEYS}/{key['id']}/events", params=params).json()
        assert len(body["data"]) <= 1
        seen += [event["event"] for event in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ["created", "rotated", "revoked"]
    bad = api.get(f"{KEYS}/{key['id']}/events", params={"limit": "0"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "limit"
    assert api.get(f"{KEYS}/key_{'x' * 24}/events").status_code == 404


def test_other_accounts_and_ingest_keys_cannot_read_a_trail(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    key = api.post(KEYS, json={"name": "Mine", "kind": "admin"}).json()
    stranger = mint_key(account + "-other")
    assert client.get(f"{KEYS}/{key['id']}/events", headers=_bearer(stranger)).status_code == 404
    ingest = mint_key(account, "ingest", "orders")
    assert client.get(f"{KEYS}/{key['id']}/events", headers=_bearer(ingest)).status_code == 403


def test_logs_key_filter_lists_only_that_keys_requests(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    mint_key(account, "ingest", "orders")
    one = api.post(KEYS, json={"name": "one", "kind": "ingest", "feed": "orders"}).json()
    two = api.post(KEYS, json={"name": "two", "kind": "ingest", "feed": "orders"}).json()
    _ingest(client, one["secret"])
    _ingest(client, two["secret"], query=True)
    _ingest(client, two["secret"])
    listed = api.get(LOGS, params={"key": two["id"]}).json()["data"]
    assert [entry["key"]["id"] for entry in listed] == [two["id"], two["id"]]
    assert [entry["auth_via"] for entry in listed] == ["header", "query"]  # newest first
    assert [e["key"]["id"] for e in api.get(LOGS, params={"key": one["id"]}).json()["data"]] == [
        one["id"]
    ]
    bad = api.get(LOGS, params={"key": "fdk_secretlooking"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "key"
