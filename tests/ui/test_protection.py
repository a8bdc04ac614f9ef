"""Environments and protection: a production profile opens read-only, "Unlock writes" lasts
15 minutes (an injected clock moves time), destructive actions ask for the object's name on
production and once elsewhere, and reads never ask. Real widgets, real sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from console.api.transport import RequestOutcome
from console.config.drafts import DraftStore
from console.config.profiles import ConnectionProfile, SettingsStore
from console.config.secrets import SecretStore, profile_account
from console.ui.protection import UNLOCK_SECONDS
from console.ui.widgets.confirm import Confirmation, TypedNameConfirmation
from tests.ui.server_setup import create_keys, create_pipelines

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FEED = "orders"


class Clock:
    """A monotonic clock the test moves by hand (no sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_env_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    tmp_path: Path,
) -> Iterator[Callable[..., Any]]:
    """Open a MainWindow connected through a saved profile of the given environment."""
    from console.ui.main_window import MainWindow

    opened: list[MainWindow] = []

    def make(base_url: str, key: str, environment: str, name: str = "Live EU") -> MainWindow:
        settings = settings_store.load()
        profile = ConnectionProfile(name, base_url=base_url, environment=environment)
        settings.upsert(profile, old_name=name if settings.profile(name) else None)
        settings.active_profile = name
        settings_store.save(settings)
        secrets.set(profile_account(name), key)
        main = MainWindow(secrets, settings_store, drafts=DraftStore(tmp_path / "drafts"))
        opened.append(main)
        main.resize(1280, 800)
        main.show()
        with qtbot.waitSignal(main.keys_tab.keys_loaded, timeout=15000):
            main.connect_profile(settings_store.load().profile(name))
        qtbot.waitUntil(lambda: main.runner.running == 0, timeout=15000)
        return main

    yield make
    for main in opened:
        shutdown = asyncio.ensure_future(main.shutdown())
        qtbot.waitUntil(shutdown.done, timeout=15000)
        shutdown.result()
        main.close_keeping_drafts()
        main.deleteLater()


@pytest.fixture
def server_account(
    sandbox_url: str, admin_key: str, mint_key: Callable[..., str], account: str
) -> dict[str, Any]:
    """A fresh account with a key to revoke, a pipeline to archive and a feed to ingest to."""
    mint_key(account, "ingest", feed=FEED)  # creates the feed
    (key,) = create_keys(sandbox_url, admin_key, ["Old CI job"])
    (pipeline,) = create_pipelines(sandbox_url, admin_key, ["Nightly orders"])
    return {"key": key, "pipeline": pipeline}


def _writes(window: Any) -> list[RequestOutcome]:
    """Record every write request the window's session sends from now on."""
    sent: list[RequestOutcome] = []

    def note(outcome: RequestOutcome) -> None:
        dry_run = outcome.path.endswith("/validate")  # the server's check writes nothing
        if outcome.method in WRITE_METHODS and not dry_run:
            sent.append(outcome)

    window.session.request_finished.connect(note)
    return sent


def _select_key(qtbot: QtBot, window: Any, name: str) -> None:
    tab = window.keys_tab
    key = next(k for k in tab.model.all_rows() if k.name == name)
    assert tab.select_key(key.id)
    qtbot.waitUntil(lambda: tab.selected_key() is not None, timeout=5000)


def _open_pipeline(qtbot: QtBot, window: Any, pipeline_id: int) -> Any:
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.has_loaded, timeout=10000)
    assert tab.select_pipeline(pipeline_id)  # the window may have opened it by itself
    panel = tab.panel
    qtbot.waitUntil(
        lambda: panel.subject == "pipeline" and panel.pipeline.id == pipeline_id,
        timeout=10000,
    )
    qtbot.waitUntil(lambda: panel.is_settled, timeout=10000)
    return tab


def _edit_definition(qtbot: QtBot, tab: Any) -> None:
    panel = tab.panel
    panel.editor.setPlainText(panel.editor.toPlainText().replace("Nightly orders", "Nightly"))
    qtbot.waitUntil(lambda: panel.is_dirty and panel.is_settled, timeout=10000)


def _write_controls(window: Any) -> dict[str, Any]:
    """The write buttons this test drives, by what they do."""
    keys, pipelines, records = window.keys_tab, window.pipelines_tab, window.records_tab
    return {
        "add key": keys.add_button,
        "rotate key": keys.rotate_button,
        "revoke key": keys.revoke_button,
        "new pipeline": pipelines.new_button,
        "archive pipeline": pipelines.archive_button,
        "start pipeline": pipelines.start_button,
        "apply": pipelines.panel.apply_button,
        "new record": records.new_button,
        "import records": records.import_button,
        "bulk ingest": window.bulk_button,
    }


