"""The live tail's Qt-free part: the bounded hold with its honest dropped count, and the
status refresh (bounded pages a round, going on from its cursor) against the real sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import pytest

from console.api.ingest import IngestApi
from console.api.logs import LogEntry, LogsApi
from console.api.transport import ApiClient
from console.logbuffer import tail_feed
from console.logbuffer.buffer import Column, LogBuffer
from console.logbuffer.tail_feed import PendingEntries, StatusRefresher, refresh_filters
from tests.conftest import run

FEED = "shop"


def _entry(entry_id: int) -> LogEntry:
    return LogEntry.from_json(
        {"id": entry_id, "timestamp": 1_700_000_000 + entry_id, "request_id": f"req_{entry_id}"}
    )


def test_the_hold_drops_the_oldest_beyond_its_capacity_and_counts_them() -> None:
    pending = PendingEntries(capacity=3)
    for entry_id in range(1, 6):
        pending.push(_entry(entry_id))
    assert (len(pending), pending.dropped, pending.received) == (3, 2, 5)
    assert [e.id for e in pending.take(2)] == [3, 4]  # oldest first, the newest kept
    assert [e.id for e in pending.take()] == [5]
    assert pending.take() == []
    pending.push(_entry(6))
    pending.clear()
    assert (len(pending), pending.dropped, pending.received) == (0, 2, 6)
    with pytest.raises(ValueError, match="capacity"):
        PendingEntries(capacity=0)


def test_the_refresh_keeps_only_filters_an_entry_cannot_leave() -> None:
    assert refresh_filters(
        {"feed": "shop", "status": "queued", "intent": "ingest", "q": "x", "http_status": 202}
    ) == {"feed": "shop", "intent": "ingest"}
    assert refresh_filters({"pipeline_id": "7", "since": 5.0}) == {"pipeline_id": "7"}


@pytest.mark.parametrize("map_ratio", [8, 0], ids=["pending mapped by a select", "by id"])
def test_the_status_refresh_reads_bounded_pages_and_goes_on_from_its_cursor(
    sandbox_url: str,
    mint_key: Callable[..., str],
    account: str,
    map_ratio: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tail_feed, "MAP_COST_RATIO", map_ratio)
    admin, ingest_key = mint_key(account, "admin"), mint_key(account, "ingest", FEED)

    async def scenario() -> None:
        admin_client, ingest_client = (
            ApiClient(sandbox_url, admin),
            ApiClient(sandbox_url, ingest_key),
        )
        try:
            logs = LogsApi(admin_client)
            for n in range(5):
                await IngestApi(ingest_client).send(FEED, {"id": f"r{n}"})
            done: list[LogEntry] = []
            async with asyncio.timeout(20):
                while len(done) < 5:  # the sandbox's worker finishes them
                    page = await logs.query(feed=FEED, limit=10)
                    done = [e for e in page.items if e.processing_status == "succeeded"]
                    await asyncio.sleep(0.05)
            # Held as the stream sent them: still queued.
            buffer = LogBuffer()
            held = [dataclasses.replace(e, processing_status="queued") for e in done]
            buffer.add_newer(held)
            refresher = StatusRefresher(logs, buffer, {"feed": FEED}, pages=1, page_size=2)
            slots_of: dict[int, int] = {}
            for entry in done:
                slot = buffer.slot_of(entry.id)
                assert slot is not None
                slots_of[entry.id] = slot
            newest_first = sorted(slots_of, reverse=True)
            heard: list[list[int]] = []
            now = time.time()
            rounds = [await refresher.refresh(now, on_updated=heard.append) for _ in range(3)]
            # One page of two a round, newest first, each round going on where the last one
            # stopped, until the oldest pending entry is reached.
            assert rounds == [
                [slots_of[i] for i in newest_first[0:2]],
                [slots_of[i] for i in newest_first[2:4]],
                [slots_of[i] for i in newest_first[4:5]],
            ]
            assert heard == rounds
            assert refresher.requests == 3
            assert all(
                buffer.value(slot, Column.STATUS) == "succeeded" for slot in slots_of.values()
            )
            assert buffer.pending_since(600, now) is None
            assert await refresher.refresh(now) == []  # nothing pending: no request
            assert refresher.requests == 3
        finally:
            await admin_client.aclose()
            await ingest_client.aclose()

    run(scenario())
