"""Connector log entries: one per logged request, every field, no secret, never blocking.

Read straight from the `logs` table of the server's data dir (the read routes are tested
with them); accepted requests write their entry in their own transaction, refusals through
the batched sink (flushed every 0.1 s), so the tests wait for those.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from console.sandbox.http.log_capture import is_logged_route, logged_route
from console.sandbox.imports import store as imports_store
from console.sandbox.imports.runner import _finish, _interrupt, settle_log_entry
from console.sandbox.logs.model import LogEntry, new_request_id
from console.sandbox.logs.sink import LogSink, PendingEntry
from console.sandbox.logs.store import insert_entry
from console.sandbox.process import SandboxProcess
from console.sandbox.server import create_app
from console.sandbox.settings import RateLimit, SandboxSettings
from console.sandbox.storage.sqlite import connect, database_path, mint_key, transaction

FEEDS = "/api/public/v1/feeds"
Eventually = Callable[[Callable[[], bool], float], None]
MIB = 1024 * 1024
CONTRACT_COLUMNS = (
    "id, timestamp, request_id, correlation_id, feed, pipeline_id, key_id, key_shown, method,"
    " path, intent, http_status, items_received, processing_status, errors, error_count,"
    " duration_ms, client_ip, auth_via, idempotency_key, source, source_seq"
)


def rows_of(data_dir: Path, request_id: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            f"SELECT {CONTRACT_COLUMNS} FROM logs WHERE request_id = ?", (request_id,)
        ).fetchall()
    finally:
        conn.close()


def _flush_barrier(
    data_dir: Path, response: httpx.Response, eventually: Eventually, timeout: float
) -> None:
    """Send one more logged request with the same key (a refusal: an unknown feed) and wait
    for its entry. The sink flushes in order, so a second entry of `response`'s request,
    submitted before its response was sent, is stored by then."""
    request = response.request
    url = request.url.copy_with(path="/ingest/no-such-feed-barrier/upsert")
    headers = (
        {"Authorization": request.headers["Authorization"]}
        if ("Authorization" in request.headers)
        else {}
    )
    with httpx.Client(timeout=10) as http:
        barrier = http.post(url, json={"id": "x"}, headers=headers)
    assert barrier.status_code in (404, 429), barrier.text
    eventually(lambda: bool(rows_of(data_dir, barrier.headers["X-Request-Id"])), timeout)


def entry_of(
    data_dir: Path, response: httpx.Response, eventually: Eventually, timeout: float = 10
) -> sqlite3.Row:
    """The one entry of `response`'s request (waiting for the sink's flush)."""
    request_id = response.headers["X-Request-Id"]
    assert request_id.startswith("req_")
    assert len(request_id) == 30
    eventually(lambda: bool(rows_of(data_dir, request_id)), timeout)
    _flush_barrier(data_dir, response, eventually, timeout)
    rows = rows_of(data_dir, request_id)
    assert len(rows) == 1, [dict(row) for row in rows]
    return rows[0]


def _follows_its_intent(data_dir: Path, log_id: int) -> bool:
    """Whether the entry has its intent's final status."""
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        row = conn.execute(
            "SELECT logs.processing_status, intents.status FROM logs"
            " JOIN intents ON intents.seq = logs.source_seq WHERE logs.id = ?",
            (log_id,),
        ).fetchone()
    finally:
        conn.close()
    return (
        row is not None
        and row[0] == row[1]
        and row[1] in ("succeeded", "partially_failed", "failed")
    )


def check_fields(row: sqlite3.Row, response: httpx.Response, feed: str) -> None:
    """Every field of the contract's entry, as the request made it."""
    assert row["request_id"] == response.headers["X-Request-Id"]
    assert row["correlation_id"] == response.headers["X-Correlation-Id"]
    assert row["http_status"] == response.status_code
    assert row["feed"] == feed
    assert row["key_id"].startswith("key_")
    assert row["key_shown"].startswith(("fdk_…", "ik_live_…"))
    assert len(row["key_shown"]) in (9, 13)
    assert row["method"] == response.request.method
    assert row["path"] == response.request.url.path
    assert row["client_ip"] == "127.0.0.1"
    assert row["auth_via"] == "header"
    assert row["duration_ms"] is not None
    assert 0 <= row["duration_ms"] < 60_000
    assert abs(row["timestamp"] - time.time()) < 120
    assert isinstance(json.loads(row["errors"]), list)
    assert row["pipeline_id"] is None
    assert row["idempotency_key"] is None


