"""GET /logs/stream: live entries, resume by Last-Event-ID, backpressure, heartbeat,
filters, the per-key limit, and a server stop that open streams do not hold."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.logs import tail as tail_module
from console.sandbox.logs.model import LogBodies, LogSignal
from console.sandbox.logs.query import LogFilter
from console.sandbox.logs.store import insert_entries
from console.sandbox.logs.tail import LogTail, Subscription
from console.sandbox.settings import LogSettings, SandboxSettings
from console.sandbox.storage.sqlite import connect, transaction
from tests.conftest import run
from tests.sandbox.logs_support import V1, LiveApp, entry, rate_limit_off, serve

STREAM = f"{V1}/logs/stream"
SETTINGS = SandboxSettings(
    rate_limit_off(),
    logs=LogSettings(heartbeat_seconds=0.2, stream_queue=5, streams_per_key=3),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from serve(tmp_path_factory.mktemp("stream"), SETTINGS)


class Reader:
    """One stream read in a thread: its events (and comments) land in `items`."""

    def __init__(
        self, live: LiveApp, secret: str, params: dict[str, str] | None = None, **headers: str
    ) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.opened = threading.Event()
        self.response: httpx.Response | None = None
        self._client = live.client(secret, timeout=httpx.Timeout(10, read=30))
        self._closed = False
        self._thread = threading.Thread(target=self._read, args=(params, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self, params: dict[str, str] | None, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", STREAM, params=params, headers=headers) as response:
                if response.status_code != 200:
                    response.read()
                self.response = response
                self.opened.set()
                if response.status_code != 200:
                    return
                block: list[str] = []
                for line in response.iter_lines():
                    if line:
                        block.append(line)
                        continue
                    self._block(block)
                    block = []
        except (httpx.HTTPError, RuntimeError):
            if not self._closed:
                self.items.put(("error", None))
        finally:
            self.opened.set()
            self.items.put(("end", None))

    def _block(self, block: list[str]) -> None:
        if block and block[0].startswith(":"):
            self.items.put(("comment", block[0]))
            return
        fields = dict(line.split(": ", 1) for line in block if ": " in line)
        if "retry" in fields:
            self.items.put(("retry", fields["retry"]))
        elif fields.get("event") == "log":
            assert fields["id"] == str(json.loads(fields["data"])["id"])
            self.items.put(("log", {"raw": fields["data"], **json.loads(fields["data"])}))
        elif "event" in fields:
            self.items.put((fields["event"], json.loads(fields["data"])))

    def wait_ready(self) -> None:
        """Wait for the `retry:` line: the stream is subscribed from then on."""
        kind, _ = self.next(skip_comments=True)
        assert kind == "retry"

    def next(self, timeout: float = 5.0, skip_comments: bool = True) -> tuple[str, Any]:
        """The next item (skipping heartbeats unless asked not to)."""
        deadline = time.monotonic() + timeout
        while True:
            kind, value = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            if kind != "comment" or not skip_comments:
                return kind, value

    def logs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next `count` log events."""
        found = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            kind, value = self.next(max(0.01, deadline - time.monotonic()))
            if kind == "retry":
                continue
            assert kind == "log", (kind, value)
            found.append(value)
        return found

    def quiet(self, seconds: float) -> bool:
        """Whether no log event comes within `seconds`."""
        try:
            kind, _ = self.next(seconds)
        except queue.Empty:
            return True
        return kind != "log"

    def close(self) -> None:
        """Drop the connection."""
        self._closed = True
        self._client.close()
        self._thread.join(10)


@pytest.fixture
def readers() -> Iterator[list[Reader]]:
    opened: list[Reader] = []
    yield opened
    for reader in opened:
        reader.close()


def test_an_entry_inserted_while_connected_arrives_within_a_second(
    live: LiveApp, readers: list[Reader]
) -> None:
    account_id, secret = live.account()
    live.insert([entry(account_id)])  # before connecting: not sent (new entries only, D13)
    reader = Reader(live, secret)
    readers.append(reader)
    assert reader.response is not None
    assert reader.response.headers["content-type"].startswith("text/event-stream")
    assert reader.response.headers["cache-control"] == "no-store"
    reader.wait_ready()
    sent = time.monotonic()
    (log_id,) = live.insert([entry(account_id, feed="orders")])
    (event,) = reader.logs(1, timeout=1.0)
    assert time.monotonic() - sent < 1.0
    assert (event["id"], event["feed"]) == (log_id, "orders")
    assert reader.quiet(0.3)
    # HEAD answers the headers at once; it holds no stream open.
    with live.client(secret) as api:
        head = api.head(STREAM)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")


