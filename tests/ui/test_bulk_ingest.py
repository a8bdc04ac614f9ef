"""The Bulk ingest dialog against the real sandbox: the preview flags items without the item
key; pause then resume finishes with every item exactly once; cancel forgets the progress."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from console.api.feeds import FeedsApi
from console.api.ingest import IngestApi, UploadProgress
from console.api.intents import IntentsApi
from console.api.logs import LogsApi
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from console.api.upload_manifest import ManifestStore
from console.ui.bulk.dialog import BulkIngestDialog
from console.ui.main_window import MainWindow
from console.ui.palette import ID_ROLE
from tests.conftest import run
from tests.ui.test_keyboard import _active

FEED = "bulkui"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Upload manifests under the test's own state dir."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state / "integration-console" / "uploads"


def make_feed(url: str, key: str, feed: str = FEED) -> None:
    """Create the ingest feed `feed` (id field `id`) on the account of `key`."""

    async def create() -> None:
        client = ApiClient(url, key)
        try:
            await FeedsApi(client).create(feed, f"Bulk {feed}")
        finally:
            await client.aclose()

    run(create())


def write_items(path: Path, count: int, *, without_id: frozenset[int] = frozenset()) -> Path:
    """`count` NDJSON items `{"id": "b-N", "sku": "S-N", "n": N}`; those in `without_id`
    have no `id`."""
    lines = []
    for n in range(count):
        item: dict[str, Any] = {"id": f"b-{n:05d}", "sku": f"S-{n}", "n": n}
        if n in without_id:
            del item["id"]
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n")
    return path


def open_dialog(qtbot: QtBot, window: MainWindow, path: Path, feed: str = FEED) -> BulkIngestDialog:
    """The Bulk ingest dialog from the window's button, on `feed` and `path`, previewed."""
    assert window.bulk_button.isEnabled()
    window.bulk_button.click()
    dialog = window.bulk.dialog
    assert isinstance(dialog, BulkIngestDialog)
    qtbot.waitUntil(lambda: dialog.feed_combo.findData(feed) >= 0, timeout=15000)
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        dialog.select_feed(feed)
        dialog.set_file(path)
    return dialog


def upload(qtbot: QtBot, dialog: BulkIngestDialog) -> Any:
    """Start the previewed upload and wait until it finishes: its summary."""
    with qtbot.waitSignal(dialog.upload_finished, timeout=60000) as finished:
        dialog.start_button.click()
    return finished.args[0]  # type: ignore[index]


def exactly_once(url: str, key: str, feed: str, count: int, key_prefix: str) -> None:
    """The feed holds `count` records, each id once, and the server applied `count` items
    (the batches it answered as replays carried nothing new)."""

    async def check() -> None:
        client = ApiClient(url, key)
        try:
            ids: list[str] = []
            for _ in range(300):
                ids = [
                    str(record.system_id)
                    async for page in RecordsApi(client).iterate(feed, RecordQuery(deleted="all"))
                    for record in page.items
                ]
                if len(ids) >= count:
                    break
                await asyncio.sleep(0.1)
            entries = (await LogsApi(client).query(limit=1000, q=key_prefix)).items
        finally:
            await client.aclose()
        assert len(ids) == count
        assert sorted(ids) == [f"b-{n:05d}" for n in range(count)]
        applied = sum(e.items_received for e in entries if e.processing_status != "duplicate")
        assert applied == count

    run(check())


