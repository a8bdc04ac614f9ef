"""Property test: for random entries, random adds, evictions and updates, and random
filters, `LogBuffer.select` keeps exactly the rows (in the same order) a plain-Python
filter over the same entries keeps, and each slot shows its entry's values."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.logbuffer.buffer as buffer_module
from console.api.logs import LogEntry, LogItemError
from console.logbuffer.buffer import (
    STATUSES,
    AddResult,
    BufferFilter,
    Column,
    LogBuffer,
    error_label,
)
from tests.logbuffer.entries import ALPHANUMERIC, refused

BASE_TIME = 1_764_000_000.0
FEEDS = ("orders", "customers", "Ünïcode-feed", None)
INTENTS = ("ingest", "upsert", "pipeline.sync_failed", None)
HTTP = (None, 200, 202, 400, 404, 429, 500)
KEYS = ("ik_live_…a1b2", "fdk_…e5f6", None)
IPS = ("127.0.0.1", "10.0.4.17", None)

alnum = st.text(alphabet=ALPHANUMERIC, min_size=26, max_size=26)
other_id = st.text(alphabet="abcXYZ019_-:. ", min_size=0, max_size=12)
request_ids = st.one_of(alnum.map(lambda s: "req_" + s), other_id)
correlation_ids = st.one_of(alnum.map(lambda s: "corr_" + s), other_id, st.none())
idempotency_keys = st.one_of(st.none(), st.text(alphabet="abcXYZ-0189 =", max_size=12))
errors = st.lists(
    st.builds(
        LogItemError,
        item=st.one_of(st.none(), st.integers(0, 20)),
        field=st.sampled_from([None, "sku", "[3].sku", "items[2].price"]),
        message=st.sampled_from(["required field missing", "expected a number", "bad"]),
    ),
    max_size=2,
).map(tuple)
# Milliseconds as the contract has them; sometimes finer (the column then widens).
timestamps = st.one_of(
    st.integers(0, 86_400_000).map(lambda ms: BASE_TIME + ms / 1000),
    st.floats(BASE_TIME, BASE_TIME + 86_400, allow_nan=False),
)


@st.composite
def fields(draw: st.DrawFn) -> dict[str, Any]:
    """Every field of an entry but its id."""
    return {
        "timestamp": draw(timestamps),
        "request_id": draw(request_ids),
        "correlation_id": draw(correlation_ids),
        "feed": draw(st.sampled_from(FEEDS)),
        "pipeline_id": draw(st.sampled_from([None, "1", "2"])),
        "key": draw(st.sampled_from(KEYS)),
        "key_id": draw(st.sampled_from([None, "key_1"])),
        "method": draw(st.sampled_from([None, "POST", "PATCH"])),
        "path": None,
        "intent": draw(st.sampled_from(INTENTS)),
        "http_status": draw(st.sampled_from(HTTP)),
        "items_received": draw(st.integers(0, 70_000)),
        "processing_status": draw(st.sampled_from(STATUSES)),
        "errors": draw(errors),
        "error_count": draw(st.integers(0, 3)),
        "duration_ms": draw(st.one_of(st.none(), st.integers(0, 99_999).map(lambda d: d / 8))),
        "client_ip": draw(st.sampled_from(IPS)),
        "auth_via": draw(st.sampled_from([None, "header", "query"])),
        "idempotency_key": draw(idempotency_keys),
    }


def fold(text: str) -> bytes:
    return text.encode("utf-8").lower()


def reference_match(entry: LogEntry, f: BufferFilter) -> bool:
    """The filter's meaning, row by row in plain Python."""
    label = error_label(entry)
    if f.statuses and entry.processing_status not in f.statuses:
        return False
    if f.feeds and entry.feed not in f.feeds:
        return False
    if f.intents and entry.intent not in f.intents:
        return False
    if f.http_statuses and (entry.http_status or 0) not in f.http_statuses:
        return False
    if f.keys and entry.key not in f.keys:
        return False
    if f.errors and label not in f.errors:
        return False
    if f.since is not None and not entry.timestamp >= f.since:
        return False
    if f.until is not None and not entry.timestamp < f.until:
        return False
    if f.text:
        ids = (entry.request_id, entry.correlation_id, entry.idempotency_key)
        values = (entry.feed, entry.intent, entry.key, entry.client_ip, entry.pipeline_id, label)
        return any(v is not None and fold(f.text) in fold(v) for v in ids) or any(
            v is not None and f.text.lower() in v.lower() for v in values
        )
    return True


