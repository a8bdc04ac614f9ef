"""The keys module of the API layer against the real sandbox server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pytest

from console.api.errors import ApiError
from console.api.keys import KeysApi
from console.api.transport import ApiClient
from tests.conftest import run

ADMIN_SECRET = re.compile(r"^fdk_[A-Za-z0-9]{40}$")
INGEST_SECRET = re.compile(r"^ik_live_[A-Za-z0-9]{32}$")


async def _with_keys(url: str, key: str, body: Callable[[KeysApi, ApiClient], object]) -> object:
    client = ApiClient(url, key)
    try:
        return await body(KeysApi(client), client)  # type: ignore[misc]
    finally:
        await client.aclose()


def test_create_returns_the_secret_once_and_list_never_does(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        created = await keys.create("Nightly export", "admin")
        assert ADMIN_SECRET.match(created.secret)
        assert created.key.masked == f"fdk_…{created.secret[-4:]}"
        assert created.secret not in repr(created)  # never leaks into logs via repr
        raw = await client.request("GET", "/api/public/v1/keys")
        assert created.secret not in raw.text
        listed = await keys.list_all()
        assert created.key.id in {k.id for k in listed}
        one = await keys.get(created.key.id)
        assert one.name == "Nightly export"
        assert one.status == "active"

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_ingest_key_for_a_feed_has_the_ingest_format(sandbox_url: str, admin_key: str) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        from console.api.feeds import FeedsApi

        feed = await FeedsApi(client).create("orders", "Orders")
        assert feed in await FeedsApi(client).list_all()
        created = await keys.create("Orders relay", "ingest", feed=feed.id)
        assert INGEST_SECRET.match(created.secret)
        assert created.key.feed == "orders"
        assert created.key.kind == "ingest"

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_rotate_with_grace_keeps_old_key_then_it_expires(sandbox_url: str, admin_key: str) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        created = await keys.create("Rotating job", "admin")
        rotated = await keys.rotate(created.key.id, grace_seconds=1)
        assert rotated.key.rotated_from == created.key.id
        assert rotated.secret != created.secret
        old = ApiClient(sandbox_url, created.secret)
        new = ApiClient(sandbox_url, rotated.secret)
        try:
            await old.get_json("/api/public/v1/keys")  # still inside the grace
            deadline = time.monotonic() + 10
            status = 200
            while status == 200:
                assert time.monotonic() < deadline, "old key outlived its grace"
                await _pause()
                async with httpx.AsyncClient() as raw:
                    response = await raw.get(
                        f"{sandbox_url}/api/public/v1/keys",
                        headers={"Authorization": f"Bearer {created.secret}"},
                    )
                status = response.status_code
            assert status == 401
            await new.get_json("/api/public/v1/keys")
        finally:
            await old.aclose()
            await new.aclose()

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_revoke_is_immediate_and_idempotent(sandbox_url: str, admin_key: str) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        created = await keys.create("Short-lived", "admin")
        revoked = await keys.revoke(created.key.id)
        assert revoked.is_revoked
        assert revoked.revoked_at is not None
        again = await keys.revoke(created.key.id)
        assert again.revoked_at == revoked.revoked_at
        victim = ApiClient(sandbox_url, created.secret)
        try:
            with pytest.raises(ApiError) as caught:
                await victim.get_json("/api/public/v1/keys")
        finally:
            await victim.aclose()
        assert caught.value.status == 401
        assert caught.value.code == "UNAUTHORIZED"
        assert caught.value.correlation_id
        assert caught.value.correlation_id.startswith("corr_")

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_validation_errors_are_typed_with_field_and_every_problem(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        with pytest.raises(ApiError) as caught:
            await keys.create("Needs a feed", "ingest")
        error = caught.value
        assert error.status == 400
        assert error.code == "VALIDATION_FAILED"
        assert error.field == "feed"
        with pytest.raises(ApiError) as caught:
            await client.post_json("/api/public/v1/keys", {"name": 5, "kind": "admin", "colour": 1})
        assert caught.value.status == 422
        assert {p.field for p in caught.value.problems} >= {"name", "colour"}

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_another_accounts_key_is_not_found(
    sandbox_url: str, admin_key: str, mint_key: Callable[..., str]
) -> None:
    other_admin = mint_key("other-" + admin_key[-6:], "admin")

    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        other_client = ApiClient(sandbox_url, other_admin)
        try:
            theirs = await KeysApi(other_client).create("Theirs", "admin")
        finally:
            await other_client.aclose()
        for call in (keys.get, keys.revoke):
            with pytest.raises(ApiError) as caught:
                await call(theirs.key.id)
            assert caught.value.status == 404
        with pytest.raises(ApiError) as caught:
            await keys.rotate(theirs.key.id, grace_seconds=0)
        assert caught.value.status == 404

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.1)  # polling a server-side clock, not synchronising with our code
