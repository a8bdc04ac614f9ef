"""Capability discovery against real sandboxes restricted with `serve --only`."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from console.api.capabilities import (
    PARTS,
    PROBES,
    Capabilities,
    describe,
    describe_key,
    discover,
    discover_trying_key,
    key_reason,
    parts_from_openapi,
    try_key,
    unavailable_text,
)
from console.api.errors import ApiError
from console.api.transport import ApiClient
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from tests.conftest import run

RESTRICTIONS = [
    frozenset({"keys", "pipelines"}),
    frozenset({"intents"}),
    frozenset({"ingest"}),
    frozenset({"feeds", "records", "logs"}),
]


class NoDocumentProxy:
    """A loopback proxy of a sandbox that publishes no /openapi.json (404 NOT_FOUND, as a
    server without one answers): discovery has to probe.

    `keys` maps keys of another format (a service whose keys have no prefix the contract
    names, which the sandbox cannot mint) to sandbox keys; `document` keeps the sandbox's
    /openapi.json published.
    """

    def __init__(
        self, target: str, *, keys: Mapping[str, str] | None = None, document: bool = False
    ) -> None:
        upstream = httpx.Client(base_url=target, timeout=10)
        self.upstream = upstream
        aliases = {f"Bearer {alias}": f"Bearer {key}" for alias, key in (keys or {}).items()}

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if self.path.split("?", 1)[0] == "/openapi.json" and not document:
                    body = b'{"success": false, "error": {"code": "NOT_FOUND", "message": "no"}}'
                    status, headers = 404, {"content-type": "application/json"}
                else:
                    length = int(self.headers.get("content-length") or 0)
                    answer = upstream.request(
                        self.command,
                        self.path,
                        content=self.rfile.read(length) if length else None,
                        headers={
                            k: aliases.get(v, v) if k.lower() == "authorization" else v
                            for k, v in self.headers.items()
                            if k.lower() != "host"
                        },
                    )
                    body, status = answer.content, answer.status_code
                    headers = {"content-type": answer.headers.get("content-type", "")}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()


@pytest.fixture
def no_document_proxy() -> Iterator[Callable[..., NoDocumentProxy]]:
    proxies: list[NoDocumentProxy] = []

    def make(target: str, **options: Any) -> NoDocumentProxy:
        proxies.append(NoDocumentProxy(target, **options))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


async def _discover(url: str, key: str) -> Capabilities:
    client = ApiClient(url, key)
    try:
        return await discover(client)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def restricted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[frozenset[str], tuple[SandboxProcess, str]]]:
    """One sandbox per restriction (started concurrently), each with an admin key."""
    servers = {}
    for parts in RESTRICTIONS:
        server = SandboxProcess(
            tmp_path_factory.mktemp("only"), demo=False, extra_args=["--only", ",".join(parts)]
        )
        server.spawn()
        servers[parts] = server
    try:
        yield {
            parts: (server, mint_key(server.data_dir, account="caps", kind="admin"))
            for parts, server in servers.items()
            if server.wait_until_listening(20)
        }
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("parts", RESTRICTIONS, ids=lambda parts: ",".join(sorted(parts)))
def test_discovery_reads_the_servers_openapi_document(
    restricted: dict[frozenset[str], tuple[SandboxProcess, str]], parts: frozenset[str]
) -> None:
    server, key = restricted[parts]
    found = run(_discover(str(server.base_url), key))
    assert found == Capabilities(parts, source="openapi", key_kind="admin")


@pytest.mark.parametrize("parts", RESTRICTIONS, ids=lambda parts: ",".join(sorted(parts)))
def test_discovery_probes_a_server_without_a_document(
    restricted: dict[frozenset[str], tuple[SandboxProcess, str]],
    no_document_proxy: Callable[[str], NoDocumentProxy],
    parts: frozenset[str],
) -> None:
    server, key = restricted[parts]
    proxy = no_document_proxy(str(server.base_url))
    assert httpx.get(proxy.url + "/openapi.json").status_code == 404
    found = run(_discover(proxy.url, key))
    assert found == Capabilities(parts, source="probe", key_kind="admin")


def test_the_full_sandbox_offers_everything(sandbox_url: str, admin_key: str) -> None:
    found = run(_discover(sandbox_url, admin_key))
    assert found.source == "openapi"
    assert all(found.offers(part) for part in found.parts)
    assert len(found.parts) == 7


def test_a_server_that_is_not_there_fails_the_discovery() -> None:
    with pytest.raises(ApiError) as error:
        run(_discover("http://127.0.0.1:9", "fdk_" + "a" * 40))
    assert error.value.is_network_error


def test_the_key_is_tried_on_a_part_the_server_offers(
    restricted: dict[frozenset[str], tuple[SandboxProcess, str]],
) -> None:
    server, _key = restricted[frozenset({"keys", "pipelines"})]

    async def attempt(url: str, key: str) -> Capabilities:
        client = ApiClient(url, key, max_retries=0)
        try:
            return await discover_trying_key(client)
        finally:
            await client.aclose()

    with pytest.raises(ApiError) as refused:
        run(attempt(str(server.base_url), "fdk_" + "b" * 40))
    assert refused.value.status == 401
    assert run(attempt(str(server.base_url), _key)).parts == {"keys", "pipelines"}
    # Logs only: the keys read sent alongside is a 404 that does not count; logs try it.
    logs_server, logs_key = restricted[frozenset({"feeds", "records", "logs"})]
    assert run(attempt(str(logs_server.base_url), logs_key)).offers("logs")
    with pytest.raises(ApiError) as refused:
        run(attempt(str(logs_server.base_url), "fdk_" + "b" * 40))
    assert refused.value.status == 401
    # Ingest only: no read to try the key on; the server's ingest route takes it or not.
    ingest_server, _ = restricted[frozenset({"ingest"})]
    assert run(attempt(str(ingest_server.base_url), "fdk_" + "b" * 40)).parts == {"ingest"}
    ingest_only = Capabilities(frozenset({"ingest"}))
    assert not run(_try(str(server.base_url), ingest_only))


async def _try(url: str, capabilities: Capabilities) -> bool:
    client = ApiClient(url, "fdk_" + "c" * 40)
    try:
        return await try_key(client, capabilities)
    finally:
        await client.aclose()


def test_paths_relative_to_the_documents_server_count() -> None:
    document = {
        "servers": [{"url": "https://acme.integrate.io/api/public/v1"}],
        "paths": {"/pipelines": {}, "/pipelines/{id}": {}, "/keys": {}},
    }
    assert parts_from_openapi(document) == {"pipelines", "keys"}
    assert parts_from_openapi({"openapi": "3.1.0"}) is None
    assert parts_from_openapi([]) is None


def test_what_a_server_offers_reads_as_a_sentence() -> None:
    assert describe(Capabilities(frozenset({"pipelines", "keys"}))) == (
        "This server offers API keys and pipelines."
    )
    assert describe(Capabilities(frozenset({"ingest"}))) == (
        "This server offers stream ingestion (/api/ingest)."
    )


# What the contract refuses an ingest key (403 FORBIDDEN): everything under /api/public/v1.
ADMIN_PARTS = frozenset({"keys", "pipelines", "feeds", "records", "logs"})


def test_an_ingest_key_may_use_only_its_streams_routes_of_what_is_offered(
    sandbox_url: str, mint_key: Callable[..., str], account: str
) -> None:
    key = mint_key(account, "ingest", feed="orders")
    found = run(_discover(sandbox_url, key))
    # The server offers every part, whoever asks; this key may not use the admin ones.
    assert found.source == "openapi"
    assert found.parts == frozenset(PARTS)
    assert found.key_kind == "ingest"
    assert found.forbidden == ADMIN_PARTS
    assert [part for part in PARTS if found.allows(part)] == ["intents", "ingest"]
    assert all(found.offers(part) for part in found.forbidden)
    # The real server agrees: each forbidden part answers this key 403, no other does.
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:
        for part, (path, params) in PROBES.items():
            status = http.get(path, params=params).status_code
            assert (status == 403) == (part in found.forbidden), (part, status)
        # What it may use takes it: its stream, and its own feed's intents.
        assert http.post("/api/ingest", json={"id": "i-1"}).status_code == 202
        assert http.post("/ingest/orders/upsert", json={"id": "i-2"}).status_code == 202
    # An admin key of the same account may use everything.
    admin = run(_discover(sandbox_url, mint_key(account, "admin")))
    assert admin.key_kind == "admin"
    assert admin.forbidden == frozenset()


def test_a_probe_answered_403_is_offered_and_recorded_as_forbidden_for_the_key(
    sandbox_url: str,
    mint_key: Callable[..., str],
    account: str,
    no_document_proxy: Callable[..., NoDocumentProxy],
) -> None:
    """A key whose prefix says nothing: what it may use comes from the server's 403s, with
    or without a document (then only the parts it could be refused are asked)."""
    ingest_key = mint_key(account, "ingest", feed="orders")
    admin_key = mint_key(account, "admin")
    foreign = {"svc-ingest-0001": ingest_key, "svc-admin-0001": admin_key}
    probing = no_document_proxy(sandbox_url, keys=foreign)
    found = run(_discover(probing.url, "svc-ingest-0001"))
    assert found == Capabilities(frozenset(PARTS), "probe", ADMIN_PARTS, key_kind=None)
    assert run(_discover(probing.url, "svc-admin-0001")) == Capabilities(frozenset(PARTS), "probe")
    documented = no_document_proxy(sandbox_url, keys=foreign, document=True)
    found = run(_discover(documented.url, "svc-ingest-0001"))
    assert found == Capabilities(frozenset(PARTS), "openapi", ADMIN_PARTS, key_kind=None)
    assert run(_discover(documented.url, "svc-admin-0001")) == Capabilities(
        frozenset(PARTS), "openapi"
    )
    assert "403 FORBIDDEN" in key_reason(found, "logs")


def test_switching_to_an_ingest_key_checks_it_by_an_admin_reads_403_never_a_write(
    sandbox_url: str, mint_key: Callable[..., str], account: str
) -> None:
    """With a connection to keep, the key is tried before switching. An ingest key's own
    routes are POSTs (each logged), so it is told apart by an admin read: 403 for a valid
    key without the privilege, 401 for a mistyped, revoked or expired one, which refuses
    the switch instead of replacing a working connection."""
    key = mint_key(account, "ingest", feed="orders")
    mistyped = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")

    async def attempt(secret: str) -> Capabilities:
        client = ApiClient(sandbox_url, secret, max_retries=0)
        try:
            return await discover_trying_key(client)
        finally:
            await client.aclose()

    capabilities = run(attempt(key))
    assert capabilities.forbidden == ADMIN_PARTS
    with pytest.raises(ApiError) as refused:
        run(attempt(mistyped))
    assert refused.value.status == 401


def test_an_ingest_key_on_an_ingest_only_server_is_left_to_its_first_upload(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    """No read is offered to tell a valid ingest key from a bad one: nothing is sent."""
    server = make_sandbox(extra_args=["--only", "ingest"])
    key = mint_key(server.data_dir, account="acme", kind="ingest", feed="orders")

    async def attempt() -> bool:
        client = ApiClient(str(server.base_url), key, max_retries=0)
        try:
            return await try_key(client, await discover(client))
        finally:
            await client.aclose()

    assert run(attempt()) is False


def test_what_a_key_may_not_use_reads_as_sentences() -> None:
    ingest = Capabilities(frozenset(PARTS), "openapi", ADMIN_PARTS, key_kind="ingest")
    assert unavailable_text(ingest, "keys") == "This key may not use API keys."
    assert unavailable_text(ingest, "ingest") == ""
    reason = key_reason(ingest, "keys")
    assert "ingest key (ik_live_…)" in reason
    assert "An admin key (fdk_…) may use API keys" in reason
    assert key_reason(ingest, "ingest") == ""
    assert describe_key(ingest) == (
        "This key may use ingest intents (/ingest) and stream ingestion (/api/ingest)."
    )
    only_keys = Capabilities(frozenset({"keys", "pipelines"}), "openapi", key_kind="admin")
    assert unavailable_text(only_keys, "logs") == "This server does not offer connector logs."
    assert key_reason(only_keys, "logs") == ""
    assert describe_key(only_keys) == ""