def test_preview_flags_items_without_the_item_key(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 30, without_id=frozenset({2, 6, 11, 25}))
    dialog = open_dialog(qtbot, window, path)
    preview = dialog.preview
    assert preview is not None
    assert len(preview.items) == 20
    assert (preview.item_key, preview.lacking_key) == ("id", 3)  # item 25 is not previewed
    flagged = [
        row
        for row in range(dialog.preview_table.rowCount())
        if dialog.preview_table.item(row, 2).text()  # type: ignore[union-attr]
    ]
    assert flagged == [2, 6, 11]
    assert "3 of 20 lack the item key “id”" in dialog.preview_summary.text()
    assert dialog.preview_table.horizontalHeaderItem(1).text() == "id (item key)"  # type: ignore[union-attr]
    assert dialog.start_button.isEnabled()

    # Another item key: every item has it.
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        dialog.item_key_edit.setText("sku")
        dialog.item_key_edit.editingFinished.emit()
    assert dialog.preview is not None
    assert (dialog.preview.item_key, dialog.preview.lacking_key) == ("sku", 0)
    assert "every object has the item key “sku”" in dialog.preview_summary.text()

    # Read as another format than its name says: the preview follows the picker.
    with qtbot.waitSignal(dialog.preview_failed, timeout=15000):
        dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("json"))
    assert not dialog.start_button.isEnabled()
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("ndjson"))

    # A file that is not what its name says: said, and nothing can start.
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": 1}')
    with qtbot.waitSignal(dialog.preview_failed, timeout=15000):
        dialog.set_file(broken)
    assert "must start with '['" in dialog.setup_error.text()
    assert not dialog.start_button.isEnabled()
    dialog.reject()


def test_pause_then_resume_finishes_with_no_duplicates(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    state_home: Path,
) -> None:
    make_feed(sandbox_url, admin_key)
    count = 4000
    path = write_items(tmp_path / "items.ndjson", count)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 250  # 16 batches

    def pause_after_three(progress: UploadProgress) -> None:
        if progress.batches_done >= 3 and dialog.state == "running":
            qtbot.mouseClick(dialog.pause_button, Qt.MouseButton.LeftButton)

    dialog.progress_changed.connect(pause_after_three)
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "paused", timeout=60000
    ):
        dialog.start_button.click()
    dialog.progress_changed.disconnect(pause_after_three)
    paused = dialog.progress
    assert paused is not None
    assert paused.bytes_total is not None
    assert 3 <= paused.batches_done < 16
    assert paused.bytes_done < paused.bytes_total
    assert dialog.resume_button.isVisible()
    assert not dialog.pause_button.isVisible()
    # Walking the build: paused, the dialog still said "162,190 items/s · about 0:02 left",
    # and the focus had fallen on Cancel upload (Enter would have asked to cancel).
    assert dialog.rate_label.text() == ""
    assert dialog.resume_button.hasFocus()
    (kept,) = ManifestStore(state_home).pending(sandbox_url)
    assert kept.manifest_path.stat().st_mode & 0o777 == 0o600
    assert kept.path == path.resolve()
    assert kept.items_sent == paused.items_sent

    with qtbot.waitSignal(dialog.upload_finished, timeout=60000) as finished:
        dialog.resume_button.click()
    summary = finished.args[0]  # type: ignore[index]
    assert (summary.items_sent, summary.batches_done, summary.rejected_count) == (count, 16, 0)
    assert summary.duplicates <= 4  # at most the batches in flight at the pause
    assert dialog.state == "finished"
    assert "4,000 items sent" in dialog.run_title.text()
    assert dialog.uploader is not None
    assert dialog.uploader.key_prefix is not None
    assert dialog.uploader.key_prefix in dialog.ids_text.toPlainText()
    assert summary.request_ids[0] in dialog.ids_text.toPlainText()
    assert ManifestStore(state_home).pending(sandbox_url) == []
    exactly_once(sandbox_url, admin_key, FEED, count, dialog.uploader.key_prefix)
    dialog.reject()


def test_cancel_asks_once_then_forgets_the_progress(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    state_home: Path,
) -> None:
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 3000)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 250
    asked: list[Any] = []

    def cancel_after_two(progress: UploadProgress) -> None:
        if progress.batches_done >= 2 and not asked:
            asked.append(dialog.ask_to_cancel())

    dialog.progress_changed.connect(cancel_after_two)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(asked), timeout=15000)
    box = asked[0]
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "cancelled", timeout=60000
    ):
        box.button(box.StandardButton.Yes).click()
    assert len(asked) == 1
    assert ManifestStore(state_home).pending(sandbox_url) == []
    assert not dialog.cancel_button.isVisible()
    dialog.reject()