def test_an_entry_committed_once_the_stream_is_ready_is_never_taken_for_an_old_one(
    live: LiveApp, readers: list[Reader], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream's start (the newest id) is read slowly: `retry:` must wait for it, or an
    # entry committed meanwhile would count as older than the stream and be skipped.
    slow_last_id = tail_module._last_id

    def slow(conn: sqlite3.Connection) -> int:
        time.sleep(0.3)
        return slow_last_id(conn)

    account_id, secret = live.account()
    monkeypatch.setattr(tail_module, "_last_id", slow)
    reader = Reader(live, secret)
    readers.append(reader)
    reader.wait_ready()
    (log_id,) = live.insert([entry(account_id)])
    assert [e["id"] for e in reader.logs(1, timeout=3)] == [log_id]


def test_resume_with_last_event_id_sends_exactly_the_missed_entries(
    live: LiveApp, readers: list[Reader]
) -> None:
    account_id, secret = live.account()
    first = Reader(live, secret)
    first.wait_ready()
    sent = [live.insert([entry(account_id)])[0] for _ in range(3)]
    assert [e["id"] for e in first.logs(3)] == sent
    first.close()
    missed = [live.insert([entry(account_id)])[0] for _ in range(20)]
    second = Reader(live, secret, **{"Last-Event-ID": str(sent[-1])})
    readers.append(second)
    assert [e["id"] for e in second.logs(20)] == missed
    # The query parameter does the same for clients that cannot set headers.
    third = Reader(live, secret, {"last_event_id": str(missed[9])})
    readers.append(third)
    assert [e["id"] for e in third.logs(10)] == missed[10:]
    # And then live entries follow, once each.
    (later,) = live.insert([entry(account_id)])
    assert [e["id"] for e in second.logs(1)] == [later]
    assert [e["id"] for e in third.logs(1)] == [later]
    assert second.quiet(0.3)


def test_a_full_queue_falls_back_to_the_database_without_loss(
    live: LiveApp, readers: list[Reader]
) -> None:
    account_id, secret = live.account()
    reader = Reader(live, secret)
    readers.append(reader)
    reader.wait_ready()
    # 200 entries in few commits: the tail offers them faster than the stream can send,
    # and the subscription holds 5 (SETTINGS).
    ids: list[int] = []
    for start in range(0, 200, 40):
        ids += live.insert([entry(account_id, items_received=i) for i in range(start, start + 40)])
    assert [e["id"] for e in reader.logs(200)] == ids
    assert reader.quiet(0.3)


def test_silence_sends_a_comment_heartbeat(live: LiveApp, readers: list[Reader]) -> None:
    _, secret = live.account()
    reader = Reader(live, secret)
    readers.append(reader)
    reader.wait_ready()
    started = time.monotonic()
    kind, value = reader.next(timeout=2.0, skip_comments=False)
    assert (kind, value) == ("comment", ": keep-alive")
    assert 0.1 < time.monotonic() - started < 1.5


def test_the_stream_takes_the_list_filters(live: LiveApp, readers: list[Reader]) -> None:
    account_id, secret = live.account()
    other_id, _ = live.account()
    rejected = Reader(live, secret, {"feed": "orders", "status": "rejected"})
    searched = Reader(live, secret, {"q": "Crème", "http_status": "400"})
    readers += [rejected, searched]
    rejected.wait_ready()
    searched.wait_ready()
    body = LogBodies('{"dessert": "creme brulee"}', 27, False, None)
    ids = live.insert(
        [
            entry(account_id, feed="orders", processing_status="queued"),
            entry(account_id, feed="stock", processing_status="rejected", http_status=400),
            entry(account_id, feed="orders", processing_status="rejected", http_status=400),
            entry(other_id, feed="orders", processing_status="rejected", http_status=400),
        ],
        body,
    )
    assert [e["id"] for e in rejected.logs(1)] == [ids[2]]
    assert [e["id"] for e in searched.logs(2)] == [ids[1], ids[2]]
    assert rejected.quiet(0.3)
    assert searched.quiet(0.1)
    bad = Reader(live, secret, {"status": "nope"})
    readers.append(bad)
    assert bad.response is not None
    assert bad.response.status_code == 400
    assert bad.response.json()["error"]["field"] == "status"
    header = Reader(live, secret, **{"Last-Event-ID": "x1"})
    readers.append(header)
    assert header.response is not None
    assert header.response.json()["error"]["field"] == "Last-Event-ID"


def test_json_is_ascii_so_no_line_separator_appears_raw(
    live: LiveApp, readers: list[Reader]
) -> None:
    account_id, secret = live.account()
    reader = Reader(live, secret)
    readers.append(reader)
    reader.wait_ready()
    message = "line\u2028separator\u2029 and \x85 next"
    live.insert([entry(account_id, errors=[{"item": 0, "field": None, "message": message}])])
    (event,) = reader.logs(1)
    assert event["errors"][0]["message"] == message
    assert "\u2028" not in event["raw"]
    assert "\\u2028" in event["raw"]


def test_at_most_the_configured_streams_per_key(live: LiveApp, readers: list[Reader]) -> None:
    account_id, secret = live.account()
    for _ in range(3):
        readers.append(Reader(live, secret))
        readers[-1].wait_ready()
    refused = Reader(live, secret)
    readers.append(refused)
    assert refused.response is not None
    assert refused.response.status_code == 429
    assert refused.response.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.response.headers["retry-after"] == "5"
    # Another key of the account has its own streams.
    other_key = live.key(account_id)
    readers.append(Reader(live, other_key))
    assert readers[-1].response is not None
    assert readers[-1].response.status_code == 200
    # A closed stream frees its slot.
    readers[0].close()
    deadline = time.monotonic() + 5
    while True:
        again = Reader(live, secret)
        readers.append(again)
        assert again.response is not None
        if again.response.status_code == 200:
            break
        assert time.monotonic() < deadline, "the closed stream kept its slot"
        time.sleep(0.1)


def test_a_resume_point_older_than_the_kept_entries_says_gap(
    live: LiveApp, readers: list[Reader]
) -> None:
    account_id, secret = live.account()
    ids = live.insert([entry(account_id) for _ in range(5)])
    # Pruned (as retention does): the first three are gone.
    live.call(lambda conn: conn.execute("DELETE FROM logs WHERE id <= ?", (ids[2],)))
    reader = Reader(live, secret, **{"Last-Event-ID": str(ids[0] - 1)})
    readers.append(reader)
    reader.wait_ready()
    kind, value = reader.next()
    assert kind == "gap"
    assert value["pruned_before"] > ids[0]
    assert [e["id"] for e in reader.logs(2)] == ids[3:]


def test_open_streams_do_not_hold_the_server_stop(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    own = LiveApp(tmp_path_factory.mktemp("stop"), SETTINGS).start()
    _, secret = own.account()
    streams = [Reader(own, secret) for _ in range(2)]
    for stream in streams:
        stream.wait_ready()
    took = own.stop()
    # uvicorn waits for open responses before the app's shutdown (its graceful timeout
    # here is 5 s): the streams end first.
    assert took < 2.0
    for stream in streams:
        # The stream ended cleanly (no error), with the server.
        assert stream.next(5) == ("end", None)
        stream.close()


def test_a_stream_subscribing_while_the_idle_tail_reads_misses_nothing(
    tmp_path: Path,
) -> None:
    """The idle tail moves its head to the newest id; a stream that subscribed (and an
    entry committed) during that read must still get the entry."""

    class Interleaved:
        """Runs reads on `conn`; before the first, a stream subscribes and one commits."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn
            self.before_next_read: Callable[[], None] | None = None

        async def read(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
            hook, self.before_next_read = self.before_next_read, None
            if hook is not None:
                hook()
            return work(self.conn)

    async def scenario() -> list[int]:
        conn = connect(tmp_path)  # in the scenario's thread
        with transaction(conn):
            insert_entries(conn, [(entry(1), None)])
        database = Interleaved(conn)
        log_tail = LogTail(database, LogSignal())  # type: ignore[arg-type]
        await log_tail.poll()
        subscriptions: list[Subscription] = []

        def subscribe_and_commit() -> None:
            subscriptions.append(log_tail.subscribe(1, LogFilter(), 10))
            with transaction(conn):
                insert_entries(conn, [(entry(1), None)])

        database.before_next_read = subscribe_and_commit
        await log_tail.poll()  # idle when it starts: reads the newest id
        await log_tail.poll()
        conn.close()
        return [item["id"] for item in subscriptions[0].items]

    assert run(scenario()) == [2]


def test_the_first_block_names_the_start_so_a_cut_before_any_event_loses_nothing(
    live: LiveApp, readers: list[Reader]
) -> None:
    # A client cut before its first event used to reconnect without Last-Event-ID and
    # start at the newest entry of its reconnect: what came in between was lost.
    account_id, secret = live.account()
    (before,) = live.insert([entry(account_id)])
    with (
        live.client(secret, timeout=httpx.Timeout(10, read=30)) as api,
        api.stream("GET", STREAM) as response,
    ):
        first: list[str] = []
        for line in response.iter_lines():
            if not line:
                break
            first.append(line)
    fields = dict(line.split(": ", 1) for line in first)
    assert fields["retry"] == "2000"
    assert int(fields["id"]) >= before
    (missed,) = live.insert([entry(account_id)])
    reader = Reader(live, secret, **{"Last-Event-ID": fields["id"]})
    readers.append(reader)
    assert [e["id"] for e in reader.logs(1)] == [missed]
