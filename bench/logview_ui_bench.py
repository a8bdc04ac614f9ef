"""The Ingest Logs tab holding 1,000,000 entries: filter change to repaint, and RSS.

    python bench/logview_ui_bench.py [--quick] [--entries N] [--runs R] [--json PATH]

A sandbox child (`python -m console sandbox serve --demo --demo-logs N`, default
1,000,000, spread over the last 7 days) is seeded on a fresh data dir. The console side
is the real IngestLogsTab (filter bar, histogram, table, error groups, detail pane) in a
1280x800 window, offscreen, on a qasync loop, connected through the console's ApiClient
as in the app. It loads "Last 7 days" the way a user's click does (`load_range`, pages of
1,000 over loopback into the LogBuffer; the time is printed, not judged), with the live
tail off so nothing else changes the view while it is measured.

(a) Filter change to repaint. For each change (a status, a feed, an intent, an HTTP
    status, a status and a feed together, a time window of a third of the range, and back
    to no filter after each) the time from `IngestLogsTab.show_filter` (what a facet pick,
    a histogram click or a clicked value does) until the tab has repainted,
    synchronously: `LogBuffer.select` on the UI thread, the model reset, the current
    entry's row found and selected again, the histogram's counts, the error groups, the
    summary, and the paint of the whole tab (table rows in view, histogram, groups,
    detail). Not included: the text filter (it runs on a worker thread; its time is
    printed apart) and the 150 ms typing debounce. Target: median ≤ 30 ms.
    Floor, measured in the same run on the same data: a plain numpy filter over the same
    columns (copies of the buffer's code and time arrays; `==`/range masks, `flatnonzero`,
    newest first as int32), with no view at all.
(b) RSS of the whole console process after the load (a full collection first; what
    start-up built is frozen out of later collections, as the app does), and its peak.
    Target: RSS ≤ 200 MB.

`--quick` (20,000 entries, 3 runs) keeps the script working in tests/test_bench.py; its
figures mean little. Exit status 1 when a target is missed. On a machine shared with
other work the figures are provisional.
"""

from __future__ import annotations

import os

# Before Qt is imported: render offscreen, and make qasync pick PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import gc
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import qasync  # after PySide6 (STACK_NOTES 2)
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from console.config.profiles import ConnectionProfile
from console.logbuffer.buffer import BufferFilter, Column, LogBuffer
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from console.ui.logs.filters import PRESETS
from console.ui.logs.tab import IngestLogsTab
from console.ui.main_window import freeze_long_lived_objects
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner, signal_future

TARGET_REPAINT_MS = 30.0
TARGET_RSS_MB = 200.0
LAST_7_DAYS = next(i for i, (label, _s) in enumerate(PRESETS) if label == "Last 7 days")
SIZE = (1280, 800)


def rss_mb() -> float:
    """The process's resident set size now (MB)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """The process's peak resident set size (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if platform.system() == "Darwin" else peak / 1e3


class PaintWatch(QObject):
    """A future per widget, done when that widget's next paint starts."""

    def __init__(self, widgets: list[QWidget]) -> None:
        super().__init__()
        self.waiting: dict[QObject, asyncio.Future[None]] = {}
        for widget in widgets:
            widget.installEventFilter(self)
        self.widgets = widgets

    def arm(self) -> list[asyncio.Future[None]]:
        """Futures for the next paint of each widget."""
        loop = asyncio.get_running_loop()
        self.waiting = {w: loop.create_future() for w in self.widgets}
        return list(self.waiting.values())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Note the paint; never consume it."""
        if event.type() == QEvent.Type.Paint:
            future = self.waiting.get(watched)
            if future is not None and not future.done():
                future.set_result(None)
        return False


def filter_cases(buffer: LogBuffer) -> list[BufferFilter]:
    """Filters a user would pick: the values come from the loaded entries' facets."""
    everything = buffer.select(BufferFilter())

    def top(column: Column, skip: object = None) -> list[Any]:
        return [v for v, _n in buffer.facet(everything, column, limit=6) if v != skip]

    statuses, feeds = top(Column.STATUS), top(Column.FEED)
    intents, https = top(Column.INTENT), top(Column.HTTP_STATUS, skip=0)
    oldest, newest = buffer.oldest_time or 0.0, buffer.newest_time or 0.0
    third = (newest - oldest) / 3
    cases = [
        BufferFilter(statuses=frozenset({statuses[0]})),
        BufferFilter(feeds=frozenset({feeds[0]})),
        BufferFilter(intents=frozenset({intents[0]})),
        BufferFilter(http_statuses=frozenset({https[0]})),
        BufferFilter(statuses=frozenset({statuses[-1]}), feeds=frozenset({feeds[1]})),
        BufferFilter(since=oldest + third, until=oldest + 2 * third),
        BufferFilter(feeds=frozenset({feeds[-1]})),
        BufferFilter(statuses=frozenset({"failed"})),
    ]
    return cases