def test_rejected_items_are_listed_and_saved(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
) -> None:
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 50, without_id=frozenset({4, 40}))
    dialog = open_dialog(qtbot, window, path)
    summary = upload(qtbot, dialog)
    assert [index for index, _ in summary.rejects.first] == [4, 40]
    assert dialog.rejects_table.rowCount() == 2
    assert dialog.rejects_table.item(0, 0).text() == "[4]"  # type: ignore[union-attr]
    assert "id" in dialog.rejects_table.item(0, 1).text()  # type: ignore[union-attr]
    # Each listed item's content, read from the file (walking the build: only the reason).
    qtbot.waitUntil(lambda: dialog.rejects_table.item(1, 2) is not None, timeout=15000)
    assert dialog.rejects_table.item(1, 2).text() == '{"sku": "S-40", "n": 40}'  # type: ignore[union-attr]
    target = tmp_path / "rejected.ndjson"
    with qtbot.waitSignal(dialog.rejects_saved, timeout=15000):
        dialog.save_rejects(target)
    # The items themselves, as the file holds them (to fix and upload again), and their
    # index and reason next to them.
    assert target.read_text() == '{"sku": "S-4", "n": 4}\n{"sku": "S-40", "n": 40}\n'
    reasons = [
        json.loads(line) for line in (tmp_path / "rejected.reasons.ndjson").read_text().splitlines()
    ]
    assert [line["item"] for line in reasons] == [4, 40]
    assert reasons[0]["reason"] == "[4].id is missing: every record carries the feed's id field."

    kept = summary.rejects.path
    assert kept is not None
    assert kept.exists()  # kept while the summary is on screen (Save rejected… again)
    dialog.reject()
    assert not kept.exists()  # dismissed: nothing can save them any more


def test_past_the_first_100_rejected_items_save_writes_every_one_from_the_file(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    state_home: Path,
) -> None:
    make_feed(sandbox_url, admin_key)
    bad = frozenset(range(1, 600, 4))
    path = write_items(tmp_path / "items.ndjson", 600, without_id=bad)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 100
    summary = upload(qtbot, dialog)
    assert summary.rejected_count == len(bad) == 150
    assert len(summary.rejects.first) == 100  # what the summary holds: no list of all
    assert dialog.rejects_table.rowCount() == 100
    assert dialog.rejects_table.item(99, 0).text() == f"[{sorted(bad)[99]}]"  # type: ignore[union-attr]
    assert "The first 100 of 150 rejected items" in dialog.rejects_note.text()
    assert "150 items rejected" in dialog.report_label.text()
    target = tmp_path / "rejected.ndjson"
    with qtbot.waitSignal(dialog.rejects_saved, timeout=15000) as saved:
        dialog.save_rejects(target)
    assert saved.args == [str(target), 150]
    items = [json.loads(line)["n"] for line in target.read_text("utf-8").splitlines()]
    assert items == sorted(bad)  # every one, by index
    reasons = tmp_path / "rejected.reasons.ndjson"
    assert [json.loads(line)["item"] for line in reasons.read_text().splitlines()] == sorted(bad)
    assert [p.name for p in state_home.iterdir()] != []  # kept while the summary is shown
    dialog.reject()
    assert list(state_home.iterdir()) == []


