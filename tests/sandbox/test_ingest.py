"""POST /api/ingest (PLATFORM_API "Stream ingestion", docs/api.md decisions D2-D8)."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.ingest import routes as ingest_routes
from console.sandbox.ingest.idempotency import WINDOW_SECONDS, find_replay, remember
from console.sandbox.process import SandboxProcess
from console.sandbox.server import create_app
from console.sandbox.storage.sqlite import connect, database_path, mint_key
from tests.conftest import run

Waiter = Callable[..., None]
INGEST = "/api/ingest"
FEEDS = "/api/public/v1/feeds"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def db(sandbox: SandboxProcess) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the shared server's database (to read what it stored)."""
    uri = database_path(sandbox.data_dir).as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


@pytest.fixture
def shop(api: httpx.Client) -> httpx.Client:
    """The account of `api` with an ingest feed `shop` whose id field is `sku`."""
    created = api.post(
        FEEDS, json={"id": "shop", "name": "Shop", "method": "ingest", "id_field": "sku"}
    )
    assert created.status_code == 201, created.text
    return api


@pytest.fixture
def pusher(
    shop: httpx.Client, account: str, mint_key: Callable[..., str], sandbox_url: str
) -> Iterator[httpx.Client]:
    """A client with an ingest key of `shop`."""
    key = mint_key(account, "ingest", "shop")
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield http


