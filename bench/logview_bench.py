"""The Ingest Logs view's buffer at 1,000,000 entries: memory and filter times.

    python bench/logview_bench.py [--quick] [--entries N] [--runs R] [--json PATH]
                                  [--sandbox-entries M]

(a) Build. N entries (default 1,000,000) of synthetic LogEntry values shaped like the
    sandbox's `--demo-logs` mix (8 feeds, mostly accepted ingests that succeeded, ~3%
    refusals with their errors, rare partial failures, a third with an Idempotency-Key,
    5% pipeline events, ids of the sandbox's form `req_`/`corr_` + 26 alphanumerics,
    spread over 7 days) are added newest first in pages of 1,000 through
    `LogBuffer.add_older`, as `load_range` does; the time to add them is reported (the
    synthetic generation is not). Synthetic rather than loaded from a seeded sandbox: 1M
    entries through HTTP take minutes (see (d) for that rate).
(b) Memory. Bytes per entry: `LogBuffer.nbytes()` (every array: columns, id rows, side
    arena) over N, and this process's RSS after the build minus before it (numpy
    imported, nothing built) over N. Plus the RSS itself. Targets, judged at 1M entries
    (a smaller buffer has room to grow into): ≤ 95 bytes/entry (nbytes) and ≤ 110 MiB RSS
    added (the console without the buffer is ~90-100 MB: the whole must stay ≤ 200 MB).
(c) Filters. For each kind: status (the rare `failed`), feed (one of 8), time range
    (one hour), status + feed, and free text (a fragment of one request id: the
    case-insensitive scan of both id columns, the idempotency keys and every category's
    values), the median over R runs (default 9) of `LogBuffer.select(filter)` — the
    masks, the slots in display order and the Selection — with a different value each run.
    Floor, measured in the same run on the same machine: a plain numpy filter over the
    same data laid out for it (one contiguous array per column, no ring, no order):
    `np.flatnonzero(codes == c)` on a uint8 array for status and feed,
    `np.flatnonzero((t >= a) & (t < b))` on a float64 array for time, both masks for
    status + feed, and for text one pass comparing every byte of the two flat id columns
    with the needle's first byte (`np.flatnonzero(flat == c)`): the least any substring
    scan must do. Targets: ≤ 5 ms median for each non-text kind, ≤ 100 ms for text.
(d) `--sandbox-entries M` (default 0: skipped; the quick mode uses 5,000): starts a sandbox
    seeded with `--demo-logs M` and times `load_range` of all of it (HTTP on loopback,
    JSON parsing, add_older) in entries per second.

`--quick` (20,000 entries, 3 runs) keeps the script working in tests/test_bench.py; its
figures mean little. Exit status 1 when a target is missed. The tab's benchmark builds its
buffer with `build_buffer()` from here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from console.api.logs import LogEntry, LogItemError
from console.logbuffer.buffer import BufferFilter, Column, LogBuffer

FULL_ENTRIES = 1_000_000
QUICK_ENTRIES = 20_000
PAGE = 1000
SPAN_SECONDS = 7 * 86_400.0
TARGET_BYTES_PER_ENTRY = 95.0
TARGET_RSS_ADDED_MIB = 110.0
TARGET_FILTER_MS = 5.0
TARGET_TEXT_MS = 100.0

FEEDS = (
    "orders",
    "customers",
    "inventory",
    "shipments",
    "products",
    "invoices",
    "returns",
    "payments",
)
# (intent, method, weight), as the sandbox's demo seeding weighs them.
KINDS = (
    ("ingest", "POST", 50),
    ("upsert", "POST", 18),
    ("patch", "POST", 6),
    ("delete", "POST", 2),
    ("fetch", "POST", 2),
    ("poll", "POST", 8),
    ("record.create", "POST", 4),
    ("record.update", "PATCH", 4),
    ("import", "POST", 1),
    ("pipeline", None, 5),
)
PIPELINE_EVENTS = (
    ("pipeline.sync_started", "succeeded"),
    ("pipeline.sync_succeeded", "succeeded"),
    ("pipeline.sync_failed", "failed"),
    ("pipeline.pipeline_started", "succeeded"),
)
REFUSALS = ((400, 50), (404, 12), (413, 4), (415, 4), (429, 28), (500, 2))
REFUSAL_MESSAGES = {
    400: ("[{i}].sku", "required field missing"),
    404: (None, "stream not found"),
    413: (None, "request body over 1,048,576 bytes"),
    415: (None, "unsupported media type"),
    429: (None, "rate limited: retry after 1 s"),
    500: (None, "internal error"),
}
ITEM_ERRORS = (
    ("price", "expected a number"),
    ("sku", "required field missing"),
    ("email", "not an email address"),
    ("quantity", "must be >= 0"),
)
CLIENTS = ("127.0.0.1", "10.0.4.17", "10.0.4.18", "192.168.1.20", "172.16.0.9")
KEYS = (("key_a", "ik_live_…a1b2"), ("key_b", "ik_live_…c3d4"), ("key_c", "fdk_…e5f6"))
ALPHANUMERIC = (string.ascii_letters + string.digits).encode()
_TO_ALPHANUMERIC = bytes(ALPHANUMERIC[b % 62] for b in range(256))


def _weighted(pairs: tuple[tuple[Any, ...], ...]) -> list[Any]:
    return [item for item in pairs for _ in range(item[-1])]


def synthetic_pages(
    count: int, *, seed: int = 13, now: float | None = None, page: int = PAGE
) -> Iterator[list[LogEntry]]:
    """`count` entries shaped like the sandbox's demo mix, newest first, in pages."""
    rng = random.Random(seed)
    random_ = rng.random
    top = time.time() if now is None else now
    step = SPAN_SECONDS / max(count, 1)
    kinds = _weighted(KINDS)
    refusals = _weighted(REFUSALS)
    recent_keys: list[str] = []
    for page_start in range(count, 0, -page):
        # One random block per page gives every id of it (26 alphanumerics each).
        size = min(page, page_start)
        raw = rng.randbytes(size * 52).translate(_TO_ALPHANUMERIC)
        entries: list[LogEntry] = []
        for offset in range(size):
            entry_id = page_start - offset
            written = top - (count - entry_id) * step
            duration: float | None = round(2 + random_() * random_() * 400, 3)
            intent, method, _ = kinds[int(random_() * len(kinds))]
            feed: str | None = FEEDS[int(random_() ** 1.6 * len(FEEDS))]
            key_id: str | None
            key: str | None
            key_id, key = KEYS[int(random_() * len(KEYS))]
            http: int | None = 202
            status = "succeeded"
            items = 1
            errors: tuple[LogItemError, ...] = ()
            error_count = 0
            pipeline = None
            idempotency = None
            client: str | None = CLIENTS[int(random_() ** 2 * len(CLIENTS))]
            roll = random_()
            if intent == "pipeline":
                intent, status = PIPELINE_EVENTS[int(random_() * len(PIPELINE_EVENTS))]
                pipeline = str(1 + int(random_() * 4))
                feed = key = key_id = method = duration = http = client = None
                items = 0
                if status == "failed":
                    errors = (LogItemError(None, None, "destination timed out"),)
            else:
                if intent in ("ingest", "upsert", "patch"):
                    items = 1 + int(random_() ** 3 * 1000)
                if intent == "ingest" and random_() < 0.66:
                    if recent_keys and random_() < 0.05:
                        idempotency = recent_keys[int(random_() * len(recent_keys))]
                        status = "duplicate"
                    else:
                        idempotency = f"{feed}-{rng.getrandbits(64):016x}-{entry_id}"
                        recent_keys = [*recent_keys[-511:], idempotency]
                if roll < 0.03:
                    http = refusals[int(random_() * len(refusals))][0]
                    status = "failed" if http >= 500 else "rejected"
                    field, message = REFUSAL_MESSAGES[http]
                    item = int(random_() * items)
                    errors = (LogItemError(item, field and field.format(i=item), message),)
                elif intent == "record.create":
                    http = 201
                elif intent == "record.update":
                    http = 200
                elif roll > 0.985 and status != "duplicate":
                    status = "failed" if roll > 0.996 else "partially_failed"
                    error_count = items if status == "failed" else 1 + int(random_() * items / 4)
                    name, message = ITEM_ERRORS[int(random_() * len(ITEM_ERRORS))]
                    errors = (LogItemError(0, name, message),)
            at = 52 * offset
            entries.append(
                LogEntry(
                    id=entry_id,
                    timestamp=round(written - (duration or 0) / 1000, 3),
                    request_id="req_" + raw[at : at + 26].decode(),
                    correlation_id="corr_" + raw[at + 26 : at + 52].decode(),
                    feed=feed,
                    pipeline_id=pipeline,
                    key=key,
                    key_id=key_id,
                    method=method,
                    path=None,
                    intent=intent,
                    http_status=http,
                    items_received=items,
                    processing_status=status,
                    errors=errors,
                    error_count=error_count or len(errors),
                    duration_ms=duration,
                    client_ip=client,
                    auth_via="header" if key else None,
                    idempotency_key=idempotency,
                )
            )
        yield entries


