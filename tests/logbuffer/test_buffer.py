"""LogBuffer: adding pages and live entries, filters, summaries and what one slot shows."""

from __future__ import annotations

import numpy as np
import pytest

from console.api.logs import LogItemError
from console.logbuffer.buffer import (
    STATUSES,
    AddResult,
    BufferFilter,
    Column,
    LogBuffer,
    Selection,
    error_label,
)
from tests.logbuffer.entries import make_entry, page, refused


def ids(buffer: LogBuffer, sel: Selection) -> list[int]:
    return [buffer.entry_id(int(slot)) for slot in sel.slots]


def test_pages_go_in_newest_first_and_duplicates_are_skipped() -> None:
    buffer = LogBuffer(capacity=1000)
    assert buffer.add_older(page(51, 100)) == 50
    # The next page overlaps the first by ten entries (a short page's cursor, a retry).
    assert buffer.add_older(page(1, 60)) == 50
    assert len(buffer) == 100
    assert (buffer.oldest_id, buffer.newest_id) == (1, 100)
    assert ids(buffer, buffer.select(BufferFilter())) == list(range(100, 0, -1))
    assert buffer.has_id(60)
    assert not buffer.has_id(101)
    assert buffer.oldest_time == 1_700_000_001.0
    assert buffer.newest_time == 1_700_000_100.0


def test_a_full_buffer_takes_the_newest_of_a_page_and_says_so() -> None:
    buffer = LogBuffer(capacity=30)
    assert buffer.add_older(page(81, 100)) == 20
    assert buffer.add_older(page(61, 80)) == 10
    assert buffer.add_older(page(41, 60)) == 0
    assert ids(buffer, buffer.select(BufferFilter())) == list(range(100, 70, -1))


def test_live_entries_evict_the_oldest_and_never_repeat() -> None:
    buffer = LogBuffer(capacity=10)
    buffer.add_older(page(1, 8))
    kept = buffer.slot_of(8)
    result = buffer.add_newer([make_entry(11), make_entry(9), make_entry(10), make_entry(9)])
    assert result == AddResult(added=3, evicted=1, skipped=1)
    assert ids(buffer, buffer.select(BufferFilter())) == list(range(11, 1, -1))
    # Repeats (a reconnecting stream) and anything not newer are skipped.
    assert buffer.add_newer([make_entry(10), make_entry(11), make_entry(5)]) == AddResult(0, 0, 3)
    # A slot names the same entry for as long as it is held.
    assert buffer.slot_of(8) == kept
    assert buffer.entry_id(kept) == 8
    # A batch bigger than the buffer keeps its newest.
    result = buffer.add_newer([make_entry(i) for i in range(12, 40)])
    assert result == AddResult(added=10, evicted=10 + 18, skipped=0)
    assert ids(buffer, buffer.select(BufferFilter())) == list(range(39, 29, -1))
    assert not buffer.holds(kept)
    assert buffer.value(kept, Column.FEED) is None


def test_update_refreshes_statuses_by_id() -> None:
    buffer = LogBuffer(capacity=100)
    buffer.add_older(page(1, 20, processing_status="queued", http_status=202))
    before = buffer.generation
    changed = buffer.update(
        [
            make_entry(5, processing_status="succeeded"),
            make_entry(6, processing_status="queued"),  # unchanged
            make_entry(7, processing_status="failed", errors=(LogItemError(0, "sku", "bad"),)),
            make_entry(99, processing_status="failed"),  # not held
        ]
    )
    assert changed == 2
    assert buffer.generation > before
    assert buffer.value(buffer.slot_of(5), Column.STATUS) == "succeeded"  # type: ignore[arg-type]
    slot7 = buffer.slot_of(7)
    assert slot7 is not None
    assert buffer.value(slot7, Column.ERROR) == "items: bad (sku)"
    assert buffer.entry(slot7).error_count == 1
    queued = buffer.select(BufferFilter(statuses=frozenset({"queued"})))
    assert 5 not in ids(buffer, queued)
    assert len(queued) == 18