def post(client: httpx.Client, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(INGEST, content=content, headers={**JSON, **headers})


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, response.text
    return dict(error)


def rows(db: sqlite3.Connection, sql: str, *args: Any) -> list[sqlite3.Row]:
    db.rollback()  # a fresh read snapshot
    return db.execute(sql, args).fetchall()


def account_id_of(db: sqlite3.Connection, account: str) -> int:
    return int(rows(db, "SELECT id FROM accounts WHERE name = ?", account)[0][0])


def test_202_names_stream_items_and_request_and_is_committed_with_its_log_entry(
    pusher: httpx.Client, shop: httpx.Client, db: sqlite3.Connection, eventually: Waiter
) -> None:
    response = post(pusher, [{"sku": "a-1", "n": 1}, {"sku": "a-2", "n": 2}])
    assert response.status_code == 202, response.text
    request_id = response.headers["X-Request-Id"]
    assert response.json() == {
        "success": True,
        "data": {"stream": "shop", "items_received": 2, "request_id": request_id},
    }
    assert "Idempotent-Replayed" not in response.headers
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    # Committed before the 202: the intent and its entry are there at once.
    (intent,) = rows(db, "SELECT * FROM intents WHERE request_id = ?", request_id)
    assert (intent["intent"], intent["feed"], intent["items_received"]) == ("upsert", "shop", 2)
    assert intent["item_key"] is None
    assert intent["correlation_id"] == response.headers["X-Correlation-Id"]
    (entry,) = rows(db, "SELECT * FROM logs WHERE request_id = ?", request_id)
    assert entry["id"] == intent["log_id"]
    assert (entry["source"], entry["source_seq"]) == ("intent", intent["seq"])
    assert (entry["intent"], entry["http_status"], entry["items_received"]) == ("ingest", 202, 2)
    assert entry["feed"] == "shop"
    assert entry["correlation_id"] == intent["correlation_id"]
    assert entry["key_shown"].startswith("ik_live_…")
    assert entry["auth_via"] == "header"
    (bodies,) = rows(db, "SELECT * FROM log_bodies WHERE log_id = ?", entry["id"])
    assert json.loads(bodies["response_body"]) == response.json()
    assert "a-1" in bodies["request_body"]

    # Processed into records of the feed (keyed by its id field).
    def landed() -> bool:
        listed = shop.get(f"{FEEDS}/shop/records", params={"system_id": "a-2"}).json()["data"]
        return len(listed) == 1 and listed[0]["data"] == {"sku": "a-2", "n": 2}

    eventually(landed, 20)


def test_a_repeated_idempotency_key_answers_the_first_body_and_is_not_processed_again(
    pusher: httpx.Client, shop: httpx.Client, db: sqlite3.Connection, eventually: Waiter
) -> None:
    first = post(pusher, [{"sku": "r-1", "v": 1}], **{"Idempotency-Key": "batch-0001"})
    assert first.status_code == 202, first.text
    guid: list[str] = []

    def landed() -> bool:
        listed = shop.get(f"{FEEDS}/shop/records", params={"system_id": "r-1"}).json()["data"]
        guid[:] = [record["guid"] for record in listed]
        return bool(listed)

    eventually(landed, 20)
    record = shop.get(f"{FEEDS}/shop/records/{guid[0]}").json()
    history = shop.get(f"{FEEDS}/shop/records/{guid[0]}/history").json()["data"]

    again = post(pusher, [{"sku": "r-1", "v": 1}], **{"Idempotency-Key": "batch-0001"})
    assert again.status_code == 202, again.text
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    # D4: another body under the same key is still the replay.
    other = post(pusher, [{"sku": "r-1", "v": 2}], **{"Idempotency-Key": "batch-0001"})
    assert other.status_code == 202, other.text
    assert other.content == first.content
    assert other.headers["Idempotent-Replayed"] == "true"
    # A replay is answered before its body is read: a malformed one is no 400 either.
    broken = post(pusher, b"{not json", **{"Idempotency-Key": "batch-0001"})
    assert (broken.status_code, broken.content) == (202, first.content)

    first_id = first.json()["data"]["request_id"]
    entries = rows(
        db,
        "SELECT request_id, processing_status, http_status, items_received, intent"
        " FROM logs WHERE idempotency_key = 'batch-0001' AND feed = 'shop'"
        " AND key_id = (SELECT key_id FROM logs WHERE request_id = ?) ORDER BY id",
        first_id,
    )
    assert [tuple(entry) for entry in entries[1:]] == [
        (response.headers["X-Request-Id"], "duplicate", 202, 1, "ingest")
        for response in (again, other, broken)
    ]
    assert entries[0]["request_id"] == first_id
    assert entries[0]["processing_status"] != "duplicate"
    queued = rows(
        db,
        "SELECT request_id FROM intents WHERE request_id IN (?, ?, ?, ?)",
        *(response.headers["X-Request-Id"] for response in (first, again, other, broken)),
    )
    assert [row[0] for row in queued] == [first_id]
    # The worker applies in acceptance order: once a later request has landed, a replay
    # queued by mistake would have landed too. The record is untouched.
    assert post(pusher, {"sku": "r-later"}).status_code == 202

    def later_landed() -> bool:
        listed = shop.get(f"{FEEDS}/shop/records", params={"system_id": "r-later"})
        return bool(listed.json()["data"])

    eventually(later_landed, 20)
    assert shop.get(f"{FEEDS}/shop/records/{guid[0]}").json()["updated_at"] == record["updated_at"]
    assert shop.get(f"{FEEDS}/shop/records/{guid[0]}/history").json()["data"] == history


def test_an_idempotency_key_is_scoped_to_its_api_key(
    pusher: httpx.Client,
    account: str,
    mint_key: Callable[..., str],
    sandbox_url: str,
    db: sqlite3.Connection,
) -> None:
    first = post(pusher, {"sku": "s-1"}, **{"Idempotency-Key": "shared"})
    assert first.status_code == 202, first.text
    other_key = mint_key(account, "ingest", "shop")
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        second = post(other, {"sku": "s-1"}, **{"Idempotency-Key": "shared"})
    assert second.status_code == 202, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["data"]["request_id"] == second.headers["X-Request-Id"]
    assert second.content != first.content
    queued = rows(
        db,
        "SELECT COUNT(*) FROM intents WHERE request_id IN (?, ?)",
        first.headers["X-Request-Id"],
        second.headers["X-Request-Id"],
    )
    assert queued[0][0] == 2


def test_concurrent_requests_with_one_idempotency_key_queue_exactly_once(
    pusher: httpx.Client, db: sqlite3.Connection
) -> None:
    # Large bodies (parsed off the loop) widen the window between the first read and the commit.
    body = json.dumps([{"sku": f"c-{index}", "pad": "x" * 40} for index in range(2000)]).encode()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        responses = list(
            pool.map(lambda _: post(pusher, body, **{"Idempotency-Key": "race"}), range(10))
        )
    assert [response.status_code for response in responses] == [202] * 10
    assert len({response.content for response in responses}) == 1
    originals = [r for r in responses if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    request_ids = [response.headers["X-Request-Id"] for response in responses]
    marks = ", ".join("?" * len(request_ids))
    queued = rows(db, f"SELECT request_id FROM intents WHERE request_id IN ({marks})", *request_ids)
    assert [row[0] for row in queued] == [originals[0].headers["X-Request-Id"]]
    statuses = rows(
        db, f"SELECT processing_status FROM logs WHERE request_id IN ({marks})", *request_ids
    )
    assert sorted(row[0] == "duplicate" for row in statuses) == [False] + [True] * 9


def test_exactly_one_mebibyte_is_accepted_and_one_byte_more_is_413(pusher: httpx.Client) -> None:
    items = json.dumps([{"sku": "big-1"}, {"sku": "big-2"}]).encode()
    limit = 1_048_576
    exact = items[:-1] + b" " * (limit - len(items)) + b"]"
    assert len(exact) == limit
    accepted = post(pusher, exact)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["data"]["items_received"] == 2
    over = items[:-1] + b" " * (limit + 1 - len(items)) + b"]"
    problem(post(pusher, over), 413, "PAYLOAD_TOO_LARGE")


def test_an_item_without_the_item_key_is_400_naming_its_index(
    pusher: httpx.Client, db: sqlite3.Connection
) -> None:
    error = problem(
        post(pusher, [{"sku": "m-1"}, {"sku": "m-2"}, {"id": "m-3"}]), 400, "INVALID_PAYLOAD"
    )
    assert error["field"] == "[2].sku"
    error = problem(post(pusher, b'[{"sku": 1},'), 400, "INVALID_PAYLOAD")
    # With X-Item-Key, items are keyed by that field instead.
    error = problem(
        post(pusher, [{"ean": "e-1"}, {"sku": "e-2"}], **{"X-Item-Key": "ean"}),
        400,
        "INVALID_PAYLOAD",
    )
    assert error["field"] == "[1].ean"
    assert "X-Item-Key" in error["message"]
    accepted = post(pusher, [{"ean": "e-1"}, {"ean": 2}], **{"X-Item-Key": "ean"})
    assert accepted.status_code == 202, accepted.text
    (intent,) = rows(
        db, "SELECT item_key FROM intents WHERE request_id = ?", accepted.headers["X-Request-Id"]
    )
    assert intent["item_key"] == "ean"


def test_bad_item_key_and_idempotency_key_headers_are_400_naming_the_header(
    pusher: httpx.Client,
) -> None:
    too_long = post(pusher, {"sku": "h-1"}, **{"Idempotency-Key": "k" * 256})
    assert problem(too_long, 400, "VALIDATION_FAILED")["field"] == "Idempotency-Key"
    assert post(pusher, {"sku": "h-1"}, **{"Idempotency-Key": "k" * 255}).status_code == 202
    not_ascii = pusher.post(
        INGEST,
        content=b'{"sku": "h-2"}',
        headers=[(b"Content-Type", b"application/json"), (b"Idempotency-Key", b"caf\xe9")],
    )
    assert problem(not_ascii, 400, "VALIDATION_FAILED")["field"] == "Idempotency-Key"
    item_key = post(pusher, {"sku": "h-3"}, **{"X-Item-Key": "f" * 101})
    assert problem(item_key, 400, "VALIDATION_FAILED")["field"] == "X-Item-Key"


def test_the_stream_must_be_the_ingest_keys_own_feed(
    pusher: httpx.Client,
    shop: httpx.Client,
    account: str,
    mint_key: Callable[..., str],
    sandbox_url: str,
) -> None:
    assert pusher.post(INGEST, params={"stream": "shop"}, json={"sku": "t-1"}).status_code == 202
    error = problem(
        pusher.post(INGEST, params={"stream": "other"}, json={"sku": "t-1"}),
        404,
        "STREAM_NOT_FOUND",
    )
    assert error["field"] == "stream"
    # An ingest key of feed A on feed B (a feed of the same account): 404 too.
    created = shop.post(FEEDS, json={"id": "other", "name": "Other", "method": "ingest"})
    assert created.status_code == 201, created.text
    problem(
        pusher.post(INGEST, params={"stream": "other"}, json={"id": "t-1"}), 404, "STREAM_NOT_FOUND"
    )
    other_key = mint_key(account, "ingest", "other")
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as other:
        problem(
            other.post(INGEST, params={"stream": "shop"}, json={"sku": "t-1"}),
            404,
            "STREAM_NOT_FOUND",
        )
        accepted = other.post(INGEST, json={"id": "t-1"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["data"]["stream"] == "other"


def test_an_admin_key_must_name_a_stream_of_its_account(
    shop: httpx.Client, mint_key: Callable[..., str], sandbox_url: str
) -> None:
    problem(shop.post(INGEST, json={"sku": "d-1"}), 404, "STREAM_NOT_FOUND")
    accepted = shop.post(INGEST, params={"stream": "shop"}, json={"sku": "d-1"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["data"]["stream"] == "shop"
    stranger = mint_key(f"stranger-{time.monotonic_ns()}")
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {stranger}"}, timeout=30
    ) as them:
        problem(
            them.post(INGEST, params={"stream": "shop"}, json={"sku": "d-1"}),
            404,
            "STREAM_NOT_FOUND",
        )
    problem(
        shop.post(
            INGEST,
            params={"stream": "shop"},
            json={"sku": "d-1"},
            headers={"Authorization": "Bearer ik_live_nope"},
        ),
        401,
        "UNAUTHORIZED",
    )


def test_a_body_that_is_not_json_is_415(pusher: httpx.Client) -> None:
    problem(pusher.post(INGEST, content=b'{"sku": "u-1"}'), 415, "UNSUPPORTED_MEDIA_TYPE")
    problem(
        pusher.post(INGEST, content=b'{"sku": "u-1"}', headers={"Content-Type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


def test_a_client_correlation_id_already_used_gets_a_fresh_one(
    pusher: httpx.Client, db: sqlite3.Connection
) -> None:
    sent = f"mine-{time.monotonic_ns()}"
    first = post(pusher, {"sku": "x-1"}, **{"X-Correlation-Id": sent})
    assert first.status_code == 202, first.text
    assert first.headers["X-Correlation-Id"] == sent
    second = post(pusher, {"sku": "x-1"}, **{"X-Correlation-Id": sent})
    assert second.status_code == 202, second.text
    fresh = second.headers["X-Correlation-Id"]
    assert fresh.startswith("corr_")
    assert fresh != sent
    (entry,) = rows(
        db, "SELECT correlation_id FROM logs WHERE request_id = ?", second.headers["X-Request-Id"]
    )
    assert entry[0] == fresh


def test_a_key_over_its_burst_gets_429_with_retry_after(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    server = make_sandbox(demo=False, extra_args=["--ingest-burst", "2/60"])
    key = mint_key(server.data_dir, account="bursty", kind="ingest", feed="events")
    with httpx.Client(
        base_url=str(server.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        assert [post(client, {"id": n}).status_code for n in range(2)] == [202, 202]
        refused = post(client, {"id": 3})
        problem(refused, 429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == "2"


def test_an_idempotency_key_names_its_first_request_for_24_hours(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    response = '{"a":"é"}'.encode()

    def keep(request_id: str, at: float) -> None:
        remember(
            conn,
            key_id="key_a",
            idem_key="k",
            account_id=1,
            request_id=request_id,
            body_sha256="0" * 64,
            response=response,
            at=at,
        )

    try:
        keep("req_1", 1000.0)
        found = find_replay(conn, "key_a", "k", 1000.0 + WINDOW_SECONDS)
        assert found is not None
        assert (found.request_id, found.response) == ("req_1", response)
        assert find_replay(conn, "key_b", "k", 1001.0) is None
        assert find_replay(conn, "key_a", "k", 1000.1 + WINDOW_SECONDS) is None
        # An expired row is replaced by the next first request.
        keep("req_2", 1000.0 + 2 * WINDOW_SECONDS)
        again = find_replay(conn, "key_a", "k", 1001.0 + 2 * WINDOW_SECONDS)
        assert again is not None
        assert again.request_id == "req_2"
    finally:
        conn.close()


def test_large_bodies_are_parsed_off_the_event_loop_and_off_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_on: list[str] = []
    real = ingest_routes.read_intent

    def spy(intent: str, raw: bytes, id_field: str) -> Any:
        parsed_on.append(threading.current_thread().name)
        return real(intent, raw, id_field)

    monkeypatch.setattr(ingest_routes, "read_intent", spy)
    key = mint_key(tmp_path, account="threads", kind="ingest", feed="events")
    small = json.dumps([{"id": "s"}]).encode()
    large = json.dumps([{"id": f"l-{n}", "pad": "x" * 60} for n in range(1000)]).encode()
    assert len(small) < ingest_routes.THREAD_PARSE_BYTES <= len(large)

    async def main() -> tuple[str, list[int]]:
        app = create_app(tmp_path)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://sandbox",
                headers={"Authorization": f"Bearer {key}", **JSON},
            ) as client:
                statuses = [
                    (await client.post(INGEST, content=body)).status_code for body in (small, large)
                ]
        return threading.current_thread().name, statuses

    loop_thread, statuses = run(main())
    assert statuses == [202, 202]
    assert parsed_on[0] == loop_thread
    assert parsed_on[1] != loop_thread
    assert not parsed_on[1].startswith("sandbox-db")


def test_large_bodies_are_hashed_off_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SHA-256 of a 1 MiB body takes ~1.5 ms: done in the writer hop it held every tenant's
    # writes that long on each /api/ingest or /ingest/* request.
    from console.sandbox.intents import queue

    hashed_on: list[str] = []
    real = queue.body_digest

    def spy(body: bytes) -> str:
        if len(body) >= ingest_routes.THREAD_PARSE_BYTES:
            hashed_on.append(threading.current_thread().name)
        return real(body)

    monkeypatch.setattr(queue, "body_digest", spy)
    key = mint_key(tmp_path, account="hashing", kind="ingest", feed="events")
    large = json.dumps([{"id": f"l-{n}", "pad": "x" * 60} for n in range(1000)]).encode()

    async def main() -> list[int]:
        app = create_app(tmp_path)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://sandbox",
                headers={"Authorization": f"Bearer {key}", **JSON},
            ) as client:
                return [
                    (await client.post(INGEST, content=large)).status_code,
                    (await client.post("/ingest/events/upsert", content=large)).status_code,
                ]

    assert run(main()) == [202, 202]
    assert len(hashed_on) == 2
    assert not [name for name in hashed_on if name.startswith("sandbox-db")], hashed_on