class NumpyFloor:
    """The same filters as plain numpy over copies of the same columns."""

    def __init__(self, buffer: LogBuffer) -> None:
        view = buffer._view  # the bench's floor reads the arrays the buffer filters
        segments = view.segments()
        order = np.concatenate([np.arange(s, e) for s, e, _first in segments])
        self.columns = {
            name: np.ascontiguousarray(view.columns[name][order])
            for name in ("status", "feed", "intent", "http", "time")
        }
        self.codes = {
            name: buffer._categories[name] for name in ("status", "feed", "intent", "http")
        }

    def run(self, f: BufferFilter) -> np.ndarray:
        """The filter's rows, newest first, as int32."""
        mask: np.ndarray | None = None
        for name, wanted in (
            ("status", f.statuses),
            ("feed", f.feeds),
            ("intent", f.intents),
            ("http", {None if s == 0 else s for s in f.http_statuses}),
        ):
            if wanted:
                part = np.zeros(len(self.columns[name]), np.bool_)
                for value in wanted:
                    code = self.codes[name].lookup(value)
                    if code is not None:
                        part |= self.columns[name] == code
                mask = part if mask is None else mask & part
        times = self.columns["time"]
        if f.since is not None:
            mask = times >= f.since if mask is None else mask & (times >= f.since)
        if f.until is not None:
            mask = times < f.until if mask is None else mask & (times < f.until)
        if mask is None:
            return np.arange(len(times) - 1, -1, -1, dtype=np.int32)
        return np.flatnonzero(mask)[::-1].astype(np.int32)


