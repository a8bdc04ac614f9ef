"""The transport: auth modes, typed errors, 429 retry with Retry-After, headroom."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from console.api.errors import ApiError
from console.api.transport import ApiClient, RequestOutcome, RetryWait
from console.sandbox.process import SandboxProcess
from tests.conftest import run
from tests.slow_server import SlowServer

KEYS = "/api/public/v1/keys"


def test_header_and_query_auth_both_work(sandbox_url: str, admin_key: str) -> None:
    async def scenario() -> None:
        for mode in ("header", "query"):
            client = ApiClient(sandbox_url, admin_key, auth_mode=mode)  # type: ignore[arg-type]
            try:
                body = await client.get_json(KEYS)
            finally:
                await client.aclose()
            assert "data" in body

    run(scenario())


def test_rate_limit_headroom_and_latency_are_observed(sandbox_url: str, admin_key: str) -> None:
    seen: list[RequestOutcome | RetryWait] = []

    async def scenario() -> None:
        client = ApiClient(sandbox_url, admin_key)
        client.add_observer(seen.append)
        try:
            await client.get_json(KEYS)
            first = client.rate_limit.remaining
            await client.get_json(KEYS)
        finally:
            await client.aclose()
        assert client.rate_limit.limit == 1000000
        assert first is not None
        assert client.rate_limit.remaining == first - 1
        assert client.rate_limit.reset_at
        assert client.rate_limit.reset_at > time.time()

    run(scenario())
    outcomes = [e for e in seen if isinstance(e, RequestOutcome)]
    assert len(outcomes) == 2
    assert all(o.status == 200 for o in outcomes)
    assert all(o.correlation_id and o.correlation_id.startswith("corr_") for o in outcomes)
    assert all(o.latency_ms > 0 for o in outcomes)


def test_unreachable_server_is_a_typed_network_error() -> None:
    async def scenario() -> ApiError:
        client = ApiClient("http://127.0.0.1:9", "fdk_" + "a" * 40, timeout=2)
        try:
            with pytest.raises(ApiError) as caught:
                await client.get_json(KEYS)
        finally:
            await client.aclose()
        return caught.value

    error = run(scenario())
    assert error.is_network_error
    assert error.code == "NETWORK_ERROR"
    assert "a" * 40 not in str(error)


def test_unknown_key_gives_unauthorized_with_correlation_id(sandbox_url: str) -> None:
    async def scenario() -> ApiError:
        client = ApiClient(sandbox_url, "fdk_" + "Z" * 40)
        try:
            with pytest.raises(ApiError) as caught:
                await client.get_json(KEYS)
        finally:
            await client.aclose()
        return caught.value

    error = run(scenario())
    assert error.status == 401
    assert error.code == "UNAUTHORIZED"
    assert error.correlation_id
    assert error.correlation_id.startswith("corr_")
    assert "Z" * 40 not in error.message


def _limited_server(
    make_sandbox: Callable[..., SandboxProcess], rate_limit: str
) -> tuple[SandboxProcess, str]:
    """A server of its own with `rate_limit` per IP, and an admin key on it."""
    from console.sandbox.storage.sqlite import mint_key

    server = make_sandbox(demo=False, rate_limit=rate_limit)
    return server, mint_key(server.data_dir, account="limited", kind="admin")


@pytest.mark.slow
def test_429_is_retried_after_retry_after_and_succeeds(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    """With 5 requests per 2 s, the sixth waits out Retry-After and then succeeds."""
    server, key = _limited_server(make_sandbox, "5/2")
    waits: list[RetryWait] = []

    async def scenario() -> float:
        assert server.base_url
        client = ApiClient(server.base_url, key)
        client.add_observer(lambda e: isinstance(e, RetryWait) and waits.append(e))
        try:
            for _ in range(5):
                await client.get_json(KEYS)
            started = time.monotonic()
            body = await client.get_json(KEYS)
            assert "data" in body
            return time.monotonic() - started
        finally:
            await client.aclose()

    elapsed = run(scenario())
    assert waits
    assert waits[0].seconds >= 1
    assert elapsed >= waits[0].seconds * 0.9


def test_429_beyond_the_retry_budget_raises_rate_limited(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    server, key = _limited_server(make_sandbox, "5/60")

    async def scenario() -> ApiError:
        assert server.base_url
        client = ApiClient(server.base_url, key, max_retries=0)
        try:
            for _ in range(5):
                await client.get_json(KEYS)
            with pytest.raises(ApiError) as caught:
                await client.get_json(KEYS)
            return caught.value
        finally:
            await client.aclose()

    error = run(scenario())
    assert error.status == 429
    assert error.code == "RATE_LIMITED"
    assert error.retry_after is not None
    assert error.retry_after >= 1


def test_a_task_waiting_out_a_429_cancels_at_once(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    """Closing a view cancels a request that sleeps out a long Retry-After."""
    server, key = _limited_server(make_sandbox, "1/60")

    async def scenario() -> float:
        assert server.base_url
        client = ApiClient(server.base_url, key)
        waiting = asyncio.Event()
        client.add_observer(lambda e: isinstance(e, RetryWait) and waiting.set())
        try:
            await client.get_json(KEYS)
            task = asyncio.ensure_future(client.get_json(KEYS))
            await asyncio.wait_for(waiting.wait(), 10)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started
        finally:
            await client.aclose()

    assert run(scenario()) < 1.0


def test_a_request_in_flight_during_a_key_rotation_is_resent_with_the_new_key(
    sandbox_url: str, admin_key: str
) -> None:
    """Rotating the console's own key (grace 0) must not fail requests already sent."""
    from console.api.keys import KeysApi

    async def scenario() -> int:
        client = ApiClient(sandbox_url, admin_key)
        sent_with_old_key = asyncio.Event()
        release = asyncio.Event()

        class HoldFirstRequest(httpx.AsyncBaseTransport):
            """A real transport that parks the first request after it has its headers."""

            def __init__(self) -> None:
                self.inner = httpx.AsyncHTTPTransport()
                self.held = False

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if not self.held and request.url.path.endswith("/hooks"):
                    self.held = True
                    sent_with_old_key.set()
                    await release.wait()
                return await self.inner.handle_async_request(request)

            async def aclose(self) -> None:
                await self.inner.aclose()

        held = ApiClient(sandbox_url, admin_key, transport=HoldFirstRequest())
        try:
            in_flight = asyncio.ensure_future(held.get_json("/api/public/v1/hooks"))
            await sent_with_old_key.wait()
            own = next(k for k in await KeysApi(client).list_all() if k.last4 == admin_key[-4:])
            rotated = await KeysApi(client).rotate(own.id, grace_seconds=0)
            held.set_api_key(rotated.secret)  # what the console does on rotating its key
            release.set()
            body = await in_flight
            return len(body["data"])
        finally:
            await held.aclose()
            await client.aclose()

    assert run(scenario()) >= 1


