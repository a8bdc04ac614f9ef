"""The Records tab on a 1,000,000-record feed shows its first page and fetches nothing more.

The feed is written straight into a fresh data dir's `records` table (the records store's
GUIDs and schema, one executemany in one transaction) before its sandbox starts: about as
fast as SQLite inserts go. The sandbox's own `--demo-records` seeding also writes the text
and field indexes and a history row per record, which took minutes for a million here;
this test needs only the rows the list reads (bench/records_ui_bench.py uses that seeding).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.sandbox.process import SandboxProcess
from console.sandbox.records.store import new_guid
from console.sandbox.storage import sqlite as storage
from console.ui.records.model import FIRST_PAGE_ROWS

pytestmark = [pytest.mark.gui, pytest.mark.slow]

MILLION = 1_000_000
ACCOUNT = "million"
FEED = "million"


def seed_million(data_dir: Path) -> None:
    """A feed of 1,000,000 active records, a millisecond apart, newest last."""
    conn = storage.connect(data_dir)
    try:
        with storage.transaction(conn):
            account_id = storage.ensure_account(conn, ACCOUNT)
            storage.insert_feed(conn, account_id, slug=FEED, name="A million", method="ingest")
            feed_seq = conn.execute(
                "SELECT seq FROM feeds WHERE account_id = ? AND slug = ?", (account_id, FEED)
            ).fetchone()[0]
            start = time.time() - MILLION / 1000 - 60
            rows = (
                (
                    feed_seq,
                    new_guid(start + i / 1000),
                    f"M{i:07d}",
                    start + i / 1000,
                    start + i / 1000,
                    json.dumps({"id": f"M{i:07d}", "n": i, "status": ("open", "paid")[i % 2]}),
                )
                for i in range(MILLION)
            )
            conn.executemany(
                "INSERT INTO records (feed_seq, guid, system_id, deleted, created_at,"
                " updated_at, data) VALUES (?, ?, ?, 0, ?, ?, ?)",
                rows,
            )
            conn.execute("UPDATE feeds SET record_count = ? WHERE seq = ?", (MILLION, feed_seq))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def million_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox whose account `million` has a feed of 1,000,000 records."""
    data_dir = tmp_path_factory.mktemp("million")
    seed_million(data_dir)
    server = SandboxProcess(data_dir, demo=False, rate_limit="1000000/300")
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(600)
def test_a_million_record_feed_shows_its_first_page_without_fetching_the_rest(
    qtbot: QtBot, make_window: Callable[[str, str], Any], million_sandbox: SandboxProcess
) -> None:
    assert million_sandbox.base_url is not None
    key = storage.mint_key(million_sandbox.data_dir, account=ACCOUNT, kind="admin")
    window = make_window(million_sandbox.base_url, key)
    tab = window.records_tab
    asked: list[str] = []
    window.session.request_finished.connect(lambda outcome: asked.append(outcome.path))
    with qtbot.waitSignal(tab.records_loaded, timeout=30000):
        window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=30000)
    assert tab.feed.id == FEED
    assert tab.feed.record_count == MILLION
    assert tab.model.rowCount() == FIRST_PAGE_ROWS
    assert tab.model.stats.pages == 1
    assert tab.model.stats.rows == FIRST_PAGE_ROWS
    assert tab.model.record_at(0).system_id == "M0999999"  # newest first
    assert not tab.model.at_end
    # One page of the list; the other requests are the feeds, the data keys, and the
    # record shown in the detail with its history.
    assert [path for path in asked if path.endswith(f"/feeds/{FEED}/records")] == [
        f"/api/public/v1/feeds/{FEED}/records"
    ]
    assert "more as you scroll" in tab.summary_label.text()
    assert "1,000,000" in tab.summary_label.text()

    # Scrolling to the bottom asks for one more page, not the rest of the feed.
    with qtbot.waitSignal(tab.model.page_loaded, timeout=30000):
        tab.table.scrollToBottom()
    qtbot.waitUntil(lambda: "records.page.more" not in window.runner.names, timeout=30000)
    assert tab.model.stats.pages == 2
    assert tab.model.rowCount() == FIRST_PAGE_ROWS + tab.model.more_page_rows
    assert tab.model.record_at(FIRST_PAGE_ROWS).system_id == f"M{MILLION - 1 - FIRST_PAGE_ROWS:07d}"
