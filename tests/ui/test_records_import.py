"""The Import dialog against the real sandbox: preview, progress, report, rejects, resume."""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.feeds import Feed, FeedsApi
from console.api.imports import ImportsApi, ImportStatus
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from console.sandbox.process import SandboxProcess
from console.ui.records.import_dialog import ImportDialog, start_import
from console.ui.records.import_resume import ImportResumeStore, fingerprint
from tests.conftest import run
from tests.ui.conftest import PROFILE

HEADER = ["sku", "name", "tags[0]", "tags[1]"]


def _feed_with_records(url: str, key: str, skus: list[str]) -> Feed:
    """A new feed (id field `sku`) holding one record per sku in `skus`."""

    async def create() -> Feed:
        client = ApiClient(url, key)
        try:
            feed = await FeedsApi(client).create(
                f"imp-{uuid.uuid4().hex[:8]}", "Import test", id_field="sku"
            )
            for sku in skus:
                await RecordsApi(client).upsert(
                    feed.id, system_id=sku, data={"sku": sku, "name": "before"}
                )
            return feed
        finally:
            await client.aclose()

    return run(create())


def _all_records(url: str, key: str, feed_id: str) -> list[Any]:
    async def fetch() -> list[Any]:
        client = ApiClient(url, key)
        try:
            records: list[Any] = []
            async for page in RecordsApi(client).iterate(feed_id, RecordQuery(deleted="all")):
                records.extend(page.items)
            return records
        finally:
            await client.aclose()

    return run(fetch())


def _record_count(url: str, key: str, feed_id: str) -> int:
    async def fetch() -> int:
        client = ApiClient(url, key)
        try:
            return (await FeedsApi(client).get(feed_id)).record_count
        finally:
            await client.aclose()

    return run(fetch())


def _write_csv(path: Path, rows: int, bad: set[int]) -> Path:
    """`rows` data rows; the ones numbered in `bad` have no sku (the server rejects them)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for number in range(1, rows + 1):
            sku = "" if number in bad else f"SKU-{number:06d}"
            writer.writerow([sku, f"Item {number}, “quoted”", "red", "big" if number % 2 else ""])
    return path


def _open(qtbot: QtBot, window: Any, feed: Feed, tmp_path: Path) -> ImportDialog:
    dialog = start_import(
        window, window.session, feed, store=ImportResumeStore(tmp_path / "resume")
    )
    return dialog


@dataclass(frozen=True)
class OwnServer:
    """A sandbox of the test's own: big imports keep the shared server's indexer free."""

    url: str
    key: str
    client: ApiClient


@pytest.fixture
def own_server(
    qtbot: QtBot, qloop: Any, make_sandbox: Callable[..., SandboxProcess]
) -> Iterator[OwnServer]:
    """A fresh sandbox, an admin key of it and a client on the GUI loop."""
    from console.sandbox.storage.sqlite import mint_key

    server = make_sandbox(demo=False)
    assert server.base_url is not None
    key = mint_key(server.data_dir, account="acct-imports", kind="admin")
    client = ApiClient(server.base_url, key)
    yield OwnServer(server.base_url, key, client)
    closing = asyncio.ensure_future(client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


def _open_on(own: OwnServer, feed: Feed, tmp_path: Path) -> ImportDialog:
    store = ImportResumeStore(tmp_path / "resume")
    return start_import(None, ImportsApi(own.client), feed, profile=PROFILE, store=store)


def _choose(qtbot: QtBot, dialog: ImportDialog, path: Path) -> Any:
    """Choose `path` through the dialog's own file chooser; returns the dry run."""
    chooser = dialog.choose_file()
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000) as ready:
        chooser.selectFile(str(path))
        chooser.accept()
    return ready.args[0]


def _close(qtbot: QtBot, dialog: ImportDialog) -> None:
    dialog.close()
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=10000)  # deleted on close


