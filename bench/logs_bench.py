"""Connector logs at a million entries: `GET /logs` with each filter, detail and trace.

    python bench/logs_bench.py [--entries N] [--quick] [--samples S] [--json PATH]

Starts the real sandbox as a child process on a fresh data dir with
`sandbox serve --demo --demo-logs N` (default 1,000,000; the seeding is timed: from the
spawn until `listening on`, which it precedes) and the per-IP limit lifted, then sends
S requests (default 200) per case over loopback (httpx, one keep-alive connection, an
admin key of the demo account) and reports p50 and p95:

- `GET /api/public/v1/logs?limit=100` with no filter, with each filter alone (feed,
  pipeline_id, status, intent, http_status, since/until, q, id), with two pairs (one that
  matches, one that matches nothing: the scan budget's case), and page 2 by the first
  page's cursor;
- `GET /logs/{request_id}` (detail);
- `GET /trace/{id}` for each kind of id: request, correlation, idempotency, a record's
  GUID, a record's system id.

Each case cycles through several values (drawn from the seeded entries) so it does not
measure one cached page. Target: p95 <= 100 ms for every case.

Floors, measured in the same run: the same SQL in this process on a read-only connection
(`console.sandbox.logs.query` and `.trace`, when they are there: the filter parsed, the
page's statements and the rows turned into the entries' JSON), and a bare Starlette app
on uvicorn answering an empty route (`floor_bare_starlette.py`): what any request costs.
Client and server share the machine's cores: read the figures as provisional.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import (
    connect_reader,
    database_path,
    mint_key,
    read_transaction,
)

HERE = Path(__file__).resolve().parent
FULL_ENTRIES = 1_000_000
QUICK_ENTRIES = 20_000
SAMPLES = 200
QUICK_SAMPLES = 10
TARGET_P95_MS = 100.0
LOGS = "/api/public/v1/logs"
TRACE = "/api/public/v1/trace"
VALUES_PER_CASE = 10


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _column(conn: sqlite3.Connection, sql: str, *parameters: Any) -> list[Any]:
    return [row[0] for row in conn.execute(sql, parameters)]


def sample_values(data_dir: Path, rng: random.Random) -> dict[str, Any]:
    """Values to query for, drawn from what the seeding wrote."""
    conn = sqlite3.connect(database_path(data_dir))
    try:
        account_id = _column(conn, "SELECT id FROM accounts WHERE name = 'demo'")[0]
        last = _column(conn, "SELECT max(id) FROM logs")[0]
        first = _column(conn, "SELECT min(id) FROM logs")[0]

        def some(column: str, where: str = "1") -> list[Any]:
            values: list[Any] = []
            for _ in range(VALUES_PER_CASE * 3):
                at = rng.randint(first, last)
                row = conn.execute(
                    f"SELECT {column} FROM logs WHERE id >= ? AND {where} AND {column} IS NOT NULL"
                    " ORDER BY id LIMIT 1",
                    (at,),
                ).fetchone()
                if row is not None and row[0] not in values:
                    values.append(row[0])
                if len(values) == VALUES_PER_CASE:
                    break
            return values

        newest, oldest = conn.execute(
            "SELECT max(timestamp), min(timestamp) FROM logs WHERE account_id = ?", (account_id,)
        ).fetchone()
        windows = []
        for _ in range(VALUES_PER_CASE):
            since = rng.uniform(oldest, newest - 3600)
            windows.append((round(since, 3), round(since + 3600, 3)))
        records = conn.execute(
            "SELECT r.guid, r.system_id FROM records r JOIN feeds f ON f.seq = r.feed_seq"
            " WHERE f.account_id = ? ORDER BY r.seq LIMIT 500",
            (account_id,),
        ).fetchall()
        rng.shuffle(records)
        return {
            "account_id": account_id,
            "request_ids": some("request_id"),
            "correlation_ids": some("correlation_id"),
            "idempotency_keys": some("idempotency_key"),
            "pipeline_ids": sorted(set(some("pipeline_id"))),
            "windows": windows,
            "guids": [row[0] for row in records[:VALUES_PER_CASE]],
            "system_ids": [row[1] for row in records[:VALUES_PER_CASE]],
            # Detail: entries with bodies (one in ten has them).
            "detail_ids": _column(
                conn,
                "SELECT l.request_id FROM log_bodies b JOIN logs l ON l.id = b.log_id"
                " WHERE b.log_id >= ? ORDER BY b.log_id LIMIT ?",
                rng.randint(first, max(first, last - 1000)),
                VALUES_PER_CASE,
            ),
        }
    finally:
        conn.close()


def cases(values: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each case: the (path, query) requests it cycles through."""

    def listing(*params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        return [(LOGS, {"limit": 100, **p}) for p in params]

    feeds = ["orders", "customers", "inventory", "payments", "returns"]
    return {
        "no filter": listing({}),
        "feed": listing(*({"feed": feed} for feed in feeds)),
        "pipeline_id": listing(*({"pipeline_id": p} for p in values["pipeline_ids"])),
        "status (rare: failed)": listing({"status": "failed"}, {"status": "duplicate"}),
        "intent": listing(*({"intent": i} for i in ("ingest", "record.create", "poll"))),
        "http_status (rare: 429)": listing({"http_status": 429}, {"http_status": 413}),
        "since/until (1 h window)": listing(
            *({"since": since, "until": until} for since, until in values["windows"])
        ),
        "q (a word)": listing({"q": "Lisbon"}, {"q": "timed"}, {"q": "payments"}),
        "id (correlation id)": listing(*({"id": c} for c in values["correlation_ids"])),
        "feed + status": listing(
            *({"feed": feed, "status": "rejected"} for feed in feeds),
        ),
        "feed + intent, no match": listing(
            *({"feed": feed, "intent": "pipeline.sync_failed"} for feed in feeds)
        ),
        "page 2 (cursor)": [],  # filled from the first page
        "detail": [(f"{LOGS}/{rid}", {}) for rid in values["detail_ids"]],
        "trace: request id": [(f"{TRACE}/{r}", {}) for r in values["request_ids"]],
        "trace: correlation id": [(f"{TRACE}/{c}", {}) for c in values["correlation_ids"]],
        "trace: idempotency key": [(f"{TRACE}/{k}", {}) for k in values["idempotency_keys"]],
        "trace: record GUID": [(f"{TRACE}/{g}", {}) for g in values["guids"]],
        "trace: system id": [(f"{TRACE}/{s}", {}) for s in values["system_ids"]],
    }


def next_cursor(body: dict[str, Any]) -> str | None:
    """The cursor of the next page, wherever the answer keeps it."""
    for holder in (body, body.get("meta") or {}, body.get("pagination") or {}):
        if isinstance(holder, dict) and holder.get("next_cursor"):
            return str(holder["next_cursor"])
    return None


def measure_server(
    http: httpx.Client, requests: list[tuple[str, dict[str, Any]]], samples: int
) -> dict[str, Any]:
    times: list[float] = []
    statuses: dict[int, int] = {}
    for n in range(samples):
        path, params = requests[n % len(requests)]
        started = time.perf_counter()
        response = http.get(path, params=params)
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": percentile(times, 0.95),
        "statuses": statuses,
    }


