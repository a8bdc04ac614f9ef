"""A bulk upload closed halfway is offered at the next start (a new window, the embedded
sandbox restarted on the same data dir, so on a new port) and finishes with every record
exactly once; quitting the app mid-upload keeps it too; a file changed since is said so and
not resumed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from console.api.feeds import FeedsApi
from console.api.ingest import UploadProgress
from console.api.upload_manifest import ManifestStore
from console.app.launcher import SandboxLauncher
from console.config.drafts import DraftStore
from console.config.profiles import SettingsStore
from console.config.secrets import SecretStore
from console.ui.bulk.dialog import BulkIngestDialog
from console.ui.main_window import SANDBOX_PROFILE, MainWindow
from tests.ui.test_bulk_ingest import exactly_once, open_dialog, write_items

FEED = "restartfeed"
COUNT = 5000
BATCH = 250  # 20 batches


class Console:
    """Start and stop console windows on the embedded sandbox, as the app does."""

    def __init__(
        self, qtbot: QtBot, secrets: SecretStore, settings_store: SettingsStore, tmp_path: Path
    ) -> None:
        self.qtbot = qtbot
        self.secrets = secrets
        self.settings_store = settings_store
        self.tmp_path = tmp_path
        self.launchers: list[SandboxLauncher] = []
        self.windows: list[MainWindow] = []

    def _launcher(self, data_dir: Path) -> SandboxLauncher:
        launcher = SandboxLauncher(data_dir, self.secrets)
        self.launchers.append(launcher)
        return launcher

    def start(self) -> MainWindow:
        """A new window connected to the sandbox profile (started on first use)."""
        window = MainWindow(
            self.secrets,
            self.settings_store,
            sandbox_factory=self._launcher,
            drafts=DraftStore(self.tmp_path / "drafts"),
        )
        self.windows.append(window)
        window.resize(1280, 800)
        window.show()
        with self.qtbot.waitSignal(window.connection_ready, timeout=60000):
            profile = window.settings.profile(SANDBOX_PROFILE)
            if profile is None:
                window.use_sandbox(self.tmp_path / "sandbox")
            else:
                window.connect_profile(profile)
        return window

    def quit(self, window: MainWindow) -> None:
        """Close the window as the app does, then wait for its sandbox child to exit."""
        shutdown = asyncio.ensure_future(window.shutdown())
        self.qtbot.waitUntil(shutdown.done, timeout=30000)
        shutdown.result()
        window.close_keeping_drafts()
        window.deleteLater()
        self.windows.remove(window)
        for launcher in self.launchers:
            if launcher.process is not None:
                launcher.process.stop()

    def close_all(self) -> None:
        for window in list(self.windows):
            self.quit(window)


@pytest.fixture
def console(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Console]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    # The manifest is written after every accepted batch (not every 0.5 s), so the test
    # knows exactly what it holds at each progress report.
    monkeypatch.setenv("INTEGRATION_CONSOLE_MANIFEST_EVERY", "1")
    started = Console(qtbot, secrets, settings_store, tmp_path)
    yield started
    started.close_all()


def wait_for(qtbot: QtBot, coro: Any) -> Any:
    """Run `coro` on the window's loop and return its result."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=30000)
    return task.result()


def manifests(tmp_path: Path) -> ManifestStore:
    return ManifestStore(tmp_path / "xdg-state" / "integration-console" / "uploads")


