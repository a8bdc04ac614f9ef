"""A key's last use on a server without the sandbox's `GET /logs?key=` filter: the real
sandbox behind tests/contract_logs.py, which ignores the parameter or refuses it (400) and
shows each entry's key as prefix…last4 only, as the contract's server does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.api.keys import USE_PAGE, ApiKey, KeysApi, KeyUse
from console.api.transport import ApiClient
from tests.conftest import run
from tests.contract_logs import MODES, serve_without_key_filter
from tests.sandbox.logs_support import LiveApp

LOGS = "/api/public/v1/logs"


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveApp]:
    yield from serve_without_key_filter(tmp_path, request.param)


def _ingest(http: httpx.Client, item: dict[str, str]) -> str:
    sent = http.post("/api/ingest", json=item)
    assert sent.status_code == 202, sent.text
    request_id: str = sent.json()["data"]["request_id"]
    return request_id


async def _key(url: str, admin: str, last4: str) -> ApiKey:
    client = ApiClient(url, admin)
    try:
        return next(key for key in await KeysApi(client).list_all() if key.last4 == last4)
    finally:
        await client.aclose()


async def _last_use(url: str, admin: str, key: ApiKey) -> KeyUse | None:
    client = ApiClient(url, admin)
    try:
        return await KeysApi(client).last_use(key)
    finally:
        await client.aclose()


def test_a_keys_last_use_is_found_by_its_last_four_and_checked_entry_by_entry(
    server: LiveApp, request: pytest.FixtureRequest
) -> None:
    account_id, admin = server.account("admin")
    target_secret = server.key(account_id, "ingest", feed="alpha")
    other_secret = server.key(account_id, "ingest", feed="beta")
    target = run(_key(server.url, admin, target_secret[-4:]))
    assert target.masked.endswith(target.last4)

    with server.client(target_secret) as http:
        _ingest(http, {"id": "t-1"})
    with server.client(other_secret) as http:
        # A page's worth of newer entries of another key: the key's own are not in the
        # newest page...
        for n in range(USE_PAGE + 5):
            _ingest(http, {"id": f"o-{n}"})
        # ...and the newest entry that `q=<last4>` finds is another key's (its body holds
        # the last four as a word): only the entry-by-entry check can leave it out.
        decoy = _ingest(http, {"id": "o-decoy", "note": target.last4})

    with server.client(admin) as http:
        deadline = time.monotonic() + 15
        # The entries are written just after the 202 (each read is a round trip).
        while not http.get(LOGS, params={"id": decoy}).json()["data"]:
            assert time.monotonic() < deadline, "the decoy's log entry was never written"
        # The server really lacks the filter: ignored (every key's entries, the key's
        # own not among them, its key as text only), or refused.
        by_key = http.get(LOGS, params={"key": target.id, "limit": USE_PAGE})
        if request.node.callspec.params["server"] == "refuse":
            assert by_key.status_code == 400
            assert by_key.json()["error"]["field"] == "key"
        else:
            entries = by_key.json()["data"]
            assert len(entries) == USE_PAGE
            assert all(entry["key"] != target.masked for entry in entries)
            assert all(isinstance(entry["key"], str) for entry in entries)
        found = http.get(LOGS, params={"q": target.last4}).json()["data"]
        assert found[0]["request_id"] == decoy  # what a search alone would take
        assert any(entry["key"] == target.masked for entry in found)

    use = run(_last_use(server.url, admin, target))
    assert use is not None
    assert use.from_logs
    assert use.feed == "alpha"
    assert use.route == "POST /api/ingest"
