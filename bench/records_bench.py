"""Records at a million: server-side `q`, `system_id` and field-filter lookups.

    python bench/records_bench.py [--records N] [--quick] [--data DIR] [--json PATH]

Seeds N records (default 1,000,000) into the demo account's `demo-records` feed of a fresh
data dir, in bulk, as `sandbox serve --demo-records N` does (reported: the seeding rate;
`--data DIR` reuses a dir seeded before), starts the real sandbox on it as a child process
(`python -m console sandbox serve --port 0`, the per-IP limit lifted) and measures, for
each kind of lookup, the latency of `GET /api/public/v1/feeds/demo-records/records?...`
over loopback (httpx, one keep-alive connection, 100 records a page): p50 and p95.

The floor of each lookup is the same SQL (`records.query.page_rows`: the index probes that
choose the plan, then the page's statements) on a plain sqlite3 connection in this process,
measured in the same run, sample by sample alternately with the server (which of the two
goes first alternates too, so neither always meets the colder caches). The ratio is
server p50 / floor p50: what HTTP, authentication, the read hop and JSON rendering add.

Also measured: the freshness of `q` (from a record's 201 to the first `q` that finds
it, polled without sleeping) while the feed holds N records. Client and server share the
machine's cores: figures are noisy, read them as provisional.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.records.demo import BULK_FEED, seed_bulk_records
from console.sandbox.records.query import page_rows, parse_record_query
from console.sandbox.records.store import find_feed
from console.sandbox.storage.sqlite import database_path, mint_key

DEFAULT_RECORDS = 1_000_000
QUICK_RECORDS = 20_000
SAMPLES = 40
QUICK_SAMPLES = 5
FRESHNESS_WRITES = 20
FEED = BULK_FEED[0]
RECORDS = f"/api/public/v1/feeds/{FEED}/records"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def seed(data_dir: Path, count: int) -> dict[str, float]:
    """Seed (or top up) the bulk feed; return the rate."""
    started = time.perf_counter()
    added = seed_bulk_records(data_dir, count)
    seconds = time.perf_counter() - started
    return {"added": added, "seconds": seconds, "rows_per_s": added / seconds if added else 0}


def lookups(
    conn: sqlite3.Connection, feed_seq: int, samples: int
) -> dict[str, list[dict[str, str]]]:
    """For each kind of lookup, `samples` query parameter sets drawn from the feed's data."""
    rng = random.Random(7)
    top = int(
        conn.execute("SELECT max(seq) FROM records WHERE feed_seq = ?", (feed_seq,)).fetchone()[0]
    )
    bottom = int(
        conn.execute("SELECT min(seq) FROM records WHERE feed_seq = ?", (feed_seq,)).fetchone()[0]
    )

    def record() -> dict[str, Any]:
        while True:
            row = conn.execute(
                "SELECT data, updated_at FROM records WHERE seq = ? AND feed_seq = ?",
                (rng.randint(bottom, top), feed_seq),
            ).fetchone()
            if row is not None:
                return {**json.loads(row[0]), "_updated_at": row[1]}

    picked = [record() for _ in range(samples)]
    newest = float(
        conn.execute(
            "SELECT max(updated_at) FROM records WHERE feed_seq = ?", (feed_seq,)
        ).fetchone()[0]
    )
    oldest = float(
        conn.execute(
            "SELECT min(updated_at) FROM records WHERE feed_seq = ?", (feed_seq,)
        ).fetchone()[0]
    )
    recent = int(newest - (newest - oldest) * 0.01)
    return {
        "system_id (one record)": [{"system_id": r["id"]} for r in picked],
        "q: an email (one record)": [{"q": r["email"]} for r in picked],
        "q: full name (~0.2%)": [{"q": r["customer"]} for r in picked],
        "q: city and status (~1%)": [{"q": f"{r['city']} {r['status']}"} for r in picked],
        "q: a city (~6%)": [{"q": r["city"]} for r in picked],
        "q: a word in every record": [{"q": "EUR"} for _ in picked],
        "data.status (~14%)": [{"data.status": r["status"]} for r in picked],
        "data.email (one record)": [{"data.email": r["email"]} for r in picked],
        "data.city + data.status (~1%)": [
            {"data.city": r["city"], "data.status": r["status"]} for r in picked
        ],
        "version: last 1% of changes": [{"version": str(recent)} for _ in picked],
        "first page, no filter": [{} for _ in picked],
    }


