"""`sandbox serve --demo-logs N`: N entries in bulk, a realistic mix, ordered, searchable,
with every index back in place; and the retention and seeding flags' ranges."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from console.sandbox import cli
from console.sandbox.logs import demo
from console.sandbox.logs.demo import DEMO_LOG_FEEDS, SPAN_SECONDS, seed_demo_logs_in
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import connect, database_path, transaction

N = 20_000


def _indexes(conn: sqlite3.Connection) -> set[str]:
    return {
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'logs'"
            " AND sql IS NOT NULL"
        )
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("demo-logs")
    conn = connect(data_dir)
    conn.close()
    started = time.perf_counter()
    assert seed_demo_logs_in(data_dir, N) == N
    print(f"seeded {N:,} entries in {time.perf_counter() - started:.2f} s")
    return data_dir


def test_seeds_n_entries_in_id_and_time_order(seeded: Path) -> None:
    conn = connect(seeded)
    try:
        rows = conn.execute("SELECT id, timestamp, written_at FROM logs ORDER BY id").fetchall()
        assert len(rows) == N
        ids = [row[0] for row in rows]
        assert ids == list(range(ids[0], ids[0] + N))
        written = [row[2] for row in rows]
        assert written == sorted(written)
        now = time.time()
        assert now - SPAN_SECONDS - 5 <= written[0]
        assert written[-1] <= now + 1
        assert all(w - 120 <= t <= w for _id, t, w in rows)
        # Every entry can be found by `q` (its account token and its request id's token).
        account_id, request_id = conn.execute(
            "SELECT account_id, request_id FROM logs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        found = conn.execute(
            "SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?",
            (f"acct{account_id} AND {request_id.removeprefix('req_')}",),
        ).fetchall()
        assert [row[0] for row in found] == [ids[-1]]
        assert conn.execute("SELECT count(*) FROM logs_fts").fetchone()[0] == N
        # The planner has statistics, and no index was left dropped.
        assert conn.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'logs'").fetchone()[0]
        assert "logs_by_request" in _indexes(conn)
        assert len(_indexes(conn)) == 12  # with logs_by_key (issue 14)
        feeds = {
            row[0]
            for row in conn.execute(
                "SELECT slug FROM feeds JOIN accounts ON accounts.id = feeds.account_id"
                " WHERE accounts.name = 'demo'"
            )
        }
        assert set(DEMO_LOG_FEEDS) <= feeds
    finally:
        conn.close()


def test_the_mix_is_realistic(seeded: Path) -> None:
    conn = connect(seeded)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM logs").fetchall()
        bodies = conn.execute("SELECT count(*) FROM log_bodies").fetchone()[0]
    finally:
        conn.close()
    status = Counter(row["processing_status"] for row in rows)
    http = Counter(row["http_status"] for row in rows)
    feeds = Counter(row["feed"] for row in rows if row["feed"])
    assert set(feeds) == set(DEMO_LOG_FEEDS)
    assert http[202] > 0.75 * N
    assert status["succeeded"] > 0.8 * N
    for rare in ("rejected", "failed", "partially_failed", "duplicate"):
        assert 0 < status[rare] < 0.05 * N, rare
    for code in (200, 201, 400, 404, 413, 415, 429):
        assert 0 < http[code] < 0.1 * N, code
    keyed = sum(1 for row in rows if row["idempotency_key"])
    assert 0.25 * N < keyed < 0.42 * N
    # A duplicate replays a key an earlier entry was accepted with.
    first_use: dict[str, int] = {}
    for row in rows:
        if row["idempotency_key"] and row["processing_status"] != "duplicate":
            first_use.setdefault(row["idempotency_key"], row["id"])
    duplicates = [row for row in rows if row["processing_status"] == "duplicate"]
    assert all(first_use[row["idempotency_key"]] < row["id"] for row in duplicates)
    pipelines = [row for row in rows if row["pipeline_id"]]
    assert 0.02 * N < len(pipelines) < 0.1 * N
    assert all(row["intent"].startswith("pipeline.") for row in pipelines)
    assert 0.08 * N < bodies < 0.11 * N
    # Errors exactly on the refused and failed ones.
    for row in rows:
        errors = json.loads(row["errors"])
        failing = row["processing_status"] in ("rejected", "failed", "partially_failed")
        assert bool(errors) == failing, dict(row)
        assert row["error_count"] >= len(errors)
        assert row["key_shown"] is None or "…" in row["key_shown"]


def test_a_second_seeding_adds_after_the_first_and_rebuilds_dropped_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "REINDEX_AT", 500)
    assert seed_demo_logs_in(tmp_path, 600) == 600  # indexes dropped and rebuilt
    assert seed_demo_logs_in(tmp_path, 300) == 300  # fewer than the table holds: kept
    conn = connect(tmp_path)
    try:
        written = [row[0] for row in conn.execute("SELECT written_at FROM logs ORDER BY id")]
        assert len(written) == 900
        assert written == sorted(written)
        assert len(_indexes(conn)) == 12  # with logs_by_key (issue 14)
        # A seeding killed between dropping and rebuilding: the next server start rebuilds.
        with transaction(conn):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                (
                    "demo_logs_dropped_indexes",
                    json.dumps(
                        [
                            [
                                "logs_by_feed",
                                "CREATE INDEX logs_by_feed ON logs(account_id, feed, id)",
                            ]
                        ]
                    ),
                ),
            )
            conn.execute("DROP INDEX logs_by_feed")
        assert "logs_by_feed" not in _indexes(conn)
    finally:
        conn.close()
    server = SandboxProcess(tmp_path, demo=False)
    server.start()
    assert server.stop() == 0
    conn = sqlite3.connect(database_path(tmp_path))
    try:
        assert "logs_by_feed" in _indexes(conn)
    finally:
        conn.close()


def test_serve_demo_logs_seeds_before_serving(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "served"
    make_sandbox(data_dir=data_dir, demo=True, extra_args=["--demo-logs", "3000"])
    conn = sqlite3.connect(database_path(data_dir))
    try:
        seeded = conn.execute("SELECT count(*) FROM logs WHERE source IS NULL").fetchone()[0]
        # With --demo, the entries name the demo account's real keys and pipelines.
        keys = {row[0] for row in conn.execute("SELECT DISTINCT key_id FROM logs")}
        real = {row[0] for row in conn.execute("SELECT id FROM api_keys")}
    finally:
        conn.close()
    assert seeded == 3000
    assert keys - {None} <= real


@pytest.mark.parametrize(
    ("flags", "ok"),
    [
        (["--log-retention-days", "1"], True),
        (["--log-retention-days", "3650"], True),
        (["--log-retention-days", "0"], False),
        (["--log-retention-days", "3651"], False),
        (["--log-retention-days", "-1"], False),
        (["--log-retention-days", "7.5"], False),
        (["--demo-logs", "0"], True),
        (["--demo-logs", "10000000"], True),
        (["--demo-logs", "10000001"], False),
        (["--demo-logs", "-5"], False),
        (["--demo-logs", "1e6"], False),
        (["--log-prune-seconds", "0.1"], True),
        (["--log-prune-seconds", "0"], False),
    ],
)
def test_log_flag_ranges(flags: list[str], ok: bool, capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    argv = ["serve", "--data", "x", *flags]
    if ok:
        args = parser.parse_args(argv)
        assert isinstance(args.log_retention_days, int)
    else:
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(argv)
        assert exited.value.code == 2
        assert flags[0] in capsys.readouterr().err


def test_log_flag_defaults() -> None:
    args = cli.build_parser().parse_args(["serve", "--data", "x"])
    assert (args.log_retention_days, args.demo_logs, args.log_prune_seconds) == (30, 0, 60.0)