def test_filters_combine_and_keep_display_order() -> None:
    buffer = LogBuffer(capacity=1000)
    entries = [
        make_entry(1, feed="orders", http_status=202),
        make_entry(2, feed="payments", http_status=None, intent="pipeline.sync_failed"),
        refused(3, 429, "rate limited: retry after 1 s"),
        make_entry(4, feed="orders", key="fdk_…e5f6"),
        refused(5, 400, "required field missing", "[14].sku"),
        make_entry(6, feed="orders", processing_status="queued"),
    ]
    buffer.add_older(entries[::-1])
    select = buffer.select
    assert ids(buffer, select(BufferFilter(feeds=frozenset({"orders"})))) == [6, 4, 1]
    assert ids(buffer, select(BufferFilter(http_statuses=frozenset({0})))) == [2]
    assert ids(buffer, select(BufferFilter(http_statuses=frozenset({429, 400})))) == [5, 3]
    assert ids(buffer, select(BufferFilter(keys=frozenset({"fdk_…e5f6"})))) == [4]
    assert ids(buffer, select(BufferFilter(intents=frozenset({"pipeline.sync_failed"})))) == [2]
    label = "400 INVALID_PAYLOAD: required field missing (sku)"
    assert ids(buffer, select(BufferFilter(errors=frozenset({label})))) == [5]
    both = BufferFilter(feeds=frozenset({"orders"}), statuses=frozenset({"queued", "succeeded"}))
    assert ids(buffer, select(both)) == [6, 4, 1]
    timed = BufferFilter(since=1_700_000_002.0, until=1_700_000_005.0)
    assert ids(buffer, select(timed)) == [4, 3, 2]
    assert ids(buffer, select(BufferFilter(feeds=frozenset({"nowhere"})))) == []


def test_text_matches_ids_with_their_prefix_keys_and_values_ignoring_case() -> None:
    buffer = LogBuffer(capacity=100)
    buffer.add_older(
        [
            make_entry(4, idempotency_key="Order-Batch-0042", correlation_id="my-own-id"),
            make_entry(3, request_id="req_ABCdef0123456789ghijKLMNOP"),
            make_entry(2, feed="returns", correlation_id=None),
            make_entry(1, client_ip="10.0.4.17"),
        ]
    )

    def found(text: str) -> list[int]:
        return ids(buffer, buffer.select(BufferFilter(text=text)))

    assert found("req_abcdef0123456789GHIJklmnop") == [3]  # the whole id, any case
    assert found("q_ABC") == [3]  # across the implied prefix
    assert found("456789gh") == [3]
    assert found("req_") == [4, 3, 2, 1]
    assert found("batch-00") == [4]  # an idempotency key
    assert found("OWN-ID") == [4]  # an id of another form
    assert found("RETURNS") == [2]
    assert found("0.4.1") == [1]
    assert found("corr_") == [3, 1]  # 4 has its own form, 2 none
    assert found("no such thing") == []
    # A match must not run from one id's end into the next row's start.
    slot = buffer.slot_of(3)
    assert slot is not None
    tail = str(buffer.value(slot, Column.REQUEST_ID))[-3:]
    following = str(buffer.value(slot + 1, Column.REQUEST_ID))[4:7]
    assert found(tail + following) == []


def test_error_labels_group_refusals_and_item_errors() -> None:
    assert error_label(make_entry(1)) is None
    assert (
        error_label(refused(1, 400, "required field missing", "[14].sku"))
        == "400 INVALID_PAYLOAD: required field missing (sku)"
    )
    # The field is not repeated when the message names it (indices and all).
    assert (
        error_label(refused(1, 400, "[7].id is missing: every item carries the id.", "[7].id"))
        == "400 INVALID_PAYLOAD: [*].id is missing: every item carries the id."
    )
    assert (
        error_label(refused(1, 400, "id must be a string.", "id"))
        == "400 INVALID_PAYLOAD: id must be a string."
    )
    assert (
        error_label(refused(1, 400, "Item [3] must be an object.", "[3]"))
        == "400 INVALID_PAYLOAD: Item [*] must be an object."
    )
    # A word that merely contains the field's name does not count as naming it.
    assert (
        error_label(refused(1, 400, "an invalid value", "[2].valid"))
        == "400 INVALID_PAYLOAD: an invalid value (valid)"
    )
    assert error_label(refused(2, 429, "rate limited: retry after 3 s")) == "429 RATE_LIMITED"
    assert error_label(refused(3, 404, "stream not found")) == "404 STREAM_NOT_FOUND"
    assert error_label(refused(4, 413, "too big")) == "413 PAYLOAD_TOO_LARGE"
    assert error_label(refused(5, 503, "down")) == "503 INTERNAL"
    # Every status the contract names a code for is labelled with it (one table, shared).
    assert error_label(refused(8, 408, "too slow")) == "408 REQUEST_TIMEOUT"
    partial = make_entry(
        6,
        processing_status="partially_failed",
        errors=(LogItemError(3, "items[3].price", "expected a number"),),
        error_count=40,
    )
    assert error_label(partial) == "items: expected a number (items.price)"
    pipeline = make_entry(
        7,
        http_status=None,
        intent="pipeline.sync_failed",
        errors=(LogItemError(None, None, "destination timed out"),),
    )
    assert error_label(pipeline) == "pipeline.sync_failed: destination timed out"


