"""The records store as intents and imports call it: one transaction, outcomes per item."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.records import store
from console.sandbox.storage import sqlite as storage

ACTOR = store.Actor("key_" + "a" * 24, "fdk_…ab12", "corr_test", "upsert")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = storage.connect(tmp_path)
    with storage.transaction(connection):
        account = storage.ensure_account(connection, "acct")
        storage.insert_feed(
            connection, account, slug="orders", name="Orders", method="ingest", id_field="sku"
        )
    yield connection
    connection.close()


def feed_of(conn: sqlite3.Connection) -> store.FeedRef:
    account = storage.ensure_account(conn, "acct")
    feed = store.find_feed(conn, account, "orders")
    assert feed is not None
    return feed


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT record_count FROM feeds WHERE slug = 'orders'").fetchone()[0])


def history(conn: sqlite3.Connection, guid: str) -> list[tuple[str, list[str]]]:
    rows = conn.execute(
        "SELECT h.intent, h.changed FROM record_history h JOIN records r ON r.seq = h.record_seq"
        " WHERE r.guid = ? ORDER BY h.id",
        (guid,),
    ).fetchall()
    return [(row[0], json.loads(row[1])) for row in rows]


def test_find_feed_and_system_ids(conn: sqlite3.Connection) -> None:
    assert storage.has_fts5(conn)  # checked at start-up: records need it
    feed = feed_of(conn)
    assert (feed.slug, feed.method, feed.id_field) == ("orders", "ingest", "sku")
    assert store.find_feed(conn, feed.account_id, "other") is None
    assert store.system_id_of("A") == "A"
    assert store.system_id_of(42) == "42"
    for bad in (True, 1.5, None, {}, [], "", "x" * 256, 10**300):
        assert store.system_id_of(bad) is None


def test_upsert_items_creates_updates_and_fails_per_item(conn: sqlite3.Connection) -> None:
    feed = feed_of(conn)
    with storage.transaction(conn):
        outcomes = store.upsert_items(
            conn,
            feed,
            [{"sku": "A", "n": 1}, {"n": 2}, {"sku": 7, "n": 3}, {"sku": "A", "n": 4}],
            ACTOR,
            100.5,
        )
    assert [o.action for o in outcomes] == ["created", "failed", "created", "updated"]
    assert outcomes[1].field == "sku"
    assert outcomes[2].system_id == "7"
    assert outcomes[0].guid == outcomes[3].guid
    assert count(conn) == 2
    with storage.transaction(conn):
        again = store.upsert_items(conn, feed, [{"sku": "A", "n": 4}], ACTOR, 200.0)
    assert again[0].action == "unchanged"
    assert outcomes[0].guid is not None
    assert history(conn, outcomes[0].guid) == [("upsert", ["sku", "n"]), ("upsert", ["n"])]


def test_patch_items_merge_and_unknown_fails(conn: sqlite3.Connection) -> None:
    feed = feed_of(conn)
    with storage.transaction(conn):
        store.upsert_items(conn, feed, [{"sku": "A", "a": 1, "b": {"c": 1}}], ACTOR, 1.0)
        outcomes = store.patch_items(
            conn, feed, [{"sku": "A", "a": None, "b": {"d": 2}}, {"sku": "Z", "a": 1}], ACTOR, 2.0
        )
    assert [o.action for o in outcomes] == ["updated", "failed"]
    assert outcomes[1].message == "no record with system_id Z"
    row = store.record_by_system_id(conn, feed, "A")
    assert row is not None
    assert json.loads(row["data"]) == {"sku": "A", "b": {"c": 1, "d": 2}}


def test_set_deleted_archives_restores_and_counts(conn: sqlite3.Connection) -> None:
    feed = feed_of(conn)
    with storage.transaction(conn):
        store.upsert_items(conn, feed, [{"sku": "A"}, {"sku": "B"}], ACTOR, 1.0)
        archived = store.set_deleted(conn, feed, ["A", "A", "Q"], True, ACTOR, 2.0)
    assert [o.action for o in archived] == ["archived", "unchanged", "failed"]
    assert count(conn) == 1
    row = store.record_by_system_id(conn, feed, "A")
    assert row is not None
    assert json.loads(row["archived"]) == {
        "at": 2.0,
        "key_id": ACTOR.key_id,
        "key": "fdk_…ab12",
        "correlation_id": "corr_test",
    }
    with storage.transaction(conn):
        restored = store.set_deleted(conn, feed, ["A"], False, ACTOR, 3.0)
    assert restored[0].action == "restored"
    assert count(conn) == 2
    assert history(conn, str(row["guid"]))[-2:] == [("upsert", ["deleted"])] * 2


def test_guids_are_time_ordered() -> None:
    guids = [store.new_guid(1_700_000_000.0) for _ in range(5000)]
    assert guids == sorted(guids)
    assert len(set(guids)) == len(guids)
    assert all(guid[14] == "7" for guid in guids)
    assert store.new_guid(1_800_000_000.0) > guids[-1]


def test_guids_made_in_bulk_follow_the_same_rules() -> None:
    before = store.new_guid(1_900_000_000.0)
    guids = store.new_guids(5000, 1_900_000_000.0)  # over 4096 in one millisecond
    after = store.new_guid(1_900_000_000.0)
    assert [before, *guids, after] == sorted({before, *guids, after})
    assert all(guid[14] == "7" and guid[19] in "89ab" for guid in guids)
    # The counter carries into the next millisecond exactly as one-by-one calls do.
    assert guids[4094][:13] != guids[4095][:13]
    assert guids[4095][14:18] == "7000"
    assert store.new_guids(0) == []


def test_version_keeps_exactly_the_records_changed_at_or_after_the_second(
    conn: sqlite3.Connection,
) -> None:
    from console.sandbox.records.query import RecordQuery, list_records

    feed = feed_of(conn)
    times = {"a": 99.999, "b": 100.0, "c": 100.5, "d": 101.0, "e": 98.0}
    with storage.transaction(conn):
        for sku, at in times.items():
            store.upsert_items(conn, feed, [{"sku": sku}], ACTOR, at)
        # "e" changes at 100.001: its version moves to 100.
        store.upsert_items(conn, feed, [{"sku": "e", "x": 1}], ACTOR, 100.001)
    for version, expected in [
        (99, {"a", "b", "c", "d", "e"}),
        (100, {"b", "c", "d", "e"}),
        (101, {"d"}),
        (102, set()),
    ]:
        page = list_records(conn, feed, RecordQuery(version=version))
        assert {item["system_id"] for item in page["data"]} == expected, version
        assert all(item["version"] >= version for item in page["data"])


@pytest.mark.parametrize("order", ["-updated_at", "updated_at"])
@pytest.mark.parametrize("fields", [(), (("colour", "red"),)])
def test_every_q_plan_pages_through_the_same_records(
    conn: sqlite3.Connection,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
    fields: tuple[tuple[str, str], ...],
) -> None:
    from console.sandbox.records import query as queries
    from console.sandbox.records.indexer import index_all

    feed = feed_of(conn)
    colours = ["red", "blue", "green"]
    with storage.transaction(conn):
        for n in range(120):
            words = "apple" if n % 3 else "apple pear"
            item = {"sku": f"S{n}", "note": words, "colour": colours[n % 3]}
            store.upsert_items(conn, feed, [item], ACTOR, 1000.0 + (n * 7919 % 120) / 10)
        # Later changes scatter the keyset order away from the seq order.
        for n in range(0, 120, 7):
            store.patch_items(conn, feed, [{"sku": f"S{n}", "extra": n}], ACTOR, 2000.0 + n)
    index_all(conn)

    def pages(q: str) -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            query = queries.RecordQuery(q=q, order=order, fields=fields, limit=7, after=after)
            rows, after = queries.page_rows(conn, feed, query)
            seen += [row["system_id"] for row in rows]
            if after is None:
                return seen

    expected = {"apple": pages("apple"), "pear": pages("pear")}
    assert len(expected["apple"]) == (40 if fields else 120)
    # Now every q counts as matching many: the chunked keyset walk must agree exactly.
    monkeypatch.setattr(queries, "SMALL_MATCHES", 3)
    monkeypatch.setattr(queries, "CHUNK", 5)
    monkeypatch.setattr(queries, "CLUSTER_GAP", 2)
    assert pages("apple") == expected["apple"]
    assert pages("pear") == expected["pear"]
    # A request checks at most MAX_SCANNED candidates; the cursor goes on from there.
    monkeypatch.setattr(queries, "MAX_SCANNED", 10)
    assert pages("pear") == expected["pear"]


def test_a_change_of_json_type_is_a_change(conn: sqlite3.Connection) -> None:
    feed = feed_of(conn)
    with storage.transaction(conn):
        store.upsert_items(conn, feed, [{"sku": "A", "n": 1, "f": 1.0, "b": [1]}], ACTOR, 1.0)
        outcomes = store.upsert_items(
            conn, feed, [{"sku": "A", "n": True, "f": 1, "b": [1.0]}], ACTOR, 2.0
        )
        same = store.upsert_items(
            conn, feed, [{"sku": "A", "n": True, "f": 1, "b": [1.0]}], ACTOR, 3.0
        )
    assert outcomes[0].action == "updated"
    assert same[0].action == "unchanged"
    assert outcomes[0].guid is not None
    assert history(conn, outcomes[0].guid)[-1] == ("upsert", ["n", "f", "b"])


def test_a_broad_q_walks_for_a_bounded_time_then_gives_a_cursor(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.sandbox.records import query as queries
    from console.sandbox.records.indexer import index_all

    feed = feed_of(conn)
    with storage.transaction(conn):
        items = [{"sku": f"S{n}", "note": "apple"} for n in range(30)]
        store.upsert_items(conn, feed, items, ACTOR, 1000.0)
    index_all(conn)
    monkeypatch.setattr(queries, "SMALL_MATCHES", 3)
    monkeypatch.setattr(queries, "CHUNK", 5)
    # With its time spent after the first chunk, a request answers that chunk's matches
    # and a cursor: one client's costly q cannot hold a reader thread for long.
    monkeypatch.setattr(queries, "MAX_WALK_SECONDS", 0.0)
    query = queries.RecordQuery(q="apple", limit=100)
    rows, after = queries.page_rows(conn, feed, query)
    assert (len(rows), after is not None) == (5, True)
    seen = [row["system_id"] for row in rows]
    while after is not None:
        rows, after = queries.page_rows(conn, feed, queries.RecordQuery(q="apple", after=after))
        seen += [row["system_id"] for row in rows]
    assert sorted(seen) == sorted(item["sku"] for item in items)


def test_a_repeated_q_word_is_one_full_text_term() -> None:
    from console.sandbox.records import query as queries

    assert queries.fts_match("n* pear n* pear N*") == '"n"* AND "pear" AND "N"*'