def test_a_refused_first_key_is_renewed_once_for_concurrent_requests(
    sandbox_url: str, admin_key: str
) -> None:
    """No probe before the first real request: a 401 there gets a fresh key and a retry."""
    renewals: list[str] = []

    async def renew() -> str:
        renewals.append("minted")
        await asyncio.sleep(0)  # others' 401s arrive while this one renews
        return admin_key

    async def scenario() -> list[object]:
        client = ApiClient(sandbox_url, "fdk_" + "Z" * 40, renew_key=renew)
        try:
            return list(await asyncio.gather(*(client.get_json(KEYS) for _ in range(3))))
        finally:
            await client.aclose()

    bodies = run(scenario())
    assert renewals == ["minted"]
    assert all("data" in body for body in bodies)  # type: ignore[operator]


def test_once_the_key_was_accepted_a_401_is_not_renewed(
    sandbox_url: str, admin_key: str, mint_key: Callable[..., str], account: str
) -> None:
    renewals: list[str] = []
    own = mint_key(account)

    async def renew() -> str:
        renewals.append("minted")
        return admin_key

    async def scenario() -> ApiError:
        client = ApiClient(sandbox_url, own, renew_key=renew)
        try:
            mine = [k for k in (await client.get_json(KEYS))["data"] if k["last4"] == own[-4:]]
            await client.request("DELETE", f"{KEYS}/{mine[0]['id']}")  # the user revokes it
            with pytest.raises(ApiError) as refused:
                await client.get_json(KEYS)
            return refused.value
        finally:
            await client.aclose()

    error = run(scenario())
    assert error.status == 401
    assert renewals == []