class Reference:
    """The buffer's adding rules over a plain list in id order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: list[LogEntry] = []

    def add_older(self, page: list[LogEntry]) -> int:
        oldest = self.entries[0].id if self.entries else None
        fresh = sorted(
            {e.id: e for e in page if oldest is None or e.id < oldest}.values(), key=lambda e: e.id
        )
        fresh = fresh[max(0, len(fresh) - (self.capacity - len(self.entries))) :]
        self.entries[:0] = fresh
        return len(fresh)

    def add_newer(self, batch: list[LogEntry]) -> AddResult:
        newest = self.entries[-1].id if self.entries else None
        fresh = sorted(
            {e.id: e for e in batch if newest is None or e.id > newest}.values(), key=lambda e: e.id
        )
        skipped = len(batch) - len(fresh)
        before = len(self.entries)
        self.entries.extend(fresh)
        dropped = max(0, len(self.entries) - self.capacity)
        del self.entries[:dropped]
        added = len(self.entries) - (before - min(before, dropped))
        return AddResult(added, dropped, skipped)

    def update(self, changes: list[LogEntry]) -> None:
        by_id = {e.id: i for i, e in enumerate(self.entries)}
        for change in changes:
            if change.id in by_id:
                at = by_id[change.id]
                self.entries[at] = dataclasses.replace(
                    self.entries[at],
                    processing_status=change.processing_status,
                    http_status=change.http_status,
                    errors=change.errors,
                    error_count=change.error_count,
                    items_received=change.items_received,
                    duration_ms=change.duration_ms,
                )


def filters(known: list[LogEntry]) -> st.SearchStrategy[BufferFilter]:
    """Random filters over values the entries have (and some they do not)."""
    texts: list[str] = ["", "req_", "q_a", "ORD", "0.4", "xyz", "items: ", "-"]
    for entry in known[:20]:
        for value in (entry.request_id, entry.correlation_id, entry.idempotency_key):
            if value:
                texts.append(value[2:9].swapcase())
                texts.append(value[-5:])
    labels = sorted({label for e in known if (label := error_label(e))})
    times = [e.timestamp for e in known[:10]] + [BASE_TIME, BASE_TIME + 40_000.5]
    some = st.frozensets
    return st.builds(
        BufferFilter,
        statuses=some(st.sampled_from(STATUSES), max_size=2),
        feeds=some(st.sampled_from([f for f in FEEDS if f] + ["nowhere"]), max_size=2),
        intents=some(st.sampled_from([i for i in INTENTS if i]), max_size=2),
        http_statuses=some(st.sampled_from([0, 200, 202, 400, 429, 500]), max_size=5),
        keys=some(st.sampled_from([k for k in KEYS if k]), max_size=1),
        errors=some(st.sampled_from(labels or ["none"]), max_size=2),
        since=st.one_of(st.none(), st.sampled_from(times)),
        until=st.one_of(st.none(), st.sampled_from(times)),
        text=st.sampled_from(texts),
    )


operation = st.one_of(
    st.tuples(st.just("older"), st.lists(fields(), min_size=0, max_size=12), st.integers(0, 3)),
    st.tuples(st.just("newer"), st.lists(fields(), min_size=0, max_size=12), st.integers(0, 3)),
    st.tuples(st.just("update"), st.lists(fields(), min_size=1, max_size=6), st.integers(0, 99)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity=st.integers(1, 40),
    operations=st.lists(operation, min_size=1, max_size=8),
    data=st.data(),
)
def test_select_equals_a_plain_python_filter(
    capacity: int, operations: list[tuple[str, list[dict[str, Any]], int]], data: st.DataObject
) -> None:
    # Small first arrays, so that growth re-places entries already wrapped in the ring;
    # categories compacted as soon as they hold 3 values, so that recoding runs often.
    with (
        mock.patch.object(buffer_module, "_FIRST_SIZE", 2),
        mock.patch.object(buffer_module, "_COMPACT_FROM", 3),
    ):
        buffer = LogBuffer(capacity=capacity)
        reference = Reference(capacity)
        low = high = 1_000_000
        for kind, drawn, repeats in operations:
            if kind == "older":
                page = [LogEntry(id=low - 1 - i, **f) for i, f in enumerate(drawn)]
                low -= len(drawn)
                page += reference.entries[:repeats]  # already held: skipped
                page.sort(key=lambda e: -e.id)
                assert buffer.add_older(page) == reference.add_older(page)
            elif kind == "newer":
                batch = [LogEntry(id=high + 1 + i, **f) for i, f in enumerate(drawn)]
                high += len(drawn)
                batch += reference.entries[-repeats:] if repeats else []
                batch.reverse()
                assert buffer.add_newer(batch) == reference.add_newer(batch)
            elif reference.entries:
                targets = [
                    reference.entries[(repeats + i * 7) % len(reference.entries)]
                    for i in range(len(drawn))
                ]
                # The server's later version of the same entry: its status fields change.
                changes = [
                    dataclasses.replace(
                        t,
                        **{
                            name: f[name]
                            for name in (
                                "processing_status",
                                "http_status",
                                "errors",
                                "error_count",
                                "items_received",
                                "duration_ms",
                            )
                        },
                    )
                    for t, f in zip(targets, drawn, strict=True)
                ]
                buffer.update(changes)
                reference.update(changes)
            assert len(buffer) == len(reference.entries)
        f = data.draw(filters(reference.entries))
        expected = [e.id for e in reversed(reference.entries) if reference_match(e, f)]
        sel = buffer.select(f)
        assert [buffer.entry_id(int(s)) for s in sel.slots] == expected, f
        by_id = {e.id: e for e in reference.entries}
        for slot in buffer.select(BufferFilter()).slots[:8].tolist():
            held = buffer.entry(slot)
            original = by_id[held.id]
            assert held.timestamp == original.timestamp
            assert held.request_id == original.request_id
            assert held.correlation_id == original.correlation_id
            assert held.idempotency_key == original.idempotency_key
            assert (held.feed, held.intent, held.key, held.key_id) == (
                original.feed,
                original.intent,
                original.key,
                original.key_id,
            )
            assert (held.method, held.auth_via, held.client_ip) == (
                original.method,
                original.auth_via,
                original.client_ip,
            )
            assert held.processing_status == original.processing_status
            assert held.http_status == original.http_status
            assert held.items_received == original.items_received
            assert held.duration_ms == original.duration_ms
            assert buffer.value(slot, Column.ERROR) == error_label(original)


indexes = st.integers(0, 100_000)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(indexes, indexes), min_size=2, max_size=20))
def test_one_problem_in_items_at_different_indices_makes_one_error_group(
    at: list[tuple[int, int]],
) -> None:
    """The sandbox names the indexed field in the message too: `[7].id is missing…`."""
    made = []
    for item, line in at:
        made.append(
            (
                LogItemError(
                    item,
                    f"[{item}].id",
                    f"[{item}].id is missing: every item carries the feed's id field.",
                ),
                LogItemError(
                    item,
                    f"[{item}].items[{line}].sku",
                    f"[{item}].items[{line}].sku must be a string.",
                ),
            )
        )
    top = {error_label(_refused_with(n, first)) for n, (first, _nested) in enumerate(made)}
    nested = {error_label(_refused_with(n, second)) for n, (_first, second) in enumerate(made)}
    assert top == {
        "400 INVALID_PAYLOAD: [*].id is missing: every item carries the feed's id field."
    }
    assert nested == {"400 INVALID_PAYLOAD: [*].items[*].sku must be a string."}
    buffer = LogBuffer(capacity=100)
    buffer.add_older([_refused_with(n + 1, first) for n, (first, _nested) in enumerate(made)][::-1])
    [group] = buffer.error_groups(buffer.select(BufferFilter()))
    assert group.count == len(at)
    assert group.error in top


def _refused_with(entry_id: int, error: LogItemError) -> LogEntry:
    return refused(entry_id, 400, error.message, error.field, feed="orders")
