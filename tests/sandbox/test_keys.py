"""API keys over HTTP: secrets shown once, revoke, rotate with grace, expiry, scoping."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key

KEYS = "/api/public/v1/keys"
FEEDS = "/api/public/v1/feeds"

ADMIN_SECRET = re.compile(r"^fdk_[A-Za-z0-9]{40}$")
INGEST_SECRET = re.compile(r"^ik_live_[A-Za-z0-9]{32}$")
KEY_ID = re.compile(r"^key_[A-Za-z0-9]{24}$")
METADATA_FIELDS = {
    "id",
    "name",
    "kind",
    "prefix",
    "last4",
    "feed",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "rotated_from",
    "status",
}


def create_key(api: httpx.Client, **body: object) -> dict[str, object]:
    """POST /keys and return the created key (with its secret)."""
    response = api.post(KEYS, json={"name": "test key", "kind": "admin", **body})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def status_with(client: httpx.Client, secret: object) -> int:
    """The status of GET /keys authenticated with `secret`."""
    return client.get(KEYS, headers={"Authorization": f"Bearer {secret}"}).status_code


def test_created_secret_has_contract_format_and_is_shown_only_once(api: httpx.Client) -> None:
    created = create_key(api, name="Deploy bot")
    secret = str(created["secret"])
    assert ADMIN_SECRET.match(secret)
    assert KEY_ID.match(str(created["id"]))
    assert set(created) == METADATA_FIELDS | {"secret"}
    assert created["prefix"] == "fdk_"
    assert created["last4"] == secret[-4:]
    assert created["status"] == "active"

    listed = api.get(KEYS)
    one = api.get(f"{KEYS}/{created['id']}")
    for response in (listed, one):
        assert response.status_code == 200
        assert "secret" not in response.text
        assert secret not in response.text
        assert secret[4:] not in response.text
    assert set(one.json()) == METADATA_FIELDS
    assert all(set(item) == METADATA_FIELDS for item in listed.json()["data"])


def test_ingest_key_needs_an_existing_feed_of_the_account(api: httpx.Client) -> None:
    missing = api.post(KEYS, json={"name": "relay", "kind": "ingest", "feed": "orders"})
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "VALIDATION_FAILED",
        "message": missing.json()["error"]["message"],
        "field": "feed",
    }
    no_feed = api.post(KEYS, json={"name": "relay", "kind": "ingest"})
    assert (no_feed.status_code, no_feed.json()["error"]["field"]) == (400, "feed")
    admin_with_feed = api.post(KEYS, json={"name": "x", "kind": "admin", "feed": "orders"})
    assert (admin_with_feed.status_code, admin_with_feed.json()["error"]["field"]) == (400, "feed")

    assert api.post(FEEDS, json={"id": "orders", "name": "Orders", "method": "ingest"}).is_success
    created = create_key(api, name="relay", kind="ingest", feed="orders")
    assert INGEST_SECRET.match(str(created["secret"]))
    assert (created["kind"], created["feed"], created["prefix"]) == ("ingest", "orders", "ik_live_")


def test_no_file_in_the_data_dir_holds_a_secret(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    server = make_sandbox(data_dir=tmp_path / "data", demo=False)
    admin = mint_key(server.data_dir, account="acme")
    secrets = [admin]
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=10) as api:
        api.post(FEEDS, json={"id": "orders", "name": "Orders", "method": "ingest"})
        first = create_key(api, name="one")
        ingest = create_key(api, name="two", kind="ingest", feed="orders")
        rotated = api.post(f"{KEYS}/{first['id']}/rotate", json={"grace_seconds": 60}).json()
        secrets += [str(first["secret"]), str(ingest["secret"]), str(rotated["secret"])]
        assert api.get(KEYS).status_code == 200
        files = sorted(path for path in server.data_dir.rglob("*") if path.is_file())
        names = {path.name for path in files}
        assert {"sandbox.sqlite3", "sandbox.sqlite3-wal", "sandbox.sqlite3-shm"} <= names
        for path in files:
            content = path.read_bytes()
            for secret in secrets:
                # Neither the whole secret nor its random part without the prefix.
                assert secret.encode() not in content, path
                assert secret.split("_")[-1].encode() not in content, path


def test_revoked_key_is_refused_and_revoking_twice_is_a_no_op(
    api: httpx.Client, client: httpx.Client
) -> None:
    created = create_key(api)
    assert status_with(client, created["secret"]) == 200
    revoked = api.delete(f"{KEYS}/{created['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"] is not None
    refused = client.get(KEYS, headers={"Authorization": f"Bearer {created['secret']}"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    again = api.delete(f"{KEYS}/{created['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert api.post(f"{KEYS}/{created['id']}/rotate", json={}).status_code == 409


def test_rotated_key_works_during_its_grace_then_is_refused(
    api: httpx.Client, client: httpx.Client, eventually: Callable[..., None]
) -> None:
    old = create_key(api, name="Warehouse loader")
    before = time.time()
    response = api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 2})
    assert response.status_code == 201
    new = response.json()
    assert ADMIN_SECRET.match(new["secret"])
    assert new["secret"] != old["secret"]
    assert (new["name"], new["kind"], new["feed"]) == ("Warehouse loader", "admin", None)
    assert new["rotated_from"] == old["id"]
    assert new["expires_at"] is None  # the old key never expired, so neither does this one

    old_meta = api.get(f"{KEYS}/{old['id']}").json()
    assert before + 2 - 0.01 <= old_meta["expires_at"] <= time.time() + 2 + 0.01
    assert status_with(client, old["secret"]) == 200  # inside the grace
    assert status_with(client, new["secret"]) == 200
    eventually(lambda: status_with(client, old["secret"]) == 401, 10)
    assert status_with(client, new["secret"]) == 200
    assert api.get(f"{KEYS}/{old['id']}").json()["status"] == "expired"
    assert api.post(f"{KEYS}/{old['id']}/rotate", json={}).status_code == 409


def test_rotation_without_grace_ends_the_old_key_at_once(
    api: httpx.Client, client: httpx.Client
) -> None:
    old = create_key(api)
    new = api.post(f"{KEYS}/{old['id']}/rotate").json()  # no body: grace 0
    assert status_with(client, old["secret"]) == 401
    assert status_with(client, new["secret"]) == 200


def test_rotation_keeps_the_key_lifetime(api: httpx.Client) -> None:
    old = create_key(api, expires_at=time.time() + 1000)
    lifetime = float(old["expires_at"]) - float(old["created_at"])  # type: ignore[arg-type]
    new = api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600}).json()
    assert new["expires_at"] == pytest.approx(new["created_at"] + lifetime, abs=0.01)
    # The grace outlives the old key's own expiry, so its expiry stays.
    assert api.get(f"{KEYS}/{old['id']}").json()["expires_at"] == old["expires_at"]


def test_expired_key_is_refused(
    api: httpx.Client, client: httpx.Client, eventually: Callable[..., None]
) -> None:
    created = create_key(api, expires_at=time.time() + 1.5)
    assert created["status"] == "expiring"
    eventually(lambda: status_with(client, created["secret"]) == 401, 10)
    assert api.get(f"{KEYS}/{created['id']}").json()["status"] == "expired"
    past = api.post(KEYS, json={"name": "late", "kind": "admin", "expires_at": time.time() - 5})
    assert (past.status_code, past.json()["error"]["field"]) == (400, "expires_at")


def test_status_reports_expiring_within_seven_days(api: httpx.Client) -> None:
    soon = create_key(api, expires_at=time.time() + 3 * 86400)
    later = create_key(api, expires_at=time.time() + 30 * 86400)
    assert (soon["status"], later["status"]) == ("expiring", "active")


def test_ingest_key_is_forbidden_on_the_admin_api(
    client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    ingest = mint_key(account, "ingest", feed="orders")
    response = client.get(KEYS, headers={"Authorization": f"Bearer {ingest}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_another_accounts_key_looks_unknown(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str]
) -> None:
    other = mint_key("other-" + str(time.time_ns()))
    other_headers = {"Authorization": f"Bearer {other}"}
    theirs = client.get(KEYS, headers=other_headers).json()["data"][0]["id"]
    unknown = "key_" + "x" * 24
    for key_id in (theirs, unknown):
        for response in (
            api.get(f"{KEYS}/{key_id}"),
            api.post(f"{KEYS}/{key_id}/rotate", json={}),
            api.delete(f"{KEYS}/{key_id}"),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"
            assert response.json()["error"]["message"] == "API key not found."
    # The other account's key is untouched.
    assert client.get(f"{KEYS}/{theirs}", headers=other_headers).json()["status"] == "active"


def test_last_used_at_is_stamped(api: httpx.Client, client: httpx.Client) -> None:
    created = create_key(api)
    assert created["last_used_at"] is None
    status_with(client, created["secret"])
    used = api.get(f"{KEYS}/{created['id']}").json()["last_used_at"]
    assert used is not None
    assert used >= created["created_at"]


def test_keys_page_newest_first_with_cursor(api: httpx.Client) -> None:
    for index in range(3):
        create_key(api, name=f"key {index}")
    first = api.get(KEYS, params={"limit": 2}).json()
    assert [item["name"] for item in first["data"]] == ["key 2", "key 1"]
    cursor = first["pagination"]["next_cursor"]
    assert isinstance(cursor, str)
    second = api.get(KEYS, params={"limit": 2, "cursor": cursor}).json()
    # The fixture's own minted key is the oldest.
    assert [item["name"] for item in second["data"]] == ["key 0", "Minted admin key"]
    assert second["pagination"]["next_cursor"] is None
    bad = api.get(KEYS, params={"cursor": "garbage!"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "cursor")
    assert api.get(KEYS, params={"limit": 0}).status_code == 400
    assert api.get(KEYS, params={"limit": 5000}).status_code == 200