async def measure(args: argparse.Namespace, base_url: str, key: str) -> dict[str, Any]:
    """Load the range in the real tab, then time filter changes and read the RSS."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    runner = TaskRunner()
    session = ConsoleSession()
    profile = ConnectionProfile("bench", base_url=base_url)
    session.connect_profile(
        profile, session.new_client(profile, base_url, key), persist_key=lambda _k: None
    )
    window = QWidget()
    window.resize(*SIZE)
    tab = IngestLogsTab(session, runner)
    QVBoxLayout(window).addWidget(tab)
    tab.live_button.setChecked(False)  # nothing but the filters changes the view
    tab.filter_bar.range_combo.setCurrentIndex(LAST_7_DAYS)
    window.show()
    loaded = signal_future(tab.loaded)
    start = time.perf_counter()
    tab.connected()
    await loaded
    load_s = time.perf_counter() - start
    buffer = tab.buffer
    assert buffer is not None
    held = len(buffer)
    for _ in range(3):
        await asyncio.sleep(0.05)
    gc.collect()
    freeze_long_lived_objects()
    rss_after_load = rss_mb()

    cases = filter_cases(buffer)
    floor = NumpyFloor(buffer)
    clear = BufferFilter()
    ui_ms: list[float] = []
    floor_ms: list[float] = []
    text_ms: list[float] = []
    # The paint that shows a change: the table's rows and the histogram (the groups and
    # the summary are painted in the same pass of the window).
    watch = PaintWatch([tab.table.viewport(), tab.histogram])
    for _run in range(args.runs):
        for f in cases:
            for wanted in (f, clear):
                painted = watch.arm()
                begin = time.perf_counter()
                tab.show_filter(wanted)
                await asyncio.wait_for(asyncio.gather(*painted), 10)
                # Resumed in the loop's next turn: the window's paint pass has finished.
                ui_ms.append((time.perf_counter() - begin) * 1000)
                assert len(tab.selection or ()) == len(floor.run(wanted))
                begin = time.perf_counter()
                floor.run(wanted)
                floor_ms.append((time.perf_counter() - begin) * 1000)
        # The text filter, off the UI thread: until its answer is shown and painted.
        painted = watch.arm()
        begin = time.perf_counter()
        tab.show_filter(BufferFilter(text="corr_a"))
        await asyncio.wait_for(asyncio.gather(*painted), 10)
        text_ms.append((time.perf_counter() - begin) * 1000)
        painted = watch.arm()
        tab.show_filter(clear)
        await asyncio.wait_for(asyncio.gather(*painted), 10)
    await tab.shutdown()
    await runner.shutdown()
    await session.aclose()
    window.close()
    median_ui = statistics.median(ui_ms)
    median_floor = statistics.median(floor_ms)
    return {
        "entries_held": held,
        "load_seconds": round(load_s, 2),
        "load_rate_per_s": round(held / load_s) if load_s else None,
        "filter_to_repaint_ms_median": round(median_ui, 2),
        "filter_to_repaint_ms_p95": round(sorted(ui_ms)[int(len(ui_ms) * 0.95) - 1], 2),
        "filter_to_repaint_ms_max": round(max(ui_ms), 2),
        "floor_numpy_filter_ms_median": round(median_floor, 3),
        "ratio": round(median_ui / median_floor, 1) if median_floor else None,
        "changes_measured": len(ui_ms),
        "text_filter_to_repaint_ms_median": round(statistics.median(text_ms), 1),
        "rss_mb_after_load": round(rss_after_load, 1),
        "rss_mb_after_filters": round(rss_mb(), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "buffer_mb": round(buffer.nbytes() / 1e6, 1),
        "target_repaint_ms": TARGET_REPAINT_MS,
        "target_rss_mb": TARGET_RSS_MB,
    }


def main(argv: list[str]) -> int:
    """Seed, measure, print; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 entries, 3 runs")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.entries = args.entries or (20_000 if args.quick else 1_000_000)
    args.runs = args.runs or (3 if args.quick else 10)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="logview-ui-") as tmp:
        data_dir = Path(tmp) / "data"
        spawned = time.perf_counter()
        server = SandboxProcess(
            data_dir,
            rate_limit="1000000/300",
            extra_args=["--demo-logs", str(args.entries)],
        )
        server.start(timeout=1800)
        seed_s = time.perf_counter() - spawned
        try:
            assert server.base_url is not None
            key = mint_key(data_dir, account="demo", kind="admin")
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            with loop:
                figures = loop.run_until_complete(measure(args, server.base_url, key))
        finally:
            server.stop()
    figures["entries_seeded"] = args.entries
    figures["seed_seconds"] = round(seed_s, 1)
    print(f"Ingest Logs tab, {figures['entries_held']:,} entries held (seeded in {seed_s:.1f} s)")
    print(
        f"load 'Last 7 days': {figures['load_seconds']} s "
        f"({figures['load_rate_per_s']:,} entries/s over loopback)"
    )
    print(
        f"filter change to repaint: median {figures['filter_to_repaint_ms_median']} ms, "
        f"p95 {figures['filter_to_repaint_ms_p95']} ms, max {figures['filter_to_repaint_ms_max']}"
        f" ms over {figures['changes_measured']} changes (target ≤ {TARGET_REPAINT_MS:g} ms)"
    )
    print(
        f"floor, a plain numpy filter over the same columns: median "
        f"{figures['floor_numpy_filter_ms_median']} ms (ratio {figures['ratio']}x)"
    )
    print(
        f"text filter (worker thread) to repaint: {figures['text_filter_to_repaint_ms_median']} ms"
    )
    print(
        f"RSS after load {figures['rss_mb_after_load']} MB, after the filters "
        f"{figures['rss_mb_after_filters']} MB, peak {figures['peak_rss_mb']} MB "
        f"(buffer arrays {figures['buffer_mb']} MB; target ≤ {TARGET_RSS_MB:g} MB)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    missed = (
        figures["filter_to_repaint_ms_median"] > TARGET_REPAINT_MS
        or figures["rss_mb_after_load"] > TARGET_RSS_MB
    )
    return 1 if missed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
