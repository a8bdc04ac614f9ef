"""`integration-console --self-test`: prove a build works, end to end, in about ten seconds.

It starts the embedded sandbox (the frozen executable itself is the child), opens the window
offscreen, and does a real round trip on every tab: the Keys tab lists keys; a pipeline's
definition is checked by the `validate` linter and the server, then applied; a feed's
records are paged; logs are read and a request traced; a small file is bulk-ingested and
its items traced to the records they made. It also checks SQLite's FTS5 and the keychain
backend. Any failure, or anything unexpected on stderr (from this process or the sandbox
child), fails it with a message naming what failed; it exits 0 only when all passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from console.api.feeds import Feed
    from console.ui.main_window import MainWindow

T = TypeVar("T")
STEP_TIMEOUT_S = 60.0
# What Qt's offscreen platform prints for every top-level window; nothing else is expected.
EXPECTED_STDERR = ("This plugin does not support propagateSizeHints()",)
SELF_TEST_ACCOUNT = "self-test"


class SelfTestFailure(Exception):
    """A check failed; the message names it and says why."""


@dataclass
class StepResult:
    """One check: its name, whether it passed, what it found, and how long it took."""

    name: str
    passed: bool
    detail: str
    seconds: float


def prepare_environment(root: Path) -> None:
    """Offscreen, and every config, data and cache path under `root` (not the user's)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = root / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(path)


@contextlib.contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Send file descriptor 2 (ours and the sandbox child's) to a file; yield its reader."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)

        def read() -> str:
            sys.stderr.flush()
            capture.seek(0)
            return capture.read().decode("utf-8", "replace")

        try:
            yield read
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def unexpected_stderr(text: str) -> list[str]:
    """The lines of `text` that are not known, harmless platform noise."""
    return [
        line for line in text.splitlines() if line.strip() and line.strip() not in EXPECTED_STDERR
    ]


def check_fts5() -> str:
    """SQLite's full-text search works (records search and the sandbox need it)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        db.execute("INSERT INTO t VALUES ('integration console self test')")
        hits = db.execute("SELECT count(*) FROM t WHERE t MATCH 'console'").fetchone()[0]
    if hits != 1:
        raise SelfTestFailure(f"FTS5 MATCH found {hits} rows, expected 1")
    return f"SQLite {sqlite3.sqlite_version} with FTS5"


def check_keychain() -> str:
    """The platform's keychain backend is bundled and, where a keychain runs, works."""
    from console.config.secrets import SecretStore, platform_backend_name

    backend_name = platform_backend_name()
    module_name = backend_name.rsplit(".", 1)[0]
    try:
        importlib.import_module(module_name)
    except Exception as exc:
        raise SelfTestFailure(f"keychain backend {backend_name} cannot load: {exc!r}") from exc
    store = SecretStore()
    if not store.persistent:
        return f"{backend_name} bundled; none running here, so keys stay in memory"
    secret = f"self-test-{os.getpid()}"
    store.set(SELF_TEST_ACCOUNT, secret)
    try:
        if store.get(SELF_TEST_ACCOUNT) != secret:
            raise SelfTestFailure(f"{backend_name} did not return the secret it stored")
    finally:
        store.delete(SELF_TEST_ACCOUNT)
    return f"{backend_name}: stored, read back and deleted a test secret"


async def _signal_or_timeout(awaitable: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT_S)
    except TimeoutError as exc:
        raise SelfTestFailure(f"{what}: no answer within {STEP_TIMEOUT_S:.0f} s") from exc


async def check_keys_tab(window: MainWindow) -> str:
    """The Keys tab lists the sandbox's keys."""
    from console.ui.tasks import signal_future

    tab = window.keys_tab
    if tab.model.rowCount() == 0:
        loaded = signal_future(tab.keys_loaded)
        tab.refresh()
        await _signal_or_timeout(loaded, "listing keys")
    rows = tab.model.rowCount()
    if rows == 0:
        raise SelfTestFailure("the Keys tab lists no keys")
    return f"{rows} keys listed"


async def check_pipelines(window: MainWindow) -> str:
    """A definition passes the `validate` linter and the server, then is applied."""
    from console.definition.validator import validate_text

    window.tabs.setCurrentWidget(window.pipelines_tab)
    api = window.session.pipelines
    pipelines = await api.list_all()
    if not pipelines:
        raise SelfTestFailure("the sandbox has no pipeline to apply a definition to")
    pipeline = pipelines[0]
    definition = await api.get_definition(pipeline.id)
    problems = validate_text(definition.text, format=definition.format).problems
    if problems:
        raise SelfTestFailure(f"the linter rejects pipeline {pipeline.id}: {problems[0]}")
    await api.validate(definition.text, format=definition.format, pipeline_id=pipeline.id)
    applied = await api.replace_definition(
        pipeline.id, definition.text, format=definition.format, if_match=definition.revision
    )
    return f"pipeline {applied.id} “{applied.name}” validated and applied"


async def check_records(window: MainWindow) -> tuple[str, Feed]:
    """A feed's records are paged; returns the message and the feed used."""
    from console.api.records import RecordsApi

    window.tabs.setCurrentWidget(window.records_tab)
    feeds = await window.session.feeds.list_all()
    feed = next((f for f in feeds if f.record_count), feeds[0] if feeds else None)
    if feed is None:
        raise SelfTestFailure("the sandbox has no feed")
    records = RecordsApi(window.session.require_client())
    first = await records.page(feed.id, limit=50)
    pages = 1
    if first.next_cursor:
        await records.page(feed.id, limit=50, cursor=first.next_cursor)
        pages = 2
    return f"feed {feed.id}: {len(first.items)} records on page 1, {pages} pages read", feed


async def check_logs(window: MainWindow) -> str:
    """Connector logs are read, one entry's detail fetched, and its request traced."""
    window.tabs.setCurrentWidget(window.logs_tab)
    logs = window.session.logs
    page = await logs.query(limit=20)
    if not page.items:
        raise SelfTestFailure("the sandbox's connector log is empty")
    entry = page.items[0]
    detail = await logs.detail(entry.request_id)
    trace = await logs.trace(entry.request_id)
    if not trace.entries:
        raise SelfTestFailure(f"the trace of {entry.request_id} lists no entry")
    return (
        f"{len(page.items)} entries read; {entry.request_id}: {len(detail.events)} events, "
        f"traced to {len(trace.entries)} entries"
    )


async def check_bulk_ingest(window: MainWindow, feed: Feed, work: Path) -> str:
    """A three-item NDJSON file is bulk-ingested and traced to the records it made."""
    from console.api.ingest import BulkUploader

    source = work / "self-test.ndjson"
    stamp = int(time.time())
    items = [
        {feed.id_field: f"SELFTEST-{stamp}-{n}", "note": f"self-test item {n}"} for n in range(3)
    ]
    source.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    uploader = BulkUploader(
        window.session.require_client(),
        feed.id,
        source,
        item_key=feed.id_field,
        manifest_dir=work / "manifests",
    )
    summary = await uploader.run()
    summary.rejects.discard()
    if summary.rejects:
        index, reason = summary.rejects.first[0]
        raise SelfTestFailure(f"bulk ingest: the server rejected item {index}: {reason}")
    if summary.items_sent != 3 or not summary.correlation_ids:
        raise SelfTestFailure(f"bulk ingest sent {summary.items_sent} of 3 items")
    correlation = summary.correlation_ids[0]
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        trace = await window.session.logs.trace(correlation)
        if trace.records or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)  # the server processes accepted items asynchronously
    if not trace.records:
        raise SelfTestFailure(f"{correlation} touched no record within {STEP_TIMEOUT_S:.0f} s")
    return f"3 items ingested into {feed.id}; {correlation} touched {len(trace.records)} records"


async def run_checks(window: MainWindow, work: Path) -> list[StepResult]:
    """Every check in order; stops at the first failure (later ones would only repeat it)."""
    results: list[StepResult] = []
    feed_box: dict[str, Any] = {}

    async def records_step() -> str:
        message, feed_box["feed"] = await check_records(window)
        return message

    steps: list[tuple[str, Callable[[], Awaitable[str] | str]]] = [
        ("FTS5", check_fts5),
        ("keychain", check_keychain),
        ("API Keys tab", lambda: check_keys_tab(window)),
        ("Pipelines tab", lambda: check_pipelines(window)),
        ("Records tab", records_step),
        ("Ingest Logs tab", lambda: check_logs(window)),
        ("bulk ingest", lambda: check_bulk_ingest(window, feed_box["feed"], work)),
    ]
    for name, step in steps:
        started = time.monotonic()
        try:
            outcome = step()
            detail = await outcome if not isinstance(outcome, str) else outcome
            results.append(StepResult(name, True, detail, time.monotonic() - started))
        except Exception as exc:
            detail = (
                str(exc) if isinstance(exc, SelfTestFailure) else f"{type(exc).__name__}: {exc}"
            )
            results.append(StepResult(name, False, detail, time.monotonic() - started))
            break
    return results


def report(results: list[StepResult], stderr_lines: list[str], out: Any = None) -> int:
    """Print each check and the verdict; return the exit code."""
    stream = out or sys.stdout
    for result in results:
        mark = "ok  " if result.passed else "FAIL"
        print(f"{mark} {result.name}: {result.detail} ({result.seconds:.2f} s)", file=stream)
    failed = [r for r in results if not r.passed]
    if stderr_lines:
        print("FAIL unexpected output on stderr:", file=stream)
        for line in stderr_lines[:20]:
            print(f"     {line}", file=stream)
    if failed or stderr_lines:
        what = failed[0].name if failed else "stderr"
        print(f"self-test failed: {what}", file=stream)
        return 1
    print(f"self-test passed: {len(results)} checks", file=stream)
    return 0
