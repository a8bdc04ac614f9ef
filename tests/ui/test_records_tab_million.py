"""The Records tab on a 1,000,000-record feed shows its first page and fetches nothing more.

The feed is seeded in bulk by the sandbox's own `--demo-records` seeding (into a data dir
of this module's sandbox, before it starts): minutes on a busy machine, so it is marked
slow and done once for the module.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.sandbox.process import SandboxProcess
from console.sandbox.records.demo import BULK_ACCOUNT, BULK_FEED
from console.sandbox.storage.sqlite import mint_key
from console.ui.records.model import FIRST_PAGE_ROWS

pytestmark = [pytest.mark.gui, pytest.mark.slow]

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox whose demo account has a feed of 1,000,000 records."""
    data_dir = tmp_path_factory.mktemp("million")
    seed = "import sys; from console.sandbox.records.demo import seed_bulk_records as s; "
    seed += "s(sys.argv[1], int(sys.argv[2]))"
    subprocess.run(
        [sys.executable, "-c", seed, str(data_dir), str(MILLION)], check=True, timeout=1500
    )
    server = SandboxProcess(data_dir, demo=True, rate_limit="1000000/300")
    server.start()
    yield server
    server.stop()


def test_a_million_record_feed_shows_its_first_page_without_fetching_the_rest(
    qtbot: QtBot, make_window: Callable[[str, str], Any], million_sandbox: SandboxProcess
) -> None:
    assert million_sandbox.base_url is not None
    key = mint_key(million_sandbox.data_dir, account=BULK_ACCOUNT, kind="admin")
    window = make_window(million_sandbox.base_url, key)
    tab = window.records_tab
    asked: list[str] = []
    window.session.request_finished.connect(
        lambda outcome: asked.append(outcome.path) if "/records" in outcome.path else None
    )
    with qtbot.waitSignal(tab.records_loaded, timeout=30000):
        window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.is_settled, timeout=30000)
    feed_id = BULK_FEED[0]
    assert tab.feed.id == feed_id  # the biggest feed is shown first
    assert tab.feed.record_count == MILLION
    assert tab.model.rowCount() == FIRST_PAGE_ROWS
    assert tab.model.stats.pages == 1
    assert tab.model.stats.rows == FIRST_PAGE_ROWS
    assert not tab.model.at_end
    assert tab.model.canFetchMore(tab.model.index(-1, -1).parent())
    # One page of the list; the rest are the selected record, its history and the keys.
    list_requests = [path for path in asked if path.endswith("/records")]
    assert len(list_requests) == 1
    assert "more as you scroll" in tab.summary_label.text()
    assert "1,000,000" in tab.summary_label.text()

    # Scrolling to the bottom asks for one more page, not the rest of the feed.
    with qtbot.waitSignal(tab.model.page_loaded, timeout=30000):
        tab.table.scrollToBottom()
    qtbot.waitUntil(lambda: "records.page.more" not in window.runner.names, timeout=30000)
    assert tab.model.stats.pages == 2
    assert tab.model.rowCount() == FIRST_PAGE_ROWS + tab.model.more_page_rows
