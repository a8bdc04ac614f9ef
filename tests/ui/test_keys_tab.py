"""The API Keys tab, driven through real widgets against the real sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from console.config.secrets import SecretStore, profile_account
from console.ui.keys.dialogs import AddKeyDialog, RotateDialog, SecretDialog
from console.ui.keys.model import COLUMNS, STATUS_COLUMN
from tests.ui.conftest import PROFILE

ADMIN_SECRET = re.compile(r"fdk_[A-Za-z0-9]{40}")
KEYS = "/api/public/v1/keys"


def _inside_secret_dialog(widget: QWidget) -> bool:
    while widget is not None:
        if isinstance(widget, SecretDialog):
            return True
        widget = widget.parentWidget()
    return False


def _visible_text(root: QWidget) -> str:
    """Every piece of text of `root` outside the show-once dialog, tables included."""
    parts: list[str] = []
    for widget in [root, *root.findChildren(QWidget)]:
        if _inside_secret_dialog(widget):
            continue
        for attr in ("text", "toolTip", "placeholderText", "windowTitle"):
            value = getattr(widget, attr, None)
            if callable(value):
                with contextlib.suppress(TypeError):
                    parts.append(str(value()))
        model = getattr(widget, "model", None)
        if callable(model) and model() is not None and hasattr(model(), "rowCount"):
            m = model()
            for row in range(m.rowCount()):
                for column in range(m.columnCount()):
                    for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                        parts.append(str(m.index(row, column).data(role)))
    return "\n".join(parts)


def _add_key(qtbot: QtBot, window: Any, name: str) -> SecretDialog:
    tab = window.keys_tab
    with qtbot.waitSignal(tab.runner.idle_changed, timeout=10000, check_params_cb=bool):
        qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    dialog = tab.add_dialog
    assert isinstance(dialog, AddKeyDialog)
    assert dialog.isVisible()
    qtbot.keyClicks(dialog.name_edit, name)
    with qtbot.waitSignal(tab.secret_shown, timeout=10000) as shown:
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    secret_dialog = shown.args[0]
    assert isinstance(secret_dialog, SecretDialog)
    return secret_dialog


def _row_of(window: Any, name: str) -> int | None:
    proxy = window.keys_tab.proxy
    for row in range(proxy.rowCount()):
        if proxy.index(row, 0).data() == name:
            return row
    return None


def test_add_key_lists_it_and_shows_the_secret_exactly_once(qtbot: QtBot, window: Any) -> None:
    secret_dialog = _add_key(qtbot, window, "Nightly export")
    secret = secret_dialog.secret_edit.text()
    assert ADMIN_SECRET.fullmatch(secret)
    assert not secret_dialog.close_button.isEnabled(), "closing needs 'I have stored it'"
    secret_dialog.reject()  # Escape / close box: refused until confirmed
    assert secret_dialog.isVisible()

    qtbot.waitUntil(lambda: _row_of(window, "Nightly export") is not None, timeout=10000)
    row = _row_of(window, "Nightly export")
    proxy = window.keys_tab.proxy
    assert proxy.index(row, COLUMNS.index("Key")).data() == f"fdk_…{secret[-4:]}"
    assert proxy.index(row, STATUS_COLUMN).data() == "active"
    # While the dialog is open, only the dialog holds the secret.
    assert secret not in _visible_text(window.keys_tab)

    secret_dialog.stored_box.setChecked(True)
    with qtbot.waitSignal(secret_dialog.finished, timeout=5000):
        qtbot.mouseClick(secret_dialog.close_button, Qt.MouseButton.LeftButton)
    assert secret_dialog.secret is None
    assert secret_dialog.secret_edit.text() == ""
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()
    assert secret not in _visible_text(window)


def test_copy_puts_secret_on_clipboard_and_clears_it_later(qtbot: QtBot, window: Any) -> None:
    secret_dialog = _add_key(qtbot, window, "Clipboard check")
    secret = secret_dialog.secret_edit.text()
    secret_dialog._clipboard_clear_ms = 200  # the product waits 60 s
    qtbot.mouseClick(secret_dialog.copy_button, Qt.MouseButton.LeftButton)
    clipboard = QGuiApplication.clipboard()
    assert clipboard.text() == secret
    qtbot.waitUntil(lambda: clipboard.text() == "", timeout=5000)
    # Something else the user copied since is left alone.
    qtbot.mouseClick(secret_dialog.copy_button, Qt.MouseButton.LeftButton)
    clipboard.setText("user's own text")
    qtbot.wait(400)  # let the clear timer fire: the assertion is that it did nothing
    assert clipboard.text() == "user's own text"
    secret_dialog.stored_box.setChecked(True)
    secret_dialog.accept()


def test_save_to_keychain_stores_the_new_secret(
    qtbot: QtBot, window: Any, secrets: SecretStore
) -> None:
    secret_dialog = _add_key(qtbot, window, "Kept locally")
    secret = secret_dialog.secret_edit.text()
    assert secret_dialog.keychain_box.isEnabled()
    secret_dialog.keychain_box.setChecked(True)
    secret_dialog.stored_box.setChecked(True)
    qtbot.mouseClick(secret_dialog.close_button, Qt.MouseButton.LeftButton)
    assert secret_dialog.saved_to_keychain
    from console.config.secrets import saved_key_account

    assert secrets.get(saved_key_account(secret_dialog.key.id, "Kept locally")) == secret


def test_add_dialog_keeps_input_and_explains_a_server_rejection(qtbot: QtBot, window: Any) -> None:
    tab = window.keys_tab
    with qtbot.waitSignal(tab.runner.idle_changed, timeout=10000, check_params_cb=bool):
        qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    dialog = tab.add_dialog
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "Name" in dialog.error_label.text()
    assert dialog.isVisible()
    qtbot.keyClicks(dialog.name_edit, "x" * 100)
    dialog.kind_combo.setCurrentIndex(1)  # ingest, but the account has no feeds
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "Feed" in dialog.error_label.text()
    assert dialog.name_edit.text() == "x" * 100
    dialog.reject()


def _select(qtbot: QtBot, window: Any, name: str) -> None:
    row = _row_of(window, name)
    assert row is not None
    window.keys_tab.table.selectRow(row)
    assert window.keys_tab.selected_key().name == name


def test_rotate_own_key_switches_the_console_to_the_new_key(
    qtbot: QtBot, window: Any, secrets: SecretStore, admin_key: str, sandbox_url: str
) -> None:
    tab = window.keys_tab
    own = next(k for k in tab.model.all_rows() if k.last4 == admin_key[-4:])
    _select(qtbot, window, own.name)
    qtbot.mouseClick(tab.rotate_button, Qt.MouseButton.LeftButton)
    dialog = tab.rotate_dialog
    assert isinstance(dialog, RotateDialog)
    assert "This console itself uses this key" in " ".join(
        label.text() for label in dialog.findChildren(QLabel)
    )
    dialog.grace_combo.setCurrentIndex(0)  # now: the old key dies at once
    with qtbot.waitSignal(tab.secret_shown, timeout=10000) as shown:
        qtbot.mouseClick(dialog.rotate_button, Qt.MouseButton.LeftButton)
    secret_dialog = shown.args[0]
    new_secret = secret_dialog.secret_edit.text()
    secret_dialog.stored_box.setChecked(True)
    secret_dialog.accept()

    # The old key is dead on the server ...
    assert (
        httpx.get(sandbox_url + KEYS, headers={"Authorization": f"Bearer {admin_key}"}).status_code
        == 401
    )
    # ... yet the console keeps working, and the profile now holds the new key.
    assert secrets.get(profile_account(PROFILE)) == new_secret
    with qtbot.waitSignal(tab.keys_loaded, timeout=10000):
        tab.refresh()
    assert not window.banner.isVisible()
    new_row = _row_of(window, own.name)
    assert new_row is not None
    # The row of the key the console now uses is the one marked as ours.
    name_cell = tab.proxy.index(new_row, 0)
    assert name_cell.data(Qt.ItemDataRole.FontRole).bold()
    assert tab.proxy.index(new_row, COLUMNS.index("Key")).data().endswith(new_secret[-4:])


def test_revoke_asks_naming_the_key_then_greys_it_out(qtbot: QtBot, window: Any) -> None:
    secret_dialog = _add_key(qtbot, window, "Old CI job")
    secret_dialog.stored_box.setChecked(True)
    secret_dialog.accept()
    qtbot.waitUntil(lambda: _row_of(window, "Old CI job") is not None, timeout=10000)
    tab = window.keys_tab
    _select(qtbot, window, "Old CI job")
    qtbot.mouseClick(tab.revoke_button, Qt.MouseButton.LeftButton)
    box = tab.revoke_box
    assert "Old CI job" in box.text()
    assert "fdk_…" in box.text()
    with qtbot.waitSignal(tab.key_revoked, timeout=10000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: tab.proxy.index(_row_of(window, "Old CI job"), STATUS_COLUMN).data() == "revoked",
        timeout=10000,
    )
    row = _row_of(window, "Old CI job")
    grey = tab.proxy.index(row, 0).data(Qt.ItemDataRole.ForegroundRole)
    assert grey is not None
    _select(qtbot, window, "Old CI job")
    assert not tab.revoke_button.isEnabled()
    assert not tab.rotate_button.isEnabled()


def test_cancelling_the_revoke_confirmation_keeps_the_key(qtbot: QtBot, window: Any) -> None:
    tab = window.keys_tab
    name = tab.model.all_rows()[0].name
    _select(qtbot, window, name)
    qtbot.mouseClick(tab.revoke_button, Qt.MouseButton.LeftButton)
    box = tab.revoke_box
    with qtbot.waitSignal(box.finished, timeout=5000):
        box.reject()
    with qtbot.waitSignal(tab.keys_loaded, timeout=10000):
        tab.refresh()  # the server's word, not the table's memory
    assert next(k for k in tab.model.all_rows() if k.name == name).status == "active"


def test_api_error_shows_banner_with_copyable_correlation_id(
    qtbot: QtBot, window: Any, admin_key: str, sandbox_url: str
) -> None:
    own = next(k for k in window.keys_tab.model.all_rows() if k.last4 == admin_key[-4:])
    # Someone revokes the console's key from elsewhere.
    response = httpx.delete(
        f"{sandbox_url}{KEYS}/{own.id}", headers={"Authorization": f"Bearer {admin_key}"}
    )
    assert response.status_code == 200
    with qtbot.waitSignal(window.runner.failed, timeout=10000):
        qtbot.mouseClick(window.keys_tab.refresh_button, Qt.MouseButton.LeftButton)
    banner = window.banner
    assert banner.isVisible()
    assert "401" in banner.headline.text()
    assert banner.correlation_id
    assert banner.correlation_id.startswith("corr_")
    assert banner.correlation_id in banner.correlation_label.text()
    qtbot.mouseClick(banner.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == banner.correlation_id
    qtbot.mouseClick(banner.close_button, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()


def test_text_and_status_filters(qtbot: QtBot, window: Any) -> None:
    for name in ("Alpha exporter", "Beta importer"):
        dialog = _add_key(qtbot, window, name)
        dialog.stored_box.setChecked(True)
        dialog.accept()
        qtbot.waitUntil(lambda n=name: _row_of(window, n) is not None, timeout=10000)
    tab = window.keys_tab
    qtbot.keyClicks(tab.search_edit, "alpha")
    assert tab.proxy.rowCount() == 1
    assert _row_of(window, "Alpha exporter") == 0
    tab.search_edit.clear()
    tab.status_combo.setCurrentIndex(tab.status_combo.findData("revoked"))
    assert tab.proxy.rowCount() == 0
    assert tab.stack.currentWidget() is tab.empty_label
    tab.status_combo.setCurrentIndex(0)
    assert tab.proxy.rowCount() == tab.model.rowCount()


def test_screenshots_show_no_secret(qtbot: QtBot, window: Any, tmp_path: Any) -> None:
    secret_dialog = _add_key(qtbot, window, "Screenshot check")
    secret = secret_dialog.secret_edit.text()
    secret_dialog.stored_box.setChecked(True)
    secret_dialog.accept()
    from console.ui.screenshots import save_tab_screenshots, visible_texts

    task = asyncio.ensure_future(save_tab_screenshots(window, tmp_path / "shots"))
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()
    qtbot.waitUntil(task.done, timeout=15000)
    paths = task.result()
    assert [p.name for p in paths] == [
        "01-api-keys.png",
        "02-pipelines.png",
        "03-records.png",
        "04-ingest-logs.png",
        "05-production-band.png",
    ]
    texts = "\n".join(visible_texts(window))
    assert f"fdk_…{secret[-4:]}" in texts  # the new key is on screen, masked
    assert secret not in texts
    assert secret not in _visible_text(window)


def test_screenshot_refuses_when_a_full_key_is_on_screen(
    qtbot: QtBot, window: Any, tmp_path: Any, admin_key: str
) -> None:
    from console.ui.screenshots import SecretOnScreenError, save_tab_screenshots

    window.keys_tab.search_edit.setText(admin_key)  # pasted into the filter by mistake
    task = asyncio.ensure_future(save_tab_screenshots(window, tmp_path / "shots"))
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()
    qtbot.waitUntil(task.done, timeout=15000)
    with pytest.raises(SecretOnScreenError, match="fdk_…"):
        task.result()
    assert admin_key not in str(task.exception())
    assert list((tmp_path / "shots").glob("*.png")) == []


def test_two_rotations_in_flight_both_show_their_secret(qtbot: QtBot, window: Any) -> None:
    """A second mutation never cancels the first (that would lose the first secret)."""
    for name in ("Job A", "Job B"):
        dialog = _add_key(qtbot, window, name)
        dialog.stored_box.setChecked(True)
        dialog.accept()
        qtbot.waitUntil(lambda n=name: _row_of(window, n) is not None, timeout=10000)
    tab = window.keys_tab
    shown: list[SecretDialog] = []
    tab.secret_shown.connect(shown.append)
    for name in ("Job A", "Job B"):
        _select(qtbot, window, name)
        qtbot.mouseClick(tab.rotate_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(tab.rotate_dialog.rotate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=10000)
    assert sorted(d.key.name for d in shown) == ["Job A", "Job B"]
    assert all(ADMIN_SECRET.fullmatch(d.secret_edit.text()) for d in shown)
    for dialog in shown:
        dialog.stored_box.setChecked(True)
        dialog.accept()


def test_a_failed_keychain_save_keeps_the_secret_on_screen(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    from console.api.keys import ApiKey, CreatedKey

    key = ApiKey(
        "key_x", "Job", "admin", "fdk_", "WXYZ", None, 0.0, None, None, None, None, "active"
    )
    secret = "fdk_" + "a" * 36 + "WXYZ"
    dialog = SecretDialog(
        CreatedKey(key, secret), keychain_reason=None, save_to_keychain=lambda _created: False
    )
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.keychain_box.setChecked(True)
    dialog.stored_box.setChecked(True)
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.secret_edit.text() == secret
    assert "Could not save it in the keychain" in dialog.copy_status.text()
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)  # user chose to go on
