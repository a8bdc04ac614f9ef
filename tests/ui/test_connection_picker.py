"""The connection picker always names the profile whose data the tabs show."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.config.profiles import ConnectionProfile
from console.config.secrets import SecretStore, profile_account
from tests.ui.conftest import PROFILE

WRONG_KEY = "fdk_" + "Q" * 40


def _choose_in_picker(window: Any, name: str) -> None:
    """What a user's click on an entry of the picker does."""
    combo = window.profile_combo
    index = combo.findData(name)
    assert index >= 0, f"{name} is not in the picker"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _add_profile(window: Any, secrets: SecretStore, name: str, url: str, key: str) -> None:
    window.settings.upsert(ConnectionProfile(name, base_url=url))
    secrets.set(profile_account(name), key)
    window._profiles_saved()


def test_a_failed_connect_says_so_and_keeps_the_previous_connection(
    qtbot: QtBot, window: Any, secrets: SecretStore, sandbox_url: str
) -> None:
    keys_listed = window.keys_tab.model.rowCount()
    assert keys_listed > 0
    _add_profile(window, secrets, "Staging", sandbox_url, WRONG_KEY)  # a key the server refuses
    _choose_in_picker(window, "Staging")
    qtbot.waitUntil(window.banner.isVisible, timeout=10000)
    headline = window.banner.headline.text()
    assert "Could not connect to “Staging”" in headline
    assert f"still connected to “{PROFILE}”" in headline
    assert "401" in headline
    # The picker, the session, the status bar and the tabs all still speak of the sandbox.
    assert window.profile_combo.currentText() == PROFILE
    assert window.session.profile.name == PROFILE
    assert "Connected to" in window.status.connection_label.text()
    assert window.keys_tab.model.rowCount() == keys_listed
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()  # and the kept connection still works

    # Choosing a working profile then switches everything together.
    _add_profile(
        window, secrets, "Also sandbox", sandbox_url, secrets.get(profile_account(PROFILE))
    )
    with qtbot.waitSignal(window.connection_ready, timeout=10000):
        _choose_in_picker(window, "Also sandbox")
    assert window.profile_combo.currentText() == "Also sandbox"
    assert window.session.profile.name == "Also sandbox"


def test_deleting_the_connected_profile_asks_disconnects_and_clears_the_tabs(
    qtbot: QtBot, window: Any
) -> None:
    assert window.keys_tab.model.rowCount() > 0
    dialog = window.open_profiles_dialog()
    dialog._refresh_list(select=PROFILE)
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = dialog.delete_box
    assert box.isVisible()
    assert f"Delete “{PROFILE}”?" in box.text()
    assert "disconnects" in box.informativeText()

    with qtbot.waitSignal(box.finished, timeout=5000):
        box.reject()  # Cancel: nothing happens
    assert window.settings.profile(PROFILE) is not None
    assert window.session.profile.name == PROFILE

    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = dialog.delete_box
    with qtbot.waitSignal(box.finished, timeout=5000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert window.settings.profile(PROFILE) is None
    assert window.session.profile is None
    assert window.session.client is None
    assert window.profile_combo.currentIndex() == -1
    assert window.profile_combo.currentText() == ""
    assert "Not connected" in window.status.connection_label.text()
    assert window.keys_tab.model.rowCount() == 0
    assert window.pipelines_tab.model.rowCount() == 0
    assert not window.keys_tab.add_button.isEnabled()
    # Nothing to refresh or create a pipeline on: the buttons say so.
    for button in (window.pipelines_tab.refresh_button, window.pipelines_tab.new_button):
        assert not button.isEnabled()
        assert "Not connected" in button.toolTip()
    dialog.reject()


def test_deleting_another_profile_asks_and_keeps_the_connection(
    qtbot: QtBot, window: Any, secrets: SecretStore, sandbox_url: str
) -> None:
    _add_profile(window, secrets, "Old server", sandbox_url, WRONG_KEY)
    dialog = window.open_profiles_dialog()
    dialog._refresh_list(select="Old server")
    qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
    box = dialog.delete_box
    assert "disconnects" not in box.informativeText()
    with qtbot.waitSignal(box.finished, timeout=5000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert window.settings.profile("Old server") is None
    assert secrets.get(profile_account("Old server")) is None
    assert window.session.profile.name == PROFILE
    assert window.profile_combo.currentText() == PROFILE
    assert window.keys_tab.model.rowCount() > 0
    dialog.reject()


def test_renaming_the_connected_profile_reconnects_under_its_new_name(
    qtbot: QtBot, window: Any
) -> None:
    dialog = window.open_profiles_dialog()
    dialog._refresh_list(select=PROFILE)
    dialog.name_edit.setText("Renamed sandbox")
    with qtbot.waitSignal(window.connection_ready, timeout=10000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    combo = window.profile_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names == ["Renamed sandbox"]
    assert combo.currentText() == "Renamed sandbox"
    assert window.session.profile.name == "Renamed sandbox"
    qtbot.waitUntil(lambda: window.keys_tab.model.rowCount() > 0, timeout=10000)
    for button in (window.pipelines_tab.refresh_button, window.pipelines_tab.new_button):
        assert button.isEnabled()
        assert button.toolTip() == ""
    dialog.reject()