@pytest.fixture
def feeds(api: httpx.Client) -> dict[str, str]:
    """An ingest feed (id field sku), a trigger feed and an import feed of `api`'s account."""
    slugs = {}
    for name, method, id_field in (
        ("shop", "ingest", "sku"),
        ("source", "trigger", "id"),
        ("files", "ingest", "id"),
    ):
        slug = f"{name}-{uuid.uuid4().hex[:8]}"
        response = api.post(
            FEEDS, json={"id": slug, "name": slug, "method": method, "id_field": id_field}
        )
        assert response.status_code == 201, response.text
        slugs[name] = slug
    return slugs


def _csv(count: int, bad: frozenset[int] = frozenset()) -> bytes:
    lines = ["id,name"] + [f"{'' if n in bad else n},name {n}" for n in range(1, count + 1)]
    return ("\n".join(lines) + "\n").encode()


def _import(api: httpx.Client, feed: str, content: bytes) -> httpx.Response:
    return api.post(
        f"{FEEDS}/{feed}/imports",
        files={"file": ("rows.csv", content, "text/csv")},
        data={"format": "csv"},
    )


def _record(api: httpx.Client, feed: str) -> dict[str, Any]:
    created = api.post(f"{FEEDS}/{feed}/records", json={"system_id": "r1", "data": {"a": 1}})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


