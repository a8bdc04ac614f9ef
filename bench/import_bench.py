"""A 1,000,000-row CSV import, from file to every row queryable by `q`, against a floor.

    python bench/import_bench.py [--rows N] [--quick] [--json PATH]

Sandbox: the real server as a child process (`sandbox serve --port 0`, its own data dir,
the per-IP limit lifted). One `POST /feeds/{id}/imports` streams the CSV from disk
(httpx multipart, never whole in memory); then this process polls the import's status
until it has succeeded, and then `GET .../records?q=WORD` for a word only the file's last
row holds until that record is found. The indexer takes dirty records in write order, so
once the last row is found every earlier one is indexed too (checked: row 1's word is
found as well). The clock runs from the start of the upload to that answer.

Floor: in this process, the same rows into the same schema (a fresh data dir opened with
`console.sandbox.storage.sqlite.connect`): the CSV read with the csv module, each row's
data dumped as JSON, and plain `executemany` of the records rows (time-ordered GUIDs)
and their FTS5 rows, 5,000 rows per transaction. No history, counters, field-filter
rows or data keys: those are what the sandbox does beyond it.

Reported: rows/s of both, and the ratio of the two times (sandbox / floor); the sandbox's
time is also split at "import succeeded". Target: ratio <= 2. Exit status 1 when the
target is missed. `--quick` imports 20,000 rows (for tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.records.store import new_guid
from console.sandbox.storage.sqlite import connect, ensure_account, insert_feed, mint_key, now

TARGET_RATIO = 2.0
FULL_ROWS = 1_000_000
QUICK_ROWS = 20_000
BATCH_ROWS = 5000
FEED = "bench-import"
STATUSES = ("pending", "paid", "shipped", "delivered", "returned")
CITIES = ("Berlin", "Lisbon", "Oslo", "Porto", "Tartu", "Turin", "Utrecht")


def word_of(n: int) -> str:
    """A word only row n holds (for `q`)."""
    return f"zq{n:07d}"


def write_csv(path: Path, rows: int) -> None:
    """`rows` order-like rows, about 120 bytes each as JSON."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "customer", "city", "status", "total", "note"])
        for n in range(1, rows + 1):
            writer.writerow(
                [
                    f"ord-{n:07d}",
                    f"Customer {n % 9973}",
                    CITIES[n % len(CITIES)],
                    STATUSES[n % len(STATUSES)],
                    f"{(n * 37) % 100000 / 100:.2f}",
                    f"order note {word_of(n)}",
                ]
            )


def run_sandbox(csv_path: Path, rows: int, work: Path) -> dict[str, Any]:
    """Import through the real server; the times in seconds."""
    server = SandboxProcess(work / "sandbox-data", demo=False, rate_limit="100000000/300")
    server.start()
    try:
        secret = mint_key(server.data_dir, account="bench", kind="admin")
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=600) as api:
            created = api.post(
                "/api/public/v1/feeds", json={"id": FEED, "name": FEED, "method": "ingest"}
            )
            assert created.status_code == 201, created.text
            imports = f"/api/public/v1/feeds/{FEED}/imports"
            started = time.perf_counter()
            with csv_path.open("rb") as file:
                response = api.post(
                    imports,
                    files={"file": ("orders.csv", file, "text/csv")},
                    data={"format": "csv"},
                )
            assert response.status_code == 202, response.text
            uploaded = time.perf_counter() - started
            import_id = response.json()["import_id"]
            while True:
                status = api.get(f"{imports}/{import_id}").json()
                if status["status"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
            imported = time.perf_counter() - started
            assert status["status"] == "succeeded", status
            assert status["created"] == rows, status
            records = f"/api/public/v1/feeds/{FEED}/records"
            while True:
                page = api.get(records, params={"q": word_of(rows), "limit": 1}).json()
                if page["data"]:
                    break
                time.sleep(0.02)
            queryable = time.perf_counter() - started
            first = api.get(records, params={"q": word_of(1), "limit": 1}).json()["data"]
            assert [record["system_id"] for record in first] == ["ord-0000001"], first
    finally:
        server.stop()
    return {"upload_s": uploaded, "imported_s": imported, "queryable_s": queryable}


def run_floor(csv_path: Path, rows: int, work: Path) -> dict[str, Any]:
    """The same rows into the same schema with plain sqlite3; the time in seconds."""
    conn = connect(work / "floor-data")
    try:
        conn.execute("BEGIN IMMEDIATE")
        account = ensure_account(conn, "bench")
        insert_feed(conn, account, slug=FEED, name=FEED, method="ingest")
        feed_seq = conn.execute("SELECT seq FROM feeds WHERE slug = ?", (FEED,)).fetchone()[0]
        conn.execute("COMMIT")
        started = time.perf_counter()
        seq = 0
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
        with csv_path.open(encoding="utf-8", newline="") as file:
            reader = csv.reader(file)
            header = next(reader)
            batch: list[list[str]] = []
            for cells in (*reader, None):
                if cells is not None:
                    batch.append(cells)
                    if len(batch) < BATCH_ROWS:
                        continue
                if not batch:
                    break
                at = now()
                records = []
                texts = []
                for cells_of_row in batch:
                    seq += 1
                    data = dict(zip(header, cells_of_row, strict=True))
                    records.append(
                        (
                            seq,
                            feed_seq,
                            new_guid(at),
                            data["id"],
                            at,
                            at,
                            encoder.encode(data),
                            "corr_bench",
                        )
                    )
                    texts.append((seq, " ".join(cells_of_row)))
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at,"
                    " updated_at, data, last_correlation_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                    records,
                )
                conn.executemany("INSERT INTO records_fts (rowid, body) VALUES (?, ?)", texts)
                conn.execute("COMMIT")
                batch = []
        elapsed = time.perf_counter() - started
        found = conn.execute(
            "SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", (word_of(rows),)
        ).fetchone()[0]
        assert (found, seq) == (1, rows)
    finally:
        conn.close()
    return {"queryable_s": elapsed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else args.rows
    with tempfile.TemporaryDirectory(prefix="import-bench-") as temp:
        work = Path(temp)
        csv_path = work / "orders.csv"
        write_csv(csv_path, rows)
        size = csv_path.stat().st_size
        floor = run_floor(csv_path, rows, work)
        sandbox = run_sandbox(csv_path, rows, work)
    ratio = sandbox["queryable_s"] / floor["queryable_s"]
    figures = {
        "rows": rows,
        "file_bytes": size,
        "sandbox": {**sandbox, "rows_per_s": rows / sandbox["queryable_s"]},
        "floor": {**floor, "rows_per_s": rows / floor["queryable_s"]},
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
    }
    print(f"CSV import of {rows:,} rows ({size / 1e6:.1f} MB), file to every row found by q:")
    print(
        f"  sandbox  {sandbox['queryable_s']:7.2f} s  {rows / sandbox['queryable_s']:9,.0f} rows/s"
        f"  (upload {sandbox['upload_s']:.2f} s, import succeeded {sandbox['imported_s']:.2f} s)"
    )
    print(
        f"  floor    {floor['queryable_s']:7.2f} s  {rows / floor['queryable_s']:9,.0f} rows/s"
        "  (plain sqlite3 executemany, 5,000-row transactions, records + FTS5 rows)"
    )
    print(f"  ratio    {ratio:.2f}x (target <= {TARGET_RATIO:g}x)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