def test_a_one_batch_upload_says_1_batch(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, 3,000 items in one request read "1 batches" twice.
    make_feed(sandbox_url, admin_key)
    dialog = open_dialog(qtbot, window, write_items(tmp_path / "items.ndjson", 40))
    upload(qtbot, dialog)
    assert "1 batch · 0 replays" in dialog.progress_label.text()
    assert "40 items accepted in 1 batch;" in dialog.report_label.text()
    assert "0 batches retried" in dialog.report_label.text()
    dialog.reject()


def test_a_typed_path_previews_without_enter(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, a path typed in the field left Start disabled until Enter.
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 5)
    window.bulk_button.click()
    dialog = window.bulk.dialog
    assert isinstance(dialog, BulkIngestDialog)
    qtbot.waitUntil(lambda: dialog.feed_combo.findData(FEED) >= 0, timeout=15000)
    dialog.select_feed(FEED)
    dialog.file_edit.setFocus()
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        qtbot.keyClicks(dialog.file_edit, str(path))
    assert dialog.file_edit.hasFocus()
    assert dialog.path == path
    assert dialog.start_button.isEnabled()
    dialog.reject()


def test_the_rejects_file_is_private_and_whole(tmp_path: Path) -> None:
    import os
    import stat

    from console.api.upload_rejects import RejectsFile

    sidecar = RejectsFile(tmp_path / "uploads" / "0123.rejects.ndjson")
    old_umask = os.umask(0o022)
    try:
        sidecar.append([(4, "missing “id”"), (40, "missing “id”")])
        rejects = sidecar.hand_over(2, [[4, "missing “id”"], [40, "missing “id”"]])
        assert rejects.path is not None
        assert stat.S_IMODE(rejects.path.stat().st_mode) == 0o600
        target = tmp_path / "rejected.ndjson"
        assert rejects.copy_to(target) == 2
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [json.loads(line)["item"] for line in target.read_text("utf-8").splitlines()] == [4, 40]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejected.ndjson", "uploads"]
    rejects.discard()
    assert list((tmp_path / "uploads").iterdir()) == []


def test_a_progress_file_that_cannot_be_removed_on_cancel_is_said_with_its_path(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    state_home: Path,
) -> None:
    """Cancel forgets the manifest; when the file system refuses (here a directory stands
    where the manifest was: root ignores permission bits), the dialog says what failed and
    which file, with no traceback."""
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 3000)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 250

    def pause_after_two(progress: UploadProgress) -> None:
        if progress.batches_done >= 2 and dialog.state == "running":
            dialog.pause_upload()

    dialog.progress_changed.connect(pause_after_two)
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "paused", timeout=60000
    ):
        dialog.start_button.click()
    dialog.progress_changed.disconnect(pause_after_two)
    (kept,) = ManifestStore(state_home).pending(sandbox_url)
    manifest = kept.manifest_path
    manifest.unlink()
    manifest.mkdir()  # unlink() of it fails: IsADirectoryError
    (manifest / "in-the-way").write_text("")
    box = dialog.ask_to_cancel()
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "cancelled", timeout=15000
    ):
        box.button(box.StandardButton.Yes).click()
    assert not dialog.run_error.isHidden()
    text = dialog.run_error.text()
    assert "could not be removed" in text
    assert str(manifest) in text
    assert "Is a directory" in text
    assert "Upload cancelled." in dialog.run_title.text()
    dialog.reject()


def ingest_now(url: str, key: str, feed: str, count: int) -> None:
    """Post `count` items to `feed` and wait until the server has applied them."""

    async def send() -> None:
        client = ApiClient(url, key)
        try:
            items = [{"id": f"x-{n}", "n": n} for n in range(count)]
            receipt = await IngestApi(client).send(feed, items)
            assert receipt.correlation_id is not None
            async with asyncio.timeout(30):
                await IntentsApi(client).wait(receipt.correlation_id, interval=0.05)
        finally:
            await client.aclose()

    run(send())


def test_the_feeds_record_count_is_read_again_when_chosen_and_after_an_upload(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key)
    make_feed(sandbox_url, admin_key, "bulkother")
    path = write_items(tmp_path / "items.ndjson", 300)
    dialog = open_dialog(qtbot, window, path)
    combo = dialog.feed_combo
    other = combo.findData("bulkother")
    assert "· 0 records" in combo.itemText(other)
    ingest_now(sandbox_url, admin_key, "bulkother", 3)  # while the dialog stays open
    dialog.select_feed("bulkother")
    qtbot.waitUntil(lambda: "· 3 records" in combo.itemText(other), timeout=15000)
    assert dialog.feed is not None
    assert dialog.feed.record_count == 3
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=15000)
    upload(qtbot, dialog)
    qtbot.waitUntil(lambda: "· 303 records" in combo.itemText(other), timeout=15000)
    assert dialog.feed_count_note.text() == "The feed “Bulk bulkother” holds 303 records now."
    dialog.reject()