def floor_functions(data_dir: Path, account_id: int) -> dict[str, Callable[..., Any]] | None:
    """The server's own query functions, run in this process (None: not there)."""
    try:
        from console.sandbox.logs import query as log_query
        from console.sandbox.logs import trace as log_trace
    except ImportError:
        return None
    conn = connect_reader(data_dir)

    def listing(path: str, params: dict[str, Any]) -> Any:
        with read_transaction(conn):
            checked = log_query.parse_log_query(
                {name: str(value) for name, value in params.items()}, conn, account_id
            )
            return log_query.list_page(conn, account_id, checked)

    def detail(path: str, params: dict[str, Any]) -> Any:
        with read_transaction(conn):
            return log_query.detail(conn, account_id, path.rsplit("/", 1)[1])

    def trace(path: str, params: dict[str, Any]) -> Any:
        with read_transaction(conn):
            return log_trace.trace(conn, account_id, path.rsplit("/", 1)[1])

    return {"listing": listing, "detail": detail, "trace": trace}


def measure_floor(
    function: Callable[..., Any], requests: list[tuple[str, dict[str, Any]]], samples: int
) -> dict[str, Any]:
    times: list[float] = []
    for n in range(samples):
        path, params = requests[n % len(requests)]
        started = time.perf_counter()
        function(path, params)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95)}


