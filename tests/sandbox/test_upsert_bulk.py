"""`upsert_items_bulk` is `upsert_items`: same outcomes, same rows, on random sequences.

Two databases start equal; each step applies the same chunk to both, per item in one and
in bulk in the other (archives, restores and id-less records go the same way into both, so
the bulk path meets archived records and records without a system id). After every step
the outcomes must be equal and at the end every row the writes leave: records (GUIDs
compared through the outcomes, since they are random), history, dirty marks, the feed's
count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.sandbox.records import store
from console.sandbox.storage import sqlite as storage

ACTOR = store.Actor("key_" + "a" * 24, "fdk_…ab12", "corr_bulk", "upsert")
OTHER = store.Actor("key_" + "b" * 24, "fdk_…cd34", "corr_other", "record-patch")


def _template() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    storage.migrate(conn)
    with storage.transaction(conn):
        account = storage.ensure_account(conn, "acct")
        storage.insert_feed(
            conn, account, slug="orders", name="Orders", method="ingest", id_field="sku"
        )
        storage.insert_feed(conn, account, slug="other", name="Other", method="ingest")
        other = store.find_feed(conn, account, "other")
        assert other is not None
        # Another feed's record with a system id the random items use too.
        store.upsert_items(conn, other, [{"id": "a", "v": 1}], OTHER, 1.0)
    return conn


TEMPLATE = _template()


def _copy() -> tuple[sqlite3.Connection, store.FeedRef]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    TEMPLATE.backup(conn)
    conn.row_factory = sqlite3.Row
    feed = store.find_feed(conn, 1, "orders")
    assert feed is not None
    return conn, feed


SKUS = st.sampled_from(["a", "b", "c", "3", 3, 4, "é"])
VALUES = st.sampled_from([1, 1.0, True, "1", None, [1], {"x": 1}, {"x": 1.0}])
GOOD = st.builds(
    lambda sku, fields, first: {"sku": sku, **fields} if first else {**fields, "sku": sku},
    SKUS,
    st.dictionaries(st.sampled_from(["v", "w", "sku2"]), VALUES, max_size=3),
    st.booleans(),
)
BAD = st.sampled_from(
    [
        {"v": 1},  # no id field
        {"sku": None},
        {"sku": ""},
        {"sku": 1.5},
        {"sku": True},
        {"sku": "x" * 256},
        ["sku"],  # not an object
        {"sku": "big", "blob": "x" * store.MAX_DATA_BYTES},  # over the size limit
    ]
)
ITEMS = st.lists(st.one_of(GOOD, GOOD, GOOD, BAD), max_size=12)
STEP = st.one_of(
    st.tuples(st.just("upsert"), ITEMS),
    st.tuples(st.just("archive"), st.lists(st.sampled_from(["a", "b", "3", "4"]), max_size=3)),
    st.tuples(st.just("restore"), st.lists(st.sampled_from(["a", "b", "3", "4"]), max_size=3)),
    st.tuples(st.just("no-id"), st.just([{"v": 1}])),
)


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql)]


def _state(conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        "records": _rows(
            conn,
            "SELECT seq, feed_seq, system_id, deleted, created_at, updated_at, data,"
            " last_correlation_id, archived, restored FROM records ORDER BY seq",
        ),
        "history": _rows(conn, "SELECT * FROM record_history ORDER BY id"),
        "dirty": _rows(conn, "SELECT seq FROM records_dirty ORDER BY seq"),
        "counts": _rows(conn, "SELECT seq, record_count FROM feeds ORDER BY seq"),
    }


def _seq_of_guid(conn: sqlite3.Connection) -> dict[str | None, int | None]:
    found: dict[str | None, int | None] = {None: None}
    found.update({row[0]: row[1] for row in conn.execute("SELECT guid, seq FROM records")})
    return found


def _comparable(
    outcomes: Sequence[store.ItemOutcome], seqs: dict[str | None, int | None], shift: int = 0
) -> list[tuple[Any, ...]]:
    """Outcomes with each GUID replaced by its record's seq (GUIDs are random)."""
    return [
        (o.index - shift, o.action, seqs[o.guid], o.system_id, o.field, o.message) for o in outcomes
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=8), first_index=st.integers(0, 5_000))
def test_bulk_upsert_equals_the_one_by_one_upsert(
    steps: list[tuple[str, list[Any]]], first_index: int
) -> None:
    one, feed = _copy()
    bulk, _ = _copy()
    at = 1_800_000_000.0
    for kind, args in steps:
        at += 1.5
        if kind == "upsert":
            with storage.transaction(one):
                expected = store.upsert_items(one, feed, args, ACTOR, at)
            with storage.transaction(bulk):
                got = store.upsert_items_bulk(bulk, feed, args, ACTOR, at, first_index=first_index)
            assert [o.index for o in got] == [first_index + n for n in range(len(args))]
            assert _comparable(got, _seq_of_guid(bulk), first_index) == _comparable(
                expected, _seq_of_guid(one)
            )
            continue
        for conn in (one, bulk):
            with storage.transaction(conn):
                if kind == "no-id":
                    store.create_record(conn, feed, args[0], OTHER, at)
                else:
                    store.set_deleted(conn, feed, args, kind == "archive", OTHER, at)
    assert _state(bulk) == _state(one)


def test_in_chunk_duplicates_archived_records_and_bad_items() -> None:
    """The cases the property covers, spelled out once (and readable when it fails)."""
    conn, feed = _copy()
    with storage.transaction(conn):
        store.upsert_items(conn, feed, [{"sku": "kept", "v": 1}], OTHER, 10.0)
        store.set_deleted(conn, feed, ["kept"], True, OTHER, 10.0)
    items: list[Any] = [
        {"sku": "n", "v": 1},  # created
        {"sku": "n", "v": 1},  # the same data again in the chunk: unchanged
        {"v": 1, "sku": "n"},  # same fields, other order: unchanged
        {"sku": "n", "v": 2},  # updated (the record the first item created)
        {"sku": "kept", "v": 2},  # an archived record: updated, stays archived
        {"sku": 7},  # an integer id: created as "7"
        {"sku": "7", "w": 1},  # the same system id as a string: updated
        {"sku": None},
        "not an object",
    ]
    with storage.transaction(conn):
        got = store.upsert_items_bulk(conn, feed, items, ACTOR, 20.0, first_index=100)
    assert [(o.index, o.action, o.system_id) for o in got] == [
        (100, "created", "n"),
        (101, "unchanged", "n"),
        (102, "unchanged", "n"),
        (103, "updated", "n"),
        (104, "updated", "kept"),
        (105, "created", "7"),
        (106, "updated", "7"),
        (107, "failed", None),
        (108, "failed", None),
    ]
    assert got[7].field == "sku"
    assert got[8].message == "The item must be a JSON object."
    kept = store.record_by_system_id(conn, feed, "kept")
    assert kept is not None
    assert (kept["deleted"], kept["data"]) == (1, '{"sku":"kept","v":2}')
    assert (
        conn.execute("SELECT record_count FROM feeds WHERE seq = ?", (feed.seq,)).fetchone()[0] == 2
    )
