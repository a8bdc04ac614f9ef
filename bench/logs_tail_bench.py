"""Live tail at 1,000 entries a second: the longest UI-thread stall. Run from the repo root:

    python bench/logs_tail_bench.py [--quick] [--rate 1000] [--seconds 20] [--preload N]
        [--json PATH]

What runs:
- A sandbox child (`python -m console sandbox serve --port 0`, own data dir, limits lifted).
- A load generator, its own process, for the whole run: `--rate` log entries a second
  (default 1,000) for one account. Real `POST /api/ingest` requests cannot reach that here
  (one uvicorn worker and its client on 2 shared cores top out at ~180 requests a second),
  so the generator writes most entries straight into the sandbox's log store with the
  server's own `insert_entries` (as "queued", moved to "succeeded" 0.3 s later with
  `set_status`, as the worker would), in transactions every 20 ms, and sends
  `--http-rate` (default 20) real ingest requests a second as well, whose entries the
  server writes itself. The server's live tail finds the generator's rows by its 0.25 s
  poll (another process cannot notify it), the requests' rows at once; either way the
  console receives them over the real SSE stream, and every entry changes status after
  it was streamed, so the status refresh has all of them to catch up with.
- The console side, in this process, on a qasync loop, offscreen: the real `LiveTail` (its
  stream reader, batches every 100 ms into a real `LogBuffer`, status refresh every 2 s
  with `GET /logs?since=` pages parsed in a worker thread), the tab's `LogTableModel` in a
  plain QTableView (1280x800, shown, set up as the console's tables), which on each batch
  gets the buffer's selection again and one model reset, as the tab does (the tab's
  histogram and error groups are not included), and `model.values_changed()` on each
  status refresh. `--preload N` puts N older entries in the buffer first (default 0).
  Objects built before measuring are left out of full GCs (gc.freeze, as the window does).
- The stall: a 5 ms PreciseTimer heartbeat on the event loop; the longest gap between two
  ticks (minus the 5 ms) is the longest stall. Also printed: the UI thread's own longest
  CPU time between ticks (the wall-clock gap also holds time a busy shared machine did not
  schedule the thread) and the 99th percentile gap.
- The floor, measured in the same run while the same generator runs: the same heartbeat,
  the same shown table (empty or preloaded), no tail (first `--floor-seconds`, default 8).
The sandbox and the generator run at `--platform-nice` (default 10): they stand in for the
platform and its clients, which run elsewhere in real use, so they take the CPU the console
does not need (the same in both phases; 0 puts them level with the console).
Then the tail runs for `--seconds` (default 20), from the newest entry at its start (as
the tab starts it after a load); its figures: entries received and added (they must
match, none dropped), batches, status refresh rows and pages, and the lag from an entry's
timestamp to its batch reaching the buffer (it includes the server's 0.25 s poll).
Target: longest stall with the tail <= 50 ms. `--quick` (200 entries a second, 2 s floor,
4 s tail) keeps the script working in tests/test_bench.py; its figures mean little.
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import os

# Before Qt is imported: render offscreen, and make qasync pick PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import qasync  # after PySide6 (STACK_NOTES 2)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QTableView

from console.api.logs import LogEntry, LogsApi
from console.api.transport import ApiClient
from console.logbuffer.buffer import AddResult, BufferFilter, Column, LogBuffer
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from console.ui.logs.model import LogTableModel
from console.ui.logs.tail import LiveTail
from console.ui.main_window import freeze_long_lived_objects
from console.ui.widgets.row_table import setup_row_view

TARGET_STALL_MS = 50.0
HEARTBEAT_MS = 5
ACCOUNT = "tail-bench"
FEED = "shop"


# -- the load generator (its own process) ----------------------------------------------


def generate(
    data_dir: Path,
    url: str,
    ingest_key: str,
    rate: int,
    http_rate: int,
    seconds: float,
    nice: int,
) -> None:
    """Write `rate` entries a second for `seconds` (see the module docstring); print counts."""
    import httpx

    from console.sandbox.logs.model import LogEntry, new_request_id
    from console.sandbox.logs.store import insert_entries, set_status
    from console.sandbox.storage import sqlite as storage

    os.nice(nice)  # it stands in for the platform's clients, not for the console's machine
    conn = storage.connect_opened(data_dir)
    with storage.transaction(conn):
        account_id = storage.ensure_account(conn, ACCOUNT)
    sent_http = [0]
    stop = threading.Event()

    def post() -> None:
        # Real ingest requests at `http_rate` a second (their entries are the server's).
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ingest_key}"}
        ) as client:
            started = time.monotonic()
            while not stop.is_set():
                due = int((time.monotonic() - started) * http_rate) - sent_http[0]
                if due <= 0:
                    time.sleep(0.005)
                    continue
                client.post(
                    "/api/ingest",
                    params={"stream": FEED},
                    content=json.dumps({"id": f"http-{sent_http[0]}"}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                sent_http[0] += 1

    poster = threading.Thread(target=post, daemon=True)
    if http_rate:
        poster.start()
    direct_rate = max(0, rate - http_rate)
    written = 0
    settle: deque[tuple[float, list[int]]] = deque()
    started = time.monotonic()
    end = started + seconds
    while (now := time.monotonic()) < end:
        due = int((now - started) * direct_rate) - written
        if due > 0:
            stamp = time.time()
            batch = [
                (
                    LogEntry(
                        account_id=account_id,
                        timestamp=stamp,
                        request_id=new_request_id(),
                        correlation_id=f"corr_bench{written + n:021d}",
                        feed=FEED,
                        key_id="key_tailbench0000000000001",
                        key_shown="ik_live_…b3nc",
                        method="POST",
                        path=f"/api/ingest?stream={FEED}",
                        intent="ingest",
                        http_status=202,
                        items_received=1 + (written + n) % 50,
                        processing_status="queued",
                        duration_ms=1.0 + (written + n) % 7,
                        client_ip="10.0.4.17",
                        auth_via="header",
                    ),
                    None,
                )
                for n in range(due)
            ]
            with storage.transaction(conn):
                ids = insert_entries(conn, batch)
            settle.append((now + 0.3, ids))
            written += due
        ready: list[int] = []
        while settle and settle[0][0] <= now:
            ready += settle.popleft()[1]
        if ready:
            with storage.transaction(conn):
                set_status(conn, ready, "succeeded")
        time.sleep(0.02)
    stop.set()
    if http_rate:
        poster.join(5)
    print(json.dumps({"direct": written, "http": sent_http[0]}), flush=True)


# -- the console side ----------------------------------------------------------------


class Heartbeat:
    """A 5 ms timer on the event loop; its longest gap is the loop's longest stall."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self.longest_cpu = 0.0
        self.last = self.last_cpu = 0.0
        self.started = self.started_cpu = self.load = 0.0

    def start(self) -> None:
        self.gaps = []
        self.longest_cpu = 0.0
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.started, self.started_cpu = self.last, self.last_cpu
        self.load = os.getloadavg()[0]
        self.timer.start()

    def stop(self) -> dict[str, float]:
        """Longest and 99th percentile wall-clock stall, longest CPU between ticks (ms)."""
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        wall = time.perf_counter() - self.started
        return {
            # The UI thread's CPU time over the phase's wall time: how much of a core it
            # needed (on 2 shared cores with a load average over 2, it gets less).
            "ui_cpu_share": (time.thread_time() - self.started_cpu) / wall if wall else 0.0,
            "load_average": self.load,
            "longest_ms": gaps[-1] * 1000,
            "p99_ms": gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] * 1000,
            "longest_cpu_ms": self.longest_cpu * 1000,
            "ticks": len(self.gaps),
        }

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(max(0.0, now - self.last - HEARTBEAT_MS / 1000))
        self.longest_cpu = max(self.longest_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu


def preload(buffer: LogBuffer, count: int) -> None:
    """`count` older entries in the buffer first, as a loaded view holds them (made up, with
    ids below the server's: the tail's cost depends on how many entries the buffer holds,
    not on where they came from)."""
    newest = time.time() - 60
    for first in range(1, count + 1, 10_000):
        buffer.add_older(
            [
                LogEntry.from_json(
                    {
                        "id": -k,
                        "timestamp": newest - k * 0.05,
                        "request_id": f"req_{k:026d}",
                        "correlation_id": f"corr_{k:026d}",
                        "feed": FEED,
                        "key": "ik_live_…b3nc",
                        "intent": "ingest",
                        "http_status": 202,
                        "items_received": 1 + k % 50,
                        "processing_status": "succeeded",
                        "duration_ms": 1.0 + k % 7,
                    }
                )
                for k in range(first, min(first + 10_000, count + 1))
            ]
        )


async def measure(args: argparse.Namespace, url: str, admin_key: str) -> dict[str, Any]:
    buffer = LogBuffer()
    if args.preload:
        preload(buffer, args.preload)
    model = LogTableModel()
    model.set_selection(buffer, buffer.select(BufferFilter()))
    view = QTableView()
    view.setModel(model)
    setup_row_view(view)  # as the console's tables: one line a row, no word wrap
    view.verticalHeader().hide()
    view.resize(1280, 800)
    view.show()
    client = ApiClient(url, admin_key)
    logs = LogsApi(client)
    heartbeat = Heartbeat()
    try:
        await logs.query(limit=1)  # the connection is warm for both phases
        freeze_long_lived_objects()  # as the window does once its tabs are built
        await asyncio.sleep(0.5)

        heartbeat.start()
        await asyncio.sleep(args.floor_seconds)
        floor = heartbeat.stop()

        tail = LiveTail()
        batches: list[AddResult] = []
        lags: list[float] = []
        refreshed = [0]

        def added(result: AddResult) -> None:
            # What the tab does with a batch: the selection again, one model reset, the
            # view kept at the top (the newest rows).
            batches.append(result)
            selection = buffer.select(BufferFilter())
            model.set_selection(buffer, selection)
            if result.added:
                oldest_in_batch = buffer.value(int(selection.slots[result.added - 1]), Column.TIME)
                if isinstance(oldest_in_batch, float):
                    lags.append(time.time() - oldest_in_batch)

        def updated(slots: list[int]) -> None:
            refreshed[0] += len(slots)
            model.values_changed()

        tail.entries_added.connect(added)
        tail.entries_updated.connect(updated)
        # From the newest entry now, as the tab starts it after its load: steady state,
        # not a catch-up of the floor's seconds.
        newest = (await logs.query(limit=1)).items
        heartbeat.start()
        tail.start(logs, buffer, {}, newest[0].id if newest else None)
        await asyncio.sleep(args.seconds)
        stalls = heartbeat.stop()
        received, dropped = tail.received, tail.dropped
        pending = tail.pending
        refresh_requests = tail.refresh_pages
        await tail.shutdown()
        lags.sort()
        return {
            "floor": floor,
            "tail": stalls,
            "received": received,
            "added": sum(b.added for b in batches),
            "skipped": sum(b.skipped for b in batches),
            "pending_at_end": pending,
            "dropped": dropped,
            "batches": len(batches),
            "largest_batch": max((b.added for b in batches), default=0),
            "refreshed_rows": refreshed[0],
            "refresh_requests": refresh_requests,
            "median_lag_ms": statistics.median(lags) * 1000 if lags else None,
            "max_lag_ms": lags[-1] * 1000 if lags else None,
            "rows_in_view": model.rowCount(),
            "seconds": args.seconds,
            "floor_seconds": args.floor_seconds,
            "rate": args.rate,
            "preload": args.preload,
            "platform_nice": args.platform_nice,
            "http_rate": args.http_rate,
        }
    finally:
        await client.aclose()
        view.close()


def report(figures: dict[str, Any], generated: dict[str, int]) -> bool:
    """Print the table; whether the target was met."""
    floor, tail = figures["floor"], figures["tail"]
    ok = bool(tail["longest_ms"] <= TARGET_STALL_MS)
    print(
        f"live tail at {figures['rate']:,} entries/s for {figures['seconds']:.0f} s, "
        f"{figures['preload']:,} entries preloaded (floor: {figures['floor_seconds']:.0f} s, "
        "same load, no tail)"
    )
    print(f"{'':38}{'tail':>10}{'floor':>10}")
    for name, key in (
        ("longest UI stall, wall (ms)", "longest_ms"),
        ("99th percentile stall (ms)", "p99_ms"),
        ("longest UI-thread CPU between ticks", "longest_cpu_ms"),
    ):
        print(f"{name:38}{tail[key]:10.1f}{floor[key]:10.1f}")
    print(
        f"{'UI thread busy (% of a core)':38}{tail['ui_cpu_share'] * 100:10.0f}"
        f"{floor['ui_cpu_share'] * 100:10.0f}"
    )
    print(
        f"{'load average (1 min) at the start':38}{tail['load_average']:10.2f}"
        f"{floor['load_average']:10.2f}"
    )
    print(f"target: longest stall <= {TARGET_STALL_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    print(
        f"generated {generated.get('direct', 0):,} direct + {generated.get('http', 0):,} HTTP "
        f"entries over the whole run; the tail received {figures['received']:,} and added "
        f"{figures['added']:,} in {figures['batches']} batches (largest "
        f"{figures['largest_batch']}); dropped {figures['dropped']}, skipped "
        f"{figures['skipped']}, pending at the end {figures['pending_at_end']}"
    )
    print(
        f"status refresh: {figures['refreshed_rows']:,} rows in {figures['refresh_requests']} "
        f"pages; lag entry to buffer: median {figures['median_lag_ms'] or 0:.0f} ms, "
        f"max {figures['max_lag_ms'] or 0:.0f} ms"
    )
    return ok


def main() -> int:
    """Start the sandbox and the generator, measure floor then tail, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=int, default=None)
    parser.add_argument("--http-rate", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--floor-seconds", type=float, default=None)
    parser.add_argument(
        "--platform-nice",
        type=int,
        default=10,
        help="niceness of the sandbox and the generator (they stand in for a remote platform)",
    )
    parser.add_argument("--preload", type=int, default=0, help="entries in the buffer first")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--generate", nargs=4, metavar=("DATA", "URL", "KEY", "SECONDS"))
    args = parser.parse_args()
    args.rate = args.rate or (200 if args.quick else 1000)
    args.seconds = args.seconds or (4.0 if args.quick else 20.0)
    args.floor_seconds = args.floor_seconds or (2.0 if args.quick else 8.0)
    if args.generate:
        data, url, key, seconds = args.generate
        generate(
            Path(data), url, key, args.rate, args.http_rate, float(seconds), args.platform_nice
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="tail-bench-") as temp:
        data_dir = Path(temp) / "data"
        server = SandboxProcess(
            data_dir,
            demo=False,
            rate_limit="100000000/60",
            extra_args=["--ingest-burst", "1000000/1"],
        )
        url = server.start()
        if args.platform_nice and server.pid is not None:
            # The sandbox stands in for the platform, which runs elsewhere in real use.
            # Niceness is per thread on Linux: each of the server's threads.
            tasks = Path(f"/proc/{server.pid}/task")
            for thread in tasks.iterdir() if tasks.exists() else [Path(str(server.pid))]:
                os.setpriority(os.PRIO_PROCESS, int(thread.name), args.platform_nice)
        generator: subprocess.Popen[str] | None = None
        try:
            admin_key = mint_key(data_dir, account=ACCOUNT, kind="admin")
            ingest_key = mint_key(data_dir, account=ACCOUNT, kind="ingest", feed=FEED)
            total = args.floor_seconds + args.seconds + 3
            generator = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--rate",
                    str(args.rate),
                    "--http-rate",
                    str(args.http_rate),
                    "--platform-nice",
                    str(args.platform_nice),
                    "--generate",
                    str(data_dir),
                    url,
                    ingest_key,
                    str(total),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            app = QApplication.instance() or QApplication(sys.argv)
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                figures = runner.run(measure(args, url, admin_key))
            out, _ = generator.communicate(timeout=60)
            generated = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        finally:
            if generator is not None and generator.poll() is None:
                generator.kill()
            server.stop()
    ok = report(figures, generated)
    if args.json is not None:
        figures.update(
            {
                "generated": generated,
                "target_ms": TARGET_STALL_MS,
                "met": ok,
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