def test_histogram_error_groups_and_facets_count_the_selection() -> None:
    buffer = LogBuffer(capacity=100)
    base = 1_700_000_000.0
    entries = [
        make_entry(1, timestamp=base + 1, feed="orders"),
        refused(2, 429, "slow down", feed="orders"),
        refused(3, 429, "slow down", feed="orders"),
        refused(4, 400, "required field missing", "[1].sku", feed="orders"),
        make_entry(5, timestamp=base + 55, processing_status="queued", feed="orders"),
    ]
    buffer.add_older(entries[::-1])
    everything = buffer.select(BufferFilter())
    histogram = buffer.histogram(everything, base, base + 60, 6)
    assert histogram.counts.shape == (len(STATUSES), 6)
    assert histogram.counts.sum() == 5
    assert histogram.counts[STATUSES.index("queued"), 5] == 1
    assert histogram.counts[STATUSES.index("rejected"), 0] == 3
    assert histogram.bin_range(5) == (base + 50, base + 60)
    groups = buffer.error_groups(everything)
    assert [(g.error, g.count, g.http_status) for g in groups] == [
        ("429 RATE_LIMITED", 2, 429),
        ("400 INVALID_PAYLOAD: required field missing (sku)", 1, 400),
    ]
    assert groups[0].latest == base + 3
    assert buffer.facet(everything, Column.STATUS)[0] == ("rejected", 3)
    assert dict(buffer.facet(everything, Column.HTTP_STATUS)) == {429: 2, 400: 1, 202: 2}
    with pytest.raises(ValueError, match="no facet"):
        buffer.facet(everything, Column.REQUEST_ID)


def test_entry_and_values_rebuild_what_was_added() -> None:
    buffer = LogBuffer(capacity=100)
    original = make_entry(
        7,
        idempotency_key="k-1",
        duration_ms=123.456,
        pipeline_id=None,
        errors=(LogItemError(0, "sku", "required field missing"),),
        processing_status="partially_failed",
    )
    buffer.add_older([original])
    slot = buffer.slot_of(7)
    assert slot is not None
    rebuilt = buffer.entry(slot)
    assert rebuilt.request_id == original.request_id
    assert rebuilt.correlation_id == original.correlation_id
    assert rebuilt.duration_ms == 123.456
    assert rebuilt.idempotency_key == "k-1"
    assert rebuilt.errors[0].message == "items: required field missing (sku)"
    assert rebuilt.path is None
    assert rebuilt.key == original.key
    assert buffer.value(slot, Column.ITEMS) == original.items_received
    assert buffer.column_values(np.array([slot]), Column.DURATION) == [123.456]


def test_click_to_filter_builds_filters() -> None:
    f = BufferFilter().with_value(Column.FEED, "orders").with_value(Column.HTTP_STATUS, None)
    assert f == BufferFilter(feeds=frozenset({"orders"}), http_statuses=frozenset({0}))
    assert f.with_value(Column.FEED, "payments").feeds == frozenset({"payments"})
    assert f.without(Column.FEED).without(Column.HTTP_STATUS).is_empty()
    assert BufferFilter().with_value(Column.REQUEST_ID, "req_x").text == "req_x"
    assert BufferFilter().with_value(Column.TIME, (1.0, 2.0)).until == 2.0
    with pytest.raises(ValueError, match="cannot be filtered"):
        BufferFilter().with_value(Column.DURATION, 3.0)