# Each case: (request, expected feed name, intent, processing status, items received).
Case = Callable[[httpx.Client, dict[str, str]], httpx.Response]
ACCEPTED: dict[str, tuple[Case, str, str, str, int]] = {
    "upsert": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/upsert", json=[{"sku": "a"}, {"sku": "b"}]),
        "shop", "upsert", "intent", 2,
    ),
    "patch": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/patch", json={"sku": "a", "x": 1}),
        "shop", "patch", "intent", 1,
    ),
    "delete": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/delete", json={"ids": ["a", "b", "c"]}),
        "shop", "delete", "intent", 3,
    ),
    "fetch": (
        lambda api, f: api.post(f"/ingest/{f['source']}/fetch", json={"id": "f1"}),
        "source", "fetch", "intent", 1,
    ),
    "fetch-list": (
        lambda api, f: api.post(f"/ingest/{f['source']}/fetch-list", json={"ids": ["1", "2"]}),
        "source", "fetch-list", "intent", 2,
    ),
    "generic-intent": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/intent/upsert", json=[{"sku": "g"}]),
        "shop", "upsert", "intent", 1,
    ),
    "record-create": (
        lambda api, f: api.post(f"{FEEDS}/{f['files']}/records", json={"data": {"id": "n1"}}),
        "files", "record.create", "succeeded", 1,
    ),
    "record-update": (
        lambda api, f: (
            _record(api, f["files"]),
            api.post(f"{FEEDS}/{f['files']}/records", json={"system_id": "r1", "data": {"a": 2}}),
        )[1],
        "files", "record.update", "succeeded", 1,
    ),
    "record-patch": (
        lambda api, f: api.patch(
            f"{FEEDS}/{f['files']}/records/{_record(api, f['files'])['guid']}",
            json={"data": {"b": 1}},
        ),
        "files", "record.update", "succeeded", 1,
    ),
    "record-archive": (
        lambda api, f: api.patch(
            f"{FEEDS}/{f['files']}/records/{_record(api, f['files'])['guid']}",
            json={"deleted": 1},
        ),
        "files", "record.update", "succeeded", 1,
    ),
    "import-create": (
        lambda api, f: _import(api, f["files"], _csv(3)),
        "files", "import", "*", 3,
    ),
    "import-cancel": (
        lambda api, f: api.post(
            f"{FEEDS}/{f['files']}/imports/{_import(api, f['files'], _csv(2)).json()['import_id']}"
            "/cancel"
        ),
        "files", "import.cancel", "succeeded", 0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_one_entry_per_accepted_request(
    case: str,
    api: httpx.Client,
    feeds: dict[str, str],
    sandbox: SandboxProcess,
    eventually: Eventually,
) -> None:
    send, feed, intent, status, items = ACCEPTED[case]
    response = send(api, feeds)
    assert response.status_code in (200, 201, 202), response.text
    # Written in the request's own transaction: there before the answer, no flush to wait.
    rows = rows_of(sandbox.data_dir, response.headers["X-Request-Id"])
    assert len(rows) == 1
    row = entry_of(sandbox.data_dir, response, eventually)
    check_fields(row, response, feeds[feed])
    assert row["intent"] == intent
    assert row["items_received"] == items
    if status == "intent":  # written 'queued'; the worker moves it on with its intent
        assert row["processing_status"] not in ("duplicate", "rejected")
        eventually(lambda: _follows_its_intent(sandbox.data_dir, row["id"]), 10)
    elif status != "*":  # an import's status follows the import
        assert row["processing_status"] == status
    if case in ("upsert", "generic-intent"):
        assert row["source"] == "intent"
        conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
        stored = conn.execute(
            "SELECT log_id, request_id FROM intents WHERE seq = ?", (row["source_seq"],)
        ).fetchone()
        conn.close()
        assert stored == (row["id"], row["request_id"])
    if case == "import-create":
        assert row["source"] == "import"
        conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
        (log_id,) = conn.execute(
            "SELECT log_id FROM imports WHERE seq = ?", (row["source_seq"],)
        ).fetchone()
        conn.close()
        assert log_id == row["id"]


def test_a_dry_run_import_is_logged_through_the_sink(
    api: httpx.Client, feeds: dict[str, str], sandbox: SandboxProcess, eventually: Eventually
) -> None:
    response = api.post(
        f"{FEEDS}/{feeds['files']}/imports",
        files={"file": ("rows.csv", _csv(3), "text/csv")},
        data={"format": "csv", "dry_run": "true"},
    )
    assert response.status_code == 200, response.text
    row = entry_of(sandbox.data_dir, response, eventually)
    check_fields(row, response, feeds["files"])
    assert row["intent"] == "import"
    assert row["processing_status"] == "succeeded"
    conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
    kept = conn.execute(
        "SELECT request_body, request_bytes, response_body FROM log_bodies WHERE log_id = ?",
        (row["id"],),
    ).fetchone()
    conn.close()
    assert "name 3" in kept[0]
    assert kept[1] == int(response.request.headers["Content-Length"])
    assert json.loads(kept[2]) == response.json()


def test_an_intent_retry_is_one_more_entry_marked_duplicate(
    api: httpx.Client, feeds: dict[str, str], sandbox: SandboxProcess, eventually: Eventually
) -> None:
    headers = {"X-Correlation-Id": f"retry-{uuid.uuid4().hex}"}
    first = api.post(f"/ingest/{feeds['shop']}/upsert", json=[{"sku": "a"}], headers=headers)
    again = api.post(f"/ingest/{feeds['shop']}/upsert", json=[{"sku": "a"}], headers=headers)
    assert first.status_code == again.status_code == 202
    assert entry_of(sandbox.data_dir, first, eventually)["processing_status"] != "duplicate"
    assert entry_of(sandbox.data_dir, again, eventually)["processing_status"] == "duplicate"


# Each refusal: (request, expected feed name, http status, intent).
REFUSED: dict[str, tuple[Case, str, int, str | None]] = {
    "upsert-400": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/upsert", json=[{"name": "no sku"}]),
        "shop", 400, "upsert",
    ),
    "upsert-404": (
        lambda api, f: api.post("/ingest/no-such-feed/upsert", json=[{"sku": "a"}]),
        "", 404, "upsert",
    ),
    "generic-404": (
        lambda api, f: api.post(f"/ingest/{f['shop']}/intent/merge", json=[{"sku": "a"}]),
        "shop", 404, None,
    ),
    "upsert-413": (
        lambda api, f: api.post(
            f"/ingest/{f['shop']}/upsert",
            content=b"[" + b" " * MIB + b"]",
            headers={"Content-Type": "application/json"},
        ),
        "shop", 413, "upsert",
    ),
    "upsert-415": (
        lambda api, f: api.post(
            f"/ingest/{f['shop']}/upsert", content=b"[]", headers={"Content-Type": "text/plain"}
        ),
        "shop", 415, "upsert",
    ),
    "record-404": (
        lambda api, f: api.patch(
            f"{FEEDS}/{f['files']}/records/00000000-0000-0000-0000-000000000000",
            json={"data": {}},
        ),
        "files", 404, "record.update",
    ),
    "record-422": (
        lambda api, f: api.post(f"{FEEDS}/{f['files']}/records", json={"nope": 1}),
        "files", 422, "record.create",
    ),
    "record-415": (
        lambda api, f: api.post(
            f"{FEEDS}/{f['files']}/records", content=b"{}", headers={"Content-Type": "text/csv"}
        ),
        "files", 415, "record.create",
    ),
    "import-400": (
        lambda api, f: api.post(
            f"{FEEDS}/{f['files']}/imports",
            files={"file": ("rows.csv", b"id\n1\n", "text/csv")},
            data={"format": "xml"},
        ),
        "files", 400, "import",
    ),
    "cancel-404": (
        lambda api, f: api.post(f"{FEEDS}/{f['files']}/imports/imp_nope/cancel"),
        "files", 404, "import.cancel",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_one_rejected_entry_per_refused_request(
    case: str,
    api: httpx.Client,
    feeds: dict[str, str],
    sandbox: SandboxProcess,
    eventually: Eventually,
) -> None:
    send, feed, status, intent = REFUSED[case]
    response = send(api, feeds)
    assert response.status_code == status, response.text
    row = entry_of(sandbox.data_dir, response, eventually)
    check_fields(row, response, feeds.get(feed, "no-such-feed"))
    assert row["processing_status"] == "rejected"
    assert row["intent"] == intent
    errors = json.loads(row["errors"])
    assert errors
    assert errors[0]["item"] is None
    assert errors[0]["message"] == response.json()["errors"][0]["message"]
    assert row["error_count"] == len(response.json()["errors"])


def test_burst_refusals_are_logged_and_a_401_is_not(
    make_sandbox: Callable[..., SandboxProcess], eventually: Eventually
) -> None:
    server = make_sandbox(demo=False, extra_args=["--ingest-burst", "1/60"])
    key = mint_key(server.data_dir, account="bursty", kind="ingest", feed="events")
    headers = {"Authorization": f"Bearer {key}"}
    assert server.base_url is not None
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        first = http.post("/ingest/events/upsert", json=[{"id": 1}], headers=headers)
        refused = http.post("/ingest/events/upsert", json=[{"id": 2}], headers=headers)
        unknown = http.post(
            "/ingest/events/upsert",
            json=[{"id": 3}],
            headers={"Authorization": "Bearer fdk_" + "Z" * 40, "X-Correlation-Id": "c401"},
        )
    assert first.status_code == 202
    assert refused.status_code == 429
    assert unknown.status_code == 401
    row = entry_of(server.data_dir, refused, eventually)
    check_fields(row, refused, "events")
    assert row["processing_status"] == "rejected"
    assert row["intent"] == "upsert"
    assert row["key_shown"] == f"ik_live_…{key[-4:]}"
    # entry_of waited for a later request's entry (the sink flushes in order): the 401,
    # sent before it, would be stored by now.
    assert rows_of(server.data_dir, unknown.headers["X-Request-Id"]) == []
    conn = sqlite3.connect(database_path(server.data_dir))
    # The 202, the 429 and entry_of's own later (refused) request.
    assert conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0] == 3
    conn.close()


def test_a_413_before_auth_is_logged_for_a_live_key_only(
    sandbox: SandboxProcess, admin_key: str, eventually: Eventually, client: httpx.Client
) -> None:
    body = b"[" + b" " * MIB + b"]"
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    live = client.post(
        "/ingest/shop/upsert",
        content=body,
        headers={**headers, "Authorization": f"Bearer {admin_key}"},
    )
    dead = client.post(
        "/ingest/shop/upsert",
        content=body,
        headers={**headers, "Authorization": "Bearer fdk_" + "Q" * 40},
    )
    assert live.status_code == dead.status_code == 413
    row = entry_of(sandbox.data_dir, live, eventually)
    assert row["key_shown"] == f"fdk_…{admin_key[-4:]}"
    assert row["http_status"] == 413
    assert row["processing_status"] == "rejected"
    # entry_of waited for a later request's entry: the dead key's 413 would be stored.
    assert rows_of(sandbox.data_dir, dead.headers["X-Request-Id"]) == []


def test_reads_and_other_routes_are_not_logged() -> None:
    assert not is_logged_route("GET", "/api/public/v1/feeds/shop/records")
    assert not is_logged_route("GET", "/ingest/shop/upsert")
    assert not is_logged_route("POST", "/api/public/v1/keys")
    assert not is_logged_route("POST", "/api/public/v1/feeds/shop/records/keys")
    assert not is_logged_route("POST", "/ingest/shop/unknown")
    assert logged_route("POST", "/api/ingest") is not None
    assert logged_route("DELETE", "/api/public/v1/feeds/s/imports/imp_1") is not None
    route = logged_route("POST", "/ingest/shop/intent/merge")
    assert route is not None
    assert route.intent is None
    assert route.feed == "shop"


def test_no_secret_anywhere(
    sandbox: SandboxProcess,
    api: httpx.Client,
    feeds: dict[str, str],
    admin_key: str,
    client: httpx.Client,
    eventually: Eventually,
) -> None:
    shown = f"fdk_…{admin_key[-4:]}"
    accepted = api.post(f"/ingest/{feeds['shop']}/upsert", json=[{"sku": "a", "note": admin_key}])
    refused = api.post(f"/ingest/{feeds['shop']}/upsert", json=[{"note": admin_key}])
    by_query = client.post(
        f"/ingest/{feeds['shop']}/upsert?apiKey={admin_key}", json=[{"sku": "q", "k": admin_key}]
    )
    record = api.post(
        f"{FEEDS}/{feeds['files']}/records", json={"data": {"id": "s1", "secret": admin_key}}
    )
    assert [accepted.status_code, refused.status_code, by_query.status_code] == [202, 400, 202]
    assert record.status_code == 201
    rows = [
        entry_of(sandbox.data_dir, r, eventually) for r in (accepted, refused, by_query, record)
    ]
    assert rows[2]["auth_via"] == "query"
    assert rows[2]["path"] == f"/ingest/{feeds['shop']}/upsert?apiKey={shown}"
    conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
    ids = [row["id"] for row in rows]
    marks = ",".join("?" * len(ids))
    texts = conn.execute(f"SELECT * FROM logs WHERE id IN ({marks})", ids).fetchall()
    bodies = conn.execute(f"SELECT * FROM log_bodies WHERE log_id IN ({marks})", ids).fetchall()
    searched = conn.execute(f"SELECT body FROM logs_fts WHERE rowid IN ({marks})", ids).fetchall()
    conn.close()
    assert len(bodies) == 4
    everything = json.dumps(
        [list(row) for row in (*texts, *bodies, *searched)], default=str, ensure_ascii=False
    )
    assert admin_key not in everything
    assert admin_key[4:] not in everything
    assert shown in everything


def test_import_status_follows_the_import(
    sandbox: SandboxProcess, api: httpx.Client, feeds: dict[str, str], eventually: Eventually
) -> None:
    clean = _import(api, feeds["files"], _csv(5))
    partial = _import(api, feeds["files"], _csv(6, bad=frozenset({2, 4})))
    assert clean.status_code == partial.status_code == 202

    def settled(response: httpx.Response, status: str) -> sqlite3.Row:
        found: list[sqlite3.Row] = []

        def done() -> bool:
            found[:] = rows_of(sandbox.data_dir, response.headers["X-Request-Id"])
            return found[0]["processing_status"] == status

        eventually(done, 30)
        return found[0]

    assert json.loads(settled(clean, "succeeded")["errors"]) == []
    row = settled(partial, "partially_failed")
    errors = json.loads(row["errors"])
    assert [error["item"] for error in errors] == [2, 4]
    assert all(error["field"] == "id" for error in errors)
    assert all(error["message"] for error in errors)
    assert row["error_count"] == 2


def _import_with_entry(tmp_path: Path) -> tuple[sqlite3.Connection, int, int]:
    """A data dir with one queued import and its entry: (connection, import seq, log id)."""
    mint_key(tmp_path, account="acct", kind="ingest", feed="files")
    conn = connect(tmp_path)
    with transaction(conn):
        account_id, feed_seq = conn.execute("SELECT account_id, seq FROM feeds").fetchone()
        seq, _ = imports_store.create_import(
            conn, account_id=account_id, feed_seq=feed_seq, correlation_id="corr_i",
            key_id="key_x", key_shown="fdk_…abcd", file_format="csv", id_field="id",
            start_row=1, file_bytes=10, total=10, at=time.time(),
        )  # fmt: skip
        entry = LogEntry(account_id, time.time(), new_request_id(), "corr_i", intent="import")
        log_id = insert_entry(conn, entry, None)
        conn.execute("UPDATE imports SET log_id = ? WHERE seq = ?", (log_id, seq))
    return conn, seq, log_id


def _entry_state(conn: sqlite3.Connection, log_id: int) -> tuple[str, list[dict[str, Any]], int]:
    row = conn.execute(
        "SELECT processing_status, errors, error_count FROM logs WHERE id = ?", (log_id,)
    ).fetchone()
    return row[0], json.loads(row[1]), row[2]


def test_cancelled_interrupted_and_fatal_imports_are_failed_entries(tmp_path: Path) -> None:
    for ending in ("cancelled", "interrupted", "fatal"):
        conn, seq, log_id = _import_with_entry(tmp_path / ending)
        with transaction(conn):
            imports_store.begin(conn, seq, time.time())
            settle_log_entry(conn, seq)
        assert _entry_state(conn, log_id)[0] == "processing"
        with transaction(conn):
            if ending == "cancelled":
                imports_store.cancel(conn, seq, time.time())
                settle_log_entry(conn, seq)
            elif ending == "interrupted":
                assert _interrupt(conn, time.time()) == 1
            else:
                _finish(conn, seq, time.time(), fatal="the import stopped on an internal error")
        status, errors, count = _entry_state(conn, log_id)
        assert status == "failed"
        assert count == 1
        assert errors[0]["item"] is None
        word = {"cancelled": "cancelled", "interrupted": "interrupted", "fatal": "internal"}
        assert word[ending] in errors[0]["message"]
        conn.close()


# --- The sink never makes a request wait -----------------------------------------------


class _StalledDatabase:
    """A database whose writer never answers until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls = 0

    async def run(self, work: Callable[[Any], Any]) -> Any:
        self.calls += 1
        await asyncio.to_thread(self.released.wait)
        return 0


class _Signal:
    def __init__(self) -> None:
        self.count = 0

    def notify(self) -> None:
        self.count += 1


def _pending() -> PendingEntry:
    return PendingEntry(LogEntry(1, time.time(), new_request_id(), "corr_x"))


def test_submit_never_waits_and_drops_the_oldest_when_full() -> None:
    async def scenario() -> None:
        database = _StalledDatabase()
        sink = LogSink(database, _Signal(), flush_seconds=0.01, capacity=1000)  # type: ignore[arg-type]
        sink.start()
        sink.submit(_pending())
        await asyncio.sleep(0.05)  # its flush is now stuck in the writer
        assert database.calls == 1
        started = time.perf_counter()
        first = _pending()
        sink.submit(first)
        for _ in range(1499):
            sink.submit(_pending())
        elapsed = time.perf_counter() - started
        assert elapsed < 0.5  # 1,500 appends, not 1,500 waits
        assert len(sink) == 1000
        assert sink.dropped == 500
        assert first not in sink._pending  # the oldest went first
        database.released.set()
        await sink.stop()
        assert len(sink) == 0

    asyncio.run(scenario())


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The sandbox app under uvicorn in this process: (URL, app)."""
    app = create_app(tmp_path / "data", SandboxSettings(ingest_burst=RateLimit.parse("1000/1")))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-logs", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(20)


def test_requests_complete_while_the_sink_is_stalled(in_process: tuple[str, Any]) -> None:
    url, app = in_process
    sink: LogSink = app.state.log_sink
    released = threading.Event()
    real_flush = sink.flush

    async def stalled_flush() -> int:
        await asyncio.to_thread(released.wait)
        return await real_flush()

    sink.flush = stalled_flush  # type: ignore[method-assign]
    sink.capacity = 20
    key = mint_key(app.state.database.data_dir, account="stall", kind="ingest", feed="events")
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            started = time.perf_counter()
            for n in range(30):
                refused = http.post(
                    "/ingest/events/upsert",
                    json=[{"no_id": n}],
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert refused.status_code == 400
            assert time.perf_counter() - started < 10
            accepted = http.post(
                "/ingest/events/upsert",
                json=[{"id": 1}],
                headers={"Authorization": f"Bearer {key}"},
            )
            assert accepted.status_code == 202
        assert len(sink) == 20
        assert sink.dropped == 10
        rows = rows_of(app.state.database.data_dir, accepted.headers["X-Request-Id"])
        assert len(rows) == 1  # an accepted request's entry never waits for the sink
    finally:
        released.set()


def test_request_bodies_are_masked_off_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Masking a request body (regex work over up to 64 KiB) must never hold the one writer
    # thread: intent, record and import routes build what the log keeps of the request
    # before their writer hop. (A record's response, built in the hop, is masked there.)
    from console.sandbox.logs import redact
    from tests.conftest import run

    masked_on: list[tuple[str, str]] = []
    real = redact.redact_text
    sent = ('[{"id"', '{"system_id"', "--")

    def spy(text: str) -> str:
        if len(text) >= 1000 and text.startswith(sent):
            masked_on.append((threading.current_thread().name, text[:12]))
        return real(text)

    monkeypatch.setattr(redact, "redact_text", spy)
    admin = mint_key(tmp_path, account="masking")
    mint_key(tmp_path, account="masking", kind="ingest", feed="things")
    pad = "fdk_" * 500

    async def main() -> list[int]:
        app = create_app(tmp_path)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://sandbox",
                headers={"Authorization": f"Bearer {admin}"},
            ) as client:
                intent = await client.post("/ingest/things/upsert", json=[{"id": "a", "pad": pad}])
                record = await client.post(
                    f"{FEEDS}/things/records", json={"system_id": "r1", "data": {"pad": pad}}
                )
                csv = ("id,pad\n" + "".join(f"{n},{pad}\n" for n in range(3))).encode()
                upload = await client.post(
                    f"{FEEDS}/things/imports",
                    files={"file": ("rows.csv", csv, "text/csv")},
                    data={"format": "csv"},
                )
        return [intent.status_code, record.status_code, upload.status_code]

    assert run(main()) == [202, 201, 202]
    assert len(masked_on) == 3, masked_on
    assert not [name for name, _ in masked_on if name.startswith("sandbox-db")], masked_on


def test_a_refusal_body_is_masked_off_the_event_loop_and_off_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refused request's entry goes through the sink: masking its body (up to 64 KiB of
    # regex work) happened on the event loop as the response went out.
    from console.sandbox.logs import redact
    from tests.conftest import run

    masked_on: list[str] = []
    real = redact.redact_text

    def spy(text: str) -> str:
        if len(text) >= 1000 and text.startswith('[{"nope"'):
            masked_on.append(threading.current_thread().name)
        return real(text)

    monkeypatch.setattr(redact, "redact_text", spy)
    key = mint_key(tmp_path, account="refusals", kind="ingest", feed="things")
    body = json.dumps([{"nope": "fdk_" * 500}]).encode()

    async def main() -> tuple[str, int, int]:
        app = create_app(tmp_path)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://sandbox",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            ) as client:
                refused = await client.post("/ingest/things/upsert", content=body)
            await app.state.log_sink.flush()
            written = app.state.log_sink.written
        return threading.current_thread().name, refused.status_code, written

    loop_thread, status, written = run(main())
    assert (status, written) == (400, 1)
    assert len(masked_on) == 1
    assert masked_on[0] != loop_thread
    assert not masked_on[0].startswith("sandbox-db")


def test_waiting_entries_are_bounded_by_their_body_bytes_too() -> None:
    # 10,000 waiting refusals with 64 KiB heads each would hold ~1.3 GB while the writer is
    # stalled: the sink also drops the oldest once their bodies pass `max_bytes`.
    async def scenario() -> None:
        sink = LogSink(_StalledDatabase(), _Signal(), capacity=1000, max_bytes=100_000)  # type: ignore[arg-type]
        entries = []
        for _ in range(10):
            pending = _pending()
            pending.size = 30_000
            entries.append(pending)
            sink.submit(pending)
        assert len(sink) == 3
        assert sink.dropped == 7
        assert list(sink._pending) == entries[-3:]

    asyncio.run(scenario())


def _without_id(count: int, missing: int, id_field: str) -> list[dict[str, Any]]:
    return [{"n": n} if n == missing else {id_field: f"i{n}", "n": n} for n in range(count)]


def test_a_refused_batch_that_parsed_logs_how_many_items_it_held(
    api: httpx.Client,
    feeds: dict[str, str],
    sandbox: SandboxProcess,
    sandbox_url: str,
    account: str,
    mint_key: Callable[..., str],
    eventually: Eventually,
) -> None:
    shop = feeds["shop"]
    ingest_key = mint_key(account, "ingest", shop)
    headers = {"Authorization": f"Bearer {ingest_key}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=30) as pusher:
        sent = {
            "api-ingest": (pusher.post(
                f"/api/ingest?stream={shop}", json=_without_id(4200, 699, "sku")
            ), 4200),
            "api-ingest-one": (pusher.post(f"/api/ingest?stream={shop}", json={"n": 1}), 1),
            "api-ingest-item-key": (pusher.post(
                f"/api/ingest?stream={shop}",
                json=_without_id(30, 7, "ean"),
                headers={"X-Item-Key": "ean"},
            ), 30),
            "intent-upsert": (api.post(
                f"/ingest/{shop}/upsert", json=_without_id(1234, 5, "sku")
            ), 1234),
            "intent-delete": (api.post(
                f"/ingest/{shop}/delete", json={"ids": ["a", 7, "c", None]}
            ), 4),
        }  # fmt: skip
        not_json = pusher.post(
            f"/api/ingest?stream={shop}",
            content=b'[{"sku": 1},',
            headers={"Content-Type": "application/json"},
        )
    for case, (response, received) in sent.items():
        assert response.status_code == 400, (case, response.text)
        row = entry_of(sandbox.data_dir, response, eventually)
        assert row["processing_status"] == "rejected", case
        assert row["items_received"] == received, case
    # A body that is not JSON holds no items anyone could count.
    assert not_json.status_code == 400
    assert entry_of(sandbox.data_dir, not_json, eventually)["items_received"] == 0