def test_import_shows_preview_progress_and_report_and_saves_exactly_the_rejected_rows(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    bad = {5, 17, 2999}
    source = _write_csv(tmp_path / "items.csv", 3000, bad)
    feed = _feed_with_records(sandbox_url, admin_key, ["SKU-000001", "SKU-000002"])
    dialog = _open(qtbot, window, feed, tmp_path)
    assert dialog.id_field_edit.text() == "sku"  # the feed's id field

    dry_run = _choose(qtbot, dialog, source)
    assert dialog.format_combo.currentData() == "csv"
    assert (dry_run.would_create, dry_run.would_update, dry_run.would_reject) == (96, 2, 2)
    table = dialog.preview_table
    assert table.rowCount() == 100
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[:3] == ["Row", "Dry run", "Why"]
    assert headers[3:] == HEADER
    actions = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert (actions["1"], actions["3"]) == ("update", "create")
    assert actions["5"] == actions["17"] == "reject"
    assert "sku" in table.item(4, 2).text()
    assert "2 rejected" in dialog.preview_summary.text()
    assert len(_all_records(sandbox_url, admin_key, feed.id)) == 2  # the dry run changed nothing

    seen: list[ImportStatus] = []
    dialog.progress_changed.connect(seen.append)
    with qtbot.waitSignal(dialog.import_finished, timeout=60000) as finished:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=5000)
    status = finished.args[0]
    assert seen  # the progress was shown while it ran (at least the final poll)
    assert dialog.upload_bar.value() == dialog.upload_bar.maximum()
    assert (dialog.rows_bar.value(), dialog.rows_bar.maximum()) == (3000, 3000)
    assert "3,000 of 3,000 rows" in dialog.rows_label.text()
    assert (status.created, status.updated, status.failed) == (2995, 2, 3)
    assert "Import finished" in dialog.run_title.text()
    assert "3 rows were rejected" in dialog.run_title.text()  # not a clean "3,000 of 3,000"
    assert "2,995 created" in dialog.report_summary.text()
    report = dialog.errors_model
    assert [report.index(r, 0).data() for r in range(report.rowCount())] == ["5", "17", "2999"]
    assert report.index(0, 1).data() == "sku"

    assert dialog.save_rejects_button.isVisible()
    chooser = dialog.choose_rejects_file()
    assert chooser is not None
    target = tmp_path / "fix-me.csv"
    with qtbot.waitSignal(dialog.rejects_saved, timeout=10000) as saved:
        chooser.selectFile(str(target))
        chooser.accept()
    assert saved.args == [str(target), 3]
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with source.open(encoding="utf-8", newline="") as handle:
        original = list(csv.reader(handle))
    assert rows == [original[0], original[5], original[17], original[2999]]
    # A finished import leaves nothing to resume.
    assert dialog.store.load(PROFILE, feed.id, fingerprint(source)) is None
    _close(qtbot, dialog)

    # Importing the same file again adds nothing: every row updates its own record.
    again = _open(qtbot, window, feed, tmp_path)
    _choose(qtbot, again, source)
    assert again.resume_frame.isHidden()
    with qtbot.waitSignal(again.import_finished, timeout=60000) as finished:
        qtbot.mouseClick(again.import_button, Qt.MouseButton.LeftButton)
    status = finished.args[0]
    assert (status.created, status.updated + status.unchanged, status.failed) == (0, 2997, 3)
    assert "0 created" in again.report_summary.text()
    assert "unchanged" in again.report_summary.text()
    assert len(_all_records(sandbox_url, admin_key, feed.id)) == 2997
    _close(qtbot, again)


def test_a_cancelled_import_resumes_after_its_last_row_and_every_row_arrives_once(
    qtbot: QtBot, own_server: OwnServer, tmp_path: Path
) -> None:
    total = 60000
    source = _write_csv(tmp_path / "big.csv", total, set())
    feed = _feed_with_records(own_server.url, own_server.key, [])
    dialog = _open_on(own_server, feed, tmp_path)
    _choose(qtbot, dialog, source)
    assert dialog.resume_frame.isHidden()  # nothing to resume yet

    def cancel_half_way(status: ImportStatus) -> None:
        # Cancel once some batches are in but not all (the server stops at a boundary).
        if 0 < status.last_row < total and dialog.cancel_import_button.isEnabled():
            qtbot.mouseClick(dialog.cancel_import_button, Qt.MouseButton.LeftButton)

    dialog.progress_changed.connect(cancel_half_way)
    with qtbot.waitSignal(dialog.import_finished, timeout=120000) as finished:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    stopped = finished.args[0]
    assert stopped.status == "cancelled"
    assert 0 < stopped.last_row < total
    assert "resume from row" in dialog.run_title.text()
    done_before = len(_all_records(own_server.url, own_server.key, feed.id))
    assert done_before == stopped.last_row  # every row up to last_row, none after
    _close(qtbot, dialog)

    # The same file chosen again offers to resume after the last row done.
    again = _open_on(own_server, feed, tmp_path)
    _choose(qtbot, again, source)
    assert not again.resume_frame.isHidden()
    resume_row = f"{stopped.last_row + 1:,}"
    assert again.resume_check.text() == f"Resume from row {resume_row}"
    assert again.resume_check.isChecked()
    assert "never adds a second one" in again.upsert_note.text()
    # The preview and the dry run show the rows the resumed import starts with...
    assert again.preview_table.item(0, 0).text() == str(stopped.last_row + 1)
    last_previewed = f"{stopped.last_row + 100:,}"
    assert f"Dry run of rows {resume_row}–{last_previewed} " in again.preview_summary.text()
    assert again.import_button.text() == f"&Import from row {resume_row}"
    # ...and from the first row again when resuming is unticked (then ticked again).
    with qtbot.waitSignal(again.preview_ready, timeout=15000):
        qtbot.mouseClick(again.resume_check, Qt.MouseButton.LeftButton)
    assert again.preview_table.item(0, 0).text() == "1"
    assert again.preview_table.item(0, 1).text() == "update"  # imported before the cancel
    assert again.import_button.text() == "&Import"
    with qtbot.waitSignal(again.preview_ready, timeout=15000):
        qtbot.mouseClick(again.resume_check, Qt.MouseButton.LeftButton)
    assert again.preview_table.item(0, 1).text() == "create"
    with qtbot.waitSignal(again.import_finished, timeout=120000) as finished:
        qtbot.mouseClick(again.import_button, Qt.MouseButton.LeftButton)
    resumed = finished.args[0]
    assert resumed.status == "succeeded"
    assert resumed.processed == total - stopped.last_row  # started after the last row done
    assert resumed.created == total - stopped.last_row
    assert resumed.updated == 0
    records = _all_records(own_server.url, own_server.key, feed.id)
    system_ids = [record.system_id for record in records]
    assert len(system_ids) == total
    assert set(system_ids) == {f"SKU-{n:06d}" for n in range(1, total + 1)}
    assert again.store.load(PROFILE, feed.id, fingerprint(source)) is None
    _close(qtbot, again)


