"""Bulk stream ingestion of 1,000,000 small records from a file, against an in-process floor.

    python bench/ingest_bench.py [--records N] [--quick] [--no-sequential] [--json PATH]

An NDJSON file of N small records (~100 bytes each, generated once) goes into a fresh
sandbox (the real server as a child process, `sandbox serve --port 0`, its own data dir,
the per-IP and per-key limits lifted), timed from the first byte sent until the feed's
`record_count` is N: every item applied, not just accepted (polled on the database file).

1. uploader: `console.api.ingest.BulkUploader`, concurrency 4, in this process (what
   `integration-console ingest` runs), batches under 1 MiB and 10,000 items, each with
   its Idempotency-Key, manifest written as it goes.
2. sequential: a plain httpx loop posting the same batch bodies to `POST /api/ingest` one
   at a time (a fresh sandbox too).
3. floor: plain sqlite3 in this process writing the rows the sandbox must write for these
   upserts into a fresh data dir with the same migrations (`storage.sqlite.connect`): each
   line parsed and re-encoded as JSON, then `executemany` of `records`, `record_history`,
   `records_dirty` and `intent_records` (and the feed's count), one transaction per batch
   of the same size. Also the records-only floor (no history, dirty or outcome rows).
   `connect` is what the server's writer opens too, so both run with the same pragmas
   (WAL, synchronous=NORMAL, SQLite's default wal_autocheckpoint of 1000 pages). The
   floor commits once per batch (~10,000 rows), the server every 2,000 items: measured in
   process, that makes no difference in CPU time (100,000 items in 2,000-, 5,000- or
   10,000-item transactions: 1.9-2.3 s each).

Reported: seconds and items/s of each, ratio uploader / floor (target <= 2x), and the
record indexer's catch-up (from every record applied until `records_dirty` is empty: `q`
finds everything), which no figure includes. Exit status 1 when the target is missed.
`--quick` runs 20,000 records (tests/test_bench.py). Client and server share the machine's
cores: read the figures as provisional.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.records.store import new_guids
from console.sandbox.storage.sqlite import (
    connect,
    database_path,
    ensure_account,
    insert_feed,
    mint_key,
    now,
)

TARGET_RATIO = 2.0
FULL_RECORDS = 1_000_000
QUICK_RECORDS = 20_000
MAX_BATCH_BYTES = 1_000_000
MAX_ITEMS = 10_000
FEED = "bench-ingest"
CITIES = ("Berlin", "Lisbon", "Oslo", "Porto", "Tartu", "Turin", "Utrecht")
STATUSES = ("pending", "paid", "shipped", "delivered", "returned")
APPLY_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Batch:
    """A run of consecutive lines sent as one JSON array body."""

    start: int  # byte offsets of its lines in the file
    end: int
    items: int
    body: bytes


def write_ndjson(path: Path, records: int) -> None:
    """`records` order-like records, ~100 bytes a line."""
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, records, 100_000):
            out.write(
                "".join(
                    json.dumps(
                        {
                            "id": f"ord-{n:07d}",
                            "customer": f"Customer {n % 9973}",
                            "city": CITIES[n % len(CITIES)],
                            "status": STATUSES[n % len(STATUSES)],
                            "total": round((n * 37) % 100000 / 100, 2),
                        },
                        separators=(",", ":"),
                    )
                    + "\n"
                    for n in range(start, min(records, start + 100_000))
                )
            )


def split(path: Path) -> list[Batch]:
    """The file's batches: the uploader's own splitter when it is there (the same bodies
    it sends), else runs of lines under MAX_BATCH_BYTES and MAX_ITEMS."""
    try:
        from console.api import ingest_sources
    except ImportError:
        pass
    else:
        return [
            Batch(batch.start, batch.end, len(batch.encoded), batch.body)
            for batch in ingest_sources.batches(
                path, "ndjson", max_bytes=MAX_BATCH_BYTES, max_items=MAX_ITEMS, item_key=None
            )
        ]
    found: list[Batch] = []
    lines: list[bytes] = []
    size = 2
    start = offset = 0
    with path.open("rb") as file:
        for line in (*file, None):
            item = line.strip() if line is not None else b""
            if line is None or len(lines) == MAX_ITEMS or size + len(item) + 1 > MAX_BATCH_BYTES:
                if lines:
                    found.append(Batch(start, offset, len(lines), b"[" + b",".join(lines) + b"]"))
                lines, size, start = [], 2, offset
            if line is None:
                break
            lines.append(item)
            size += len(item) + 1
            offset += len(line)
    return found


def record_count(data_dir: Path) -> int:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        row = conn.execute("SELECT record_count FROM feeds WHERE slug = ?", (FEED,)).fetchone()
        return 0 if row is None else int(row[0])
    finally:
        conn.close()


def dirty_count(data_dir: Path) -> int:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM records_dirty").fetchone()[0])
    finally:
        conn.close()


def wait_until_applied(data_dir: Path, records: int, started: float) -> float:
    """Seconds from `started` until the feed holds `records` records."""
    deadline = time.monotonic() + APPLY_TIMEOUT
    while record_count(data_dir) < records:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {record_count(data_dir):,} of {records:,} applied")
        time.sleep(0.05)
    return time.perf_counter() - started


def wait_until_indexed(data_dir: Path, started: float, limit: float) -> float | None:
    """Seconds from `started` until the indexer has caught up (None: not within `limit`,
    or `limit` is 0)."""
    if limit <= 0:
        return None
    deadline = time.monotonic() + limit
    while dirty_count(data_dir) > 0:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    return time.perf_counter() - started


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, every thread) a process has used so far (None off Linux)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data_dir: Path) -> tuple[SandboxProcess, str]:
    server = SandboxProcess(
        data_dir,
        demo=False,
        rate_limit="100000000/300",
        extra_args=["--ingest-burst", "1000000/1"],
    )
    server.start(timeout=60)
    key = mint_key(data_dir, account="bench", kind="ingest", feed=FEED)
    return server, key


def run_uploader(path: Path, records: int, work: Path, index_limit: float) -> dict[str, Any]:
    from console.api import ingest, transport  # the uploader, and its HTTP client

    data_dir = work / "uploader-data"
    server, key = start_server(data_dir)
    try:

        async def upload() -> Any:
            client = transport.ApiClient(str(server.base_url), key, max_retries=0, timeout=120)
            try:
                uploader = ingest.BulkUploader(
                    client, FEED, path, format="ndjson", concurrency=4, manifest_dir=work / "m"
                )
                return await uploader.run()
            finally:
                await client.aclose()

        started = time.perf_counter()
        summary = asyncio.run(upload())
        accepted = time.perf_counter() - started
        applied = wait_until_applied(data_dir, records, started)
        server_cpu = cpu_seconds(server.pid)
        indexed = wait_until_indexed(data_dir, started, index_limit)
    finally:
        server.stop()
    summary.rejects.discard()
    assert not summary.rejects, summary.rejects.first[:5]
    return {
        "accepted_s": accepted,
        "applied_s": applied,
        "server_cpu_s": server_cpu,
        "indexed_s": indexed,
        "batches": summary.batches_done,
    }


def run_sequential(batches: list[Batch], records: int, work: Path) -> dict[str, Any]:
    data_dir = work / "sequential-data"
    server, key = start_server(data_dir)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=120) as http:
            started = time.perf_counter()
            for number, batch in enumerate(batches):
                response = http.post(
                    "/api/ingest",
                    params={"stream": FEED},
                    content=batch.body,
                    headers={"Idempotency-Key": f"bench-seq-{number}"},
                )
                if response.status_code != 202:
                    raise RuntimeError(f"batch {number}: {response.status_code} {response.text}")
            accepted = time.perf_counter() - started
            applied = wait_until_applied(data_dir, records, started)
    finally:
        server.stop()
    return {"accepted_s": accepted, "applied_s": applied}


def run_floor(path: Path, batches: list[Batch], work: Path, *, full: bool) -> dict[str, Any]:
    """The same items into the same schema with plain sqlite3 (see the module)."""
    conn = connect(work / ("floor-data" if full else "floor-records-data"))
    try:
        conn.execute("BEGIN IMMEDIATE")
        account = ensure_account(conn, "bench")
        insert_feed(conn, account, slug=FEED, name=FEED, method="ingest")
        feed_seq = conn.execute("SELECT seq FROM feeds WHERE slug = ?", (FEED,)).fetchone()[0]
        conn.execute("COMMIT")
        encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        changed_all = encoder.encode(["id", "customer", "city", "status", "total"])
        started = time.perf_counter()
        cpu_started = time.process_time()
        seq = 0
        with path.open("rb") as file:
            for number, batch in enumerate(batches):
                file.seek(batch.start)
                lines = file.read(batch.end - batch.start).splitlines()
                at = now()
                correlation = f"corr_floor{number:021d}"
                guids = new_guids(len(lines), at)
                records, history, dirty, outcomes = [], [], [], []
                for item, (line, guid) in enumerate(zip(lines, guids, strict=True)):
                    data = json.loads(line)
                    seq += 1
                    system_id = str(data["id"])
                    records.append(
                        (seq, feed_seq, guid, system_id, at, at, encoder.encode(data), correlation)
                    )
                    if full:
                        history.append(
                            (seq, at, "upsert", correlation, "key_floor", "ik_live_…0000")
                        )
                        dirty.append((seq,))
                        outcomes.append((correlation, item, guid, system_id))
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at,"
                    " updated_at, data, last_correlation_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                    records,
                )
                if full:
                    conn.executemany(
                        "INSERT INTO record_history (record_seq, timestamp, intent,"
                        " correlation_id, key_id, key_shown, changed)"
                        f" VALUES (?, ?, ?, ?, ?, ?, '{changed_all}')",
                        history,
                    )
                    conn.executemany("INSERT OR IGNORE INTO records_dirty (seq) VALUES (?)", dirty)
                    conn.executemany(
                        "INSERT INTO intent_records (correlation_id, item, guid, system_id,"
                        " action) VALUES (?, ?, ?, ?, 'created')",
                        outcomes,
                    )
                conn.execute(
                    "UPDATE feeds SET record_count = record_count + ? WHERE seq = ?",
                    (len(records), feed_seq),
                )
                conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == seq
    finally:
        conn.close()
    return {"applied_s": elapsed, "cpu_s": cpu}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=FULL_RECORDS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RECORDS:,} records")
    parser.add_argument("--no-sequential", action="store_true", help="skip figure (2)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--index-wait",
        type=float,
        help="wait at most this many seconds for the indexer's catch-up (default 60 with"
        " --quick, else 900; 0: do not measure it)",
    )
    args = parser.parse_args(argv)
    records = QUICK_RECORDS if args.quick else args.records
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as temp:
        work = Path(temp)
        path = work / "records.ndjson"
        write_ndjson(path, records)
        size = path.stat().st_size
        batches = split(path)
        floor = run_floor(path, batches, work, full=True)
        floor_records = run_floor(path, batches, work, full=False)
        uploader = run_uploader(
            path,
            records,
            work,
            index_limit=args.index_wait
            if args.index_wait is not None
            else 60
            if args.quick
            else 900,
        )
        sequential = None if args.no_sequential else run_sequential(batches, records, work)
    ratio = uploader["applied_s"] / floor["applied_s"]
    figures = {
        "records": records,
        "file_bytes": size,
        "batches": len(batches),
        "uploader": {**uploader, "items_per_s": records / uploader["applied_s"]},
        "sequential": sequential
        and {**sequential, "items_per_s": records / sequential["applied_s"]},
        "floor": {**floor, "items_per_s": records / floor["applied_s"]},
        "floor_records_only": {
            **floor_records,
            "items_per_s": records / floor_records["applied_s"],
        },
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
    }

    def row(name: str, seconds: float, note: str = "") -> None:
        print(f"  {name:<22} {seconds:8.2f} s  {records / seconds:9,.0f} items/s  {note}")

    print(
        f"bulk ingest of {records:,} records ({size / 1e6:.1f} MB NDJSON, {len(batches)} batches),"
        " file to every record applied:"
    )
    row(
        "uploader (4 at once)",
        uploader["applied_s"],
        f"(all 202s after {uploader['accepted_s']:.2f} s)",
    )
    if sequential:
        row(
            "sequential httpx loop",
            sequential["applied_s"],
            f"(all 202s after {sequential['accepted_s']:.2f} s)",
        )
    row(
        "floor",
        floor["applied_s"],
        "(plain sqlite3, the server's pragmas: records, history, dirty, outcomes)",
    )
    row("floor, records only", floor_records["applied_s"])
    indexed = uploader["indexed_s"]
    caught_up = (
        f"{indexed - uploader['applied_s']:.2f} s after the last record applied"
        if indexed is not None
        else "not within the limit"
    )
    print(f"  indexer caught up (q finds every record): {caught_up}")
    print(f"  ratio uploader / floor  {ratio:.2f}x (target <= {TARGET_RATIO:g}x)")
    if uploader["server_cpu_s"] is not None:
        # CPU time moves less than the wall clock on a busy machine: the server's (every
        # thread, until every record is applied, the requests' handling included) against
        # the floor's.
        print(
            f"  CPU: server {uploader['server_cpu_s']:.2f} s, floor {floor['cpu_s']:.2f} s"
            f" ({uploader['server_cpu_s'] / floor['cpu_s']:.2f}x)"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