def build_buffer(
    count: int = FULL_ENTRIES, *, seed: int = 13, now: float | None = None
) -> tuple[LogBuffer, float]:
    """A LogBuffer of `count` synthetic entries (capacity max(count, 1M)), and the seconds
    `add_older` took (generating the entries not included)."""
    buffer = LogBuffer(capacity=max(count, FULL_ENTRIES))
    adding = 0.0
    for entries in synthetic_pages(count, seed=seed, now=now):
        started = time.perf_counter()
        buffer.add_older(entries)
        adding += time.perf_counter() - started
    buffer.trim()  # as load_range does when it is done
    return buffer, adding


def rss_mib() -> float:
    """This process's resident set size now (MiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure_filters(buffer: LogBuffer, runs: int, seed: int) -> dict[str, dict[str, float]]:
    """Each filter kind's median select time and its plain-numpy floor (see (c))."""
    rng = random.Random(seed)
    everything = buffer.select(BufferFilter())
    slots = everything.slots[::-1]  # oldest first: the floor's arrays are in that order
    status_codes = np.array(
        [
            ("failed", "succeeded").index(s) if s in ("failed", "succeeded") else 2
            for s in buffer.column_values(slots, Column.STATUS)
        ],
        np.uint8,
    )
    feed_values = buffer.column_values(slots, Column.FEED)
    feed_codes = np.array([FEEDS.index(f) if f in FEEDS else 255 for f in feed_values], np.uint8)  # type: ignore[arg-type]
    times = np.array(buffer.column_values(slots, Column.TIME), np.float64)
    id_bytes = np.frombuffer(
        "".join(str(v)[4:] for v in buffer.column_values(slots, Column.REQUEST_ID)).encode()
        + "".join(
            str(v or "")[5:] for v in buffer.column_values(slots, Column.CORRELATION_ID)
        ).encode(),
        np.uint8,
    )
    low, high = float(times.min()), float(times.max())
    request_ids = buffer.column_values(slots[:: max(1, len(slots) // 997)], Column.REQUEST_ID)

    cases: dict[str, tuple[Callable[[int], BufferFilter], Callable[[int], object]]] = {
        "status (failed)": (
            lambda run: BufferFilter(statuses=frozenset({"failed"})),
            lambda run: np.flatnonzero(status_codes == 0),
        ),
        "feed": (
            lambda run: BufferFilter(feeds=frozenset({FEEDS[run % len(FEEDS)]})),
            lambda run: np.flatnonzero(feed_codes == run % len(FEEDS)),
        ),
    }
    windows = [
        (start, start + 3600.0) for start in (rng.uniform(low, high - 3600) for _ in range(runs))
    ]
    cases["time range (1 h)"] = (
        lambda run: BufferFilter(since=windows[run][0], until=windows[run][1]),
        lambda run: np.flatnonzero((times >= windows[run][0]) & (times < windows[run][1])),
    )
    cases["status + feed"] = (
        lambda run: BufferFilter(
            statuses=frozenset({"succeeded"}), feeds=frozenset({FEEDS[run % len(FEEDS)]})
        ),
        lambda run: np.flatnonzero((status_codes == 1) & (feed_codes == run % len(FEEDS))),
    )
    needles = [str(request_ids[rng.randrange(len(request_ids))])[8:18] for _ in range(runs)]
    cases["text (part of a request id)"] = (
        lambda run: BufferFilter(text=needles[run]),
        lambda run: np.flatnonzero(id_bytes == needles[run].lower().encode()[0]),
    )
    figures: dict[str, dict[str, float]] = {}
    for name, (make_filter, floor) in cases.items():
        own: list[float] = []
        base: list[float] = []
        rows = 0
        for run in range(runs):
            f = make_filter(run)
            base.append(timed(lambda: floor(run)))  # noqa: B023 - called at once
            started = time.perf_counter()
            sel = buffer.select(f)
            own.append(time.perf_counter() - started)
            rows = len(sel)
        figures[name] = {
            "median_ms": median_ms(own),
            "floor_median_ms": median_ms(base),
            "ratio": median_ms(own) / max(median_ms(base), 1e-6),
            "rows_last_run": rows,
        }
    return figures


def measure_sandbox_load(count: int) -> dict[str, float]:
    """Seconds and entries/s of load_range of a sandbox seeded with `--demo-logs count`."""
    from console.api.logs import LogsApi
    from console.api.transport import ApiClient
    from console.logbuffer.loader import load_range
    from console.sandbox.process import SandboxProcess
    from console.sandbox.storage.sqlite import mint_key

    with tempfile.TemporaryDirectory(prefix="logview-bench-") as temp:
        data_dir = Path(temp) / "data"
        started = time.monotonic()
        server = SandboxProcess(
            data_dir, demo=True, rate_limit="1000000/300", extra_args=["--demo-logs", str(count)]
        )
        server.start(timeout=1800)
        seeded_s = time.monotonic() - started
        try:
            key = mint_key(data_dir, account="demo", kind="admin")
            assert server.base_url is not None
            url = server.base_url

            async def load() -> tuple[int, float]:
                client = ApiClient(url, key)
                try:
                    buffer = LogBuffer(capacity=max(count + 100, 1000))
                    began = time.perf_counter()
                    progress = await load_range(LogsApi(client), buffer, since=None, until=None)
                    return progress.loaded, time.perf_counter() - began
                finally:
                    await client.aclose()

            loaded, seconds = asyncio.run(load())
        finally:
            server.stop()
    return {
        "entries": loaded,
        "seconds": seconds,
        "entries_per_s": loaded / seconds if seconds else 0.0,
        "seed_and_start_s": seeded_s,
    }


def report(figures: dict[str, Any]) -> bool:
    """Print the table; True when every target is met."""
    ok = True
    n = figures["entries"]
    memory = figures["memory"]
    print(f"## Log view buffer, {n:,} entries (provisional: shared 2-core machine)")
    print("| measure | value | floor | target |")
    print("|---|---|---|---|")
    rate = figures["build"]["entries_per_s"]
    print(f"| add_older, pages of {PAGE} | {rate:,.0f} entries/s | — | — |")
    per_entry = memory["nbytes_per_entry"]
    # Judged at the full size only: a smaller buffer's arrays have room to grow into.
    ok &= n < FULL_ENTRIES or per_entry <= TARGET_BYTES_PER_ENTRY
    print(f"| buffer arrays per entry | {per_entry:.1f} B | — | ≤ {TARGET_BYTES_PER_ENTRY:.0f} B |")
    added = memory["rss_added_mib"] * FULL_ENTRIES / n
    print(
        f"| RSS added per entry (per 1M) | {memory['rss_added_per_entry']:.1f} B"
        f" ({added:.0f} MiB) | — | ≤ {TARGET_RSS_ADDED_MIB:.0f} MiB |"
    )
    ok &= n < FULL_ENTRIES or memory["rss_added_mib"] <= TARGET_RSS_ADDED_MIB
    print(f"| process RSS after the build | {memory['rss_after_mib']:.0f} MiB | — | — |")
    for name, case in figures["filters"].items():
        target = TARGET_TEXT_MS if name.startswith("text") else TARGET_FILTER_MS
        ok &= case["median_ms"] <= target
        print(
            f"| select: {name}, median | {case['median_ms']:.2f} ms"
            f" ({case['rows_last_run']:,} rows) | {case['floor_median_ms']:.2f} ms"
            f" (×{case['ratio']:.1f}) | ≤ {target:.0f} ms |"
        )
    load = figures.get("sandbox_load")
    if load:
        print(
            f"| load_range from the sandbox ({load['entries']:,} entries) |"
            f" {load['entries_per_s']:,.0f} entries/s ({load['seconds']:.1f} s) | — | — |"
        )
    return bool(ok)


def main() -> int:
    """Build the buffer, measure, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--sandbox-entries", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    entries = args.entries or (QUICK_ENTRIES if args.quick else FULL_ENTRIES)
    runs = args.runs or (3 if args.quick else 9)
    sandbox_entries = args.sandbox_entries
    if sandbox_entries is None:
        sandbox_entries = 5000 if args.quick else 0
    rss_before = rss_mib()
    buffer, adding = build_buffer(entries)
    rss_after = rss_mib()
    figures: dict[str, Any] = {
        "entries": len(buffer),
        "build": {"add_older_s": adding, "entries_per_s": len(buffer) / adding},
        "memory": {
            "nbytes": buffer.nbytes(),
            "nbytes_per_entry": buffer.nbytes() / len(buffer),
            "rss_before_mib": rss_before,
            "rss_after_mib": rss_after,
            "rss_added_mib": rss_after - rss_before,
            "rss_added_per_entry": (rss_after - rss_before) * 1024 * 1024 / len(buffer),
        },
        "filters": measure_filters(buffer, runs, seed=7),
    }
    if sandbox_entries:
        figures["sandbox_load"] = measure_sandbox_load(sandbox_entries)
    ok = report(figures)
    if args.json is not None:
        figures.update(
            {
                "when": datetime.now().isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "python": sys.version.split()[0],
                "quick": args.quick,
            }
        )
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