def test_the_interrupted_uploads_bar_names_the_feed_by_its_name(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 2000)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 250

    def pause_after_two(progress: UploadProgress) -> None:
        if progress.batches_done >= 2 and dialog.state == "running":
            dialog.pause_upload()

    dialog.progress_changed.connect(pause_after_two)
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "paused", timeout=60000
    ):
        dialog.start_button.click()
    bar = window.bulk.bar
    dialog.reject()  # closed paused: offered in the window's bar
    qtbot.waitUntil(lambda: len(bar.offers) == 1, timeout=15000)
    text = " ".join(label.text() for row in bar.rows for label in row.findChildren(QLabel))
    assert f"to “Bulk {FEED}”" in text
    assert f"“{FEED}”" not in text
    # A feed the server does not list (deleted, or the list failed): its id stands in.
    bar.show_offers(bar.offers, {})
    text = " ".join(label.text() for row in bar.rows for label in row.findChildren(QLabel))
    assert f"to “{FEED}”" in text


def test_a_bulk_upload_pacing_on_the_ingest_burst_is_not_shown_as_an_alarm(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    """The ingest routes report their per-key burst (20 a second here) in the same headers
    as the per-IP limit: the status bar showed "Rate limit 2/20" in red during uploads."""
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 1200)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 100  # 12 requests
    status = window.status
    seen: list[tuple[str, str, str]] = []

    def look(outcome: Any) -> None:
        if "/ingest" in outcome.path:  # the status bar has taken this answer in already
            pacing = getattr(status, "pacing_label", None)
            shown = pacing.text() if pacing is not None else ""
            seen.append((shown, status.rate_label.text(), status.rate_label.styleSheet()))

    window.session.request_finished.connect(look)
    try:
        with qtbot.waitSignal(dialog.upload_finished, timeout=60000):
            dialog.start_button.click()
    finally:
        window.session.request_finished.disconnect(look)
    assert len(seen) >= 12
    for pacing, rate, style in seen:
        assert pacing.startswith("Ingest pacing "), pacing
        assert pacing.endswith("/20"), pacing
        assert "/20" not in rate, rate  # the per-IP limit's headroom (1,000,000 here)
        assert "#8f1d12" not in style
    assert status.pacing_label.styleSheet() == "color: #5c5f66;"
    dialog.reject()


def test_enter_in_the_file_field_previews_and_never_starts(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, Enter in the File field started the upload unseen: the typed path's
    # preview waits for a pause in typing, and Start (the default button) took the Enter.
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 5)
    other = write_items(tmp_path / "other.ndjson", 7)
    window.bulk_button.click()
    dialog = window.bulk.dialog
    assert isinstance(dialog, BulkIngestDialog)
    qtbot.waitUntil(lambda: dialog.feed_combo.findData(FEED) >= 0, timeout=15000)
    dialog.select_feed(FEED)
    dialog.file_edit.setFocus()
    dialog.file_edit.setText(str(path))
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    assert dialog.state == "setup"
    assert dialog.preview is not None
    assert dialog.preview.path == path
    assert dialog.start_button.isEnabled()
    # Enter again, the preview shown: still nothing starts.
    qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Enter)
    assert dialog.state == "setup"

    # Another path typed: the preview shown is stale, and Start waits for the new one.
    dialog.file_edit.selectAll()
    qtbot.keyClicks(dialog.file_edit, str(other))
    assert not dialog.start_button.isEnabled()
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        qtbot.keyClick(dialog.file_edit, Qt.Key.Key_Return)
    assert dialog.state == "setup"
    assert dialog.preview is not None
    assert len(dialog.preview.items) == 7
    assert dialog.start_button.isEnabled()
    # An item key being typed makes it stale too.
    qtbot.keyClicks(dialog.item_key_edit, "sku")
    assert not dialog.start_button.isEnabled()
    dialog.reject()


