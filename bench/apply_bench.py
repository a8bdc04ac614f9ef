"""The intent worker's apply rate on queued upserts, against a plain-sqlite3 floor.

    python bench/apply_bench.py [--intents N] [--items N] [--quick] [--json PATH]

Sandbox: in this process, a fresh data dir with one ingest feed; N intents of M small new
items (about 70 bytes each as JSON) are queued with `queue.enqueue` before the clock
starts. Then the real `IntentWorker` (its own `Database`: writer thread, readers, parser
thread) is started and the clock runs until every intent is finished (read every 20 ms).

Floor: the same rows into the same schema (another fresh data dir), written with plain
`executemany` on one connection: the items parsed from the same bodies, each dumped as
the store dumps it, and the rows the worker leaves for them (records with time-ordered
GUIDs, record_history, records_dirty, intent_records), in transactions of the worker's
chunk size. No queue reads, progress, outcomes per intent or id checks: those are what the
worker does beyond it.

Reported: items/s of both and the ratio of the two times (worker / floor), and the same
for CPU time (the worker's process, every thread; less moved by a busy machine than the
wall clock). `--repeat N` runs both N times, alternately, and reports medians. Target:
ratio <= 2; exit status 1 when it is missed. `--quick`: 2 intents of 2,000 items.
`--indexer none|yield|always`: without the record indexer, with it as the server runs it
(default), or with it never yielding (as before issue 12).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from console.sandbox.intents import queue, worker
from console.sandbox.intents.worker import IntentWorker
from console.sandbox.records.indexer import RecordIndexer, has_dirty
from console.sandbox.records.store import new_guids
from console.sandbox.settings import IntentTiming
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import connect, ensure_account, insert_feed, transaction

TARGET_RATIO = 2.0
FEED = "bench-apply"
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def bodies(intents: int, items: int) -> list[bytes]:
    """The intents' bodies: `items` new small records each (ids unique over all)."""
    out = []
    for i in range(intents):
        rows = [
            {"id": f"it-{i:03d}-{n:06d}", "name": f"Item {n}", "qty": n % 97, "ok": n % 2 == 0}
            for n in range(items)
        ]
        out.append(json.dumps(rows).encode())
    return out


def _fresh(path: Path) -> None:
    conn = connect(path)
    with transaction(conn):
        account = ensure_account(conn, "bench")
        insert_feed(conn, account, slug=FEED, name="Bench", method="ingest", id_field="id")
    conn.close()


def run_worker(
    path: Path, raw: list[bytes], items: int, *, indexer: str = "none"
) -> tuple[float, float, float]:
    """Seconds the worker takes to finish every queued intent (wall clock, then CPU time of
    the whole process: every thread), and then seconds until the record indexer has caught
    up (0 without it). `indexer`: "none"; "yield", the server's record indexer beside it as
    the server runs it (yielding while intents wait); "always", the indexer running rounds
    back to back regardless."""
    _fresh(path)
    conn = connect(path)
    with transaction(conn):
        for index, body in enumerate(raw):
            queue.enqueue(
                conn,
                correlation_id=f"corr_bench{index:04d}",
                account_id=1,
                feed=FEED,
                intent="upsert",
                key_id="key_bench",
                key_shown="fdk_…bench",
                body=body,
                items=items,
                at=time.time(),
            )
    conn.close()

    def pending(conn: Any) -> int:
        return int(
            conn.execute(
                "SELECT COUNT(*) FROM intents WHERE status IN ('queued', 'processing')"
            ).fetchone()[0]
        )

    async def main() -> tuple[float, float, float]:
        database = Database(path)
        await database.open()
        intent_worker = IntentWorker(database, IntentTiming())
        record_indexer = (
            RecordIndexer(database, paused=intent_worker.busy)
            if indexer == "yield"
            else RecordIndexer(database)  # (as before the yield: also runs on older code)
        )
        started, cpu = time.perf_counter(), time.process_time()
        intent_worker.start()
        if indexer != "none":
            record_indexer.start()
        while True:
            if not await database.read(pending):
                break
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        while indexer != "none":
            if not await database.read(has_dirty):
                break
            await asyncio.sleep(0.02)
        caught_up = time.perf_counter() - started - elapsed
        await intent_worker.stop()
        await record_indexer.stop()
        await database.close()
        return elapsed, cpu, caught_up

    return asyncio.run(main())