def test_an_import_interrupted_by_a_lost_server_resumes_after_a_restart(
    qtbot: QtBot,
    qloop: Any,
    make_sandbox: Callable[..., SandboxProcess],
    tmp_path: Path,
) -> None:
    from console.sandbox.storage.sqlite import mint_key

    total = 60000
    source = _write_csv(tmp_path / "big.csv", total, set())
    server = make_sandbox(demo=False)
    key = mint_key(server.data_dir, account="acct-interrupted", kind="admin")
    assert server.base_url is not None
    feed = _feed_with_records(server.base_url, key, [])
    store = ImportResumeStore(tmp_path / "resume")
    first_client = ApiClient(server.base_url, key)
    dialog = start_import(None, ImportsApi(first_client), feed, profile="P", store=store)
    _choose(qtbot, dialog, source)

    def lose_the_server(status: ImportStatus) -> None:
        if 0 < status.last_row < total and server.running:
            server.stop()  # the server goes away half-way (its import is interrupted)

    dialog.progress_changed.connect(lose_the_server)
    with qtbot.waitSignal(dialog.import_failed, timeout=120000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert "Lost touch with the import" in dialog.run_title.text()
    saved = store.load("P", feed.id, fingerprint(source))
    assert saved is not None
    assert 0 < saved.last_row < total
    _close(qtbot, dialog)
    closing = asyncio.ensure_future(first_client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)

    restarted = make_sandbox(demo=False, data_dir=server.data_dir)
    assert restarted.base_url is not None
    client = ApiClient(restarted.base_url, key)
    again = start_import(None, ImportsApi(client), feed, profile="P", store=store)
    _choose(qtbot, again, source)
    point = again.resume_point
    assert point is not None
    assert point.status == "interrupted"  # the server's word, with its exact last row
    assert point.last_row >= saved.last_row
    assert again.resume_check.text() == f"Resume from row {point.last_row + 1:,}"
    with qtbot.waitSignal(again.import_finished, timeout=120000) as finished:
        qtbot.mouseClick(again.import_button, Qt.MouseButton.LeftButton)
    resumed = finished.args[0]
    assert resumed.processed == total - point.last_row
    system_ids = [record.system_id for record in _all_records(restarted.base_url, key, feed.id)]
    assert sorted(system_ids) == [f"SKU-{n:06d}" for n in range(1, total + 1)]
    _close(qtbot, again)
    closing = asyncio.ensure_future(client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


def test_closing_the_dialog_leaves_the_import_running_and_choosing_the_file_follows_it(
    qtbot: QtBot, own_server: OwnServer, tmp_path: Path
) -> None:
    total = 100000
    source = _write_csv(tmp_path / "big.csv", total, set())
    feed = _feed_with_records(own_server.url, own_server.key, [])
    dialog = _open_on(own_server, feed, tmp_path)
    _choose(qtbot, dialog, source)
    with qtbot.waitSignal(dialog.import_started, timeout=60000) as started:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    import_id = started.args[0]
    _close(qtbot, dialog)  # the app goes away; the server goes on

    again = _open_on(own_server, feed, tmp_path)
    _choose(qtbot, again, source)
    assert again.resume_point is not None
    assert again.resume_point.import_id == import_id
    assert not again.follow_button.isHidden()  # still running: follow it, don't resume
    assert again.resume_check.isHidden()
    assert "still running" in again.resume_label.text()
    with qtbot.waitSignal(again.import_finished, timeout=120000) as finished:
        qtbot.mouseClick(again.follow_button, Qt.MouseButton.LeftButton)
    status = finished.args[0]
    assert (status.import_id, status.status, status.created) == (import_id, "succeeded", total)
    assert again.rows_bar.value() == total
    assert _record_count(own_server.url, own_server.key, feed.id) == total
    _close(qtbot, again)