def test_a_401_answered_during_our_own_rotation_waits_and_is_resent_with_the_new_key(
    sandbox_url: str, admin_key: str
) -> None:
    """The server may serve a request sent just before the rotation after it (reads run in
    parallel with writes): its 401 arrives before the console has adopted the new key."""
    from console.api.keys import KeysApi

    async def scenario() -> tuple[bool, int]:
        answered = asyncio.Event()

        class NoteAnswers(httpx.AsyncBaseTransport):
            """A real transport that notes when a 401 for /hooks has come back."""

            def __init__(self) -> None:
                self.inner = httpx.AsyncHTTPTransport()

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                response = await self.inner.handle_async_request(request)
                if request.url.path.endswith("/hooks") and response.status_code == 401:
                    answered.set()
                return response

            async def aclose(self) -> None:
                await self.inner.aclose()

        client = ApiClient(sandbox_url, admin_key, transport=NoteAnswers())
        try:
            keys = KeysApi(client)
            own = next(k for k in await keys.list_all() if k.last4 == admin_key[-4:])
            async with client.changing_key():
                rotated = await keys.rotate(own.id, grace_seconds=0)
                # Answered after the rotation, with the old key: a 401, held until the
                # new key is adopted.
                late = asyncio.ensure_future(client.get_json("/api/public/v1/hooks"))
                await answered.wait()
                await asyncio.sleep(0)  # let the request see its 401
                held = not late.done()
                client.set_api_key(rotated.secret)
            body = await late
            return held, len(body["data"])
        finally:
            await client.aclose()

    held, hooks = run(scenario())
    assert held
    assert hooks >= 1


def test_a_timeout_says_so_without_empty_brackets(slow_server: SlowServer) -> None:
    async def scenario() -> ApiError:
        client = ApiClient(slow_server.url, "fdk_" + "Q" * 40, timeout=0.3)
        try:
            with pytest.raises(ApiError) as caught:
                await client.get_json(KEYS)
            return caught.value
        finally:
            await client.aclose()

    error = run(scenario())
    assert error.code == "TIMEOUT"
    assert error.message.startswith(f"{slow_server.url} did not answer in time")
    assert "()" not in error.message


def test_an_untrusted_certificate_reads_as_a_sentence(untrusted_tls_server: SlowServer) -> None:
    async def scenario() -> ApiError:
        client = ApiClient(untrusted_tls_server.url, "fdk_" + "Q" * 40)
        try:
            with pytest.raises(ApiError) as caught:
                await client.get_json(KEYS)
            return caught.value
        finally:
            await client.aclose()

    error = run(scenario())
    assert error.message.startswith("the server's certificate could not be verified: ")
    assert untrusted_tls_server.url in error.message
    for noise in ("[SSL", "_ssl.c", "CERTIFICATE_VERIFY_FAILED"):
        assert noise not in error.message


class _ClosingKeepAliveServer:
    """Answers the first request on each connection with keep-alive, then closes the
    connection unanswered when a second request arrives on it (a server whose keep-alive
    timeout ran out just as the client reused the connection)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head.split(b"\r\n", 1)[0] + b" " + body)
                if answered:
                    break  # close without a response
                payload = b'{"data": [], "has_more": false, "next_cursor": null}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(payload)
                    + payload
                )
                await writer.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_a_keep_alive_connection_closed_unanswered_is_resent_only_when_safe() -> None:
    async def scenario() -> None:
        server = _ClosingKeepAliveServer()
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = ApiClient(f"http://127.0.0.1:{port}", "fdk_" + "a" * 40)
        try:
            await client.get_json(KEYS)
            # The second GET goes out on the pooled connection, which closes unanswered:
            # it is sent once more on a new connection and succeeds.
            await client.get_json(KEYS)
            assert server.connections == 2
            # A POST may have been acted on: it is not sent again, the user sees why.
            with pytest.raises(ApiError) as caught:
                await client.post_json(KEYS, {"name": "x"})
            assert caught.value.code == "NETWORK_ERROR"
            assert server.connections == 2
            # A POST with an Idempotency-Key is safe to repeat.
            await client.request("POST", KEYS, json={"n": 1}, headers={"Idempotency-Key": "k1"})
            await client.request("POST", KEYS, json={"n": 2}, headers={"Idempotency-Key": "k2"})
            assert server.connections == 4
        finally:
            await client.aclose()
            listener.close()
            await listener.wait_closed()

    run(scenario())