def _load_records(qtbot: QtBot, window: Any) -> None:
    tab = window.records_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.feed is not None and tab.is_settled, timeout=15000)
    window.tabs.setCurrentWidget(window.keys_tab)


def _shown_on_its_page(window: Any, button: QWidget) -> bool:
    """Visible whenever its tab is the current one (never hidden by the gate)."""
    for index in range(window.tabs.count()):
        page = window.tabs.widget(index)
        if page.isAncestorOf(button):
            return bool(button.isVisibleTo(page))
    return bool(button.isVisibleTo(window))


def _modal_dialogs() -> list[QWidget]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, (QDialog, QMessageBox)) and w.isVisible()
    ]


def test_a_locked_production_profile_refuses_every_write_and_sends_nothing(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    server_account: dict[str, Any],
) -> None:
    window = make_env_window(sandbox_url, admin_key, "production")
    gate = window.session.protection
    assert gate.is_protected
    assert not gate.writes_allowed
    reason = gate.refusal()
    assert reason is not None
    assert "Live EU" in reason
    assert "Unlock writes" in reason
    # The band names the profile and says it is read-only; the picker says production.
    band = window.environment_band
    assert band.isVisible()
    assert "PRODUCTION" in band.label.text()
    assert "Live EU" in band.label.text()
    assert "read-only" in band.label.text()
    assert band.unlock_button.isVisible()
    assert not band.lock_button.isVisible()
    assert "[production]" in window.profile_combo.currentText()

    _select_key(qtbot, window, "Old CI job")
    tab = _open_pipeline(qtbot, window, server_account["pipeline"].id)
    _edit_definition(qtbot, tab)
    _load_records(qtbot, window)
    # Refused, not hidden: every write control is there, disabled, and says why.
    for what, button in _write_controls(window).items():
        assert _shown_on_its_page(window, button), what
        assert not button.isEnabled(), what
        assert button.toolTip() == reason, what

    sent = _writes(window)
    messages: list[str] = []
    gate.refused.connect(messages.append)
    # The write paths themselves refuse, not only their buttons: a shortcut, a menu or code.
    window.tabs.setCurrentWidget(tab)
    panel = tab.panel
    panel.editor.setFocus()
    qtbot.keyClick(panel.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # apply
    assert window.apply_definition()
    panel.apply()
    tab.archive_selected()
    tab.force_stop_selected()
    tab.start_selected()
    window.keys_tab.revoke_selected()
    window.keys_tab.add_key()
    assert window.open_bulk_ingest() is None
    assert window.records_tab.new_record() is None
    assert _modal_dialogs() == []  # nothing asks: it is refused before any question
    assert len(messages) >= 8
    assert all(reason in message for message in messages)
    assert reason in window.status.currentMessage()
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=10000)
    assert sent == []
    # The server agrees: nothing changed there.
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()
    key = next(k for k in window.keys_tab.model.all_rows() if k.name == "Old CI job")
    assert key.status == "active"
    assert panel.is_dirty  # the edit stays in the editor (and its draft), not applied


def test_unlock_allows_writes_for_15_minutes_then_relocks_by_itself(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    server_account: dict[str, Any],
) -> None:
    window = make_env_window(sandbox_url, admin_key, "production")
    gate = window.session.protection
    clock = Clock()
    gate.set_clock(clock)
    band = window.environment_band
    tab = _open_pipeline(qtbot, window, server_account["pipeline"].id)
    _edit_definition(qtbot, tab)
    _select_key(qtbot, window, "Old CI job")

    qtbot.mouseClick(band.unlock_button, Qt.MouseButton.LeftButton)
    assert gate.writes_allowed
    assert "writes unlocked, 15:00 left" in band.label.text()
    assert band.lock_button.isVisible()
    assert not band.unlock_button.isVisible()
    for what, button in _write_controls(window).items():
        if what not in ("start pipeline", "new record", "import records"):  # not loaded here
            assert button.isEnabled(), what
            assert button.toolTip() != gate.refusal() or gate.refusal() is None, what
    # The time left counts down as the clock moves.
    clock.now += 12 * 60 + 26
    gate.check_expiry()
    assert "writes unlocked, 2:34 left" in band.label.text()

    # Apply works while unlocked (no question: it is not destructive).
    sent = _writes(window)
    with qtbot.waitSignal(tab.panel.applied, timeout=15000):
        qtbot.mouseClick(tab.panel.apply_button, Qt.MouseButton.LeftButton)
    assert [o.method for o in sent] == ["PUT"]
    assert _modal_dialogs() == []

    # Archiving on production asks for the pipeline's name, then archives it.
    tab.archive_selected()
    box = tab.confirm_box
    assert isinstance(box, TypedNameConfirmation)
    qtbot.keyClicks(box.name_edit, "Nightly")  # the name as it is now, after the apply
    with qtbot.waitSignal(tab.pipeline_changed, timeout=15000) as changed:
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].status == "archived"

    # Fifteen minutes after the unlock, writes lock again by themselves.
    clock.now += 2 * 60 + 34
    gate.check_expiry()
    assert not gate.writes_allowed
    assert "read-only" in band.label.text()
    assert band.unlock_button.isVisible()
    revoke = window.keys_tab.revoke_button
    assert not revoke.isEnabled()
    assert revoke.toolTip() == gate.refusal()
    assert not window.bulk_button.isEnabled()

    # Unlock again, then "Lock writes" ends it at once.
    gate.unlock()
    assert revoke.isEnabled()
    qtbot.mouseClick(band.lock_button, Qt.MouseButton.LeftButton)
    assert not gate.writes_allowed
    assert not revoke.isEnabled()
    assert gate.remaining_seconds() is None
    assert UNLOCK_SECONDS == 15 * 60


