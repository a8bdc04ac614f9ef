"""Every statement the log reads run is index-driven: no full `SCAN logs` (nor of records,
their history, intents or imports), for every filter and each pair, with and without
statistics describing a 1,000,000-entry table."""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console.sandbox.logs import query, tail, trace
from console.sandbox.logs.query import LogFilter, LogQuery
from console.sandbox.logs.store import insert_entries
from console.sandbox.storage.sqlite import connect, transaction
from tests.sandbox.logs_support import entry

FILTERS: dict[str, Any] = {
    "feed": "orders",
    "pipeline_id": "7",
    "status": "failed",
    "intent": "ingest",
    "http_status": 400,
    "since": 1_000.0,
    "until": 2_000.0,
    "q": "sku",
    "id": "corr_x",
    "key": "key_abc",
}
COMBINATIONS = [(name,) for name in FILTERS] + list(itertools.combinations(FILTERS, 2))
# A full scan of one of these tables (an index's name after SCAN is a full index scan too).
FULL_SCAN = re.compile(r"\bSCAN (logs|log_bodies|records|record_history|intents|imports)\b")
# sqlite_stat1 rows of a 1,000,000-entry table: one account, 8 feeds, a few statuses.
STATS = {
    "logs_by_request": "1000000 1",
    "logs_by_account": "1000000 1000000 1",
    "logs_by_feed": "1000000 1000000 125000 1",
    "logs_by_pipeline": "200000 200000 20000 1",
    "logs_by_status": "1000000 1000000 200000 1",
    "logs_by_intent": "1000000 1000000 100000 1",
    "logs_by_http": "1000000 1000000 100000 1",
    "logs_by_correlation": "1000000 1000000 2 1",
    "logs_by_idempotency": "300000 300000 1 1",
    "logs_by_written": "1000000 2",
    "logs_by_source": "800000 400000 1",
    "logs_by_key": "1000000 1000000 50 1",
}


@pytest.fixture(params=["no statistics", "statistics of 1M entries"])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = connect(tmp_path)
    with transaction(db):
        insert_entries(db, [(entry(1, feed="orders", correlation_id="corr_x"), None)])
    if request.param != "no statistics":
        db.execute("ANALYZE")
        with transaction(db):
            db.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'logs'")
            db.executemany(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('logs', ?, ?)", STATS.items()
            )
            db.execute("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('logs', NULL, '1000000')")
        db.close()
        db = connect(tmp_path)  # statistics are read when a connection opens
    yield db
    db.close()


def _plans(conn: sqlite3.Connection, run: Callable[[], object]) -> list[tuple[str, str]]:
    """(statement, its query plan) of every SELECT `run` executes."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        plans.append((sql, "\n".join(str(row["detail"]) for row in rows)))
    assert plans
    return plans


def _assert_indexed(plans: list[tuple[str, str]]) -> None:
    for sql, plan in plans:
        assert not FULL_SCAN.search(plan), f"{sql}\n{plan}"


@pytest.mark.parametrize("names", COMBINATIONS, ids=lambda names: "+".join(names))
def test_list_pages_are_index_driven(conn: sqlite3.Connection, names: tuple[str, ...]) -> None:
    log_filter = LogFilter(**{name: FILTERS[name] for name in names})
    plans: list[tuple[str, str]] = []
    for before in (None, 500_000):
        plans += _plans(
            conn, lambda b=before: query.list_page(conn, 1, LogQuery(log_filter, 100, b))
        )
        # The stream's catch-up reads the same filters oldest first.
        plans += _plans(
            conn,
            lambda: tail._catch_up_page(conn, account_id=1, log_filter=log_filter, after=10),
        )
    _assert_indexed(plans)
    for sql, plan in plans:
        if "ORDER BY" in sql and "logs_fts" not in sql:
            # Keyset order comes from the index: no sort of the candidates.
            assert "TEMP B-TREE FOR ORDER BY" not in plan, f"{sql}\n{plan}"


def test_statements_drive_the_index_the_filter_names(conn: sqlite3.Connection) -> None:
    expected = {
        "feed": "logs_by_feed",
        "pipeline_id": "logs_by_pipeline",
        "status": "logs_by_status",
        "intent": "logs_by_intent",
        "http_status": "logs_by_http",
        "since": "logs_by_account",
        "id": "logs_by_correlation",
    }
    for name, index in expected.items():
        ((_, plan),) = [
            (sql, plan)
            for sql, plan in _plans(
                conn,
                lambda n=name: query.fetch(
                    conn, 1, LogFilter(**{n: FILTERS[n]}), low=None, high=None, limit=10
                ),
            )
            if "OFFSET" not in sql
        ]
        assert index in plan, (name, plan)
    fts = query.statements(1, LogFilter(q="sku", feed="orders"))
    assert "logs_fts MATCH" in fts[-1][0]


def test_detail_tail_and_trace_are_index_driven(conn: sqlite3.Connection) -> None:
    request_id = conn.execute("SELECT request_id FROM logs").fetchone()[0]
    plans = _plans(conn, lambda: query.detail(conn, 1, request_id))
    plans += _plans(conn, lambda: tail._read_after(conn, head=0))
    plans += _plans(conn, lambda: tail._last_id(conn))
    plans += _plans(conn, lambda: tail._oldest_id(conn))
    for any_id in (request_id, "corr_x", "0190b2c4-0000-7000-8000-000000000000", "A-1"):
        plans += _plans(conn, lambda i=any_id: trace.trace(conn, 1, i))
    _assert_indexed(plans)