def test_an_upload_closed_halfway_is_offered_at_the_next_start_and_finishes_exactly_once(
    qtbot: QtBot, console: Console, tmp_path: Path
) -> None:
    first = console.start()
    client = first.session.require_client()
    wait_for(qtbot, FeedsApi(client).create(FEED, "Restart feed"))
    server_id = f"sandbox:{(tmp_path / 'sandbox').resolve()}"
    first_url = client.base_url
    path = write_items(tmp_path / "big.ndjson", COUNT)
    dialog = open_dialog(qtbot, first, path, FEED)
    dialog.max_items = BATCH
    snapshot: list[bytes] = []

    def close_halfway(progress: UploadProgress) -> None:
        # The manifest as it stood after 2 batches comes back below: as if the app had
        # been killed after its last write, while the server went on taking 3 more.
        uploader = dialog.uploader
        assert uploader is not None
        assert uploader.manifest_path is not None
        if progress.batches_done == 2 and not snapshot:
            snapshot.append(uploader.manifest_path.read_bytes())
        if progress.batches_done >= 5 and dialog.isVisible() and dialog.close_box is None:
            dialog.reject()  # asks first: the user chooses "Pause and close"
            box = dialog.close_box
            assert box is not None
            box.button(box.StandardButton.Yes).click()

    dialog.progress_changed.connect(close_halfway)
    with qtbot.waitSignal(dialog.upload_interrupted, timeout=60000):
        dialog.start_button.click()
    (kept,) = manifests(tmp_path).pending(server_id)
    assert 5 <= kept.manifest.counters.batches_done < COUNT // BATCH
    # The window offers it at once, as an interrupted upload.
    qtbot.waitUntil(lambda: len(first.bulk.bar.offers) == 1, timeout=15000)
    console.quit(first)

    kept.manifest_path.write_bytes(snapshot[0])
    assert kept.manifest_path.stat().st_mode & 0o777 == 0o600
    (kept,) = manifests(tmp_path).pending(server_id)
    assert kept.manifest.counters.batches_done == 2

    second = console.start()
    assert second.session.require_client().base_url != first_url  # a new port
    bar = second.bulk.bar
    qtbot.waitUntil(lambda: len(bar.offers) == 1, timeout=15000)
    assert bar.isVisible()
    text = offered_text(bar)
    assert "big.ndjson" in text
    assert "“Restart feed”" in text  # the feed's name, not its id
    assert "% sent" in text
    assert "500 items" in text  # 2 batches
    buttons = bar.buttons_of(kept)
    assert set(buttons) == {"Resume", "Discard"}
    buttons["Resume"].click()
    resumed = second.bulk.dialog
    assert isinstance(resumed, BulkIngestDialog)
    with qtbot.waitSignal(resumed.upload_finished, timeout=120000) as finished:
        pass
    summary = finished.args[0]  # type: ignore[index]
    assert summary.items_sent == COUNT
    assert summary.batches_done == COUNT // BATCH
    assert summary.duplicates >= 3  # batches 3 to 5 (at least) were answered as replays
    assert summary.rejected_count == 0
    assert summary.rejects.path is None
    assert not bar.isVisible()
    assert manifests(tmp_path).pending(server_id) == []
    assert resumed.uploader is not None
    prefix = resumed.uploader.key_prefix
    assert prefix is not None
    admin_key = console.launchers[-1].saved_key()
    assert admin_key is not None
    exactly_once(second.session.require_client().base_url, admin_key, FEED, COUNT, prefix)


def offered_text(bar: Any) -> str:
    """What the offers say."""
    return " ".join(label.text() for row in bar.rows for label in row.findChildren(QLabel))


def test_an_upload_stopped_by_quitting_the_app_is_kept_and_a_changed_file_not_resumed(
    qtbot: QtBot, console: Console, tmp_path: Path
) -> None:
    first = console.start()
    client = first.session.require_client()
    wait_for(qtbot, FeedsApi(client).create(FEED, "Restart feed"))
    server_id = f"sandbox:{(tmp_path / 'sandbox').resolve()}"
    path = write_items(tmp_path / "big.ndjson", 2000)
    dialog = open_dialog(qtbot, first, path, FEED)
    dialog.max_items = BATCH

    quitting: list[asyncio.Future[None]] = []

    def quit_after_two(progress: UploadProgress) -> None:
        # The app quits with the dialog open: its close path is the window's shutdown.
        if progress.batches_done >= 2 and not quitting:
            quitting.append(asyncio.ensure_future(first.shutdown()))

    dialog.progress_changed.connect(quit_after_two)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: bool(quitting) and quitting[0].done(), timeout=60000)
    assert dialog.state == "paused"
    console.quit(first)
    (kept,) = manifests(tmp_path).pending(server_id)
    path.write_text(path.read_text().replace("b-00001", "c-00001"))  # same size, new bytes
    os.utime(path, ns=(1, 1))

    second = console.start()
    bar = second.bulk.bar
    qtbot.waitUntil(lambda: len(bar.offers) == 1, timeout=15000)
    assert bar.offers[0][1] == "changed"
    text = offered_text(bar)
    assert "changed since" in text
    assert "not resumed" in text
    buttons = bar.buttons_of(kept)
    assert set(buttons) == {"Upload anew…", "Discard"}
    buttons["Discard"].click()
    assert not bar.isVisible()
    assert manifests(tmp_path).pending(server_id) == []
