"""The connection-profile manager: keys go to the keychain, bad input says what to fix."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.config.profiles import ConnectionProfile, Settings, SettingsStore
from console.config.secrets import SecretStore, profile_account
from console.ui.profiles_dialog import ProfilesDialog


@pytest.fixture
def dialog(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, secrets: SecretStore) -> ProfilesDialog:
    box = ProfilesDialog(Settings(), secrets)
    qtbot.addWidget(box)
    box.show()
    return box


def _fill(qtbot: QtBot, dialog: ProfilesDialog, name: str, url: str, key: str) -> None:
    dialog.new_profile()
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.keyClicks(dialog.url_edit, url)
    qtbot.keyClicks(dialog.key_edit, key)


def test_saved_profile_keeps_its_key_in_the_keychain_only(
    qtbot: QtBot, dialog: ProfilesDialog, secrets: SecretStore, admin_key: str, tmp_path: Path
) -> None:
    _fill(qtbot, dialog, "Staging", "http://127.0.0.1:8080", admin_key)
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "kept in the keychain" in dialog.message.text()
    assert secrets.get(profile_account("Staging")) == admin_key
    assert dialog.key_edit.text() == ""
    store = SettingsStore(tmp_path / "settings.json")
    store.save(dialog.settings)
    assert admin_key not in (tmp_path / "settings.json").read_text()
    # A new profile is production until the user picks another environment (fail-safe).
    assert store.load().profile("Staging") == ConnectionProfile(
        "Staging", "http://127.0.0.1:8080", environment="production"
    )


def test_bad_input_says_what_to_fix_and_keeps_the_form(
    qtbot: QtBot, dialog: ProfilesDialog
) -> None:
    _fill(qtbot, dialog, "Prod", "api.example.com", "fdk_short")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text().startswith("Base URL: enter a full URL")
    dialog.url_edit.setText("https://api.example.com")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text().startswith("Admin key: paste a whole key")
    assert dialog.name_edit.text() == "Prod"
    assert dialog.key_edit.text() == "fdk_short"
    assert dialog.settings.profiles == []


def test_test_connection_reports_success_and_failure(
    qtbot: QtBot, dialog: ProfilesDialog, sandbox_url: str, admin_key: str
) -> None:
    _fill(qtbot, dialog, "Local", sandbox_url, admin_key)
    with qtbot.waitSignal(dialog.tested, timeout=10000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert result.args[0] is True
    assert "Connected in" in result.args[1]
    dialog.key_edit.setText("fdk_" + "Q" * 40)
    with qtbot.waitSignal(dialog.tested, timeout=10000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert result.args[0] is False
    assert "401" in result.args[1]
    assert "Correlation ID: corr_" in result.args[1]


def test_without_a_keychain_the_dialog_says_keys_stay_in_memory(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    admin_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a bare Linux box has, configured the way a user would (the store never
    # consults keyring's process-wide backend).
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    secrets = SecretStore()
    box = ProfilesDialog(Settings(), secrets)
    qtbot.addWidget(box)
    assert "Kept in memory until you quit" in box.key_note.text()
    assert "no usable keychain" in box.key_note.text()
    _fill(qtbot, box, "Prod", "https://api.example.com", admin_key)
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    assert "in memory for this session" in box.message.text()
    assert secrets.get(profile_account("Prod")) == admin_key


def test_connecting_a_profile_without_a_key_asks_for_it(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, secrets: SecretStore, tmp_path: Path
) -> None:
    from console.ui.main_window import MainWindow

    store = SettingsStore(tmp_path / "settings.json")
    settings = store.load()
    settings.upsert(ConnectionProfile("Keyless", "https://api.example.com"))
    store.save(settings)
    window: Any = MainWindow(secrets, store)
    qtbot.addWidget(window)
    window.connect_profile(window.settings.profile("Keyless"))
    qtbot.waitUntil(lambda: getattr(window, "profiles_dialog", None) is not None, timeout=5000)
    dialog = window.profiles_dialog
    assert "Enter the admin key of “Keyless”" in dialog.message.text()
    assert "no key" in window.status.connection_label.text()
    dialog.reject()


def test_renaming_a_profile_keeps_its_key(
    qtbot: QtBot, dialog: ProfilesDialog, secrets: SecretStore, admin_key: str
) -> None:
    _fill(qtbot, dialog, "Staging", "https://staging.example.com", admin_key)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    dialog.name_edit.setText("Staging EU")
    assert dialog.key_edit.text() == ""  # "leave empty to keep"
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert [p.name for p in dialog.settings.profiles] == ["Staging EU"]
    assert secrets.get(profile_account("Staging EU")) == admin_key
    assert secrets.get(profile_account("Staging")) is None


@pytest.fixture
def web_page_server() -> Iterator[str]:
    """A real loopback HTTP server that answers every GET with an HTML page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Welcome to our product</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_url_that_is_not_the_api_is_reported(
    qtbot: QtBot, dialog: ProfilesDialog, web_page_server: str, admin_key: str
) -> None:
    _fill(qtbot, dialog, "Marketing site", web_page_server, admin_key)
    with qtbot.waitSignal(dialog.tested, timeout=10000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert result.args[0] is False
    assert "not with the platform API's JSON" in result.args[1]


def test_every_control_has_its_own_mnemonic(dialog: ProfilesDialog) -> None:
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QLabel, QPushButton

    claims: dict[str, list[str]] = {}
    for button in dialog.findChildren(QPushButton):
        if button.isVisibleTo(dialog):
            key = QKeySequence.mnemonic(button.text())
            assert not key.isEmpty(), f"{button.text()} has no Alt+letter"
            claims.setdefault(key.toString(), []).append(button.text())
    labelled = {label.buddy() for label in dialog.findChildren(QLabel) if label.buddy()}
    for field in (dialog.name_edit, dialog.url_edit, dialog.auth_combo, dialog.key_edit):
        assert field in labelled, "each field is reached by its label's Alt+letter"
    for label in dialog.findChildren(QLabel):
        if label.buddy() is not None:
            claims.setdefault(QKeySequence.mnemonic(label.text()).toString(), []).append(
                label.text()
            )
    assert {key: texts for key, texts in claims.items() if len(texts) > 1} == {}


def test_the_delete_question_keeps_a_path_on_one_line(
    qtbot: QtBot, dialog: ProfilesDialog, tmp_path: Path
) -> None:
    data_dir = tmp_path / "sandbox-data" / "integration-console"
    dialog.settings.upsert(
        ConnectionProfile("Sandbox", base_url="", sandbox_data_dir=str(data_dir))
    )
    dialog._refresh_list(select="Sandbox")
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = dialog.delete_box
    qtbot.waitUntil(box.isVisible, timeout=5000)
    assert str(data_dir) in box.informativeText()
    from PySide6.QtWidgets import QLabel

    label = box.findChild(QLabel, "qt_msgbox_informativelabel")
    assert label.width() >= label.fontMetrics().horizontalAdvance(str(data_dir))
    with qtbot.waitSignal(box.finished, timeout=5000):
        box.reject()


def test_the_environment_is_chosen_saved_and_loaded_back(
    qtbot: QtBot, dialog: ProfilesDialog, secrets: SecretStore, admin_key: str, tmp_path: Path
) -> None:
    _fill(qtbot, dialog, "Team staging", "http://127.0.0.1:8080", admin_key)
    assert dialog.environment_combo.currentData() == "production"  # the safe default
    dialog.environment_combo.setCurrentIndex(dialog.environment_combo.findData("staging"))
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    store = SettingsStore(tmp_path / "settings.json")
    store.save(dialog.settings)
    assert store.load().profile("Team staging").environment == "staging"  # type: ignore[union-attr]
    # Another profile, then back: the form shows each profile's own environment.
    _fill(qtbot, dialog, "Dev box", "http://127.0.0.1:8081", admin_key)
    dialog.environment_combo.setCurrentIndex(dialog.environment_combo.findData("development"))
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    dialog.list.setCurrentItem(dialog.list.findItems("Team staging", Qt.MatchFlag.MatchExactly)[0])
    assert dialog.environment_combo.currentData() == "staging"
    dialog.list.setCurrentItem(dialog.list.findItems("Dev box", Qt.MatchFlag.MatchExactly)[0])
    assert dialog.environment_combo.currentData() == "development"


def test_the_sandbox_profile_is_always_the_sandbox_environment(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, secrets: SecretStore, tmp_path: Path
) -> None:
    settings = Settings()
    settings.upsert(ConnectionProfile("Sandbox", "", sandbox_data_dir=str(tmp_path)))
    box = ProfilesDialog(settings, secrets)
    qtbot.addWidget(box)
    box.show()
    assert box.environment_combo.currentData() == "sandbox"
    assert not box.environment_combo.isEnabled()