def run_floor(path: Path, raw: list[bytes], chunk: int) -> tuple[float, float]:
    """Seconds plain executemany takes to write the same rows (wall clock, CPU time)."""
    _fresh(path)
    conn = connect(path)
    started, cpu = time.perf_counter(), time.process_time()
    seq = 0
    for index, body in enumerate(raw):
        correlation_id = f"corr_bench{index:04d}"
        parsed = json.loads(body)
        for start in range(0, len(parsed), chunk):
            part = parsed[start : start + chunk]
            at = time.time()
            guids = new_guids(len(part), at)
            seqs = range(seq + 1, seq + 1 + len(part))
            seq += len(part)
            texts = [_ENCODER.encode(item) for item in part]
            changed = [_ENCODER.encode(list(item)) for item in part]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO records (seq, feed_seq, guid, system_id, deleted, created_at,"
                " updated_at, data, last_correlation_id) VALUES (?, 1, ?, ?, 0, ?, ?, ?, ?)",
                [
                    (s, g, item["id"], at, at, text, correlation_id)
                    for s, g, item, text in zip(seqs, guids, part, texts, strict=True)
                ],
            )
            conn.executemany(
                "INSERT INTO record_history (record_seq, timestamp, intent, correlation_id,"
                " key_id, key_shown, changed) VALUES (?, ?, 'upsert', ?, 'key_bench', ?, ?)",
                [
                    (s, at, correlation_id, "fdk_…bench", c)
                    for s, c in zip(seqs, changed, strict=True)
                ],
            )
            conn.executemany("INSERT INTO records_dirty (seq) VALUES (?)", [(s,) for s in seqs])
            conn.executemany(
                "INSERT INTO intent_records (correlation_id, item, guid, system_id, action)"
                " VALUES (?, ?, ?, ?, 'created')",
                [
                    (correlation_id, start + n, g, item["id"])
                    for n, (g, item) in enumerate(zip(guids, part, strict=True))
                ],
            )
            conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=10)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--floor-only", action="store_true")
    parser.add_argument(
        "--indexer",
        choices=("none", "yield", "always"),
        default="yield",
        help="the record indexer beside the worker: as the server runs it (yield), running"
        " back to back (always), or not at all (none)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (medians)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.intents, args.items = 2, 2_000
    raw = bodies(args.intents, args.items)
    total = args.intents * args.items
    chunk = worker.CHUNK_ITEMS
    floors: list[tuple[float, float]] = []
    workers: list[tuple[float, float, float]] = []
    for run in range(args.repeat):  # alternately, so both see the machine's same moods
        with tempfile.TemporaryDirectory(prefix="apply-bench-") as work:
            floors.append(run_floor(Path(work) / "floor", raw, chunk))
            if not args.floor_only:
                path = Path(work) / f"worker{run}"
                workers.append(run_worker(path, raw, args.items, indexer=args.indexer))
    floor, floor_cpu = (statistics.median(column) for column in zip(*floors, strict=True))
    sandbox, sandbox_cpu, caught_up = (
        (statistics.median(column) for column in zip(*workers, strict=True))
        if workers
        else (float("nan"),) * 3
    )
    result = {
        "items": total,
        "chunk_items": chunk,
        "indexer": args.indexer,
        "runs": args.repeat,
        "worker_seconds": round(sandbox, 3),
        "worker_items_per_s": round(total / sandbox) if workers else None,
        "worker_cpu_seconds": round(sandbox_cpu, 3),
        "index_caught_up_after_s": round(caught_up, 3),
        "floor_seconds": round(floor, 3),
        "floor_items_per_s": round(total / floor),
        "floor_cpu_seconds": round(floor_cpu, 3),
        "ratio": round(sandbox / floor, 2),
        "cpu_ratio": round(sandbox_cpu / floor_cpu, 2),
        "target_ratio": TARGET_RATIO,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ratio"] <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
