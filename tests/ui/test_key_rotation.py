"""Key rotation and expiry in the Keys tab (issue 14, Deliver 3): real widgets, real sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.config.profiles import ConnectionProfile
from console.ui.keys.dialogs import RotateDialog, SecretDialog
from console.ui.keys.model import COLUMNS, EXPIRING_MARK
from console.ui.keys.renew import RenewDialog

KEYS = "/api/public/v1/keys"
EXPIRES = COLUMNS.index("Expires")


@pytest.fixture
def api(sandbox_url: str, admin_key: str) -> Any:
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
    ) as client:
        yield client


def _create(api: httpx.Client, **body: object) -> dict[str, Any]:
    response = api.post(KEYS, json={"name": "Relay", "kind": "admin", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _reload(qtbot: QtBot, window: Any, select: str | None = None) -> None:
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh(select=select)


def _cell(window: Any, key_id: str, role: Qt.ItemDataRole = Qt.ItemDataRole.DisplayRole) -> Any:
    tab = window.keys_tab
    row = tab.model.row_of(key_id)
    assert row is not None
    return tab.model.index(row, EXPIRES).data(role)


def _accept_secret(qtbot: QtBot, shown: Any) -> str:
    dialog = shown.args[0]
    assert isinstance(dialog, SecretDialog)
    secret = dialog.secret_edit.text()
    dialog.stored_box.setChecked(True)
    dialog.accept()
    return str(secret)


def _rotate_in_ui(qtbot: QtBot, window: Any, key_id: str, grace_index: int) -> str:
    """Rotate `key_id` through the Rotate dialog; return the new key's secret."""
    tab = window.keys_tab
    assert tab.select_key(key_id)
    qtbot.mouseClick(tab.rotate_button, Qt.MouseButton.LeftButton)
    dialog = tab.rotate_dialog
    assert isinstance(dialog, RotateDialog)
    dialog.grace_combo.setCurrentIndex(grace_index)
    with (
        qtbot.waitSignal(tab.keys_loaded, timeout=10000),
        qtbot.waitSignal(tab.secret_shown, timeout=10000) as shown,
    ):
        qtbot.mouseClick(dialog.rotate_button, Qt.MouseButton.LeftButton)
    return _accept_secret(qtbot, shown)


def test_a_use_of_the_old_key_in_grace_shows_as_still_used_within_a_second(
    qtbot: QtBot,
    window: Any,
    api: httpx.Client,
    mint_key: Callable[..., str],
    account: str,
    sandbox_url: str,
) -> None:
    mint_key(account, "ingest", "orders")
    old = _create(api, name="Orders relay", kind="ingest", feed="orders")
    _reload(qtbot, window)
    _rotate_in_ui(qtbot, window, old["id"], grace_index=1)  # 1 hour
    tab, panel = window.keys_tab, window.keys_tab.rotation_panel
    assert _cell(window, old["id"]).startswith("in grace, 59 min")  # the row says so
    assert tab.select_key(old["id"])
    assert panel.isVisible()
    qtbot.waitUntil(lambda: panel.watching and panel.verdict() != "", timeout=10000)
    assert panel.verdict() == "No use since rotation — safe to revoke"
    assert "in grace" in panel.grace_label.text()

    answered = 0.0
    with httpx.Client(base_url=sandbox_url) as client:
        sent = client.post(
            "/api/ingest", json={"id": "o-1"}, headers={"Authorization": f"Bearer {old['secret']}"}
        )
        answered = time.monotonic()
    assert sent.status_code == 202
    # Within a second, with its client IP. (The key's last_used_at may be read first,
    # before the log entry is written: "Still used just now" for a moment, time only.)
    qtbot.waitUntil(lambda: panel.verdict() == "Still used just now by 127.0.0.1", timeout=1000)
    shown_after = time.monotonic() - answered
    print(f"old key's use shown {shown_after * 1000:.0f} ms after the request's answer")
    text = panel.use_label.text()
    assert "from 127.0.0.1" in text
    assert "key in the header" in text
    assert "feed orders" in text
    assert "POST /api/ingest" in text
    assert old["secret"] not in text


