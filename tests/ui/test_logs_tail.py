"""The live tail against the real sandbox: resume after a dropped connection without a lost
or repeated row, pause with "N new", an honest dropped count over the cap, the status
refresh of entries the stream does not send again, and a refused stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.api.logs import LogsApi
from console.api.transport import ApiClient
from console.logbuffer.buffer import BufferFilter, Column, LogBuffer
from console.ui.logs.tail import LiveTail
from tests.ui.logs_tail_support import FEED, CuttableProxy, ingest, server_entries


@pytest.fixture
def keys(mint_key: Callable[..., str], account: str) -> tuple[str, str]:
    """(admin key, ingest key of FEED) of a fresh account."""
    return mint_key(account, "admin"), mint_key(account, "ingest", FEED)


@pytest.fixture
def proxy(sandbox_url: str) -> Iterator[CuttableProxy]:
    relay = CuttableProxy(sandbox_url)
    yield relay
    relay.close()


@pytest.fixture
def make_logs(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot
) -> Iterator[Callable[[str, str], LogsApi]]:
    """LogsApi objects on the GUI's loop; their clients closed afterwards."""
    clients: list[ApiClient] = []

    def make(url: str, key: str) -> LogsApi:
        client = ApiClient(url, key)
        clients.append(client)
        return LogsApi(client)

    yield make
    for client in clients:
        closing = asyncio.ensure_future(client.aclose())
        qtbot.waitUntil(closing.done, timeout=5000)


@pytest.fixture
def make_tail(qtbot: QtBot) -> Iterator[Callable[..., LiveTail]]:
    tails: list[LiveTail] = []

    def make(**kwargs: Any) -> LiveTail:
        tail = LiveTail(**kwargs)
        tails.append(tail)
        return tail

    yield make
    for tail in tails:
        done = asyncio.ensure_future(tail.shutdown())
        qtbot.waitUntil(done.done, timeout=5000)


def _ids(buffer: LogBuffer) -> list[int]:
    return sorted(buffer.entry_id(int(slot)) for slot in buffer.select(BufferFilter()).slots)


def _items(tag: str, count: int) -> list[list[dict[str, Any]]]:
    return [[{"id": f"{tag}-{n}"}] for n in range(count)]


def _start_after_one(url: str, keys: tuple[str, str], buffer: LogBuffer) -> int:
    """One entry written and loaded into `buffer` (as the tab's load would); its id."""
    ingest(url, keys[1], _items("loaded", 1))
    [first] = server_entries(url, keys[0], feed=FEED)
    assert buffer.add_older([first]) == 1
    return first.id