def test_pending_since_finds_the_oldest_recent_non_final_entry() -> None:
    buffer = LogBuffer(capacity=100)
    base = 1_700_000_000.0
    buffer.add_older(
        [
            make_entry(4, timestamp=base + 400, processing_status="processing"),
            make_entry(3, timestamp=base + 300, processing_status="queued"),
            make_entry(2, timestamp=base + 200, processing_status="succeeded"),
            make_entry(1, timestamp=base + 10, processing_status="queued"),  # too old
        ]
    )
    assert buffer.pending_since(600, base + 700) == base + 300
    assert buffer.pending_since(100, base + 2000) is None


def test_text_in_the_side_arena_never_spans_two_keys() -> None:
    buffer = LogBuffer(capacity=100)
    buffer.add_older([make_entry(2, idempotency_key="abc"), make_entry(1, idempotency_key="def")])
    buffer.add_newer([make_entry(3, idempotency_key="ghi"), make_entry(4, idempotency_key="jkl")])

    def found(text: str) -> list[int]:
        return ids(buffer, buffer.select(BufferFilter(text=text)))

    assert found("EF") == [1]
    assert found("hi") == [3]
    assert found("fa") == found("cd") == found("ij") == []


def test_columns_widen_for_far_ids_long_spans_fine_times_and_many_values() -> None:
    buffer = LogBuffer(capacity=1000)
    day = 86_400.0
    buffer.add_older([make_entry(10**10, timestamp=1_700_000_000.5, feed="f0")])
    # 4e9+ ids and 100 days apart: past what 4-byte offsets hold.
    buffer.add_older([make_entry(7, timestamp=1_700_000_000.5 - 100 * day, feed="f1")])
    # A timestamp finer than the contract's milliseconds is kept exactly too.
    buffer.add_newer([make_entry(10**10 + 1, timestamp=1_700_000_001.123456, feed="f2")])
    buffer.add_newer([make_entry(10**10 + 2 + i, feed=f"f{3 + i}") for i in range(300)])
    assert ids(buffer, buffer.select(BufferFilter()))[-3:] == [10**10 + 1, 10**10, 7]
    slot = buffer.slot_of(10**10 + 1)
    assert slot is not None
    assert buffer.entry(slot).timestamp == 1_700_000_001.123456
    assert buffer.value(buffer.slot_of(7) or 0, Column.TIME) == 1_700_000_000.5 - 100 * day
    window = BufferFilter(since=1_700_000_000.5, until=1_700_000_001.123456)
    assert ids(buffer, buffer.select(window)) == [10**10]
    assert ids(buffer, buffer.select(BufferFilter(feeds=frozenset({"f302"})))) == [10**10 + 301]
    assert buffer.facet(buffer.select(BufferFilter()), Column.FEED, limit=400)[-1][1] == 1


def test_time_filters_are_exact_at_millisecond_bounds() -> None:
    buffer = LogBuffer(capacity=100)
    base = 1_764_000_000.0
    buffer.add_older([make_entry(i, timestamp=base + i / 1000) for i in range(10, 0, -1)])
    f = BufferFilter(since=base + 0.003, until=base + 0.007)
    assert ids(buffer, buffer.select(f)) == [6, 5, 4, 3]
    assert ids(buffer, buffer.select(BufferFilter(since=base + 0.0035))) == [10, 9, 8, 7, 6, 5, 4]
    assert ids(buffer, buffer.select(BufferFilter(until=base - 5))) == []
    assert len(buffer.select(BufferFilter(since=base - 10**9, until=base + 10**9))) == 10


def test_slots_are_renumbered_before_they_run_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import console.logbuffer.buffer as module

    monkeypatch.setattr(module, "_SLOT_LIMIT", module._ORIGIN + 40)
    buffer = LogBuffer(capacity=8)
    buffer.add_older([make_entry(1, idempotency_key="k1", correlation_id="own-1")])
    for start in range(2, 200, 7):
        buffer.add_newer(
            [
                make_entry(i, idempotency_key=f"k{i}", correlation_id=f"own-{i}")
                for i in range(start, start + 7)
            ]
        )
    held = ids(buffer, buffer.select(BufferFilter()))
    assert held == list(range(204, 196, -1))
    assert int(buffer.select(BufferFilter()).slots.max()) <= module._SLOT_LIMIT
    for slot in buffer.select(BufferFilter()).slots.tolist():
        entry = buffer.entry(slot)
        assert entry.idempotency_key == f"k{entry.id}"
        assert entry.correlation_id == f"own-{entry.id}"
    assert ids(buffer, buffer.select(BufferFilter(text="K203"))) == [203]