def measure(
    client: httpx.Client,
    conn: sqlite3.Connection,
    feed: Any,
    params: list[dict[str, str]],
) -> dict[str, Any]:
    """Server and floor latencies of one kind of lookup, alternately, in ms."""
    server: list[float] = []
    floor: list[float] = []
    found: list[int] = []
    for index, query in enumerate(params):
        # Whichever goes first meets the colder caches: alternate.
        for side in ("server", "floor") if index % 2 == 0 else ("floor", "server"):
            started = time.perf_counter()
            if side == "server":
                response = client.get(RECORDS, params=query)
                server.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{query}: {response.status_code} {response.text[:300]}")
                found.append(len(response.json()["data"]))
            else:
                conn.execute("BEGIN")
                page_rows(conn, feed, parse_record_query(query, conn, feed))
                conn.execute("COMMIT")
                floor.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": statistics.median(server),
        "p95_ms": percentile(server, 0.95),
        "floor_p50_ms": statistics.median(floor),
        "floor_p95_ms": percentile(floor, 0.95),
        "ratio_p50": statistics.median(server) / max(statistics.median(floor), 1e-6),
        "median_rows": statistics.median(found),
    }


def freshness(client: httpx.Client, writes: int) -> dict[str, float]:
    """From a record's 201 to the first `q` finding it (polled back to back), in ms."""
    lags: list[float] = []
    for n in range(writes):
        word = f"fresh{n}x{random.getrandbits(40):x}"
        response = client.post(RECORDS, json={"system_id": f"F-{word}", "data": {"note": word}})
        if response.status_code != 201:
            raise RuntimeError(response.text[:300])
        written = time.perf_counter()
        deadline = written + 30
        while not client.get(RECORDS, params={"q": word}).json()["data"]:
            if time.perf_counter() > deadline:
                raise RuntimeError("q never found a fresh record")
        lags.append((time.perf_counter() - written) * 1000)
    return {
        "p50_ms": statistics.median(lags),
        "p95_ms": percentile(lags, 0.95),
        "max_ms": max(lags),
    }


def run(count: int, samples: int, data_dir: Path) -> dict[str, Any]:
    """Seed, serve and measure."""
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "records": count,
        "seeding": seed(data_dir, count),
    }
    server = SandboxProcess(
        data_dir,
        demo=False,
        rate_limit="100000000/300",
        extra_args=["--demo-records", str(count)],
    )
    server.start(timeout=300)
    try:
        key = mint_key(data_dir, account="demo")
        conn = sqlite3.connect(database_path(data_dir), isolation_level=None)
        conn.row_factory = sqlite3.Row
        account_id = int(conn.execute("SELECT id FROM accounts WHERE name = 'demo'").fetchone()[0])
        feed = find_feed(conn, account_id, FEED)
        assert feed is not None
        kinds = lookups(conn, feed.seq, samples)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=60) as client:
            client.get(RECORDS, params={"limit": 1})  # warm the connection and caches
            results["lookups"] = {
                name: measure(client, conn, feed, params) for name, params in kinds.items()
            }
            results["freshness"] = freshness(client, FRESHNESS_WRITES if samples > 10 else 3)
        conn.close()
    except Exception:
        print("\n".join(server._stderr_tail), file=sys.stderr)
        raise
    finally:
        server.stop()
    return results


def report(results: dict[str, Any]) -> None:
    """Print the figures as lines and a markdown table."""
    seeding = results["seeding"]
    print(f"machine: {results['machine']}")
    if seeding["added"]:
        print(
            f"seeded {seeding['added']:,} records in {seeding['seconds']:.1f} s "
            f"({seeding['rows_per_s']:,.0f} rows/s, index rows included)"
        )
    print(f"feed: {results['records']:,} records; page size 100; times in ms (provisional)")
    print("| lookup | p50 | p95 | floor p50 | floor p95 | ratio p50 | rows |")
    print("|---|---|---|---|---|---|---|")
    for name, figures in results["lookups"].items():
        print(
            f"| {name} | {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} "
            f"| {figures['floor_p50_ms']:.1f} | {figures['floor_p95_ms']:.1f} "
            f"| {figures['ratio_p50']:.1f}× | {figures['median_rows']:.0f} |"
        )
    fresh = results["freshness"]
    print(
        f"q freshness (201 to first hit): p50 {fresh['p50_ms']:.0f} ms, "
        f"p95 {fresh['p95_ms']:.0f} ms, max {fresh['max_ms']:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, help=f"feed size (default {DEFAULT_RECORDS:,})")
    parser.add_argument("--quick", action="store_true", help="a small feed, few samples")
    parser.add_argument("--data", type=Path, help="data dir to seed or reuse")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    count = args.records or (QUICK_RECORDS if args.quick else DEFAULT_RECORDS)
    samples = QUICK_SAMPLES if args.quick else SAMPLES
    if args.data:
        args.data.mkdir(parents=True, exist_ok=True)
        results = run(count, samples, args.data)
    else:
        with tempfile.TemporaryDirectory(prefix="records-bench-") as temp:
            results = run(count, samples, Path(temp))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