def test_after_the_stream_connection_drops_the_tail_resumes_without_a_lost_or_repeated_row(
    qtbot: QtBot,
    sandbox_url: str,
    keys: tuple[str, str],
    proxy: CuttableProxy,
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    buffer = LogBuffer()
    after = _start_after_one(sandbox_url, keys, buffer)
    tail = make_tail()
    states: list[str] = []
    batches: list[Any] = []
    tail.state_changed.connect(states.append)
    tail.entries_added.connect(batches.append)
    tail.start(make_logs(proxy.url, keys[0]), buffer, {"feed": FEED}, after)
    assert tail.state == "live"

    ingest(sandbox_url, keys[1], _items("before", 4))
    qtbot.waitUntil(lambda: len(buffer) == 5, timeout=10000)

    # The connection drops, and the server cannot be reached for a while: entries written
    # meanwhile must come after the reconnect, each once.
    proxy.refusing = True
    assert proxy.cut() >= 1
    qtbot.waitUntil(lambda: tail.state == "reconnecting", timeout=10000)
    ingest(sandbox_url, keys[1], _items("during", 4))
    assert len(buffer) == 5
    proxy.refusing = False
    qtbot.waitUntil(lambda: tail.state == "live", timeout=15000)
    ingest(sandbox_url, keys[1], _items("after", 4))
    qtbot.waitUntil(lambda: len(buffer) == 13, timeout=10000)

    server_ids = sorted(entry.id for entry in server_entries(sandbox_url, keys[0], feed=FEED))
    assert len(server_ids) == 13
    assert _ids(buffer) == server_ids  # nothing lost
    assert tail.received == 12  # nothing sent twice by the stream ...
    assert sum(batch.skipped for batch in batches) == 0  # ... or skipped by the buffer
    assert sum(batch.added for batch in batches) == 12
    assert states[:3] == ["live", "reconnecting", "live"] or states[:2] == [
        "reconnecting",
        "live",
    ]
    assert tail.dropped == 0


def test_paused_the_tail_holds_new_entries_as_n_new_and_adds_them_on_resume(
    qtbot: QtBot,
    sandbox_url: str,
    keys: tuple[str, str],
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    buffer = LogBuffer()
    after = _start_after_one(sandbox_url, keys, buffer)
    tail = make_tail()
    pending: list[int] = []
    tail.pending_changed.connect(pending.append)
    tail.start(make_logs(sandbox_url, keys[0]), buffer, {"feed": FEED}, after)
    with qtbot.waitSignal(tail.state_changed, timeout=1000) as changed:
        tail.pause()
    assert changed.args == ["paused"]

    ingest(sandbox_url, keys[1], _items("paused", 3))
    qtbot.waitUntil(lambda: bool(pending) and pending[-1] == 3, timeout=10000)  # "3 new"
    assert tail.pending == 3
    assert len(buffer) == 1  # the view keeps still while paused

    with qtbot.waitSignal(tail.entries_added, timeout=1000) as added:
        tail.resume()
    assert added.args[0].added == 3
    assert len(buffer) == 4
    assert tail.state == "live"
    assert pending[-1] == 0


def test_more_than_can_be_held_is_dropped_and_the_count_is_said(
    qtbot: QtBot,
    sandbox_url: str,
    keys: tuple[str, str],
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    buffer = LogBuffer()
    after = _start_after_one(sandbox_url, keys, buffer)
    tail = make_tail(max_pending=4)
    dropped: list[int] = []
    tail.dropped_changed.connect(dropped.append)
    tail.start(make_logs(sandbox_url, keys[0]), buffer, {"feed": FEED}, after)
    tail.pause()  # the view cannot take them: they pile up

    ingest(sandbox_url, keys[1], _items("flood", 7))
    qtbot.waitUntil(lambda: tail.received == 7, timeout=10000)
    qtbot.waitUntil(lambda: bool(dropped) and dropped[-1] == 3, timeout=2000)
    assert tail.dropped == 3
    assert tail.pending == 4

    with qtbot.waitSignal(tail.entries_added, timeout=1000):
        tail.resume()
    # The newest four are shown; the three oldest were dropped, and said so.
    newest = sorted(e.id for e in server_entries(sandbox_url, keys[0], feed=FEED))
    assert _ids(buffer) == sorted([after, *newest[-4:]])
    assert tail.dropped == 3


def test_statuses_the_stream_does_not_resend_are_refreshed(
    qtbot: QtBot,
    sandbox_url: str,
    keys: tuple[str, str],
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    buffer = LogBuffer()
    after = _start_after_one(sandbox_url, keys, buffer)
    tail = make_tail(refresh_interval_ms=200)
    told: list[tuple[int, object]] = []  # (slot, its status when the view was told)

    def updated(slots: list[int]) -> None:
        told.extend((slot, buffer.value(slot, Column.STATUS)) for slot in slots)

    tail.entries_updated.connect(updated)
    at_delivery: dict[int, object] = {}

    def delivered(_result: object) -> None:
        for entry_id in _ids(buffer):
            slot = buffer.slot_of(entry_id)
            assert slot is not None
            at_delivery.setdefault(entry_id, buffer.value(slot, Column.STATUS))

    tail.entries_added.connect(delivered)
    tail.start(make_logs(sandbox_url, keys[0]), buffer, {"feed": FEED}, after)

    # 10,000 items take the sandbox's worker seconds: the stream sends the entry when
    # written (queued or processing) and never again.
    [receipt] = ingest(sandbox_url, keys[1], [[{"id": f"big-{n}"} for n in range(10_000)]])
    qtbot.waitUntil(lambda: len(buffer) == 2, timeout=10000)
    [big] = [entry_id for entry_id in _ids(buffer) if entry_id != after]
    assert at_delivery[big] in ("queued", "processing")
    slot = buffer.slot_of(big)
    assert slot is not None

    # The view is told to repaint the row once it reads "succeeded".
    qtbot.waitUntil(lambda: (slot, "succeeded") in told, timeout=30000)
    [server] = [e for e in server_entries(sandbox_url, keys[0], feed=FEED) if e.id == big]
    assert server.processing_status == "succeeded"
    assert receipt


def test_a_refused_stream_stops_the_tail_and_says_why(
    qtbot: QtBot,
    sandbox_url: str,
    keys: tuple[str, str],
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    tail = make_tail()
    # An ingest key may not read logs: 403, raised by the stream, not retried.
    with qtbot.waitSignal(tail.failed, timeout=10000) as failed:
        tail.start(make_logs(sandbox_url, keys[1]), LogBuffer(), {}, None)
    assert failed.args[0]
    assert keys[1] not in failed.args[0]
    qtbot.waitUntil(lambda: tail.state == "stopped", timeout=1000)
    assert not tail.running


def test_after_the_server_restarts_on_its_port_the_tail_resumes_without_a_lost_or_repeated_row(
    qtbot: QtBot,
    make_sandbox: Callable[..., Any],
    tmp_path: Path,
    make_logs: Callable[[str, str], LogsApi],
    make_tail: Callable[..., LiveTail],
) -> None:
    from console.sandbox.storage.sqlite import mint_key as store_mint_key

    data_dir = tmp_path / "restarted"
    first = make_sandbox(data_dir=data_dir, demo=False)
    url = first.base_url
    port = url.rsplit(":", 1)[1]
    keys = (
        store_mint_key(data_dir, account="restart", kind="admin"),
        store_mint_key(data_dir, account="restart", kind="ingest", feed=FEED),
    )
    buffer = LogBuffer()
    after = _start_after_one(url, keys, buffer)
    tail = make_tail()
    states: list[str] = []
    tail.state_changed.connect(states.append)
    tail.start(make_logs(url, keys[0]), buffer, {"feed": FEED}, after)
    ingest(url, keys[1], _items("before", 3))
    qtbot.waitUntil(lambda: len(buffer) == 4, timeout=10000)

    first.stop()  # the server goes away with the stream open
    qtbot.waitUntil(lambda: tail.state == "reconnecting", timeout=10000)
    second = make_sandbox(data_dir=data_dir, demo=False, extra_args=["--port", port])
    assert second.base_url == url
    ingest(url, keys[1], _items("after", 3))
    qtbot.waitUntil(lambda: len(buffer) == 7, timeout=20000)
    qtbot.waitUntil(lambda: tail.state == "live", timeout=5000)

    server_ids = sorted(entry.id for entry in server_entries(url, keys[0], feed=FEED))
    assert len(server_ids) == 7
    assert _ids(buffer) == server_ids
    assert tail.received == 6
    assert "reconnecting" in states