def test_a_long_tail_of_distinct_values_keeps_the_categories_bounded() -> None:
    buffer = LogBuffer(capacity=50)
    for start in range(0, 12_000, 25):
        buffer.add_newer(
            [
                make_entry(
                    i, client_ip=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", feed=f"feed-{i}"
                )
                for i in range(start + 1, start + 26)
            ]
        )
    view = buffer._view
    # Without compaction each category would hold 12,000 values (and 4-byte codes).
    assert len(view.categories["client_ip"].values) <= 4097
    assert len(view.categories["feed"].values) <= 4097
    assert view.columns["feed"].dtype == np.uint16
    newest = buffer.select(BufferFilter())
    assert ids(buffer, newest) == list(range(12_000, 11_950, -1))
    for slot in newest.slots.tolist():
        entry = buffer.entry(slot)
        assert entry.feed == f"feed-{entry.id}"
        assert entry.client_ip == f"10.0.{entry.id // 256 % 256}.{entry.id % 256}"
    assert ids(buffer, buffer.select(BufferFilter(feeds=frozenset({"feed-11990"})))) == [11_990]
    assert ids(buffer, buffer.select(BufferFilter(text="FEED-1197"))) == list(
        range(11_979, 11_969, -1)
    )


def test_clear_empties_the_buffer_for_a_new_load() -> None:
    buffer = LogBuffer(capacity=100)
    buffer.add_older(page(1, 300)[:100])
    before = buffer.generation
    buffer.clear()
    assert len(buffer) == 0
    assert buffer.generation > before
    assert buffer.oldest_id is None
    assert len(buffer.select(BufferFilter())) == 0
    assert buffer.add_older(page(1, 10)) == 10
    assert ids(buffer, buffer.select(BufferFilter())) == list(range(10, 0, -1))


def test_time_bounds_far_out_of_range_select_all_or_nothing() -> None:
    buffer = LogBuffer(capacity=10)
    buffer.add_older(page(1, 5))
    assert len(buffer.select(BufferFilter(since=-1e300, until=1e300))) == 5
    assert len(buffer.select(BufferFilter(since=1e300))) == 0
    assert len(buffer.select(BufferFilter(until=-1e300))) == 0
    assert len(buffer.select(BufferFilter(since=float("nan")))) == 0


def test_the_empty_filter_reuses_its_slots_while_held_and_follows_every_change() -> None:
    buffer = LogBuffer(capacity=10)
    buffer.add_older(page(1, 8, processing_status="queued"))
    shown = buffer.select(BufferFilter())
    again = buffer.select(BufferFilter())
    # Held by the view: the same array, no pass over the buffer; nobody may change it.
    assert again.slots is shown.slots
    assert not shown.slots.flags.writeable
    assert ids(buffer, again) == list(range(8, 0, -1))
    # A status refresh keeps the slots and tells the new generation.
    assert buffer.update([make_entry(3, processing_status="failed")]) == 1
    refreshed = buffer.select(BufferFilter())
    assert refreshed.slots is shown.slots
    assert refreshed.generation == buffer.generation
    # Added and evicted entries: new slots.
    buffer.add_newer([make_entry(i) for i in range(9, 13)])
    moved = buffer.select(BufferFilter())
    assert ids(buffer, moved) == list(range(12, 2, -1))
    assert moved.slots is not shown.slots
    buffer.clear()
    assert len(buffer.select(BufferFilter())) == 0


def test_the_side_arena_widens_its_offsets_past_their_narrow_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Offsets are uint32; a blob past 4 GiB widens them. The limit is lowered to see it.
    from console.logbuffer import _arena

    monkeypatch.setattr(_arena, "_NARROW_ENDS_MAX", 10)
    buffer = LogBuffer(capacity=100)
    buffer.add_older([make_entry(2, idempotency_key="abcdef"), make_entry(1, idempotency_key="gh")])
    assert buffer._idempotency.older.ends.dtype == np.uint32
    buffer.add_older([make_entry(0, idempotency_key="ijklmn")])
    assert buffer._idempotency.older.ends.dtype == np.int64
    keys = [buffer.value(buffer.slot_of(i) or 0, Column.IDEMPOTENCY_KEY) for i in (0, 1, 2)]
    assert keys == ["ijklmn", "gh", "abcdef"]
    assert ids(buffer, buffer.select(BufferFilter(text="KLM"))) == [0]