def measure_bare_starlette(work: Path, samples: int) -> dict[str, Any]:
    """An empty route of a bare Starlette app on uvicorn, over the same kind of client."""
    body = work / "empty.json"
    body.write_text('{"data":[]}')
    process = subprocess.Popen(
        [sys.executable, str(HERE / "floor_bare_starlette.py"), str(body), "application/json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the floor app did not start: {line!r}")
        with httpx.Client(base_url=line.removeprefix("listening on "), timeout=30) as http:
            return measure_server(http, [("/", {})], samples)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=FULL_ENTRIES)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ENTRIES:,} entries")
    parser.add_argument("--samples", type=int)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    entries = QUICK_ENTRIES if args.quick else args.entries
    samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES)
    rng = random.Random("logs-bench")
    results: dict[str, Any] = {"entries": entries, "samples": samples, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="logs-bench-") as temp:
        work = Path(temp)
        data_dir = work / "data"
        server = SandboxProcess(
            data_dir,
            demo=True,
            rate_limit="100000000/300",
            extra_args=["--demo-logs", str(entries)],
        )
        spawned = time.perf_counter()
        server.start(timeout=900)
        results["seed_s"] = time.perf_counter() - spawned
        try:
            key = mint_key(data_dir, account="demo", kind="admin")
            values = sample_values(data_dir, rng)
            plan = cases(values)
            floors = floor_functions(data_dir, values["account_id"])
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=str(server.base_url), headers=headers, timeout=60) as http:
                first = http.get(LOGS, params={"limit": 100})
                cursor = next_cursor(first.json()) if first.status_code == 200 else None
                plan["page 2 (cursor)"] = (
                    [(LOGS, {"limit": 100, "cursor": cursor})] if cursor else []
                )
                for name, requests in plan.items():
                    if not requests:
                        results["cases"][name] = {"skipped": "no values to query"}
                        continue
                    figures = measure_server(http, requests, samples)
                    kind = (
                        "trace"
                        if name.startswith("trace")
                        else "detail"
                        if name == "detail"
                        else "listing"
                    )
                    if floors is not None and kind in floors:
                        try:
                            figures["floor"] = measure_floor(floors[kind], requests, samples)
                        except Exception as error:  # an interface the floor guessed wrong
                            figures["floor"] = {"error": f"{type(error).__name__}: {error}"}
                    results["cases"][name] = figures
        finally:
            server.stop()
        results["bare_starlette"] = measure_bare_starlette(work, samples)

    print(
        f"connector logs, {entries:,} entries (seeded in {results['seed_s']:.1f} s, "
        f"server start included), {samples} requests per case over loopback:"
    )
    print("| case | p50 / p95 | floor: same SQL in-process p50 / p95 | statuses |")
    print("|---|---|---|---|")
    missed = []
    for name, figures in results["cases"].items():
        if "skipped" in figures:
            print(f"| {name} | skipped: {figures['skipped']} | — | — |")
            continue
        floor = figures.get("floor") or {}
        floor_text = (
            f"{floor['p50_ms']:.2f} / {floor['p95_ms']:.2f} ms"
            if "p50_ms" in floor
            else floor.get("error", "—")
        )
        print(
            f"| {name} | {figures['p50_ms']:.1f} / {figures['p95_ms']:.1f} ms | {floor_text} |"
            f" {figures['statuses']} |"
        )
        if figures["p95_ms"] > TARGET_P95_MS or set(figures["statuses"]) - {200, 404}:
            missed.append(name)
    bare = results["bare_starlette"]
    print(
        f"| bare Starlette + uvicorn, empty route (floor of any request) | "
        f"{bare['p50_ms']:.1f} / {bare['p95_ms']:.1f} ms | — | — |"
    )
    print(f"target: p95 <= {TARGET_P95_MS:g} ms; missed (or not 200): {missed or 'none'}")
    results["missed"] = missed
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
