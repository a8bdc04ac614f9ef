"""The cache of verified keys (http/auth.py, VerifiedKeys): a hit spares the key's lookup, and
every change of a key counts from the next request on, as without it."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from console.sandbox.http.auth import Credentials, VerifiedKeys, _Verified, authenticate
from console.sandbox.http.errors import ApiError
from console.sandbox.storage import sqlite as store
from console.sandbox.storage.database import Database

KEYS = "/api/public/v1/keys"
RECORDS = "/api/public/v1/feeds/orders/records"


def _created(api: httpx.Client, **body: object) -> dict[str, str]:
    response = api.post(KEYS, json={"name": "cached", "kind": "admin", **body})
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_key_that_revokes_itself_is_refused_on_its_very_next_request(
    api: httpx.Client, client: httpx.Client
) -> None:
    key = _created(api)
    headers = _bearer(key["secret"])
    # Used twice: the second request is answered from the cache.
    assert client.get(KEYS, headers=headers).status_code == 200
    assert client.get(KEYS, params={"limit": 1}, headers=headers).status_code == 200
    assert client.delete(f"{KEYS}/{key['id']}", headers=headers).status_code == 200
    # The next read (on the event loop) and the next write (on the writer thread).
    assert client.get(KEYS, headers=headers).status_code == 401
    assert client.get(f"{KEYS}/{key['id']}", headers=headers).status_code == 401
    assert client.post(KEYS, json={"name": "x", "kind": "admin"}, headers=headers).status_code == (
        401
    )


def test_a_key_revoked_by_another_key_is_refused_on_its_next_request(
    api: httpx.Client, client: httpx.Client
) -> None:
    key = _created(api)
    headers = _bearer(key["secret"])
    for _ in range(3):
        assert client.get(KEYS, headers=headers).status_code == 200
    assert api.delete(f"{KEYS}/{key['id']}").status_code == 200
    assert client.get(KEYS, headers=headers).status_code == 401


def test_a_cached_key_rotated_without_grace_is_refused_on_its_next_request(
    api: httpx.Client, client: httpx.Client
) -> None:
    key = _created(api)
    headers = _bearer(key["secret"])
    assert client.get(KEYS, headers=headers).status_code == 200
    rotated = api.post(f"{KEYS}/{key['id']}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 201
    assert client.get(KEYS, headers=headers).status_code == 401
    assert client.get(KEYS, headers=_bearer(rotated.json()["secret"])).status_code == 200


# --- the cache itself, on a database of its own -----------------------------------------


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[sqlite3.Connection, str, str]:
    """A migrated database with one admin key: (read-only connection, secret, key id)."""
    store.connect(tmp_path).close()
    secret = store.mint_key(tmp_path, account="cache", name="cached")
    conn = store.connect_reader(tmp_path)
    row = conn.execute(
        "SELECT id FROM api_keys WHERE key_hash = ?", (store.hash_secret(secret),)
    ).fetchone()
    return conn, secret, str(row["id"])


def _delete_key(tmp_path: Path, key_id: str) -> None:
    """Remove the key's row behind the server's back (as another process could)."""
    writer = store.connect(tmp_path)
    with store.transaction(writer):
        writer.execute("DELETE FROM key_events WHERE key_id = ?", (key_id,))
        writer.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
    writer.close()


def test_a_hit_spares_the_lookup_until_the_cache_is_invalidated(
    tmp_path: Path, keyed: tuple[sqlite3.Connection, str, str]
) -> None:
    conn, secret, key_id = keyed
    verified = VerifiedKeys()
    credentials = Credentials(secret, "header")
    assert authenticate(conn, credentials, 1.0, verified).key_id == key_id
    assert len(verified) == 1
    _delete_key(tmp_path, key_id)
    # Still known: the row was not read again (a change by another process is seen
    # within VERIFIED_KEY_SECONDS)...
    hit = authenticate(conn, Credentials(secret, "query"), 2.0, verified)
    assert (hit.key_id, hit.via) == (key_id, "query")
    # ...and a change this server makes invalidates it: the next request looks it up.
    verified.invalidate()
    with pytest.raises(ApiError) as refused:
        authenticate(conn, credentials, 3.0, verified)
    assert refused.value.status == 401
    assert len(verified) == 0


def test_an_entry_older_than_its_time_is_looked_up_again(
    tmp_path: Path, keyed: tuple[sqlite3.Connection, str, str]
) -> None:
    conn, secret, key_id = keyed
    verified = VerifiedKeys(seconds=0.0)
    credentials = Credentials(secret, "header")
    authenticate(conn, credentials, 1.0, verified)
    _delete_key(tmp_path, key_id)
    with pytest.raises(ApiError):
        authenticate(conn, credentials, 2.0, verified)


def test_expiry_is_checked_on_every_hit(tmp_path: Path) -> None:
    store.connect(tmp_path).close()
    secret = store.mint_key(tmp_path, account="cache", name="expiring")
    writer = store.connect(tmp_path)
    with store.transaction(writer):
        writer.execute("UPDATE api_keys SET expires_at = 100.0")
    writer.close()
    conn = store.connect_reader(tmp_path)
    verified = VerifiedKeys()
    credentials = Credentials(secret, "header")
    assert authenticate(conn, credentials, 99.0, verified).kind == "admin"
    assert len(verified) == 1
    with pytest.raises(ApiError) as expired:
        authenticate(conn, credentials, 100.0, verified)
    assert expired.value.status == 401


def test_unknown_and_revoked_keys_are_never_kept(
    keyed: tuple[sqlite3.Connection, str, str],
) -> None:
    conn, _, _ = keyed
    verified = VerifiedKeys()
    with pytest.raises(ApiError):
        authenticate(conn, Credentials("fdk_" + "x" * 40, "header"), 1.0, verified)
    assert len(verified) == 0


def test_a_lookup_that_began_before_an_invalidation_is_not_kept(
    keyed: tuple[sqlite3.Connection, str, str],
) -> None:
    conn, secret, _ = keyed
    verified = VerifiedKeys()
    principal = authenticate(conn, Credentials(secret, "header"), 1.0)
    began = verified.generation
    verified.invalidate()  # a change committed while the lookup read the old row
    verified.put(store.hash_secret(secret), _Verified(principal, None, began, 0.0))
    assert len(verified) == 0
    assert verified.get(store.hash_secret(secret)) is None


def test_the_cache_is_bounded(keyed: tuple[sqlite3.Connection, str, str]) -> None:
    conn, secret, _ = keyed
    verified = VerifiedKeys(max_keys=3)
    principal = authenticate(conn, Credentials(secret, "header"), 1.0)
    for index in range(10):
        verified.put(f"hash{index}", _Verified(principal, None, verified.generation, 0.0))
        assert len(verified) <= 3


def test_after_transaction_runs_on_the_writer_once_the_change_is_committed(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, int | None]] = []

    async def scenario() -> None:
        database = Database(tmp_path)
        await database.open()
        probe = store.connect_reader(tmp_path)

        def committed() -> None:
            # A fresh reader already sees the change.
            count = probe.execute("SELECT count(*) FROM accounts WHERE name = 'x'").fetchone()
            seen.append((threading.current_thread().name, count[0]))

        def change(conn: sqlite3.Connection) -> None:
            database.after_transaction(committed)
            store.ensure_account(conn, "x")

        def refused(conn: sqlite3.Connection) -> None:
            database.after_transaction(lambda: seen.append(("rolled back", None)))
            raise ValueError("refused")

        try:
            await database.run(change)
            with pytest.raises(ValueError, match="refused"):
                await database.run(refused)
            await database.run(lambda conn: None)  # no callback left over
        finally:
            probe.close()
            await database.close()

    asyncio.run(scenario())
    assert seen[0][1] == 1
    assert seen[0][0].startswith("sandbox-db")
    assert seen[1:] == [("rolled back", None)]


# --- the ids' random characters ----------------------------------------------------------


def test_the_id_pool_hands_out_uniform_letters_once_each() -> None:
    pool = store.AlphanumericPool(read_bytes=64)
    taken = [pool.take(26) for _ in range(200)]  # many refills of 48 characters
    assert all(re.fullmatch(r"[A-Za-z0-9]{26}", letters) for letters in taken)
    assert len(set(taken)) == len(taken)
    assert len(pool.take(100)) == 100  # more than one read gives


def test_every_response_gets_fresh_distinct_ids(api: httpx.Client) -> None:
    responses = [api.get(KEYS, params={"limit": 1}) for _ in range(30)]
    ids = [
        (response.headers["X-Correlation-Id"], response.headers["X-Request-Id"])
        for response in responses
    ]
    assert all(re.fullmatch(r"corr_[A-Za-z0-9]{26}", corr) for corr, _ in ids)
    assert all(re.fullmatch(r"req_[A-Za-z0-9]{26}", req) for _, req in ids)
    every = [value[value.index("_") + 1 :] for pair in ids for value in pair]
    assert len(set(every)) == len(every)


def test_only_a_key_change_that_happened_drops_the_verified_keys(tmp_path: Path) -> None:
    """Refused revokes and rotations (an unknown key, a bad grace) change nothing, so they
    keep every tenant's verified keys: any admin key repeating them must not send every
    account's requests back to the slower lookup."""
    from console.sandbox.storage.sqlite import mint_key
    from tests.sandbox.logs_support import LiveApp

    live = LiveApp(tmp_path / "data").start()
    try:
        secret = mint_key(tmp_path / "data", account="acme", kind="admin", feed=None)
        cache: VerifiedKeys = live.app.state.verified_keys
        with httpx.Client(base_url=live.url, headers=_bearer(secret), timeout=10) as api:
            other = _created(api)
            assert api.get(KEYS).status_code == 200
            before = cache.generation
            assert api.delete(f"{KEYS}/key_doesnotexist").status_code == 404
            assert api.post(f"{KEYS}/key_doesnotexist/rotate", json={}).status_code == 404
            bad_grace = api.post(f"{KEYS}/{other['id']}/rotate", json={"grace_seconds": -1})
            assert bad_grace.status_code == 400
            assert cache.generation == before
            assert api.delete(f"{KEYS}/{other['id']}").status_code == 200
            assert cache.generation > before
    finally:
        live.stop()
