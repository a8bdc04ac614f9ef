"""A key's audit trail and last use through the API layer, against the real sandbox."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from console.api.keys import KeysApi
from console.api.transport import ApiClient
from tests.conftest import run


async def _with_keys(url: str, key: str, body: Callable[[KeysApi, ApiClient], object]) -> object:
    client = ApiClient(url, key)
    try:
        return await body(KeysApi(client), client)  # type: ignore[misc]
    finally:
        await client.aclose()


def test_events_list_create_rotate_and_revoke_in_order(sandbox_url: str, admin_key: str) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        old = await keys.create("Rotated", "admin")
        new = await keys.rotate(old.key.id, grace_seconds=3600)
        await keys.revoke(old.key.id)
        trail = await keys.events(old.key.id)
        assert [event.event for event in trail] == ["created", "rotated", "revoked"]
        assert {event.by_shown for event in trail} == {f"fdk_…{admin_key[-4:]}"}
        assert trail[1].related_key_id == new.key.id
        assert trail[1].expires_at == pytest.approx(new.key.created_at + 3600, abs=0.002)
        assert {event.client_ip for event in trail} == {"127.0.0.1"}

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_last_use_of_an_ingest_key_comes_from_the_logs(
    sandbox_url: str, admin_key: str, mint_key: Callable[..., str], account: str
) -> None:
    mint_key(account, "ingest", "orders")

    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        created = await keys.create("relay", "ingest", feed="orders")
        other = await keys.create("other relay", "ingest", feed="orders")
        assert await keys.last_use(created.key) is None
        async with httpx.AsyncClient(base_url=sandbox_url) as http:
            sent = await http.post(
                "/api/ingest", json={"id": "1"}, params={"apiKey": created.secret}
            )
            assert sent.status_code == 202
            later = await http.post(
                "/api/ingest",
                json={"id": "2"},
                headers={"Authorization": f"Bearer {other.secret}"},
            )
            assert later.status_code == 202
        use = await keys.last_use(created.key)
        assert use is not None
        assert use.from_logs
        assert (use.client_ip, use.auth_via, use.feed) == ("127.0.0.1", "query", "orders")
        assert use.route is not None
        assert use.route.startswith("POST /api/ingest")
        assert created.secret not in use.route  # the path's apiKey is masked

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]


def test_an_admin_keys_use_on_an_unlogged_route_is_its_time_only(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario(keys: KeysApi, client: ApiClient) -> None:
        created = await keys.create("reader", "admin")
        async with httpx.AsyncClient(base_url=sandbox_url) as http:
            headers = {"Authorization": f"Bearer {created.secret}"}
            assert (await http.get("/api/public/v1/feeds", headers=headers)).status_code == 200
        use = await keys.last_use(created.key)
        assert use is not None
        assert not use.from_logs
        assert use.client_ip is None

    run(_with_keys(sandbox_url, admin_key, scenario))  # type: ignore[arg-type]