def test_a_double_clicked_start_keeps_the_upload_and_closing_it_asks(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    state_home: Path,
) -> None:
    # Walking the build, the second click of a double-clicked Start landed on the run page's
    # Close, which stopped the upload just started and closed the dialog without a word.
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 4000)
    dialog = open_dialog(qtbot, window, path)
    dialog.max_items = 50
    where = dialog.start_button.mapTo(dialog, dialog.start_button.rect().center())
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.state == "running"
    under = dialog.childAt(where)
    assert not isinstance(under, QPushButton), under  # nothing to click where Start was
    assert not dialog.done_button.isVisible()
    assert not dialog.done_button.hasFocus()
    assert not any(b.isDefault() for b in dialog.findChildren(QPushButton) if b.isVisible())
    uploader = dialog.uploader
    assert uploader is not None
    qtbot.waitUntil(lambda: uploader.manifest_path is not None, timeout=15000)
    # Enter and Esc: nothing stops silently; Esc asks, and "Keep uploading" is its default.
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.state == "running"
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    box = dialog.close_box
    assert box is not None
    assert box.isVisible()
    assert dialog.isVisible()
    assert dialog.state == "running"
    assert box.defaultButton().text() == "Keep uploading"  # type: ignore[union-attr]
    box.button(box.StandardButton.No).click()
    assert dialog.isVisible()
    assert dialog.state == "running"
    dialog.reject()
    box = dialog.close_box
    assert box is not None
    with qtbot.waitSignal(dialog.upload_interrupted, timeout=60000):
        box.button(box.StandardButton.Yes).click()  # "Pause and close"
    assert not dialog.isVisible()
    (kept,) = ManifestStore(state_home).pending(sandbox_url)
    assert kept.path == path.resolve()


def test_the_cancel_question_fits_a_paused_upload(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key)
    dialog = open_dialog(qtbot, window, write_items(tmp_path / "items.ndjson", 3000))
    dialog.max_items = 100
    with qtbot.waitSignal(
        dialog.state_changed, check_params_cb=lambda s: s == "paused", timeout=60000
    ):
        dialog.start_button.click()
        dialog.pause_upload()
    box = dialog.ask_to_cancel()
    assert box.button(box.StandardButton.No).text() == "Keep paused"
    box.button(box.StandardButton.No).click()
    dialog.reject()  # paused: closes without asking, the progress kept
    assert not dialog.isVisible()


