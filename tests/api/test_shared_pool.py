"""A client replacing another of the same server reuses its open connections."""

from __future__ import annotations

import httpx

from console.api.transport import ApiClient
from tests.conftest import run

KEYS = "/api/public/v1/keys"


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that notes the connections it opened and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()

    @property
    def connections(self) -> int:
        return len(self._pool.connections)


def test_a_client_of_the_same_server_joins_the_pool_and_the_last_one_closes_it(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario() -> None:
        transport = CountingTransport()
        first = ApiClient(sandbox_url, admin_key, transport=transport)
        await first.get_json(KEYS, params={"limit": 1})
        assert transport.connections == 1
        # Another profile on the same server (its own key and auth mode), as a reconnect.
        second = ApiClient(sandbox_url + "/", admin_key, auth_mode="query", pool_of=first)
        await first.aclose()  # the session closes the replaced client at once
        assert not transport.closed
        await second.get_json(KEYS, params={"limit": 1})
        assert transport.requests == 2
        assert transport.connections == 1  # the first client's connection, kept open
        await second.aclose()
        assert transport.closed
        assert not second.pool.is_open

    run(scenario())


def test_a_client_of_another_server_or_of_a_closed_pool_gets_its_own(
    sandbox_url: str, admin_key: str
) -> None:
    async def scenario() -> None:
        transport = CountingTransport()
        first = ApiClient(sandbox_url, admin_key, transport=transport)
        other = ApiClient(sandbox_url.replace("127.0.0.1", "localhost"), admin_key, pool_of=first)
        assert other.pool is not first.pool
        await other.get_json(KEYS, params={"limit": 1})
        assert transport.requests == 0
        await first.aclose()
        late = ApiClient(sandbox_url, admin_key, pool_of=first)  # closed: nothing to join
        assert late.pool is not first.pool
        await late.get_json(KEYS, params={"limit": 1})
        assert transport.requests == 0
        await other.aclose()
        await late.aclose()

    run(scenario())