def test_with_no_use_since_rotation_the_panel_says_safe_to_revoke_and_revokes_now(
    qtbot: QtBot, window: Any, api: httpx.Client
) -> None:
    old = _create(api, name="Warehouse loader")
    new = api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600}).json()
    _reload(qtbot, window, select=old["id"])
    panel = window.keys_tab.rotation_panel
    qtbot.waitUntil(lambda: panel.verdict() != "", timeout=10000)
    assert panel.verdict() == "No use since rotation — safe to revoke"
    assert f"fdk_…{new['last4']}" in panel.grace_label.text()
    assert panel.note_label.isVisible()  # an admin key: the logs do not show every use

    assert panel.revoke_now_button.isEnabled()
    qtbot.mouseClick(panel.revoke_now_button, Qt.MouseButton.LeftButton)
    box = window.keys_tab.revoke_box
    assert "Warehouse loader" in box.text()
    with qtbot.waitSignal(window.keys_tab.key_revoked, timeout=10000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    assert api.get(f"{KEYS}/{old['id']}").json()["status"] == "revoked"


def test_a_key_used_after_rotation_before_the_panel_opened_is_still_used(
    qtbot: QtBot, window: Any, api: httpx.Client, sandbox_url: str
) -> None:
    old = _create(api, name="Reader")
    api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600})
    headers = {"Authorization": f"Bearer {old['secret']}"}
    assert httpx.get(sandbox_url + "/api/public/v1/feeds", headers=headers).status_code == 200
    _reload(qtbot, window, select=old["id"])
    panel = window.keys_tab.rotation_panel
    qtbot.waitUntil(lambda: panel.verdict() != "", timeout=10000)
    # An admin key's read is in no connector log: its last_used_at, time only.
    assert panel.verdict() == "Still used just now"
    assert "time only" in panel.use_label.text()


def test_renew_copies_name_kind_feed_and_expiry_period(
    qtbot: QtBot, window: Any, api: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    mint_key(account, "ingest", "orders")
    old = _create(
        api, name="Nightly sync", kind="ingest", feed="orders", expires_at=time.time() + 5 * 86400
    )
    period = old["expires_at"] - old["created_at"]
    _reload(qtbot, window, select=old["id"])
    tab, panel = window.keys_tab, window.keys_tab.rotation_panel
    qtbot.mouseClick(panel.renew_button, Qt.MouseButton.LeftButton)
    dialog = tab.renew_dialog
    assert isinstance(dialog, RenewDialog)
    assert dialog.old_key_grace == -1  # keep the old key until its own expiry
    with (
        qtbot.waitSignal(tab.key_renewed, timeout=10000) as renewed,
        qtbot.waitSignal(tab.secret_shown, timeout=10000) as shown,
    ):
        qtbot.mouseClick(dialog.renew_button, Qt.MouseButton.LeftButton)
    secret = _accept_secret(qtbot, shown)
    new = api.get(f"{KEYS}/{renewed.args[0].id}").json()
    assert new["last4"] == secret[-4:]
    assert (new["name"], new["kind"], new["feed"]) == ("Nightly sync", "ingest", "orders")
    assert new["expires_at"] - new["created_at"] == pytest.approx(period, abs=2)
    assert new["id"] != old["id"]
    assert api.get(f"{KEYS}/{old['id']}").json()["status"] == "expiring"  # kept

    # Renewing with "revoke after 1 hour": the old key ends after that grace.
    qtbot.waitUntil(lambda: tab.selected_key() is not None, timeout=10000)
    assert tab.select_key(old["id"])
    qtbot.mouseClick(panel.renew_button, Qt.MouseButton.LeftButton)
    dialog = tab.renew_dialog
    dialog.old_key_combo.setCurrentIndex(dialog.old_key_combo.findData(3600))
    with (
        qtbot.waitSignal(tab.key_renewed, timeout=10000) as renewed,
        qtbot.waitSignal(tab.secret_shown, timeout=10000) as shown,
    ):
        qtbot.mouseClick(dialog.renew_button, Qt.MouseButton.LeftButton)
    _accept_secret(qtbot, shown)
    second = api.get(f"{KEYS}/{renewed.args[0].id}").json()
    assert (second["name"], second["kind"], second["feed"]) == ("Nightly sync", "ingest", "orders")
    assert second["expires_at"] - second["created_at"] == pytest.approx(period, abs=2)
    retired = api.get(f"{KEYS}/{old['id']}").json()
    assert retired["expires_at"] == pytest.approx(second["created_at"] + 3600, abs=2)


def test_history_lists_create_rotate_and_revoke_in_order(
    qtbot: QtBot, window: Any, api: httpx.Client, admin_key: str
) -> None:
    old = _create(api, name="Audited")
    api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600})
    api.delete(f"{KEYS}/{old['id']}")
    panel = window.keys_tab.rotation_panel
    with qtbot.waitSignal(panel.history_shown, timeout=10000):
        _reload(qtbot, window, select=old["id"])
    rows = [panel.history.topLevelItem(i) for i in range(panel.history.topLevelItemCount())]
    assert [row.data(0, Qt.ItemDataRole.UserRole) for row in rows] == [
        "created",
        "rotated",
        "revoked",
    ]
    assert [row.text(1).split()[0] for row in rows] == ["Created", "Rotated", "Revoked"]
    assert {row.text(2) for row in rows} == {f"fdk_…{admin_key[-4:]}"}
    assert all("127.0.0.1" in row.text(3) for row in rows)