def test_items_flagged_in_the_preview_are_left_out_before_sending(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, the dialog flagged the items without the feed's id field but sent
    # them anyway: the server refused the first batches with 400 ("rejected" in the logs).
    from console.api.transport import RequestOutcome, RetryWait

    make_feed(sandbox_url, admin_key)
    bad = frozenset(range(3, 1000, 50))
    dialog = open_dialog(
        qtbot, window, write_items(tmp_path / "items.ndjson", 1000, without_id=bad)
    )
    dialog.max_items = 100
    statuses: list[int] = []

    def seen(event: RequestOutcome | RetryWait) -> None:
        if isinstance(event, RequestOutcome) and event.path == "/api/ingest":
            statuses.append(event.status)

    dialog.client.add_observer(seen)
    summary = upload(qtbot, dialog)
    assert statuses == [202] * 10
    assert summary.rejects.first == [
        (n, f"[{n}].id is missing: every record carries the feed's id field.") for n in sorted(bad)
    ]
    dialog.client.remove_observer(seen)
    dialog.dismiss()  # the rejected items are not wanted: no question


def test_the_feed_count_is_said_as_current_only_once_it_has_settled(
    qtbot: QtBot,
    window: MainWindow,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Walking the build, the summary said "holds 178,214 records now" while the sandbox was
    # still applying, and stopped reading after 10 s. Here the file's ids are all in the feed
    # already: the count cannot reach "listed + sent", and it is said as current only once it
    # has stopped moving.
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 200)

    async def prefill() -> None:
        client = ApiClient(sandbox_url, admin_key)
        try:
            items = [json.loads(line) for line in path.read_text().splitlines()]
            receipt = await IngestApi(client).send(FEED, items)
            assert receipt.correlation_id is not None
            async with asyncio.timeout(30):
                await IntentsApi(client).wait(receipt.correlation_id, interval=0.05)
        finally:
            await client.aclose()

    run(prefill())
    dialog = open_dialog(qtbot, window, path)
    dialog.count_interval = 0.05
    notes: list[str] = []
    original = dialog.feed_count_note.setText
    monkeypatch.setattr(
        dialog.feed_count_note, "setText", lambda text: (notes.append(text), original(text))
    )
    upload(qtbot, dialog)
    qtbot.waitUntil(lambda: bool(notes) and "so far" not in notes[-1], timeout=15000)
    assert "still applying the upload… the feed “Bulk bulkui” holds 200 records so far" in notes[0]
    assert notes[-1].startswith("The feed “Bulk bulkui” holds 200 records (unchanged for")
    assert "the upload looks applied" in notes[-1]
    assert all("so far" in note for note in notes[:-1])
    dialog.reject()


def test_the_palette_shows_alt_b_and_ctrl_q_quits_through_the_close_path(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, the palette's Bulk ingest entry showed no key though Alt+B opens it,
    # and nothing quit the app from the keyboard.
    palette = window.open_palette()
    items = [palette.list.topLevelItem(i) for i in range(palette.list.topLevelItemCount())]
    rows = {item.data(0, ID_ROLE): item.text(2) for item in items if item is not None}
    assert rows.get("bulk.ingest") == "Alt+B", rows
    assert rows.get("app.quit") == "Ctrl+Q", rows
    palette.reject()
    quit_action = window.action_registry.get("app.quit")
    assert quit_action.shortcuts == ("Ctrl+Q",)

    # Quitting while an upload runs asks, as closing the dialog does; "Keep uploading" stays.
    make_feed(sandbox_url, admin_key)
    dialog = open_dialog(qtbot, window, write_items(tmp_path / "items.ndjson", 6000))
    dialog.max_items = 50
    dialog.start_button.click()
    uploader = dialog.uploader
    assert uploader is not None
    qtbot.waitUntil(lambda: uploader.manifest_path is not None, timeout=15000)
    _active(qtbot, window)
    qtbot.keyClick(
        QApplication.focusWidget() or window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier
    )
    box = dialog.close_box
    assert box is not None
    assert box.isVisible()
    assert window.isVisible()
    box.button(box.StandardButton.No).click()  # Keep uploading
    assert window.isVisible()
    assert dialog.state in ("running", "finished")
    with qtbot.waitSignal(dialog.upload_finished, timeout=60000):
        pass
    dialog.reject()


def test_the_dialog_fits_the_screen_sorts_feeds_by_name_and_reopens_on_the_last_choice(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key, "zz-first-by-id")  # named "Bulk zz-first-by-id"
    make_feed(sandbox_url, admin_key, "aa-last")
    make_feed(sandbox_url, admin_key)  # "Bulk bulkui"
    path = write_items(tmp_path / "items.ndjson", 5)
    dialog = open_dialog(qtbot, window, path)
    available = dialog.screen().availableGeometry()
    # Walking the build, 960x640 filled a 1024x640 screen (offscreen: 800x600).
    assert dialog.width() <= available.width() * 9 // 10
    assert dialog.height() <= available.height() * 85 // 100
    combo = dialog.feed_combo
    names = [combo.itemText(i).split(" · ")[0] for i in range(combo.count())]
    assert names == sorted(names, key=str.casefold)
    dialog.reject()
    # Opened again: the same feed and file, previewed (walking the build: both forgotten).
    window.bulk_button.click()
    again = window.bulk.dialog
    assert again is not dialog
    assert isinstance(again, BulkIngestDialog)
    qtbot.waitUntil(lambda: again.preview is not None, timeout=15000)
    assert again.path == path
    assert again.feed is not None
    assert again.feed.id == FEED
    assert again.file_edit.text() == str(path)
    again.reject()


def test_save_rejected_refuses_a_file_changed_since_the_upload(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, a line prepended after the upload shifted every item: the saved
    # "rejected items" were their neighbours, next to the reasons of the ones rejected.
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 50, without_id=frozenset({4, 40}))
    dialog = open_dialog(qtbot, window, path)
    upload(qtbot, dialog)
    path.write_bytes(b'{"id": "new", "n": -1}\n' + path.read_bytes())
    target = tmp_path / "rejected.ndjson"
    with qtbot.waitSignal(dialog.rejects_save_refused, timeout=15000):
        dialog.save_rejects(target)
    assert not target.exists()  # no item that does not match its reason
    message = dialog.run_error.text()
    assert "items.ndjson changed since the upload" in message
    assert "can no longer be cut from it" in message
    reasons = tmp_path / "rejected.reasons.ndjson"
    assert str(reasons) in message
    assert [json.loads(line)["item"] for line in reasons.read_text().splitlines()] == [4, 40]
    assert "Saved" not in dialog.rejects_note.text()
    dialog.reject()  # all that can be saved is: closes without asking
    assert not dialog.isVisible()


def test_closing_a_summary_with_unsaved_rejected_items_asks_first(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Walking the build, one Esc on the summary removed every rejected item unasked, while
    # only the first 100 were on screen.
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 50, without_id=frozenset({4, 40}))
    dialog = open_dialog(qtbot, window, path)
    kept = upload(qtbot, dialog).rejects.path
    assert kept is not None

    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    box = dialog.save_box
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    assert box.windowTitle() == "Save rejected items?"
    assert box.defaultButton() is box.escapeButton()  # Cancel: Enter or Esc keeps them
    box.escapeButton().click()
    assert dialog.isVisible()
    assert kept.exists()

    dialog.reject()
    box = dialog.save_box
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    save = box.findChild(QPushButton, "save_button")
    assert save is not None
    save.click()
    chooser = dialog.file_dialog
    assert isinstance(chooser, QFileDialog)
    target = tmp_path / "rejected.ndjson"
    with qtbot.waitSignal(dialog.rejects_saved, timeout=15000):
        chooser.fileSelected.emit(str(target))  # as its Save button does
        chooser.done(QFileDialog.DialogCode.Accepted)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)  # closed once saved
    assert target.read_text() == '{"sku": "S-4", "n": 4}\n{"sku": "S-40", "n": 40}\n'
    assert not kept.exists()


def test_quitting_with_unsaved_rejected_items_asks_and_discard_quits(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    # Ctrl+Q (or the window's X) removed a finished upload's rejected items unasked, as
    # one Esc on the summary did before it asked.
    from PySide6.QtWidgets import QMessageBox

    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 30, without_id=frozenset({3}))
    dialog = open_dialog(qtbot, window, path)
    kept = upload(qtbot, dialog).rejects.path
    assert kept is not None

    window.close()
    box = dialog.save_box
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    assert box.windowTitle() == "Save rejected items?"
    box.escapeButton().click()  # Cancel: nothing closes, nothing is removed
    assert window.isVisible()
    assert dialog.isVisible()
    assert kept.exists()

    window.close()
    box = dialog.save_box
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    discard = box.findChild(QPushButton, "discard_button")
    assert discard is not None
    discard.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)  # Discard quits
    assert not kept.exists()


def test_discard_on_closing_removes_the_rejected_items(
    qtbot: QtBot, window: MainWindow, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    make_feed(sandbox_url, admin_key)
    path = write_items(tmp_path / "items.ndjson", 20, without_id=frozenset({7}))
    dialog = open_dialog(qtbot, window, path)
    kept = upload(qtbot, dialog).rejects.path
    assert kept is not None
    dialog.reject()
    box = dialog.save_box
    assert box is not None
    discard = box.findChild(QPushButton, "discard_button")
    assert discard is not None
    discard.click()
    assert not dialog.isVisible()
    assert not kept.exists()