def test_on_production_a_wrong_name_leaves_revoke_disabled_and_the_right_one_revokes(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    server_account: dict[str, Any],
) -> None:
    window = make_env_window(sandbox_url, admin_key, "production")
    window.session.protection.unlock()
    tab = window.keys_tab
    _select_key(qtbot, window, "Old CI job")
    qtbot.mouseClick(tab.revoke_button, Qt.MouseButton.LeftButton)
    box = tab.revoke_box
    assert isinstance(box, TypedNameConfirmation)
    assert box.isVisible()
    assert "Old CI job" in box.text()
    assert not box.action_button.isEnabled()
    for wrong in ("Old CI jo", "old ci job", "Old CI job ", " Old CI job"):
        box.name_edit.clear()
        qtbot.keyClicks(box.name_edit, wrong)
        assert not box.action_button.isEnabled(), wrong
    # Enter with a wrong name revokes nothing either.
    qtbot.keyClick(box.name_edit, Qt.Key.Key_Return)
    box.name_edit.clear()
    qtbot.keyClicks(box.name_edit, "Old CI job")
    assert box.action_button.isEnabled()
    with qtbot.waitSignal(tab.key_revoked, timeout=10000) as revoked:
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert revoked.args[0].id == server_account["key"].id
    qtbot.waitUntil(
        lambda: any(k.name == "Old CI job" and k.is_revoked for k in tab.model.all_rows()),
        timeout=10000,
    )


