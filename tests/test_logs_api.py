"""The connector-logs API layer: parsing, and the live stream's reconnect loop against a
loopback server that cuts its connections (plan 6 (f))."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from console.api.errors import ApiError
from console.api.ingest import IngestApi
from console.api.logs import LogDetail, LogEntry, LogsApi, Trace, filter_params
from console.api.transport import ApiClient
from tests.conftest import run

KEY = "fdk_" + "k" * 40


def _entry(entry_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": entry_id,
        "timestamp": 1_700_000_000.5 + entry_id,
        "request_id": f"req_{entry_id:026d}",
        "correlation_id": f"corr_{entry_id}",
        "feed": "shop",
        "pipeline_id": None,
        "key": {"id": "key_1", "shown": "ik_live_…abcd"},
        "method": "POST",
        "path": "/api/ingest",
        "intent": "ingest",
        "http_status": 202,
        "items_received": 3,
        "processing_status": "queued",
        "errors": [],
        "error_count": 0,
        "duration_ms": 1.5,
        "client_ip": "127.0.0.1",
        "auth_via": "header",
        "idempotency_key": None,
        **extra,
    }


def _event(entry_id: int, **extra: Any) -> bytes:
    # ensure_ascii=False: a raw U+2028 inside the JSON must not split the event.
    data = json.dumps(_entry(entry_id, **extra), ensure_ascii=False)
    return f"id: {entry_id}\nevent: log\ndata: {data}\n\n".encode()


Script = Callable[[socket.socket, int], None]


class CuttingServer:
    """A loopback HTTP server whose n-th connection runs `script(conn, n)`, then closes.

    It records each request's headers, so a test can see `Last-Event-ID`.
    """

    def __init__(self, script: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.script = script
        self.requests: list[dict[str, str]] = []
        self.closed = threading.Event()  # set when a connection ended from the client side
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        number = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received += chunk
            lines = received.split(b"\r\n\r\n")[0].decode().split("\r\n")
            headers = {"request-line": lines[0]}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append(headers)
            with contextlib.suppress(OSError):
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"cache-control: no-store\r\nconnection: close\r\n\r\n"
                )
                self.script(conn, number)
            conn.close()
            number += 1

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def cutting_server() -> Iterator[Callable[[Script], CuttingServer]]:
    servers: list[CuttingServer] = []

    def make(script: Script) -> CuttingServer:
        server = CuttingServer(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


async def _collect(api: LogsApi, count: int, **kwargs: Any) -> list[LogEntry]:
    found: list[LogEntry] = []
    async with asyncio.timeout(20):
        async with contextlib.aclosing(api.stream(**kwargs)) as entries:
            async for entry in entries:
                found.append(entry)
                if len(found) == count:
                    break
    return found


def test_stream_reconnects_by_last_event_id_after_a_cut(
    cutting_server: Callable[[Script], CuttingServer],
) -> None:
    def script(conn: socket.socket, number: int) -> None:
        if number == 0:
            conn.sendall(b"retry: 50\n\n")  # a retry-only block: an event with empty data
            conn.sendall(b": keep-alive\n\n")
            for entry_id in (1, 2, 3):
                conn.sendall(_event(entry_id, feed="line\u2028sep"))
            conn.sendall(b'id: 4\nevent: log\ndata: {"id": 4, "tru')  # cut mid-event
        elif number == 1:
            for entry_id in (4, 5):
                conn.sendall(_event(entry_id))
            conn.sendall(b"data:\n\n")
        else:
            conn.sendall(_event(6, note="after a clean close"))
            time.sleep(5)

    server = cutting_server(script)

    async def main() -> list[LogEntry]:
        client = ApiClient(server.url, KEY)
        try:
            return await _collect(LogsApi(client, first_backoff=5), 6, feed="shop")
        finally:
            await client.aclose()

    started = time.monotonic()
    entries = run(main())
    assert [e.id for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].feed == "line\u2028sep"  # not split by the line separator
    assert entries[0].key == "ik_live_…abcd"
    assert "last-event-id" not in server.requests[0]
    assert server.requests[1]["last-event-id"] == "3"  # the cut event 4 was never yielded
    assert server.requests[2]["last-event-id"] == "5"
    assert "feed=shop" in server.requests[0]["request-line"]
    assert server.requests[0]["authorization"] == f"Bearer {KEY}"
    # the server's retry: 50 ms was honoured, not the 5 s backoff
    assert time.monotonic() - started < 4


def test_stream_cut_before_its_first_entry_resumes_from_the_start_the_server_named(
    cutting_server: Callable[[Script], CuttingServer],
) -> None:
    # The server's first block names the stream's start (`id:` without data): a cut before
    # any entry must resume there, not at the newest entry of the reconnect.
    def script(conn: socket.socket, number: int) -> None:
        if number == 0:
            conn.sendall(b"id: 41\nretry: 50\n\n")
        else:
            conn.sendall(_event(42))
            time.sleep(5)

    server = cutting_server(script)

    async def main() -> list[LogEntry]:
        client = ApiClient(server.url, KEY)
        try:
            return await _collect(LogsApi(client, first_backoff=5), 1)
        finally:
            await client.aclose()

    assert [e.id for e in run(main())] == [42]
    assert "last-event-id" not in server.requests[0]
    assert server.requests[1]["last-event-id"] == "41"


def test_a_silent_connection_is_dropped_after_the_read_timeout(
    cutting_server: Callable[[Script], CuttingServer],
) -> None:
    def script(conn: socket.socket, number: int) -> None:
        if number == 0:
            conn.sendall(_event(7))
            time.sleep(3)  # no heartbeat: dead for the client
        else:
            conn.sendall(_event(8))
            time.sleep(3)

    server = cutting_server(script)

    async def main() -> list[LogEntry]:
        client = ApiClient(server.url, KEY)
        try:
            api = LogsApi(client, read_timeout=0.3, first_backoff=0.05)
            return await _collect(api, 2, last_event_id=6)
        finally:
            await client.aclose()

    entries = run(main())
    assert [e.id for e in entries] == [7, 8]
    assert server.requests[0]["last-event-id"] == "6"
    assert server.requests[1]["last-event-id"] == "7"


def test_cancelling_the_reader_ends_the_connection_at_once(
    cutting_server: Callable[[Script], CuttingServer],
) -> None:
    gone = threading.Event()

    def script(conn: socket.socket, number: int) -> None:
        conn.sendall(_event(1))
        conn.settimeout(10)
        with contextlib.suppress(OSError):
            if conn.recv(1) == b"":  # the client closed its side
                gone.set()

    server = cutting_server(script)

    async def main() -> None:
        client = ApiClient(server.url, KEY)
        try:
            first = asyncio.Event()

            async def read() -> None:
                async for _entry in LogsApi(client).stream():
                    first.set()

            task = asyncio.create_task(read())
            await asyncio.wait_for(first.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await client.aclose()

    run(main())
    assert gone.wait(5)
    assert len(server.requests) == 1


def test_a_refusal_is_raised_not_retried() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    body = b'{"success": false, "error": {"code": "FORBIDDEN", "message": "admin keys only"}}'

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )

    threading.Thread(target=serve, daemon=True).start()

    async def main() -> None:
        client = ApiClient(url, KEY)
        try:
            with pytest.raises(ApiError) as caught:
                await _collect(LogsApi(client), 1)
            assert (caught.value.status, caught.value.code) == (403, "FORBIDDEN")
        finally:
            await client.aclose()

    try:
        run(main())
    finally:
        listener.close()


def test_detail_and_trace_parse_the_documented_shapes() -> None:
    detail = LogDetail.from_json(
        {
            **_entry(9, errors=[{"item": 2, "field": "[2].sku", "message": "missing"}]),
            "request_body": "eyJ4Ijog",
            "request_body_encoding": "base64",
            "request_truncated": True,
            "request_bytes": 70000,
            "response_body": '{"success": true}',
            "headers": {"content-type": "application/json"},
            "events": [{"timestamp": 1.5, "stage": "received", "detail": None}],
        }
    )
    assert detail.entry.errors[0].field == "[2].sku"
    assert (detail.request_truncated, detail.request_bytes) == (True, 70000)
    assert [e.stage for e in detail.events] == ["received"]
    trace = Trace.from_json(
        {
            "id": "corr_9",
            "matched": ["correlation_id"],
            "entries": [_entry(9)],
            "records": [
                {
                    "feed": "shop",
                    "guid": "g",
                    "system_id": 12,
                    "deleted": 0,
                    "changes": [{"timestamp": 2.0, "intent": "ingest", "changed": ["n"]}],
                }
            ],
            "truncated": {"entries": False, "records": True},
        }
    )
    assert trace.records[0].system_id == "12"
    assert trace.truncated_records
    assert not trace.truncated_entries
    assert trace.entries[0].request_id == _entry(9)["request_id"]


# Against the real sandbox: entries written by POST /api/ingest.

FEED = "shop"


@pytest.fixture
def keys(mint_key: Callable[..., str], account: str) -> tuple[str, str]:
    """(admin key, ingest key of the feed `shop`) of a fresh account."""
    return mint_key(account, "admin"), mint_key(account, "ingest", FEED)


def _live(url: str, keys: tuple[str, str], scenario: Callable[..., Any]) -> None:
    async def main() -> None:
        admin = ApiClient(url, keys[0])
        ingest = ApiClient(url, keys[1])
        try:
            await scenario(LogsApi(admin), IngestApi(ingest))
        finally:
            await admin.aclose()
            await ingest.aclose()

    run(main())


def test_query_detail_and_trace_find_an_ingest_request(
    sandbox_url: str, keys: tuple[str, str]
) -> None:
    async def scenario(logs: LogsApi, ingest: IngestApi) -> None:
        sent = await ingest.send(FEED, [{"id": "rec-1", "n": 1}], idempotency_key="idem-live-1")
        replay = await ingest.send(FEED, [{"id": "rec-1", "n": 1}], idempotency_key="idem-live-1")
        assert replay.replayed
        for n in range(3):
            await ingest.send(FEED, {"id": f"more-{n}"})
        page = await logs.query(id=sent.request_id)
        [entry] = page.items
        assert (entry.request_id, entry.feed, entry.intent) == (sent.request_id, FEED, "ingest")
        assert (entry.http_status, entry.items_received) == (202, 1)
        assert entry.idempotency_key == "idem-live-1"
        assert entry.key is not None
        assert entry.key.endswith(keys[1][-4:])
        assert keys[1] not in entry.key
        by_key = await logs.query(id="idem-live-1")
        assert sorted(e.processing_status == "duplicate" for e in by_key.items) == [False, True]
        first = await logs.query(feed=FEED, intent="ingest", limit=2)
        assert len(first.items) == 2
        assert first.next_cursor is not None
        second = await logs.query(feed=FEED, intent="ingest", limit=2, cursor=first.next_cursor)
        ids = [e.id for e in first.items + second.items]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == 4
        detail = await logs.detail(sent.request_id)
        assert detail.entry.request_id == sent.request_id
        assert detail.request_body is not None
        assert "rec-1" in detail.request_body
        assert detail.events
        assert detail.events[0].stage == "received"
        assert keys[1] not in json.dumps(detail.headers)
        trace = await logs.trace("idem-live-1")
        assert trace.matched
        assert sent.request_id in {e.request_id for e in trace.entries}
        with pytest.raises(ApiError) as missing:
            await logs.detail("req_" + "0" * 26)
        assert missing.value.status == 404

    _live(sandbox_url, keys, scenario)


def test_stream_delivers_new_entries_and_resumes_after_an_id(
    sandbox_url: str, keys: tuple[str, str]
) -> None:
    async def scenario(logs: LogsApi, ingest: IngestApi) -> None:
        marker = await ingest.send(FEED, {"id": "before"})
        [before] = (await logs.query(id=marker.request_id)).items
        sent = [await ingest.send(FEED, {"id": f"s{n}"}) for n in range(3)]
        # Everything after `before`, in order, even though it was written before connecting.
        got = await _collect(logs, 3, last_event_id=before.id, feed=FEED)
        assert [e.request_id for e in got] == [r.request_id for r in sent]
        # Resume after the second one: only the third, then a new entry as it is written.
        # (Connected or not yet, the reader gets `late`: it resumes after an id.)
        reader = asyncio.create_task(_collect(logs, 2, last_event_id=got[1].id))
        late = await ingest.send(FEED, {"id": "late"})
        resumed = await reader
        assert [e.request_id for e in resumed] == [sent[2].request_id, late.request_id]

    _live(sandbox_url, keys, scenario)


def test_filter_params_keep_the_contract_order_drop_none_and_refuse_unknown_names() -> None:
    params = filter_params(id="r-1", feed="a", status=None, http_status=0, since=1.5)
    assert list(params.items()) == [
        ("feed", "a"),
        ("http_status", 0),
        ("since", 1.5),
        ("id", "r-1"),
    ]
    with pytest.raises(TypeError, match="stauts"):
        filter_params(**{"stauts": "error"})  # type: ignore[typeddict-unknown-key]


def test_the_stream_says_when_its_connection_opens_and_drops(
    cutting_server: Callable[[Script], CuttingServer],
) -> None:
    def script(conn: socket.socket, number: int) -> None:
        conn.sendall(b"retry: 50\n\n")
        conn.sendall(_event(number + 1))
        if number > 0:
            time.sleep(5)

    server = cutting_server(script)
    heard: list[bool] = []

    async def main() -> list[LogEntry]:
        client = ApiClient(server.url, KEY)
        try:
            return await _collect(LogsApi(client), 2, on_connection=heard.append)
        finally:
            await client.aclose()

    assert [e.id for e in run(main())] == [1, 2]
    # Open, dropped after entry 1 (a reconnect waits), open again.
    assert heard == [True, False, True]


def test_a_page_parsed_in_a_worker_thread_is_the_same_page(
    sandbox_url: str, keys: tuple[str, str]
) -> None:
    async def scenario(logs: LogsApi, ingest: IngestApi) -> None:
        for n in range(3):
            await ingest.send(FEED, {"id": f"thread-{n}"})
        on_loop = await logs.query(feed=FEED, limit=2)
        in_thread = await logs.query(feed=FEED, limit=2, parse_in_thread=True)
        # The same entries (their status may have moved on between the two reads).
        assert [dataclasses.replace(e, processing_status="") for e in in_thread.items] == [
            dataclasses.replace(e, processing_status="") for e in on_loop.items
        ]
        assert in_thread.next_cursor == on_loop.next_cursor
        assert in_thread.next_cursor is not None
        rest = await logs.query(
            feed=FEED, limit=2, cursor=in_thread.next_cursor, parse_in_thread=True
        )
        assert [e.id for e in rest.items] == [
            e.id for e in (await logs.query(feed=FEED, limit=2, cursor=on_loop.next_cursor)).items
        ]

    _live(sandbox_url, keys, scenario)