def test_keys_expiring_within_7_days_are_flagged_in_the_tab_and_status_bar(
    qtbot: QtBot, window: Any, api: httpx.Client
) -> None:
    soon = _create(api, name="Soon", expires_at=time.time() + 3 * 86400)
    later = _create(api, name="Later", expires_at=time.time() + 30 * 86400)
    status = window.status
    assert not status.expiring_button.isVisible()
    _reload(qtbot, window)
    assert _cell(window, soon["id"]).startswith(EXPIRING_MARK)
    assert "within 7 days" in _cell(window, soon["id"], Qt.ItemDataRole.ToolTipRole)
    assert not _cell(window, later["id"]).startswith(EXPIRING_MARK)
    assert status.expiring_button.isVisible()
    assert status.expiring_button.text() == "1 key expires within 7 days"
    window.keys_tab.clear_selection()
    qtbot.mouseClick(status.expiring_button, Qt.MouseButton.LeftButton)
    assert window.keys_tab.selected_key().id == soon["id"]
    # A key with a successor is in grace, not flagged for renewal; its successor, with the
    # same 3-day lifetime, is.
    successor = api.post(f"{KEYS}/{soon['id']}/rotate", json={"grace_seconds": 3600}).json()
    _reload(qtbot, window)
    assert _cell(window, soon["id"]).startswith("in grace")
    assert _cell(window, successor["id"]).startswith(EXPIRING_MARK)
    assert status.expiring_button.text() == "1 key expires within 7 days"
    api.delete(f"{KEYS}/{successor['id']}")
    _reload(qtbot, window)
    assert not status.expiring_button.isVisible()


def test_renew_and_revoke_now_are_refused_on_a_locked_production_profile(
    qtbot: QtBot, window: Any, api: httpx.Client, sandbox_url: str
) -> None:
    old = _create(api, name="Prod key")
    _reload(qtbot, window, select=old["id"])
    gate = window.session.protection
    gate.set_profile(ConnectionProfile("Prod", base_url=sandbox_url, environment="production"))
    panel = window.keys_tab.rotation_panel
    assert not gate.writes_allowed
    for button in (panel.renew_button, panel.revoke_now_button):
        assert not button.isEnabled()
        assert button.toolTip() == gate.refusal()
    gate.unlock()
    assert panel.renew_button.isEnabled()
    assert panel.revoke_now_button.isEnabled()


def test_renew_is_in_the_action_registry_and_acts_on_the_selected_key(
    qtbot: QtBot, window: Any, api: httpx.Client
) -> None:
    action = window.action_registry.get("keys.renew")
    window.keys_tab.clear_selection()
    assert not action.enabled()
    assert action.disabled_reason() == "Select a key first."
    old = _create(api, name="From the palette")
    _reload(qtbot, window, select=old["id"])
    assert action.enabled()
    action.run()
    dialog = window.keys_tab.renew_dialog
    assert isinstance(dialog, RenewDialog)
    assert dialog.key.id == old["id"]
    dialog.reject()


def test_switching_connections_ends_the_panels_live_watch_of_the_old_key(
    qtbot: QtBot, window: Any, api: httpx.Client, admin_key: str
) -> None:
    """The panel's live watch streams the logs with the connection's key: a switch (which
    keeps the sockets, to the same server) must end it, never leave it running on them."""
    old = _create(api, name="Watched relay")
    _reload(qtbot, window)
    _rotate_in_ui(qtbot, window, old["id"], grace_index=1)
    panel = window.keys_tab.rotation_panel
    assert window.keys_tab.select_key(old["id"])
    qtbot.waitUntil(lambda: panel.watching, timeout=10000)
    watch = panel.runner._named["rotation.watch"]
    client = window.session.client
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        window.connect_url(client.base_url, admin_key, "production")
    assert window.session.client.pool is client.pool  # the sockets are kept
    qtbot.waitUntil(watch.done, timeout=10000)
    # The same key may be shown again on the new connection: watched by a new task.
    assert panel.runner._named.get("rotation.watch") is not watch