def test_a_staging_profile_asks_once_without_a_typed_name(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    server_account: dict[str, Any],
) -> None:
    window = make_env_window(sandbox_url, admin_key, "staging", name="Staging EU")
    gate = window.session.protection
    assert not gate.is_protected
    assert gate.writes_allowed
    band = window.environment_band
    assert band.isVisible()
    assert band.toolTip() == "Staging · Staging EU"  # a quiet line in staging's colour
    assert band.accessibleName() == "Staging · Staging EU"
    assert band.height() < 10
    assert not band.unlock_button.isVisible()
    assert not band.lock_button.isVisible()
    assert window.profile_combo.currentText() == "Staging EU"  # no alarm in the picker

    tab = window.keys_tab
    _select_key(qtbot, window, "Old CI job")
    qtbot.mouseClick(tab.revoke_button, Qt.MouseButton.LeftButton)
    box = tab.revoke_box
    assert isinstance(box, Confirmation)  # one plain question
    assert not isinstance(box, TypedNameConfirmation)
    assert box.action_button.isEnabled()
    with qtbot.waitSignal(tab.key_revoked, timeout=10000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert _modal_dialogs() == []  # asked once: nothing else follows

    pipelines = _open_pipeline(qtbot, window, server_account["pipeline"].id)
    pipelines.archive_selected()
    archive = pipelines.confirm_box
    assert isinstance(archive, Confirmation)
    with qtbot.waitSignal(pipelines.pipeline_changed, timeout=15000) as changed:
        qtbot.mouseClick(archive.action_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].status == "archived"
    assert _modal_dialogs() == []


@pytest.mark.parametrize("unlocked", [False, True])
def test_refresh_and_filters_never_ask_on_production(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    server_account: dict[str, Any],
    unlocked: bool,
) -> None:
    window = make_env_window(sandbox_url, admin_key, "production")
    if unlocked:
        window.session.protection.unlock()
    messages: list[str] = []
    window.session.protection.refused.connect(messages.append)
    keys = window.keys_tab
    assert keys.refresh_button.isEnabled()
    with qtbot.waitSignal(keys.keys_loaded, timeout=10000):
        qtbot.mouseClick(keys.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(keys.search_edit, "Old")
    keys.status_combo.setCurrentIndex(1)
    assert keys.proxy.rowCount() == 1
    pipelines = window.pipelines_tab
    window.tabs.setCurrentWidget(pipelines)
    assert pipelines.refresh_button.isEnabled()
    with qtbot.waitSignal(pipelines.pipelines_loaded, timeout=10000):
        qtbot.mouseClick(pipelines.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(pipelines.search_edit, "Nightly")
    pipelines.status_combo.setCurrentIndex(1)
    records = window.records_tab
    window.tabs.setCurrentWidget(records)
    qtbot.waitUntil(lambda: records.feed is not None and records.is_settled, timeout=15000)
    assert records.refresh_button.isEnabled()
    assert records.export_button.isEnabled()
    records.refresh()
    qtbot.keyClicks(records.filter_bar.text_edit, "anything")
    qtbot.waitUntil(lambda: records.is_settled, timeout=15000)
    assert _modal_dialogs() == []
    assert messages == []


def test_the_screenshots_run_writes_the_production_band_png(
    qtbot: QtBot, window: Any, tmp_path: Path
) -> None:
    from console.ui.screenshots import PRODUCTION_BAND_PNG, save_production_band_screenshot

    assert window.session.profile.environment == "development"
    task = asyncio.ensure_future(save_production_band_screenshot(window, tmp_path))
    qtbot.waitUntil(task.done, timeout=30000)
    path = task.result()
    assert path.name == PRODUCTION_BAND_PNG
    image = QImage(str(path))
    assert (image.width(), image.height()) == (1280, 800)
    band = window.environment_band
    assert "PRODUCTION" in band.label.text()
    assert "read-only" in band.label.text()
    assert "[production]" in window.profile_combo.currentText()
    # The band is red in the picture, right under the connection row.
    spot = band.mapTo(window, band.rect().center())
    spot.setX(band.mapTo(window, band.rect().topLeft()).x() + 20)
    colour = image.pixelColor(spot)
    assert colour.red() > 150, colour.name()
    assert max(colour.green(), colour.blue()) < 80, colour.name()
    # The write buttons in the picture are the disabled ones.
    assert not window.keys_tab.add_button.isEnabled()


def test_bulk_ingest_on_production_asks_for_the_feed_then_uploads(
    qtbot: QtBot,
    make_env_window: Callable[..., Any],
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.ui.test_bulk_ingest import make_feed, open_dialog, write_items

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    make_feed(sandbox_url, admin_key, "bulkprod")
    window = make_env_window(sandbox_url, admin_key, "production")
    assert not window.bulk_button.isEnabled()
    window.session.protection.unlock()
    dialog = open_dialog(qtbot, window, write_items(tmp_path / "items.ndjson", 20), "bulkprod")
    sent = _writes(window)
    dialog.start_button.click()
    box = dialog.ingest_box
    assert isinstance(box, TypedNameConfirmation)
    assert dialog.state == "setup"  # nothing sent before the name is typed
    qtbot.keyClicks(box.name_edit, "bulkpro")
    assert not box.action_button.isEnabled()
    qtbot.keyClicks(box.name_edit, "d")
    with qtbot.waitSignal(dialog.upload_finished, timeout=30000) as finished:
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].items_sent == 20
    assert sent


def test_a_url_connection_is_production_unless_told_otherwise(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    sandbox_url: str,
    admin_key: str,
    tmp_path: Path,
) -> None:
    from console.app.main import build_parser, main
    from console.ui.main_window import MainWindow

    args = build_parser().parse_args(["--url", sandbox_url, "--environment", "staging"])
    assert args.environment == "staging"
    with pytest.raises(SystemExit):
        main(["--environment", "staging"])  # a saved profile has its own
    window = MainWindow(secrets, settings_store, drafts=DraftStore(tmp_path / "drafts"))
    try:
        window.show()
        with qtbot.waitSignal(window.connection_ready, timeout=15000):
            window.connect_url(sandbox_url, admin_key)
        assert window.session.profile.environment == "production"
        assert not window.session.protection.writes_allowed
        assert not window.keys_tab.add_button.isEnabled()
        with qtbot.waitSignal(window.connection_ready, timeout=15000):
            window.connect_url(sandbox_url, admin_key, "development")
        assert window.session.protection.writes_allowed
        assert window.keys_tab.add_button.isEnabled()
        assert window.settings.active_profile is None  # a --url profile is never saved
    finally:
        shutdown = asyncio.ensure_future(window.shutdown())
        qtbot.waitUntil(shutdown.done, timeout=15000)
        window.close_keeping_drafts()
        window.deleteLater()
